import test from 'ava';
import {
  avgPool2d, avgPool2dBackward, globalAvgPool, globalAvgPoolBackward, maxPool2d, maxPool2dBackward, maxPool2dTrain,
  randn, tensor, zeros, SenetError, type SenetErrorCode, type Padding,
} from '../lib/index.js';
import {
  avgPool2dBackwardRef, avgPool2dRef, coverCount, globalAvgPoolBackwardRef, globalAvgPoolRef, maxPool2dBackwardRef,
  maxPool2dRef, pool2dShape, type PoolP,
} from './reference/pool.js';
import { addon } from '../lib/native.js';
import { perDevice } from './helpers/devices.js';
import { Rng } from './helpers/rng.js';
import { T, numel, read } from './helpers/tensors.js';
import { abs, assertClose, assertNear } from './helpers/compare.js';
import { FD_ATOL, FD_RTOL, dot, numericalGrad, sampleIndices } from './helpers/fd.js';
import { badInput } from './helpers/errors.js';

interface Case {
  name: string;
  xs: [number, number, number, number];
  /** the options as the user writes them */
  o: { kernel: number | [number, number]; stride?: number | [number, number]; padding?: Padding };
  /** the same, resolved (padding as [t,b,l,r]) */
  p: Omit<PoolP, 'countIncludePad'>;
}

const CASES: Case[] = [
  { name: '3x3 stride 2 pad 1 (ResNet stem), C=13', xs: [2, 9, 9, 13], o: { kernel: 3, stride: 2, padding: 1 },
    p: { kernel: [3, 3], stride: [2, 2], padding: [1, 1, 1, 1] } },
  { name: 'kernel [2,3] stride [1,2], asymmetric pad [1,0,2,1], N=1, C=5', xs: [1, 7, 8, 5], o: { kernel: [2, 3], stride: [1, 2], padding: [1, 0, 2, 1] },
    p: { kernel: [2, 3], stride: [1, 2], padding: [1, 0, 2, 1] } },
  // TensorFlow's 'same': out = ceil(6/2)=3, total pad (3-1)*2+3-6=1 -> [0,1]; ceil(7/2)=4, (4-1)*2+3-7=2 -> [1,1]
  { name: "'same' 3x3 stride 2 on 6x7, C=9", xs: [3, 6, 7, 9], o: { kernel: 3, stride: 2, padding: 'same' },
    p: { kernel: [3, 3], stride: [2, 2], padding: [0, 1, 1, 1] } },
  { name: "2x2 stride (default = kernel) 'valid', C=8", xs: [2, 8, 6, 8], o: { kernel: 2, padding: 'valid' },
    p: { kernel: [2, 2], stride: [2, 2], padding: [0, 0, 0, 0] } },
  { name: '3x3 stride 1 pad [1,1] (overlapping windows), C=3', xs: [2, 5, 5, 3], o: { kernel: 3, stride: 1, padding: [1, 1] },
    p: { kernel: [3, 3], stride: [1, 1], padding: [1, 1, 1, 1] } },
  { name: '5x5 stride 3 pad 2, odd 11x10, C=17', xs: [1, 11, 10, 17], o: { kernel: 5, stride: 3, padding: 2 },
    p: { kernel: [5, 5], stride: [3, 3], padding: [2, 2, 2, 2] } },
];

/**
 * Distinct inputs 1/64 apart (exact in float32), mostly negative: no ties for the max, a gap
 * far wider than the finite-difference step, and a zero-padded max would show.
 */
