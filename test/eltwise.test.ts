import test from 'ava';
import { add, addScaled_, disposeSeSaved, fill_, full, getNumThreads, randn, relu, reluBackward, reluBackwardChannelDot, scaleChannels, scaleChannelsBackward, setNumThreads, squeezeExcite, tensor, zeros, SenetError, type SenetErrorCode } from '../lib/index.js';
import { addBackwardRef, addRef, addScaledRef, reluBackwardRef, reluRef, scaleChannelsBackwardRef, scaleChannelsRef } from './reference/eltwise.js';
import { addon } from '../lib/native.js';
import { perDevice } from './helpers/devices.js';
import { Rng } from './helpers/rng.js';
import { T, numel, read } from './helpers/tensors.js';
import { assertClose, assertNear } from './helpers/compare.js';
import { FD_ATOL, FD_RTOL, dot, numericalGrad, sampleIndices } from './helpers/fd.js';
import { badInput } from './helpers/errors.js';

const SHAPES: number[][] = [[7], [3, 5], [1, 1, 1, 3], [2, 5, 7, 13], [4, 9, 9, 64], [70001]];

/** Normal data with every 5th element exactly 0 (relu's boundary: y = 0 must give dx = 0). */
function data(r: Rng, n: number): Float64Array {
  const a = r.array(n);
  for (let i = 0; i < n; i += 5) a[i] = 0;
  return a;
}

for (const [i, s] of SHAPES.entries()) {
  perDevice(`relu and reluBackward: [${s}]`, (t, device) => {
    const r = new Rng(10 + i);
    const x = data(r, numel(s)), dy = r.array(numel(s));
    const y = relu(T(x, s, device));
    t.deepEqual([...y.shape], s);
    // max(x, 0) and dy [y > 0] select an input: exact.
    const want = reluRef(x);
    assertClose(t, read(y), want, { k: 0, name: 'y' });
    const dx = reluBackward(T(dy, s, device), y);
    assertClose(t, read(dx), reluBackwardRef(dy, want), { k: 0, name: 'dx' });
  });

  perDevice(`add and addScaled_: [${s}]`, (t, device) => {
    const r = new Rng(20 + i);
    const a = r.array(numel(s)), b = r.array(numel(s), 3);
    const y = add(T(a, s, device), T(b, s, device));
    t.deepEqual([...y.shape], s);
    // One rounding of the exact sum of two float32 values.
    assertClose(t, read(y), addRef(a, b), { k: 1, name: 'a + b' });
    for (const alpha of [1, -0.3, 1 / 3]) {
      const yT = T(a, s, device);
      if (alpha === 1) addScaled_(yT, T(b, s, device));
      else addScaled_(yT, T(b, s, device), alpha);
      // fl(alpha), the product and the sum: 3 roundings of at most |y| + |alpha x|.
      const mag = a.map((v, j) => Math.abs(v) + Math.abs(alpha * b[j]!));
      assertClose(t, read(yT), addScaledRef(a, b, alpha), { mag, k: 3, name: `y += ${alpha} x (in place)` });
    }
  });
}

perDevice('addScaled_ with y and x the same tensor: y = 3y', (t, device) => {
  const a = new Rng(30).array(1000);
  const yT = T(a, [10, 100], device);
  addScaled_(yT, yT, 2);
  assertClose(t, read(yT), addScaledRef(a, a, 2), { mag: a.map((v) => 3 * Math.abs(v)), k: 3, name: 'y += 2 y' });
});

perDevice('fill_ sets every element (float32 rounding, int32 tensors)', (t, device) => {
  for (const n of [1, 13, 70001]) {
    const f = randn([n], { device });
    fill_(f, 0.1);
    t.true(Array.from(f.toArraySync()).every((v) => v === Math.fround(0.1)), `float32 [${n}]`);
    fill_(f, -2.5);
    t.true(Array.from(f.toArraySync()).every((v) => v === -2.5), `float32 [${n}] again`);
  }
  const i32 = tensor(new Int32Array([1, 2, 3, 4, 5]), [5], { dtype: 'int32', device });
  fill_(i32, 7);
  t.deepEqual([...i32.toArraySync()], [7, 7, 7, 7, 7]);
});

