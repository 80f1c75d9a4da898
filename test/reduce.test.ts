import test from 'ava';
import { batchNormGradSums, binary, centeredVariance, randn, reduce, softmax, tensor, SenetError, type SenetErrorCode, type Device } from '../lib/index.js';
import { numelOf } from './reference/math.js';
import { batchNormGradSumsRef, batchNormRef, centeredVarianceRef, reduceRef, softmaxBackwardRef, softmaxRef } from './reference/reduce.js';
import { perDevice } from './helpers/devices.js';
import { Rng } from './helpers/rng.js';
import { T, read } from './helpers/tensors.js';
import { abs, assertClose, assertNear } from './helpers/compare.js';
import { FD_ATOL, FD_RTOL, dot, numericalGrad, sampleIndices } from './helpers/fd.js';
import type { ExecutionContext } from 'ava';
import { badInput } from './helpers/errors.js';

function cpuOnly(t: ExecutionContext, device: Device, fn: () => unknown): boolean {
  if (device === 'cpu') return false;
  const e = t.throws(fn, { instanceOf: SenetError });
  t.is(e?.code, 'SENET_DEVICE');
  return true;
}

// Every layout the kernel has a loop for: all, rows, columns, middle, and the generic walk.
const CASES: Array<[number[], number[]]> = [
  [[7], [0]], [[70001], [0]], [[5, 13], [1]], [[5, 13], [0]], [[5, 13], [0, 1]], [[64, 9, 9, 16], [0, 1, 2]], [[8, 7, 7, 64], [1, 2]], [[5, 13, 11, 19], [1, 2]], [[2, 200, 3], [0, 1]],
  [[2, 3, 4, 5], [0, 2]], [[2, 3, 4, 5], [1, 3]], [[3, 1, 4], [1]], [[3, 1, 4], [0, 1]], [[4, 6], []], [[1, 1], [0]],
];

/**
 * Whether the kernel sums this reduction in float32 blocks: the [R, K] and [K1, R, K2] layouts
 * (reduced axes before kept ones, after dropping size-1 axes and merging neighbours alike).
 */
function blocked(shape: number[], axes: number[]): boolean {
  const g: boolean[] = [];
  shape.forEach((d, k) => {
    if (d === 1) return;
    const red = axes.includes(k);
    if (g[g.length - 1] !== red) g.push(red);
  });
  return (g.length === 2 && g[0]! && !g[1]) || (g.length === 3 && !g[0] && g[1]! && !g[2]);
}

perDevice('reduce: a float32 block sum that overflows (or meets an infinity) is summed in double instead', (t, device) => {
  if (cpuOnly(t, device, () => reduce(T([1], [1, 1], device), [0], 'sum'))) return;
  // [128, 2] over axis 0: rows 0-63 = 1e37, rows 64-127 = -1e37 (column 0), the other way round (column 1)
  const x = Float64Array.from({ length: 256 }, (_, k) => ((k >> 1) < 64 ? 1 : -1) * (k % 2 ? -1e37 : 1e37));
  t.deepEqual([...read(reduce(T(x, [128, 2], device), [0], 'sum'))], [0, 0]);
  // Mean over H, W of 1e37 everywhere: 1e37 (the sum, 6.4e38, exceeds float32)
  const m = read(reduce(T(new Float64Array(128).fill(1e37), [1, 8, 8, 2], device), [1, 2], 'mean'));
  for (const v of m) t.true(Math.abs(v - 1e37) <= 1e37 * 1e-6, String(v));
  // infinities and NaN as before: inf + -inf = NaN, NaN stays
  const y = Float64Array.from({ length: 8 }, (_, k) => [Infinity, 1, -Infinity, NaN][k % 4]!);
  const s = read(reduce(T(y, [2, 4], device), [0], 'sum'));
  t.deepEqual([s[0], s[1]], [Infinity, 2]);
  t.is(s[2], -Infinity);
  t.true(Number.isNaN(s[3]!));
});

