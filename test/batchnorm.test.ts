import test from 'ava';
import {
  batchNormBackward, batchNormInference, batchNormTrain, randn, tensor, zeros, SenetError, type SenetErrorCode,
} from '../lib/index.js';
import {
  batchNormApplyRef, batchNormBackwardRef, batchNormForwardMags, batchNormTrainRef, batchStatsRef, runningUpdateRef,
} from './reference/batchnorm.js';
import { perDevice } from './helpers/devices.js';
import { Rng } from './helpers/rng.js';
import { T, numel, read } from './helpers/tensors.js';
import { assertClose, assertNear } from './helpers/compare.js';
import { FD_ATOL, FD_RTOL, dot, numericalGrad, sampleIndices } from './helpers/fd.js';
import { badInput } from './helpers/errors.js';

interface Case {
  name: string;
  xs: [number, number, number, number];
  /** x = offset + scale * normal: an offset far from 0 makes the variance a cancelling sum */
  offset: number;
  scale: number;
  eps: number;
  momentum: number;
}

const CASES: Case[] = [
  { name: 'N=1, odd spatial 5x7, C=3', xs: [1, 5, 7, 3], offset: 0, scale: 1, eps: 1e-5, momentum: 0.1 },
  { name: 'C=13, mean offset 3 (cancellation in the variance)', xs: [2, 5, 6, 13], offset: 3, scale: 0.5, eps: 1e-5, momentum: 0.1 },
  { name: 'C=20, N=4, eps 1e-3, momentum 0.3', xs: [4, 6, 6, 20], offset: -1, scale: 2, eps: 1e-3, momentum: 0.3 },
  { name: 'C=64, 3x3', xs: [8, 3, 3, 64], offset: 0.5, scale: 1, eps: 1e-5, momentum: 0.1 },
  { name: 'C=37, n=605', xs: [5, 11, 11, 37], offset: 0, scale: 1, eps: 1e-5, momentum: 0.01 },
  { name: 'C=1, 1x1 spatial', xs: [6, 1, 1, 1], offset: 2, scale: 1, eps: 1e-5, momentum: 1 },
  // large enough for every thread and many 64-row partial sums of the CPU kernel
  { name: 'C=40, n=8448 (threads, blocked sums), mean offset 3', xs: [8, 32, 33, 40], offset: 3, scale: 1, eps: 1e-5, momentum: 0.1 },
];

function setup(c: Case, seed: number) {
  const r = new Rng(seed);
  const C = c.xs[3];
  const x = r.array(numel(c.xs), c.scale, c.offset);
  const gamma = r.array(C, 0.5, 1);
  const beta = r.array(C, 0.5);
  const dy = r.array(numel(c.xs));
  const rm = r.array(C, 0.2);
  const rv = r.uniform(C, 0.5, 2);
  return { x, gamma, beta, dy, rm, rv, n: numel(c.xs) / C };
}

