import test from 'ava';
import { randn, softmaxCrossEntropy, sync, syncSync, tensor, zeros, SenetError, type SenetErrorCode, type Device } from '../lib/index.js';
import { softmaxCrossEntropyRef, type CeRef } from './reference/loss.js';
import { DEVICES, perDevice } from './helpers/devices.js';
import { Rng } from './helpers/rng.js';
import { T, read } from './helpers/tensors.js';
import { assertClose, assertNear } from './helpers/compare.js';
import { FD_ATOL, FD_RTOL, numericalGrad, sampleIndices } from './helpers/fd.js';
import { badInput } from './helpers/errors.js';

type LabelKind = 'array' | 'Int32Array' | 'tensor';

interface Case {
  name: string;
  N: number;
  K: number;
  smoothing: number;
  /** logits = offset + scale * normal */
  scale: number;
  offset: number;
  labels: LabelKind;
}

const CASES: Case[] = [
  { name: 'N=1, K=2, labels as number[]', N: 1, K: 2, smoothing: 0, scale: 1, offset: 0, labels: 'array' },
  { name: 'N=4, K=10, labels as Int32Array', N: 4, K: 10, smoothing: 0, scale: 2, offset: 0, labels: 'Int32Array' },
  { name: 'N=7, K=1000, smoothing 0.1, labels as an int32 tensor', N: 7, K: 1000, smoothing: 0.1, scale: 1, offset: 0, labels: 'tensor' },
  // exp(100) overflows float32: only a max-shifted evaluation survives.
  { name: 'N=33, K=37, smoothing 0.2, logits 100 +- 10', N: 33, K: 37, smoothing: 0.2, scale: 10, offset: 100, labels: 'tensor' },
  { name: 'N=3, K=5, smoothing 1 (uniform targets)', N: 3, K: 5, smoothing: 1, scale: 1, offset: -3, labels: 'array' },
  { name: 'N=5, K=1 (a single class: loss 0)', N: 5, K: 1, smoothing: 0.3, scale: 1, offset: 0, labels: 'Int32Array' },
];

function setup(c: Case, seed: number) {
  const r = new Rng(seed);
  return { x: r.array(c.N * c.K, c.scale, c.offset), labels: r.int(c.N, c.K) };
}

function labelArg(kind: LabelKind, labels: Int32Array, device: Device) {
  if (kind === 'array') return Array.from(labels);
  if (kind === 'Int32Array') return labels;
  return tensor(labels, [labels.length], { dtype: 'int32', device });
}

/**
 * Error bounds, in units of u, valid for any evaluation in float32 or better (the engine happens
 * to sum in double; the bound does not rely on it). Per row, with D = sum_k p_k |x_k - max| and
 * log S = lse - max (S = sum_k exp(x_k - max), 1 <= S <= K):
 *   x_k - max costs u|x_k - max|, which exp turns into a relative error, plus 2u for exp itself;
 *   summing K positive terms adds (K-1)u relative, so |dS/S| <= u (D + K + 1);
 *   log adds 2u |log S| and the add to max u |lse|: |d lse| <= u E, E = D + K + 1 + 2|log S| + |lse|.
 * dlogits = (p - q)/N: p_k = exp(x_k - lse) has |dp_k| <= u p_k (E + |x_k - lse| + 2); q (eps, eps/K,
 * 1 - eps + eps/K) has 3u q_k; the subtraction and the product with a rounded 1/N 3u |p - q|.
 * loss = mean_n sum_k q_k (lse - x_k): |d lse| sum_k q_k <= u E, plus (K + 4) u A (A = sum_k q_k
 * |lse - x_k|: q's 3u, the subtraction, K-term sum), plus N u mean A for the batch mean and its rounding.
 */
function ceBounds(x: ArrayLike<number>, c: Case, ref: CeRef) {
  const { N, K } = c;
  const mag = new Float64Array(N * K);
  let sumE = 0, sumA = 0;
  for (let n = 0; n < N; n++) {
    const lse = ref.lse[n]!, mx = ref.max[n]!;
    let D = 0, A = 0;
    for (let k = 0; k < K; k++) {
      D += ref.p[n * K + k]! * Math.abs(x[n * K + k]! - mx);
      A += ref.q[n * K + k]! * Math.abs(lse - x[n * K + k]!);
    }
    const E = D + K + 1 + 2 * Math.abs(lse - mx) + Math.abs(lse);
    for (let k = 0; k < K; k++) {
      const i = n * K + k, p = ref.p[i]!, q = ref.q[i]!;
      mag[i] = (p * (E + Math.abs(x[i]! - lse) + 2) + 3 * q + 3 * Math.abs(p - q)) / N;
    }
    sumE += E;
    sumA += A;
  }
  const kLoss = K + N + 5;
  return { dlogits: mag, loss: { mag: sumE / N / kLoss + sumA / N, k: kLoss } };
}