for (const [i, [shape, axes]] of CASES.entries()) {
  perDevice(`reduce sum/mean/max/min: [${shape}] over [${axes}]`, (t, device) => {
    const r = new Rng(10 + i);
    const x = r.array(numelOf(shape), 2, 0.3);
    if (cpuOnly(t, device, () => reduce(T(x, shape, device), axes, 'sum'))) return;
    const count = axes.reduce((a, k) => a * shape[k]!, 1);
    for (const op of ['sum', 'mean', 'max', 'min'] as const) {
      const y = reduce(T(x, shape, device), axes, op);
      const want = reduceRef(x, shape, axes, op);
      t.deepEqual([...y.shape], want.shape, op);
      if (op === 'max' || op === 'min') assertClose(t, read(y), want.y, { k: 0, name: op });
      else {
        // Sums over a middle or leading axis add rows in float32 blocks of 64 (groups of four summed
        // pairwise, then one chain of at most 16 groups and 3 single rows: <= 20 roundings along any
        // element's path) merged in double; the other layouts accumulate in double. Then one
        // rounding to float32 (mean: one more for the division).
        const mag = reduceRef(abs(x), shape, axes, op).y;
        assertClose(t, read(y), want.y, { mag, k: blocked(shape, axes) ? 22 : 2, name: op });
      }
      const kept = reduce(T(x, shape, device), axes, op, { keepDims: true });
      t.deepEqual([...kept.shape], shape.map((d, k) => (axes.includes(k) ? 1 : d)));
    }
    t.true(count >= 1);
  });
}

perDevice('reduce: NaN propagates through max and min; negative axes count from the end; empty axes sum to 0', (t, device) => {
  const x = Float64Array.from([1, NaN, 3, 4, 5, 6]);
  if (cpuOnly(t, device, () => reduce(T(x, [2, 3], device), [1], 'max'))) return;
  const mx = read(reduce(T(x, [2, 3], device), [-1], 'max'));
  t.true(Number.isNaN(mx[0]!));
  t.is(mx[1], 6);
  const mn = read(reduce(T(x, [2, 3], device), [1], 'min'));
  t.true(Number.isNaN(mn[0]!));
  t.is(mn[1], 4);
  const e = T([], [0, 3], device);
  t.deepEqual([...read(reduce(e, [0], 'sum'))], [0, 0, 0]);
  t.true(read(reduce(e, [0], 'mean')).every(Number.isNaN));
  t.deepEqual([...read(reduce(e, [0], 'max'))], [-Infinity, -Infinity, -Infinity]);
});

for (const [i, shape] of [[4, 10], [3, 5, 7], [1000, 33], [2, 1]].entries()) {
  perDevice(`softmax over the last axis: [${shape}]`, (t, device) => {
    const r = new Rng(40 + i);
    const x = r.array(numelOf(shape), 4);
    if (shape[0] === 4) x[3] = 80; // large logits: max-shifted
    if (cpuOnly(t, device, () => softmax(T(x, shape, device)))) return;
    const y = read(softmax(T(x, shape, device)));
    const L = shape[shape.length - 1]!;
    const want = softmaxRef(x, L);
    // exp of a float32 x - max (its rounding grows with |x - max|), a few ulp of expf, a double sum, one scaling.
    const mag = want.map((w, k) => {
      let m = -Infinity;
      for (let j = 0; j < L; j++) m = Math.max(m, x[Math.floor(k / L) * L + j]!);
      return Math.abs(w) * (8 + Math.abs(x[k]! - m));
    });
    assertClose(t, y, want, { mag, k: 1, atol: 1e-30, name: 'softmax' });
    for (let row = 0; row < y.length / shape[shape.length - 1]!; row++) {
      let s = 0;
      for (let j = 0; j < shape[shape.length - 1]!; j++) s += y[row * shape[shape.length - 1]! + j]!;
      t.true(Math.abs(s - 1) < 1e-5);
    }
  });
}

test('softmax reference backward matches finite differences', (t) => {
  const r = new Rng(50);
  const L = 7;
  const x = r.array(5 * L, 2), dy = r.array(5 * L);
  const g = softmaxBackwardRef(dy, softmaxRef(x, L), L);
  const num = numericalGrad((v) => dot(softmaxRef(v, L), dy), Float64Array.from(x));
  assertNear(t, [...g], [...num.values()], FD_RTOL, FD_ATOL, 'softmax dx');
});