for (const [i, c] of CASES.entries()) {
  perDevice(`batchNormTrain forward and running statistics: ${c.name}`, (t, device) => {
    const { x, gamma, beta, rm, rv, n } = setup(c, 10 + i);
    const C = c.xs[3];
    const want = batchNormTrainRef(x, c.xs, gamma, beta, c.eps);
    const mag = batchNormForwardMags(x, c.xs, gamma, beta, c.eps);
    const rmT = T(rm, [C], device), rvT = T(rv, [C], device);
    const out = batchNormTrain(T(x, c.xs, device), T(gamma, [C], device), T(beta, [C], device), {
      runningMean: rmT, runningVar: rvT, eps: c.eps, momentum: c.momentum,
    });
    t.deepEqual([...out.y.shape], c.xs);
    t.deepEqual([...out.mean.shape], [C]);
    t.deepEqual([...out.var.shape], [C]);
    // mean and the biased variance are length-n sums: see forwardMags.
    assertClose(t, read(out.mean), want.mean, { mag: mag.M1, k: n + 1, name: 'mean' });
    assertClose(t, read(out.var), want.var, { mag: mag.V2, k: n + 4, name: 'var (biased)' });
    assertClose(t, read(out.y), want.y, { mag: mag.y, k: n + 6, name: 'y' });
    // Running statistics, updated in place: r = (1-m) r + m stat (stat's error times m, plus about
    // five roundings: 1-m, two products, the add, and n/(n-1) for the variance) -> k = n + 7.
    const m = c.momentum, ub = n / (n - 1);
    const run = runningUpdateRef(rm, rv, want, n, m);
    const magRm = rm.map((r, j) => m * mag.M1[j]! + Math.abs((1 - m) * r) + m * Math.abs(want.mean[j]!));
    const magRv = rv.map((r, j) => m * ub * mag.V2[j]! + Math.abs((1 - m) * r) + m * ub * want.var[j]!);
    assertClose(t, read(rmT), run.runningMean, { mag: magRm, k: n + 7, name: 'runningMean' });
    assertClose(t, read(rvT), run.runningVar, { mag: magRv, k: n + 7, name: 'runningVar (unbiased)' });
  });

  perDevice(`batchNormInference: ${c.name}`, (t, device) => {
    const { x, gamma, beta, rm, rv } = setup(c, 20 + i);
    const C = c.xs[3];
    const want = batchNormApplyRef(x, c.xs, gamma, beta, rm, rv, c.eps);
    // No reduction: y = gamma (x - mean) s + beta, however folded (e.g. x*(gamma s) + (beta - mean gamma s)),
    // costs at most 8 roundings of |gamma| s (|x| + |mean|) + |beta| (sqrt, divide, fold, products, adds).
    const mag = x.map((v, j) => Math.abs(gamma[j % C]!) * (Math.abs(v) + Math.abs(rm[j % C]!)) / Math.sqrt(rv[j % C]! + c.eps) + Math.abs(beta[j % C]!));
    const y = batchNormInference(T(x, c.xs, device), T(gamma, [C], device), T(beta, [C], device), T(rm, [C], device), T(rv, [C], device), { eps: c.eps });
    t.deepEqual([...y.shape], c.xs);
    assertClose(t, read(y), want, { mag, k: 8, name: 'y' });
  });

  perDevice(`batchNormBackward: ${c.name}`, (t, device) => {
    const { x, gamma, dy, n } = setup(c, 30 + i);
    const C = c.xs[3];
    // The statistics batchNormTrain would return, as float32 inputs both sides share.
    const st = batchStatsRef(x, c.xs);
    const mean = st.mean.map(Math.fround), v = st.var.map(Math.fround);
    const want = batchNormBackwardRef(dy, x, c.xs, gamma, mean, v, c.eps);
    // xhat = (x - mean) s costs 3u |xhat|; dbeta = sum dy sums n terms (k = n); dgamma = sum dy xhat
    // sums n terms of 4u each (k = n + 4); dx = gamma s (dy - dbeta/n - xhat dgamma/n) inherits
    // (n+1) u sum|dy|/n and (n+9) u |xhat| sum|dy xhat|/n, plus 7 roundings (two subtractions, s,
    // two products) of I = |dy| + sum|dy|/n + |xhat| sum|dy xhat|/n: k = n + 16 over |gamma| s I.
    const s = v.map((vv) => 1 / Math.sqrt(vv + c.eps));
    const xhat = x.map((xx, j) => (xx - mean[j % C]!) * s[j % C]!);
    const sAbsDy = new Float64Array(C), sAbsDyXhat = new Float64Array(C);
    for (let j = 0; j < x.length; j++) {
      sAbsDy[j % C] += Math.abs(dy[j]!);
      sAbsDyXhat[j % C] += Math.abs(dy[j]! * xhat[j]!);
    }
    const magDx = x.map((_, j) => {
      const cc = j % C;
      return Math.abs(gamma[cc]!) * s[cc]! * (Math.abs(dy[j]!) + sAbsDy[cc]! / n + (Math.abs(xhat[j]!) * sAbsDyXhat[cc]!) / n);
    });
    const out = batchNormBackward(T(dy, c.xs, device), T(x, c.xs, device), T(gamma, [C], device), T(mean, [C], device), T(v, [C], device), { eps: c.eps });
    t.deepEqual([...out.dx.shape], c.xs);
    assertClose(t, read(out.dbeta), want.dbeta, { mag: sAbsDy, k: n, name: 'dbeta' });
    assertClose(t, read(out.dgamma), want.dgamma, { mag: sAbsDyXhat, k: n + 4, name: 'dgamma' });
    assertClose(t, read(out.dx), want.dx, { mag: magDx, k: n + 16, name: 'dx' });
  });
}