perDevice('zero-size tensors pass through relu, add and the in-place ops', (t, device) => {
  const z = zeros([0, 3], { device });
  const y = relu(z);
  t.deepEqual([...y.shape], [0, 3]);
  t.is(y.toArraySync().length, 0);
  t.deepEqual([...reluBackward(z, y).shape], [0, 3]);
  t.deepEqual([...add(z, zeros([0, 3], { device })).shape], [0, 3]);
  addScaled_(z, zeros([0, 3], { device }), 2);
  fill_(z, 1);
  t.is(z.toArraySync().length, 0);
});

// The reference backwards against finite differences of the reference forwards (relu inputs kept
// at least 0.01 from its kink at 0).
// u [N, ..., C] scaled per (sample, channel): a channel count below and above the vector width, one row, one sample.
const SCALED: number[][] = [[1, 1, 1, 3], [2, 5, 7, 13], [3, 4, 4, 64], [4, 300, 9], [5, 2], [3, 41, 37, 24]];
for (const [i, s] of SCALED.entries()) {
  perDevice(`scaleChannels (alone, + residual, + relu) and scaleChannelsBackward: [${s}]`, (t, device) => {
    const r = new Rng(90 + i);
    const N = s[0]!, C = s[s.length - 1]!, n = numel(s);
    const u = data(r, n), f = r.array(N * C), res = r.array(n), dy = r.array(n);
    const U = T(u, s, device), S = T(f, [N, C], device);
    if (device !== 'cpu') {
      const e = t.throws(() => scaleChannels(U, S), { instanceOf: SenetError });
      t.is(e?.code, 'SENET_DEVICE');
      return;
    }
    const prod = u.map((v, k) => Math.abs(v * f[Math.floor(k / (n / N)) * C + (k % C)]!));
    // the product: one rounding; + r: one more (or one in all when fused), of at most |u s| + |r|
    assertClose(t, read(scaleChannels(U, S)), scaleChannelsRef(u, f, N, C), { mag: prod, k: 1, name: 'u s' });
    const mag = prod.map((v, k) => v + Math.abs(res[k]!));
    assertClose(t, read(scaleChannels(U, S, { residual: T(res, s, device) })), scaleChannelsRef(u, f, N, C, res), { mag, k: 2, name: 'u s + r' });
    assertClose(t, read(scaleChannels(U, S, { residual: T(res, s, device), relu: true })), scaleChannelsRef(u, f, N, C, res, true), { mag, k: 2, name: 'relu(u s + r)' });
    const bias = r.array(N * C);
    const magB = mag.map((v, k) => v + Math.abs(bias[Math.floor(k / (n / N)) * C + (k % C)]!));
    assertClose(t, read(scaleChannels(U, S, { residual: T(res, s, device), bias: T(bias, [N, C], device), relu: true })),
      scaleChannelsRef(u, f, N, C, res, true, bias), { mag: magB, k: 3, name: 'relu(u s + bias + r)' });
    // relu's gradient from its output, with its sums against u (exact select; sums as ds below)
    const yRelu = scaleChannels(U, S, { residual: T(res, s, device), relu: true });
    const rd = reluBackwardChannelDot(T(dy, s, device), yRelu, U);
    const g = reluBackwardRef(dy, read(yRelu));
    assertClose(t, read(rd.dx), g, { k: 0, name: 'relu dx' });
    assertClose(t, read(rd.ds), scaleChannelsBackwardRef(g, u, f, N, C).ds, { mag: scaleChannelsBackwardRef(g.map(Math.abs), u.map(Math.abs), f, N, C).ds, k: 1, name: 'relu dx . u' });
    const { du, ds } = scaleChannelsBackward(T(dy, s, device), U, S);
    const want = scaleChannelsBackwardRef(dy, u, f, N, C);
    t.deepEqual([...ds.shape], [N, C]);
    assertClose(t, read(du), want.du, { k: 1, name: 'du' });
    // products exact and sums in float64: the final rounding to float32 (float64's error is far below it)
    const dsMag = scaleChannelsBackwardRef(dy.map(Math.abs), u.map(Math.abs), f, N, C).ds;
    assertClose(t, read(ds), want.ds, { mag: dsMag, k: 1, name: 'ds' });
    // the same bits at any thread count (ds: one sample per thread at a time)
    const threads = getNumThreads();
    try {
      for (const k of [1, 3]) {
        setNumThreads(k);
        const again = scaleChannelsBackward(T(dy, s, device), U, S);
        t.deepEqual([...read(again.ds)], [...read(ds)], `ds at ${k} threads`);
        t.deepEqual([...read(reluBackwardChannelDot(T(dy, s, device), yRelu, U).ds)], [...read(rd.ds)], `relu dx . u at ${k} threads`);
        t.deepEqual([...read(scaleChannels(U, S, { residual: T(res, s, device), relu: true }))], [...read(yRelu)], `relu(u s + r) at ${k} threads`);
      }
    } finally {
      setNumThreads(threads);
    }
  });
}