// The softmax gradient the tfjs backend computes (tfjs's ops: sum(dy * y), sub, mul) from the engine's softmax.
perDevice('softmax backward through reduce and binary ops', (t, device) => {
  const r = new Rng(51);
  const L = 10;
  const x = r.array(64 * L, 2), dy = r.array(64 * L);
  if (cpuOnly(t, device, () => softmax(T(x, [64, L], device)))) return;
  const y = softmax(T(x, [64, L], device));
  const tdy = T(dy, [64, L], device);
  const s = reduce(binary(tdy, y, 'mul'), [1], 'sum', { keepDims: true });
  const dx = binary(y, binary(tdy, s, 'sub'), 'mul');
  const want = softmaxBackwardRef(dy, softmaxRef(x, L), L);
  // |dx| <= y (|dy| + sum |dy| y); y carries softmax's error (|x - max| <= ~20 here), the sum L terms.
  const yr = softmaxRef(x, L);
  const mag = yr.map((v, k) => {
    let s = 0;
    for (let j = 0; j < L; j++) s += Math.abs(dy[Math.floor(k / L) * L + j]!) * yr[Math.floor(k / L) * L + j]!;
    return v * (Math.abs(dy[k]!) + s);
  });
  assertClose(t, read(dx), want, { mag, k: 64 + 2 * L, name: 'softmax dx' });
});

for (const [i, shape] of [[4, 5, 5, 3], [64, 9, 9, 16], [3, 7], [2, 2, 2, 256]].entries()) {
  perDevice(`batchNormGradSums: per-channel sums of dy and dy (x - mean): [${shape}]`, (t, device) => {
    const r = new Rng(60 + i);
    const C = shape[shape.length - 1]!;
    const x = r.array(numelOf(shape), 2, 1), dy = r.array(numelOf(shape)), mean = r.array(C, 0.5, 1);
    if (cpuOnly(t, device, () => batchNormGradSums(T(dy, shape, device), T(x, shape, device), T(mean, [C], device)))) return;
    const { sumDy, sumDyXmu } = batchNormGradSums(T(dy, shape, device), T(x, shape, device), T(mean, [C], device));
    const want = batchNormGradSumsRef(dy, x, mean);
    const mag = batchNormGradSumsRef(abs(dy), abs(x).map((v) => v), abs(mean).map((v) => -v));
    assertClose(t, read(sumDy), want.sumDy, { mag: mag.sumDy, k: 2, name: 'sum dy' });
    // x - mean is rounded to float32 before the product: 2 roundings per term.
    assertClose(t, read(sumDyXmu), want.sumDyXmu, { mag: mag.sumDyXmu, k: 4, name: 'sum dy (x - mean)' });
  });
}

for (const [i, shape] of [[4, 5, 5, 3], [64, 9, 9, 16], [3, 7], [1, 1, 1, 5], [2, 2, 2, 256]].entries()) {
  perDevice(`centeredVariance: per-channel mean of (x - mean)^2: [${shape}]`, (t, device) => {
    const r = new Rng(80 + i);
    const C = shape[shape.length - 1]!;
    // a channel offset far from zero (|mean| / std up to ~30): the differences must be taken before squaring
    const off = r.array(C, 30);
    const x = r.array(numelOf(shape)).map((v, k) => v + off[k % C]!);
    const mean = Float64Array.from({ length: C }, (_, c) => {
      let s = 0;
      for (let k = c; k < x.length; k += C) s += x[k]!;
      return Math.fround(s / (x.length / C));
    });
    if (cpuOnly(t, device, () => centeredVariance(T(x, shape, device), T(mean, [C], device)))) return;
    const got = read(centeredVariance(T(x, shape, device), T(mean, [C], device)));
    // x is rounded to float32 by T(); the reference takes that x. One rounding of each difference
    // (relative 2^-24, doubled by the square) and one of the result; the float64 sum adds nothing visible.
    const xf = Float64Array.from(x, (v) => Math.fround(v));
    const want = centeredVarianceRef(xf, mean);
    assertClose(t, got, want, { mag: want, k: 3, name: 'variance' });
  });
}