perDevice('batchNormTrain without running statistics leaves nothing else to update', (t, device) => {
  const c = CASES[1]!;
  const { x, gamma, beta, n } = setup(c, 40);
  const C = c.xs[3];
  const out = batchNormTrain(T(x, c.xs, device), T(gamma, [C], device), T(beta, [C], device));
  const want = batchNormTrainRef(x, c.xs, gamma, beta, 1e-5);
  const mag = batchNormForwardMags(x, c.xs, gamma, beta, 1e-5);
  assertClose(t, read(out.y), want.y, { mag: mag.y, k: n + 6, name: 'y' });
  assertClose(t, read(out.var), want.var, { mag: mag.V2, k: n + 4, name: 'var' });
});

// The reference backward against finite differences of the reference forward (batch statistics
// recomputed from the perturbed x, so the gradient through mean and var is checked too).
test('batchNorm reference backward matches finite differences', (t) => {
  for (const [i, c] of CASES.slice(0, 4).entries()) {
    const { x, gamma, beta, dy } = setup(c, 50 + i);
    const st = batchStatsRef(x, c.xs);
    const g = batchNormBackwardRef(dy, x, c.xs, gamma, st.mean, st.var, c.eps);
    const L = (xx: Float64Array, gg: Float64Array, bb: Float64Array) => dot(batchNormTrainRef(xx, c.xs, gg, bb, c.eps).y, dy);
    const ix = sampleIndices(x.length, 40);
    const nx = numericalGrad((v) => L(v, gamma, beta), x, ix);
    const ng = numericalGrad((v) => L(x, v, beta), Float64Array.from(gamma));
    const nb = numericalGrad((v) => L(x, gamma, v), Float64Array.from(beta));
    assertNear(t, ix.map((k) => g.dx[k]!), ix.map((k) => nx.get(k)!), FD_RTOL, FD_ATOL, `${c.name} dx`);
    assertNear(t, [...g.dgamma], [...ng.values()], FD_RTOL, FD_ATOL, `${c.name} dgamma`);
    assertNear(t, [...g.dbeta], [...nb.values()], FD_RTOL, FD_ATOL, `${c.name} dbeta`);
  }
});