perDevice('scaleChannels with relu passes NaN as relu does', (t, device) => {
  if (device !== 'cpu') {
    t.pass();
    return;
  }
  const y = scaleChannels(tensor([NaN, -1, 2, -0], [2, 2], { device }), tensor([1, 1, 1, 1], [2, 2], { device }), { relu: true }).toArraySync();
  t.true(Number.isNaN(y[0]));
  t.deepEqual([...y.slice(1)], [0, 2, -0]);
  // reluBackwardChannelDot as reluGrad: NaN in y passes, dy * 0 where y <= 0 (Inf * 0 = NaN), in the
  // 8-wide vector loop (16 channels) and the scalar tail (3 more)
  const C = 19;
  const yv = [NaN, 1, -1, 0, Infinity, -0, 2, NaN, 3, -2, 1, NaN, 0, 5, -1, 1, NaN, 2, -3];
  const dyv = [1, 2, Infinity, 3, 4, 5, 6, 7, 8, 9, 10, 11, Infinity, 13, 14, 15, 16, 17, 18];
  const uv = yv.map((_, k) => 0.5 + k);
  const { dx, ds } = reluBackwardChannelDot(tensor(dyv, [1, C], { device }), tensor(yv, [1, C], { device }), tensor(uv, [1, C], { device }));
  const want = reluBackwardRef(dyv, yv).map((v, k) => (Number.isNaN(yv[k]!) ? NaN : yv[k]! > 0 ? dyv[k]! : dyv[k]! * 0));
  const got = dx.toArraySync(), sums = ds.toArraySync();
  for (let k = 0; k < C; k++) {
    t.is(Number.isNaN(got[k]!), Number.isNaN(want[k]!), `dx[${k}] NaN`);
    if (!Number.isNaN(want[k]!)) t.is(got[k], want[k], `dx[${k}]`);
    t.is(Number.isNaN(sums[k]!), Number.isNaN(want[k]!), `ds[${k}] NaN`);
  }
});