for (const [i, c] of CASES.entries()) {
  perDevice(`softmaxCrossEntropy: ${c.name}`, (t, device) => {
    const { x, labels } = setup(c, 10 + i);
    const want = softmaxCrossEntropyRef(x, c.N, c.K, labels, c.smoothing);
    const b = ceBounds(x, c, want);
    const { loss, dlogits } = softmaxCrossEntropy(T(x, [c.N, c.K], device), labelArg(c.labels, labels, device), { labelSmoothing: c.smoothing });
    t.deepEqual([...loss.shape], []);
    t.deepEqual([...dlogits.shape], [c.N, c.K]);
    assertClose(t, read(loss), [want.loss], { mag: b.loss.mag, k: b.loss.k, name: 'loss' });
    // mag is the whole bound of ceBounds in units of u (it grows like K through E).
    assertClose(t, read(dlogits), want.dlogits, { mag: b.dlogits, k: 1, name: 'dlogits' });
  });
}

perDevice('softmaxCrossEntropy matches hand-computed values', (t, device) => {
  // logits [0, ln 3] -> softmax [1/4, 3/4]; label 1: loss = -ln(3/4); dlogits = [1/4, -1/4].
  const { loss, dlogits } = softmaxCrossEntropy(T([0, Math.fround(Math.log(3))], [1, 2], device), [1]);
  t.true(Math.abs(loss.item() + Math.log(0.75)) < 1e-6);
  assertNear(t, read(dlogits), [0.25, -0.25], 0, 1e-6, 'dlogits');
  // Uniform logits, smoothing 0.5, K=4: targets [5/8, 1/8, 1/8, 1/8], loss = ln 4 whatever the targets.
  const u = softmaxCrossEntropy(zeros([2, 4], { device }), [0, 3], { labelSmoothing: 0.5 });
  t.true(Math.abs(u.loss.item() - Math.log(4)) < 1e-6);
  assertNear(t, read(u.dlogits), [-3 / 16, 1 / 16, 1 / 16, 1 / 16, 1 / 16, 1 / 16, 1 / 16, -3 / 16], 0, 1e-7, 'dlogits (smoothed)');
});

// The reference gradient against finite differences of the reference loss.
test('softmaxCrossEntropy reference gradient matches finite differences', (t) => {
  for (const [i, c] of CASES.entries()) {
    const { x, labels } = setup(c, 30 + i);
    const g = softmaxCrossEntropyRef(x, c.N, c.K, labels, c.smoothing).dlogits;
    const ix = sampleIndices(x.length, 40);
    const nx = numericalGrad((v) => softmaxCrossEntropyRef(v, c.N, c.K, labels, c.smoothing).loss, x, ix);
    assertNear(t, ix.map((k) => g[k]!), ix.map((k) => nx.get(k)!), FD_RTOL, FD_ATOL, `${c.name} dlogits`);
  }
});

// The queue's error is stream-wide: while this test awaits sync(), a concurrent test's read could
// pick it up. So it runs serially (ava runs serial tests before the concurrent ones), per device.
for (const device of DEVICES) test.serial(`an out-of-range label in a tensor is a SENET_KERNEL error at the next read; the engine keeps working [${device}]`, async (t) => {
  const c = CASES[1]!;
  const { x, labels } = setup(c, 40);
  const logits = T(x, [c.N, c.K], device);
  // The kernel checks the labels when it runs: the call itself returns.
  const bad1 = softmaxCrossEntropy(logits, tensor(new Int32Array([1, 2, 10, 3]), [4], { dtype: 'int32', device }));
  const e1 = t.throws(() => bad1.loss.toArraySync(), { instanceOf: SenetError });
  t.is(e1?.code, 'SENET_KERNEL');
  t.regex(e1?.message ?? '', /^softmaxCrossEntropy: expected labels in \[0, 10\), got 10 at index 2/);
  // Reported once: later reads and syncs are clean, and the results are right.
  t.notThrows(() => syncSync());
  const ok = softmaxCrossEntropy(logits, labels);
  const want = softmaxCrossEntropyRef(x, c.N, c.K, labels, 0);
  const b = ceBounds(x, c, want);
  assertClose(t, read(ok.dlogits), want.dlogits, { mag: b.dlogits, k: 1, name: 'dlogits after the error' });
  // The same through the asynchronous sync(), with a negative label.
  softmaxCrossEntropy(logits, tensor(new Int32Array([-1, 0, 0, 0]), [4], { dtype: 'int32', device }));
  const e2 = await t.throwsAsync(sync(), { instanceOf: SenetError });
  t.is(e2?.code, 'SENET_KERNEL');
  t.regex(e2?.message ?? '', /^softmaxCrossEntropy: expected labels in \[0, 10\), got -1 at index 0/);
  await t.notThrowsAsync(sync());
  const again = softmaxCrossEntropy(logits, labels);
  assertClose(t, read(again.loss), [want.loss], { mag: b.loss.mag, k: b.loss.k, name: 'loss after the error' });
});