// The sums are batch norm's parameter gradients: d/doffset = sumDy, d/dscale = rsqrt(var + eps) sumDyXmu.
test('batchNormGradSums are the offset and scale gradients of batch norm (finite differences)', (t) => {
  const r = new Rng(70);
  const C = 3, n = 4 * 5 * C;
  const x = r.array(n), dy = r.array(n), mean = r.array(C, 0.3), variance = r.uniform(C, 0.5, 2), scale = r.array(C, 1, 1), offset = r.array(C);
  const eps = 1e-3;
  const { sumDy, sumDyXmu } = batchNormGradSumsRef(dy, x, mean);
  const dOffset = numericalGrad((v) => dot(batchNormRef(x, mean, variance, scale, v, eps), dy), Float64Array.from(offset));
  const dScale = numericalGrad((v) => dot(batchNormRef(x, mean, variance, v, offset, eps), dy), Float64Array.from(scale));
  assertNear(t, [...sumDy], [...dOffset.values()], FD_RTOL, FD_ATOL, 'd offset');
  assertNear(t, [...sumDyXmu].map((v, c) => v / Math.sqrt(variance[c]! + eps)), [...dScale.values()], FD_RTOL, FD_ATOL, 'd scale');
  void sampleIndices;
});

perDevice('reduce family rejects bad input with SENET_* errors naming op and argument', (t, device) => {
  if (device !== 'cpu') {
    t.pass();
    return;
  }
  const bad = badInput(t);
  const x = randn([3, 4]);
  bad(() => reduce(x, [2], 'sum'), 'SENET_ARG', /^reduce: expected axes\[0\] an axis in \[-2, 1\] of x \[3,4\], got number 2/);
  bad(() => reduce(x, [1, -1], 'sum'), 'SENET_ARG', /^reduce: expected axes distinct axes, got \[1,-1\]/);
  bad(() => reduce(x, [0], 'prod' as never), 'SENET_ARG', /^reduce: expected op one of sum\|mean\|max\|min, got string 'prod'/);
  bad(() => reduce(tensor(new Int32Array(2), [2], { dtype: 'int32' }), [0], 'sum'), 'SENET_DTYPE', /^reduce: expected x dtype float32, got int32/);
  bad(() => softmax(tensor([1], [])), 'SENET_SHAPE', /^softmax: expected x a tensor of rank >= 1, got shape \[\]/);
  bad(() => batchNormGradSums(x, randn([3, 5]), randn([4])), 'SENET_SHAPE', /^batchNormGradSums: expected dy shape \[3,5\], got \[3,4\]/);
  bad(() => centeredVariance(x, randn([3])), 'SENET_SHAPE', /^centeredVariance: expected mean shape \[4\], got \[3\]/);
  bad(() => centeredVariance(randn([3, 0]), randn([0])), 'SENET_SHAPE', /^centeredVariance: expected x a non-empty tensor with channels on its last axis, got shape \[3,0\]/);
  bad(() => centeredVariance(x, randn([4, 1])), 'SENET_SHAPE', /^centeredVariance: expected mean a rank-1 tensor, got shape \[4,1\]/);
  bad(() => batchNormGradSums(x, x, randn([3])), 'SENET_SHAPE', /^batchNormGradSums: expected mean shape \[4\], got \[3\]/);
  return import('../lib/native.js').then(({ addon }) => {
    const h = x.handle('t', 'x');
    t.regex(t.throws(() => addon.reduce(h, [0, 0], 'sum'))!.message, /reduce: expected axes\[1\] an axis not already listed/);
    t.regex(t.throws(() => addon.reduce(h, [5], 'sum'))!.message, /reduce: expected axes\[0\] an axis in \[0, 1\]/);
    t.regex(t.throws(() => addon.batchNormGradSums(h, h, h))!.message, /batchNormGradSums: expected mean shape \[4\], got \[3,4\]/);
    t.deepEqual([...reduce(x, [0], 'sum').shape], [4]);
  });
});