perDevice('batchNorm rejects bad input with SENET_* errors naming op and argument', (t, device) => {
  const x = randn([2, 3, 3, 8], { device }), g = randn([8], { device }), b = randn([8], { device });
  const m = zeros([8], { device }), v = randn([8], { device, mean: 1, std: 0.1 });
  const bad = badInput(t);
  bad(() => batchNormTrain(randn([2, 3, 8], { device }), g, b), 'SENET_SHAPE', /^batchNormTrain: expected x a rank-4 NHWC tensor, got shape \[2,3,8\]/);
  bad(() => batchNormTrain(x, randn([7], { device }), b), 'SENET_SHAPE', /^batchNormTrain: expected gamma shape \[8\], got \[7\]/);
  bad(() => batchNormTrain(x, randn([1, 8], { device }), b), 'SENET_SHAPE', /^batchNormTrain: expected gamma a rank-1 tensor, got shape \[1,8\]/);
  bad(() => batchNormTrain(x, g, randn([9], { device })), 'SENET_SHAPE', /expected beta shape \[8\], got \[9\]/);
  bad(() => batchNormTrain(randn([1, 1, 1, 8], { device }), g, b), 'SENET_SHAPE', /^batchNormTrain: expected x more than one value per channel in training \(N\*H\*W > 1, as PyTorch\), got shape \[1,1,1,8\]/);
  bad(() => batchNormTrain(x, g, b, { runningVar: randn([4], { device }) }), 'SENET_SHAPE', /expected runningVar shape \[8\], got \[4\]/);
  bad(() => batchNormTrain(x, g, b, { eps: 0 }), 'SENET_ARG', /^batchNormTrain: expected eps a finite number in \[1e-12, 1\], got number 0/);
  bad(() => batchNormTrain(x, g, b, { momentum: NaN }), 'SENET_ARG', /expected momentum a finite number in \[0, 1\], got number NaN/);
  bad(() => batchNormTrain(x, g, b, { momentum: 1.5 }), 'SENET_ARG', /expected momentum a finite number in \[0, 1\], got number 1.5/);
  bad(() => batchNormTrain(x, 'g' as never, b), 'SENET_ARG', /^batchNormTrain: expected gamma a Tensor, got string 'g'/);
  bad(() => batchNormTrain(tensor([1, 2], [1, 1, 1, 2], { dtype: 'int32', device }), g, b), 'SENET_DTYPE', /expected x dtype float32, got int32/);
  bad(() => batchNormTrain(zeros([0, 3, 3, 8], { device }), g, b), 'SENET_SHAPE', /^batchNormTrain: expected x all dimensions > 0, got shape \[0,3,3,8\]/);
  bad(() => batchNormTrain(zeros([2, 3, 0, 8], { device }), g, b), 'SENET_SHAPE', /expected x all dimensions > 0/);
  bad(() => batchNormInference(x, g, b, m, randn([8, 1], { device })), 'SENET_SHAPE', /^batchNormInference: expected var a rank-1 tensor, got shape \[8,1\]/);
  bad(() => batchNormInference(x, g, b, randn([3], { device }), v), 'SENET_SHAPE', /^batchNormInference: expected mean shape \[8\], got \[3\]/);
  bad(() => batchNormInference(x, g, b, m, v, { eps: Infinity }), 'SENET_ARG', /expected eps a finite number in \[1e-12, 1\], got number Infinity/);
  bad(() => batchNormBackward(randn([2, 3, 3, 7], { device }), x, g, m, v), 'SENET_SHAPE', /^batchNormBackward: expected dy shape \[2,3,3,8\], got \[2,3,3,7\]/);
  bad(() => batchNormBackward(randn([2, 9, 8], { device }), x, g, m, v), 'SENET_SHAPE', /^batchNormBackward: expected dy a rank-4 NHWC tensor, got shape \[2,9,8\]/);
  bad(() => batchNormBackward(x, x, g, m, tensor([1, 2, 3, 4, 5, 6, 7, 8], [8], { dtype: 'int32', device })), 'SENET_DTYPE', /^batchNormBackward: expected var dtype float32, got int32/);
  const dead = randn([8], { device });
  dead.dispose();
  bad(() => batchNormTrain(x, g, dead), 'SENET_DISPOSED', /^batchNormTrain: expected beta a live tensor, got a disposed tensor/);
  bad(() => batchNormBackward(x, x, g, dead, v), 'SENET_DISPOSED', /^batchNormBackward: expected mean a live tensor/);
  // The engine still works.
  const { y } = batchNormTrain(x, g, b);
  t.deepEqual([...y.shape], [2, 3, 3, 8]);
  t.true(Array.from(y.toArraySync()).every(Number.isFinite));
});

test('the native batch-norm bindings re-check what the TypeScript layer checks', async (t) => {
  const { addon } = await import('../lib/native.js');
  const hx = randn([2, 3, 3, 8]).handle('t', 'x');
  const h8 = randn([8]).handle('t', 'g'), h7 = randn([7]).handle('t', 'g');
  const e1 = t.throws(() => addon.batchNormTrain(hx, h7, h8, null, null, {}));
  t.is((e1 as { code?: string }).code, 'SENET_SHAPE');
  t.regex(e1!.message, /batchNormTrain: expected gamma shape \[8\], got \[7\]/);
  const e2 = t.throws(() => addon.batchNormTrain(h8, h8, h8, null, null, {}));
  t.regex(e2!.message, /batchNormTrain: expected x a rank-4 NHWC tensor, got shape \[8\]/);
  const e3 = t.throws(() => addon.batchNormBackward(hx, hx, h8, h8, { shape: [8] } as never, {}));
  t.regex(e3!.message, /batchNormBackward: expected var a Tensor, got an object/);
  const e4 = t.throws(() => addon.batchNormInference(hx, h8, h8, h8, h8, { eps: -1 }));
  t.is((e4 as { code?: string }).code, 'SENET_ARG');
});