function distinct(r: Rng, len: number): Float64Array {
  const perm = Array.from({ length: len }, (_, i) => i);
  for (let i = len - 1; i > 0; i--) {
    const j = Math.floor(r.next() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  return Float64Array.from(perm, (v) => (v - Math.floor(0.7 * len)) / 64);
}

function setup(c: Case, seed: number) {
  const r = new Rng(seed);
  const x = distinct(r, numel(c.xs));
  const ys = pool2dShape(c.xs, { ...c.p, countIncludePad: true });
  const dy = r.array(numel(ys));
  return { x, ys, dy };
}

const maxOf = (a: Int32Array) => a.reduce((m, v) => Math.max(m, v), 0);

// NaN: torch's max pooling propagates it (the API's semantics); tfjs's skips
// it (the tfjs backend passes propagateNan: false; tfjs-core's suite checks it).
perDevice('maxPool2d: NaN propagates; with propagateNan false it is skipped, a window of NaNs gives -Infinity', (t, device) => {
  // windows {1, NaN, 0, 2} and {3, 4, 5, -1}
  const x = T([1, NaN, 3, 4, 0, 2, 5, -1], [1, 2, 4, 1], device);
  t.deepEqual([...read(maxPool2d(x, { kernel: 2 }))], [NaN, 5]);
  const [y, ws] = addon.maxPool2d(x._h!, { kernel: [2, 2], stride: [2, 2], padding: [0, 0, 0, 0], countIncludePad: true, propagateNan: false });
  t.deepEqual([...(y.toArraySync() as Float32Array)], [2, 5]);
  const [y2] = addon.maxPool2d(T([NaN, NaN, NaN, NaN], [1, 2, 2, 1], device)._h!, { kernel: [2, 2], propagateNan: false });
  t.deepEqual([...(y2.toArraySync() as Float32Array)], [-Infinity]);
  for (const h of [y, ws, y2]) h.release();
});

for (const [i, c] of CASES.entries()) {
  perDevice(`maxPool2d forward and backward: ${c.name}`, (t, device) => {
    const { x, ys, dy } = setup(c, 10 + i);
    const p = { ...c.p, countIncludePad: true };
    const want = maxPool2dRef(x, c.xs, p);
    const xT = T(x, c.xs, device);
    const { y, workspace } = maxPool2dTrain(xT, c.o);
    t.deepEqual([...y.shape], ys);
    // A max is one of its inputs: exact.
    assertClose(t, read(y), want.y, { k: 0, name: 'y' });
    assertClose(t, read(maxPool2d(xT, c.o)), want.y, { k: 0, name: 'y (no workspace)' });
    const dx = maxPool2dBackward(T(dy, ys, device), workspace, c.xs, c.o);
    t.deepEqual([...dx.shape], c.xs);
    // dx sums the gradients routed to it: at most (windows covering it) terms.
    const k = maxOf(coverCount(c.xs, p));
    assertClose(t, read(dx), maxPool2dBackwardRef(dy, want.argmax, c.xs), { mag: maxPool2dBackwardRef(abs(dy), want.argmax, c.xs), k, name: 'dx' });
  });

  for (const countIncludePad of [true, false]) {
    perDevice(`avgPool2d forward and backward (countIncludePad ${countIncludePad}): ${c.name}`, (t, device) => {
      const r = new Rng(20 + i);
      const x = r.array(numel(c.xs));
      const p = { ...c.p, countIncludePad };
      const ys = pool2dShape(c.xs, p);
      const dy = r.array(numel(ys));
      const y = avgPool2d(T(x, c.xs, device), { ...c.o, countIncludePad });
      t.deepEqual([...y.shape], ys);
      // A sum of at most KH*KW terms, then a division (or a product with a rounded reciprocal: 2 roundings).
      assertClose(t, read(y), avgPool2dRef(x, c.xs, p), { mag: avgPool2dRef(abs(x), c.xs, p), k: p.kernel[0] * p.kernel[1] + 2, name: 'y' });
      const dx = avgPool2dBackward(T(dy, ys, device), c.xs, { ...c.o, countIncludePad });
      t.deepEqual([...dx.shape], c.xs);
      // dx sums dy/divisor over the windows covering it: (cover - 1) additions + 2 roundings per term.
      assertClose(t, read(dx), avgPool2dBackwardRef(dy, c.xs, p), { mag: avgPool2dBackwardRef(abs(dy), c.xs, p), k: maxOf(coverCount(c.xs, p)) + 2, name: 'dx' });
    });
  }
}

perDevice('avgPool2d countIncludePad: PyTorch divides by the window, TensorFlow by its valid part', (t, device) => {
  // A 2x2 input of ones, 3x3 window, pad 1, stride 2: one output whose window holds 4 valid of 9 positions.
  const x = T([1, 1, 1, 1], [1, 2, 2, 1], device);
  t.deepEqual([...read(avgPool2d(x, { kernel: 3, stride: 2, padding: 1 }))], [Math.fround(4 / 9)]);
  t.deepEqual([...read(avgPool2d(x, { kernel: 3, stride: 2, padding: 1, countIncludePad: false }))], [1]);
});

const GCASES: Array<[number, number, number, number]> = [[1, 7, 7, 13], [2, 5, 3, 64], [3, 1, 1, 9], [4, 14, 14, 37]];

for (const [i, xs] of GCASES.entries()) {
  perDevice(`globalAvgPool forward and backward: [${xs}]`, (t, device) => {
    const r = new Rng(30 + i);
    const x = r.array(numel(xs)), dy = r.array(xs[0] * xs[3]);
    const HW = xs[1] * xs[2];
    const y = globalAvgPool(T(x, xs, device));
    t.deepEqual([...y.shape], [xs[0], xs[3]]);
    // HW terms summed, then a product with the rounded 1/HW (2 roundings).
    assertClose(t, read(y), globalAvgPoolRef(x, xs), { mag: globalAvgPoolRef(abs(x), xs), k: HW + 2, name: 'y' });
    const dx = globalAvgPoolBackward(T(dy, [xs[0], xs[3]], device), xs);
    t.deepEqual([...dx.shape], xs);
    // dx = dy * fl(1/HW): 2 roundings, no sum.
    assertClose(t, read(dx), globalAvgPoolBackwardRef(dy, xs), { k: 2, name: 'dx' });
  });
}

// The reference backwards against finite differences of the reference forwards (max pooling on
// distinct inputs 1/64 apart, so the step 1e-5 never changes a window's argmax).
test('pooling reference backwards match finite differences', (t) => {
  for (const [i, c] of CASES.entries()) {
    const { x, dy } = setup(c, 40 + i);
    const ix = sampleIndices(x.length, 40);
    const pm = { ...c.p, countIncludePad: true };
    const gmax = maxPool2dBackwardRef(dy, maxPool2dRef(x, c.xs, pm).argmax, c.xs);
    const nmax = numericalGrad((v) => dot(maxPool2dRef(v, c.xs, pm).y, dy), x, ix);
    assertNear(t, ix.map((k) => gmax[k]!), ix.map((k) => nmax.get(k)!), FD_RTOL, FD_ATOL, `${c.name} max dx`);
    for (const countIncludePad of [true, false]) {
      const p = { ...c.p, countIncludePad };
      const gavg = avgPool2dBackwardRef(dy, c.xs, p);
      const navg = numericalGrad((v) => dot(avgPool2dRef(v, c.xs, p), dy), x, ix);
      assertNear(t, ix.map((k) => gavg[k]!), ix.map((k) => navg.get(k)!), FD_RTOL, FD_ATOL, `${c.name} avg dx (countIncludePad ${countIncludePad})`);
    }
  }
  for (const [i, xs] of GCASES.entries()) {
    const r = new Rng(50 + i);
    const x = r.array(numel(xs)), dy = r.array(xs[0] * xs[3]);
    const ix = sampleIndices(x.length, 40);
    const g = globalAvgPoolBackwardRef(dy, xs);
    const ng = numericalGrad((v) => dot(globalAvgPoolRef(v, xs), dy), x, ix);
    assertNear(t, ix.map((k) => g[k]!), ix.map((k) => ng.get(k)!), FD_RTOL, FD_ATOL, `global [${xs}] dx`);
  }
});

perDevice('pooling rejects bad input with SENET_* errors naming op and argument', (t, device) => {
  const x = randn([2, 5, 5, 8], { device });
  const bad = badInput(t);
  bad(() => maxPool2d(randn([5, 5, 8], { device }), { kernel: 2 }), 'SENET_SHAPE', /^maxPool2d: expected x a rank-4 NHWC tensor, got shape \[5,5,8\]/);
  bad(() => maxPool2d(x, {} as never), 'SENET_ARG', /^maxPool2d: expected kernel an integer or an array of 2 integers, got undefined/);
  bad(() => maxPool2d(x, { kernel: 0 }), 'SENET_ARG', /^maxPool2d: expected kernel an integer >= 1, got number 0/);
  bad(() => maxPool2d(x, { kernel: [2, 2.5] }), 'SENET_ARG', /expected kernel\[1\] an integer >= 1, got number 2.5/);
  bad(() => maxPool2d(x, { kernel: 2, stride: -1 }), 'SENET_ARG', /expected stride an integer >= 1, got number -1/);
  bad(() => maxPool2d(x, { kernel: 2, stride: NaN }), 'SENET_ARG', /expected stride an integer >= 1, got number NaN/);
  bad(() => maxPool2d(x, { kernel: 2, padding: 'full' as never }), 'SENET_ARG', /^maxPool2d: expected padding 'same', 'valid'/);
  bad(() => avgPool2d(x, { kernel: 2, padding: [1, 2, 3] as never }), 'SENET_ARG', /^avgPool2d: expected padding 'same', 'valid'.*got an array of length 3/);
  bad(() => maxPool2d(x, { kernel: 3, padding: 3 }), 'SENET_ARG', /^maxPool2d: expected padding each side smaller than the kernel \[3,3\], got \[3,3,3,3\]/);
  bad(() => avgPool2d(x, { kernel: [3, 2], padding: [0, 0, 0, 2] }), 'SENET_ARG', /^avgPool2d: expected padding each side smaller than the kernel \[3,2\], got \[0,0,0,2\]/);
  bad(() => maxPool2d(x, { kernel: 7 }), 'SENET_SHAPE', /^maxPool2d: expected x a padded input at least as large as the kernel \[7,7\], got spatial size \[5,5\]/);
  bad(() => maxPool2d(x, { kernel: 1e9 }), 'SENET_ARG', /^maxPool2d: expected kernel\[0\] an integer in \[1, 65536\]/);
  bad(() => maxPool2d('x' as never, { kernel: 2 }), 'SENET_ARG', /^maxPool2d: expected x a Tensor, got string 'x'/);
  bad(() => avgPool2d(tensor([1, 2, 3, 4], [1, 2, 2, 1], { dtype: 'int32', device }), { kernel: 2 }), 'SENET_DTYPE', /^avgPool2d: expected x dtype float32, got int32/);
  bad(() => avgPool2d(zeros([2, 0, 5, 8], { device }), { kernel: 1 }), 'SENET_SHAPE', /^avgPool2d: expected x all dimensions > 0, got shape \[2,0,5,8\]/);
  bad(() => globalAvgPool(zeros([2, 3, 3, 0], { device })), 'SENET_SHAPE', /^globalAvgPool: expected x all dimensions > 0, got shape \[2,3,3,0\]/);
  bad(() => globalAvgPool(randn([2, 8], { device })), 'SENET_SHAPE', /^globalAvgPool: expected x a rank-4 NHWC tensor, got shape \[2,8\]/);

  const { y, workspace } = maxPool2dTrain(x, { kernel: 2 });
  const dy = randn([...y.shape], { device });
  bad(() => maxPool2dBackward(randn([2, 3, 3, 8], { device }), workspace, [2, 5, 5, 8], { kernel: 2 }), 'SENET_SHAPE', /^maxPool2dBackward: expected dy shape \[2,2,2,8\], got \[2,3,3,8\]/);
  bad(() => maxPool2dBackward(dy, dy, [2, 5, 5, 8], { kernel: 2 }), 'SENET_DTYPE', /^maxPool2dBackward: expected workspace dtype uint8, got float32/);
  bad(() => maxPool2dBackward(dy, maxPool2dTrain(randn([2, 9, 9, 8], { device }), { kernel: 3 }).workspace, [2, 5, 5, 8], { kernel: 2 }),
    'SENET_SHAPE', /^maxPool2dBackward: expected workspace the \d+-byte workspace maxPool2d returned for these shapes, got \d+ bytes/);
  bad(() => maxPool2dBackward(dy, workspace, [2, 5, 5], { kernel: 2 }), 'SENET_SHAPE', /^maxPool2dBackward: expected x a rank-4 NHWC tensor, got shape \[2,5,5\]/);
  bad(() => avgPool2dBackward(dy, [2, 5, -5, 8], { kernel: 2 }), 'SENET_SHAPE', /^avgPool2dBackward: expected xShape\[2\] a non-negative integer dimension, got number -5/);
  bad(() => avgPool2dBackward(dy, [2, 5, Infinity, 8], { kernel: 2 }), 'SENET_SHAPE', /^avgPool2dBackward: expected xShape\[2\] a non-negative integer dimension, got number Infinity/);
  bad(() => avgPool2dBackward(dy, [2, 0, 5, 8], { kernel: 2 }), 'SENET_SHAPE', /^avgPool2dBackward: expected x all dimensions > 0, got shape \[2,0,5,8\]/);
  bad(() => avgPool2dBackward(dy, 'shape' as never, { kernel: 2 }), 'SENET_SHAPE', /^avgPool2dBackward: expected xShape an array of dimensions, got string 'shape'/);
  bad(() => globalAvgPoolBackward(randn([2, 8], { device }), [2, 3, NaN, 8]), 'SENET_SHAPE', /^globalAvgPoolBackward: expected xShape\[2\] a non-negative integer dimension, got number NaN/);
  bad(() => globalAvgPoolBackward(randn([2, 8], { device }), [2, 3, 8]), 'SENET_SHAPE', /^globalAvgPoolBackward: expected xShape a rank-4 NHWC shape, got \[2,3,8\]/);
  bad(() => globalAvgPoolBackward(randn([2, 7], { device }), [2, 3, 3, 8]), 'SENET_SHAPE', /^globalAvgPoolBackward: expected dy shape \[2,8\], got \[2,7\]/);
  bad(() => globalAvgPoolBackward(randn([2, 8], { device }), [2, 0, 3, 8]), 'SENET_SHAPE', /^globalAvgPoolBackward: expected xShape all dimensions > 0, got \[2,0,3,8\]/);
  bad(() => globalAvgPoolBackward(randn([2, 3, 8], { device }), [2, 3, 3, 8]), 'SENET_SHAPE', /^globalAvgPoolBackward: expected dy a rank-2 \[N, C\] tensor, got shape \[2,3,8\]/);
  const dead = randn([2, 8], { device });
  dead.dispose();
  bad(() => globalAvgPoolBackward(dead, [2, 3, 3, 8]), 'SENET_DISPOSED', /^globalAvgPoolBackward: expected dy a live tensor, got a disposed tensor/);
  workspace.dispose();
  bad(() => maxPool2dBackward(dy, workspace, [2, 5, 5, 8], { kernel: 2 }), 'SENET_DISPOSED', /^maxPool2dBackward: expected workspace a live tensor, got a disposed tensor/);

  // Absurd input sizes (2^41 elements, 2^43 bytes) behind small gradients: refused before any memory is touched.
  const big = [2, 2 ** 20, 2 ** 20, 1];
  bad(() => globalAvgPoolBackward(randn([2, 1], { device }), big), 'SENET_OOM', /^globalAvgPoolBackward: out of memory on cpu: requested 8796093022208 bytes/);
  bad(() => avgPool2dBackward(randn([2, 16, 16, 1], { device }), big, { kernel: 1, stride: 2 ** 16 }), 'SENET_OOM', /^avgPool2dBackward: out of memory on cpu: requested 8796093022208 bytes/);
  const mp = maxPool2dTrain(randn([2, 16, 16, 1], { device }), { kernel: 1 });
  bad(() => maxPool2dBackward(randn([2, 16, 16, 1], { device }), mp.workspace, big, { kernel: 1, stride: 2 ** 16 }),
    'SENET_OOM', /^maxPool2dBackward: out of memory on cpu: requested 8796093022208 bytes/);

  // The process is alive and the engine still works.
  const g = globalAvgPool(T([1, 2, 3, 4], [1, 2, 2, 1], device));
  t.deepEqual([...read(g)], [2.5]);
  t.deepEqual([...maxPool2d(x, { kernel: 2 }).shape], [2, 2, 2, 8]);
});

test('the native pooling bindings re-check what the TypeScript layer checks', async (t) => {
  const { addon } = await import('../lib/native.js');
  const hx = randn([2, 5, 5, 8]).handle('t', 'x');
  const e1 = t.throws(() => addon.maxPool2d(hx, { kernel: [2, 2], padding: [0, 5, 0, 0] }));
  t.is((e1 as { code?: string }).code, 'SENET_ARG');
  const e2 = t.throws(() => addon.avgPool2d(hx, {}));
  t.regex(e2!.message, /avgPool2d: expected kernel an array of 2 integers, got undefined/);
  const e3 = t.throws(() => addon.avgPool2dBackward(hx, [2, 5, 5, 2 ** 52], { kernel: [1, 1] }));
  t.is((e3 as { code?: string }).code, 'SENET_SHAPE');
  const e4 = t.throws(() => addon.globalAvgPoolBackward(hx, [2, 5, 5, 8]));
  t.regex(e4!.message, /globalAvgPoolBackward: expected dy shape \[2,8\], got \[2,5,5,8\]/);
  const e5 = t.throws(() => addon.maxPool2dBackward(hx, hx, [2, 5, 5, 8], { kernel: [1, 1] }));
  t.is((e5 as { code?: string }).code, 'SENET_DTYPE');
});