perDevice('reluBackwardChannelDot from squeezeExcite\'s relu mask: the same bits as from y; a NaN in y sends it to y', (t, device) => {
  if (device !== 'cpu') {
    t.pass(); // (the nan flag and this op are cpu-only)
    return;
  }
  // C = 19: rows end off a byte; with streamed outputs the runs also start mid-row and off a byte
  // (the output is written in 2048-element chunks after a head up to a 32-byte boundary: per sample
  // 285 or 2736 elements), so the scalar head, the vector loop from the next 8-channel boundary and
  // the tail all run; C = 64: whole bytes. Every 5th pre-activation is 0 exactly (u and r 0 there):
  // bit 0, y = 0.
  const cases = [[2, 3, 5, 19, 0], [2, 12, 12, 19, 0], [3, 4, 4, 64, 0], [2, 3, 5, 19, 1], [2, 12, 12, 19, 1]];
  try {
    for (const [i, [n0, h, w0, c0, streamed]] of cases.entries()) {
      const shape = [n0!, h!, w0!, c0!];
      addon._streamStores({ mode: streamed ? 'on' : 'auto' });
      const r = new Rng(70 + i);
      const n = numel(shape), C = shape[3]!;
      const u = data(r, n), res = r.array(n).map((v, k) => (k % 5 === 0 ? 0 : v)), dy = r.array(n);
      const w = { w1: T(r.array(4 * C, 0.3), [4, C], device), b1: T(r.array(4), [4], device), w2: T(r.array(C * 4, 0.3), [C, 4], device), b2: T(r.array(C), [C], device) };
      for (const nanAt of [-1, 7]) {
        if (nanAt >= 0) res[nanAt] = NaN;
        const U = T(u, shape, device);
        const { y, saved } = squeezeExcite(U, w, { shortcut: T(res, shape, device) });
        t.deepEqual([...read(saved!.nan!)], [nanAt >= 0 ? 1 : 0], 'the flag');
        const fromY = reluBackwardChannelDot(T(dy, shape, device), y, U);
        const fromBits = reluBackwardChannelDot(T(dy, shape, device), y, U, { mask: saved!.mask!, nan: saved!.nan! });
        t.deepEqual([...read(fromBits.dx)], [...read(fromY.dx)], `dx [${shape}]${nanAt >= 0 ? ', a NaN' : ''}`);
        t.deepEqual([...read(fromBits.ds)], [...read(fromY.ds)], `ds [${shape}]${nanAt >= 0 ? ', a NaN' : ''}`);
        if (nanAt >= 0) t.true(Number.isNaN(read(fromBits.dx)[nanAt]!), 'NaN in y passes');
        disposeSeSaved(saved!);
      }
    }
  } finally {
    addon._streamStores({ mode: 'auto' });
  }
  const a = randn([2, 8], { device });
  const bits = { mask: tensor(new Uint8Array(2), [2], { dtype: 'uint8', device }), nan: tensor(new Uint8Array(1), [1], { dtype: 'uint8', device }) };
  const bad = badInput(t);
  bad(() => reluBackwardChannelDot(a, a, a, { mask: a, nan: bits.nan }), 'SENET_DTYPE', /^reluBackwardChannelDot: expected bits.mask dtype uint8, got float32/);
  bad(() => reluBackwardChannelDot(a, a, a, { mask: tensor(new Uint8Array(3), [3], { dtype: 'uint8', device }), nan: bits.nan }), 'SENET_SHAPE',
    /^reluBackwardChannelDot: expected mask shape \[2\], got \[3\]/);
  bad(() => reluBackwardChannelDot(a, a, a, { mask: bits.mask, nan: bits.mask }), 'SENET_SHAPE', /^reluBackwardChannelDot: expected nan shape \[1\], got \[2\]/);
  bad(() => reluBackwardChannelDot(a, a, a, { mask: bits.mask } as never), 'SENET_ARG', /^reluBackwardChannelDot: expected bits.nan a Tensor, got undefined/);
});