perDevice('softmaxCrossEntropy rejects bad input with SENET_* errors naming op and argument', (t, device) => {
  const logits = randn([4, 10], { device });
  const bad = badInput(t);
  // Labels given as arrays are checked before anything is queued.
  bad(() => softmaxCrossEntropy(logits, [0, 5, 10, 1]), 'SENET_ARG', /^softmaxCrossEntropy: expected labels\[2\] a class index in \[0, 10\), got number 10/);
  bad(() => softmaxCrossEntropy(logits, new Int32Array([0, -1, 2, 3])), 'SENET_ARG', /^softmaxCrossEntropy: expected labels\[1\] a class index in \[0, 10\), got number -1/);
  bad(() => softmaxCrossEntropy(logits, [0, 1.5, 2, 3]), 'SENET_ARG', /expected labels\[1\] a class index in \[0, 10\), got number 1.5/);
  bad(() => softmaxCrossEntropy(logits, [0, NaN, 2, 3]), 'SENET_ARG', /expected labels\[1\] a class index in \[0, 10\), got number NaN/);
  bad(() => softmaxCrossEntropy(logits, new Float32Array(4) as never), 'SENET_ARG', /^softmaxCrossEntropy: expected labels an int32 Tensor, an Int32Array or an array of class indices, got a Float32Array/);
  bad(() => softmaxCrossEntropy(logits, [0, 1, 2]), 'SENET_SHAPE', /^softmaxCrossEntropy: expected labels shape \[4\], got \[3\]/);
  bad(() => softmaxCrossEntropy(logits, tensor(new Int32Array(4), [2, 2], { dtype: 'int32', device })), 'SENET_SHAPE', /^softmaxCrossEntropy: expected labels a rank-1 tensor, got shape \[2,2\]/);
  bad(() => softmaxCrossEntropy(logits, randn([4], { device }) as never), 'SENET_DTYPE', /^softmaxCrossEntropy: expected labels dtype int32, got float32/);
  bad(() => softmaxCrossEntropy(randn([40], { device }), [0]), 'SENET_SHAPE', /^softmaxCrossEntropy: expected logits a rank-2 \[N, classes\] tensor, got shape \[40\]/);
  bad(() => softmaxCrossEntropy(tensor(new Int32Array(4), [2, 2], { dtype: 'int32', device }), [0, 1]), 'SENET_DTYPE', /^softmaxCrossEntropy: expected logits dtype float32, got int32/);
  bad(() => softmaxCrossEntropy('logits' as never, [0]), 'SENET_ARG', /^softmaxCrossEntropy: expected logits a Tensor, got string 'logits'/);
  bad(() => softmaxCrossEntropy(logits, [0, 1, 2, 3], { labelSmoothing: 1.5 }), 'SENET_ARG', /^softmaxCrossEntropy: expected labelSmoothing a finite number in \[0, 1\], got number 1.5/);
  bad(() => softmaxCrossEntropy(logits, [0, 1, 2, 3], { labelSmoothing: NaN }), 'SENET_ARG', /expected labelSmoothing a finite number in \[0, 1\], got number NaN/);
  bad(() => softmaxCrossEntropy(zeros([0, 10], { device }), []), 'SENET_SHAPE', /^softmaxCrossEntropy: expected logits all dimensions > 0, got shape \[0,10\]/);
  bad(() => softmaxCrossEntropy(zeros([2, 0], { device }), tensor(new Int32Array(2), [2], { dtype: 'int32', device })), 'SENET_SHAPE', /expected logits all dimensions > 0, got shape \[2,0\]/);
  const dead = randn([4, 10], { device });
  dead.dispose();
  bad(() => softmaxCrossEntropy(dead, [0, 1, 2, 3]), 'SENET_DISPOSED', /^softmaxCrossEntropy: expected logits a live tensor, got a disposed tensor of shape \[4,10\]/);
  const deadLabels = tensor(new Int32Array(4), [4], { dtype: 'int32', device });
  deadLabels.dispose();
  bad(() => softmaxCrossEntropy(logits, deadLabels), 'SENET_DISPOSED', /^softmaxCrossEntropy: expected labels a live tensor/);
  // Nothing was queued by the refused calls: the engine works.
  t.notThrows(() => syncSync());
  t.true(Number.isFinite(softmaxCrossEntropy(logits, [0, 1, 2, 3]).loss.item()));
});

test('the native loss binding re-checks what the TypeScript layer checks', async (t) => {
  const { addon } = await import('../lib/native.js');
  const hl = randn([4, 10]).handle('t', 'logits');
  const e1 = t.throws(() => addon.softmaxCrossEntropy(hl, hl, {}));
  t.is((e1 as { code?: string }).code, 'SENET_DTYPE');
  const e2 = t.throws(() => addon.softmaxCrossEntropy(hl, tensor(new Int32Array(3), [3], { dtype: 'int32' }).handle('t', 'l'), {}));
  t.regex(e2!.message, /softmaxCrossEntropy: expected labels shape \[4\], got \[3\]/);
  const e3 = t.throws(() => addon.softmaxCrossEntropy(hl, tensor(new Int32Array(4), [4], { dtype: 'int32' }).handle('t', 'l'), { labelSmoothing: 2 }));
  t.is((e3 as { code?: string }).code, 'SENET_ARG');
});