test('eltwise reference backwards match finite differences', (t) => {
  for (const [i, s] of [[2, 3, 4], [3, 1, 5]].entries()) {
    const r = new Rng(95 + i);
    const N = s[0]!, C = s[2]!, n = numel(s);
    const u = r.array(n), f = r.array(N * C), dy = r.array(n);
    const g = scaleChannelsBackwardRef(dy, u, f, N, C);
    const nu = numericalGrad((v) => dot(scaleChannelsRef(v, f, N, C), dy), u);
    const ns = numericalGrad((v) => dot(scaleChannelsRef(u, v, N, C), dy), f);
    assertNear(t, [...g.du], [...nu.values()], FD_RTOL, FD_ATOL, `scaleChannels du [${s}]`);
    assertNear(t, [...g.ds], [...ns.values()], FD_RTOL, FD_ATOL, `scaleChannels ds [${s}]`);
  }
  for (const [i, s] of SHAPES.slice(0, 4).entries()) {
    const r = new Rng(40 + i);
    const x = r.array(numel(s)).map((v) => Math.fround(Math.sign(v || 1) * (0.01 + Math.abs(v))));
    const dy = r.array(numel(s));
    const ix = sampleIndices(x.length, 40);
    const g = reluBackwardRef(dy, reluRef(x));
    const nx = numericalGrad((v) => dot(reluRef(v), dy), x, ix);
    assertNear(t, ix.map((k) => g[k]!), ix.map((k) => nx.get(k)!), FD_RTOL, FD_ATOL, `relu [${s}]`);
    const b = r.array(numel(s));
    const ga = addBackwardRef(dy);
    const na = numericalGrad((v) => dot(addRef(v, b), dy), x, ix);
    const nb = numericalGrad((v) => dot(addRef(x, v), dy), b, ix);
    assertNear(t, ix.map((k) => ga.da[k]!), ix.map((k) => na.get(k)!), FD_RTOL, FD_ATOL, `add da [${s}]`);
    assertNear(t, ix.map((k) => ga.db[k]!), ix.map((k) => nb.get(k)!), FD_RTOL, FD_ATOL, `add db [${s}]`);
  }
});

perDevice('eltwise ops reject bad input with SENET_* errors naming op and argument', (t, device) => {
  const a = randn([2, 3], { device }), b = randn([3, 2], { device });
  const bad = badInput(t);
  bad(() => relu('x' as never), 'SENET_ARG', /^relu: expected x a Tensor, got string 'x'/);
  bad(() => relu([1, 2] as never), 'SENET_ARG', /^relu: expected x a Tensor, got an array of length 2/);
  bad(() => relu(tensor(new Int32Array(4), [4], { dtype: 'int32', device })), 'SENET_DTYPE', /^relu: expected x dtype float32, got int32/);
  bad(() => reluBackward(b, a), 'SENET_SHAPE', /^reluBackward: expected dy shape \[2,3\], got \[3,2\]/);
  bad(() => reluBackward(randn([6], { device }), a), 'SENET_SHAPE', /^reluBackward: expected dy shape \[2,3\], got \[6\]/);
  bad(() => reluBackward(a, tensor(new Uint8Array(6), [2, 3], { dtype: 'uint8', device })), 'SENET_DTYPE', /^reluBackward: expected y dtype float32, got uint8/);
  bad(() => add(a, b), 'SENET_SHAPE', /^add: expected b shape \[2,3\], got \[3,2\]/);
  bad(() => add(a, null as never), 'SENET_ARG', /^add: expected b a Tensor, got null/);
  bad(() => addScaled_(a, b), 'SENET_SHAPE', /^addScaled_: expected x shape \[2,3\], got \[3,2\]/);
  bad(() => addScaled_(a, a, NaN), 'SENET_ARG', /^addScaled_: expected alpha a finite number, got number NaN/);
  bad(() => addScaled_(a, a, Infinity), 'SENET_ARG', /^addScaled_: expected alpha a finite number, got number Infinity/);
  bad(() => addScaled_(a, a, '2' as never), 'SENET_ARG', /^addScaled_: expected alpha a finite number, got string '2'/);
  bad(() => scaleChannels(randn([6], { device }), a), 'SENET_SHAPE', /^scaleChannels: expected u a non-empty tensor \[N, \.\.\., C\] of rank >= 2, got shape \[6\]/);
  bad(() => scaleChannels(a, b), 'SENET_SHAPE', /^scaleChannels: expected s shape \[2,3\], got \[3,2\]/);
  bad(() => scaleChannels(a, a, { residual: b }), 'SENET_SHAPE', /^scaleChannels: expected residual shape \[2,3\], got \[3,2\]/);
  bad(() => scaleChannelsBackward(b, a, a), 'SENET_SHAPE', /^scaleChannelsBackward: expected dy shape \[2,3\], got \[3,2\]/);
  bad(() => scaleChannels(a, a, { bias: b }), 'SENET_SHAPE', /^scaleChannels: expected bias shape \[2,3\], got \[3,2\]/);
  bad(() => reluBackwardChannelDot(a, b, a), 'SENET_SHAPE', /^reluBackwardChannelDot: expected y shape \[2,3\], got \[3,2\]/);
  bad(() => reluBackwardChannelDot(a, a, randn([6], { device })), 'SENET_SHAPE', /^reluBackwardChannelDot: expected u a non-empty tensor/);
  bad(() => scaleChannelsBackward(a, a, 'x' as never), 'SENET_ARG', /^scaleChannelsBackward: expected s a Tensor, got string 'x'/);
  bad(() => fill_(a, '1' as never), 'SENET_ARG', /^fill_: expected value a number, got string '1'/);
  bad(() => fill_({} as never, 1), 'SENET_ARG', /^fill_: expected x a Tensor, got an object/);
  // Shapes with negative or non-finite dimensions never become tensors.
  bad(() => zeros([2, -1], { device }), 'SENET_SHAPE', /^full: expected shape\[1\] a non-negative integer dimension, got number -1/);
  bad(() => full([NaN, 2], 1, { device }), 'SENET_SHAPE', /^full: expected shape\[0\] a non-negative integer dimension, got number NaN/);
  bad(() => tensor([1, 2], [2, Infinity], { device }), 'SENET_SHAPE', /^tensor: expected shape\[1\] a non-negative integer dimension, got number Infinity/);
  const dead = randn([2, 3], { device });
  dead.dispose();
  bad(() => relu(dead), 'SENET_DISPOSED', /^relu: expected x a live tensor, got a disposed tensor of shape \[2,3\]/);
  bad(() => reluBackward(a, dead), 'SENET_DISPOSED', /^reluBackward: expected y a live tensor/);
  bad(() => add(dead, a), 'SENET_DISPOSED', /^add: expected a a live tensor/);
  bad(() => addScaled_(dead, a), 'SENET_DISPOSED', /^addScaled_: expected y a live tensor/);
  bad(() => fill_(dead, 0), 'SENET_DISPOSED', /^fill_: expected x a live tensor/);
  // The engine still works.
  t.deepEqual([...read(relu(T([-1, 2], [2], device)))], [0, 2]);
});

test('the native eltwise bindings re-check what the TypeScript layer checks', async (t) => {
  const { addon } = await import('../lib/native.js');
  const ha = randn([2, 3]).handle('t', 'a'), hb = randn([3, 2]).handle('t', 'b');
  const e1 = t.throws(() => addon.add(ha, hb));
  t.is((e1 as { code?: string }).code, 'SENET_SHAPE');
  t.regex(e1!.message, /add: expected b shape \[2,3\], got \[3,2\]/);
  const e2 = t.throws(() => addon.reluBackward(ha, hb));
  t.regex(e2!.message, /reluBackward: expected dy shape \[3,2\], got \[2,3\]/);
  const e3 = t.throws(() => addon.relu({ shape: [2] } as never));
  t.regex(e3!.message, /relu: expected x a Tensor, got an object/);
});

perDevice('relu propagates NaN and keeps infinities, as torch.relu (a diverging run must stay visible)', (t, device) => {
  const x = tensor([NaN, -Infinity, Infinity, -0, 0, -1, 2], [7], { device });
  const y = relu(x).toArraySync();
  t.true(Number.isNaN(y[0]));
  // -0 stays -0, as torch.relu (max(0, -0) returns the argument)
  t.deepEqual([...y.slice(1)], [0, Infinity, -0, 0, 0, 2]);
  const dx = reluBackward(tensor([1, 1, 1, 1, 1, 1, 1], [7], { device }), relu(x)).toArraySync();
  t.deepEqual([...dx], [0, 0, 1, 0, 0, 0, 1]);
});
