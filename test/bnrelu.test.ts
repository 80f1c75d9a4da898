/**
 * Batch norm with a fused ReLU (batchNormTrain / batchNormInference with
 * `relu: true`, batchNormBackward with `relu: {beta}`; cpu): the same bits
 * as batch norm then relu (and reluBackward then batch norm's backward),
 * the float64 reference (relu of the reference forward; the reference
 * backward through the engine's relu mask), the reference's backward
 * against finite differences, NaN kept and masked as relu does, the
 * modules' fusion in Sequential (BatchNorm2d.forwardRelu), bad input.
 */
import test from 'ava';
import {
  SenetError, batchNormBackward, batchNormInference, batchNormTrain, nn, randn, relu, reluBackward, tensor, type Tensor,
} from '../lib/index.js';
import { addon } from '../lib/native.js';
import { batchNormApplyRef, batchNormForwardMags, batchNormReluBackwardRef, batchNormTrainRef, batchStatsRef } from './reference/batchnorm.js';
import { DEVICES, perDevice } from './helpers/devices.js';
import { Rng } from './helpers/rng.js';
import { T, numel, read } from './helpers/tensors.js';
import { assertClose, assertNear } from './helpers/compare.js';
import { FD_ATOL, FD_RTOL, dot, numericalGrad, sampleIndices } from './helpers/fd.js';
import { badInput } from './helpers/errors.js';

const CASES: Array<{ name: string; xs: [number, number, number, number]; eps: number }> = [
  { name: 'C=13, 2x5x6', xs: [2, 5, 6, 13], eps: 1e-5 },
  // every thread and many 64-row partial sums
  { name: 'C=40, n=8448 (threads, blocked sums)', xs: [8, 32, 33, 40], eps: 1e-3 },
];

function setup(xs: readonly number[], seed: number) {
  const r = new Rng(seed);
  const C = xs[3]!;
  return { x: r.array(numel(xs), 1.5, 0.2), gamma: r.array(C, 0.5, 1), beta: r.array(C, 0.8), dy: r.array(numel(xs)), C };
}

const bits = (t: Tensor) => new Uint32Array(Float32Array.from(t.toArraySync()).buffer);

test('fused batch norm + relu: the same bits as batch norm then relu, forward, inference and backward (cpu)', (t) => {
  if (!DEVICES.includes('cpu')) return t.pass();
  for (const [i, c] of CASES.entries()) {
    const d = setup(c.xs, 60 + i);
    const x = T(d.x, c.xs, 'cpu'), g = T(d.gamma, [d.C], 'cpu'), b = T(d.beta, [d.C], 'cpu'), dy = T(d.dy, c.xs, 'cpu');
    const plain = batchNormTrain(x, g, b, { eps: c.eps });
    const fused = batchNormTrain(x, g, b, { eps: c.eps, relu: true });
    const y = relu(plain.y);
    t.deepEqual(bits(fused.y), bits(y), `${c.name}: forward`);
    t.deepEqual(bits(fused.mean), bits(plain.mean), `${c.name}: mean`);
    t.deepEqual(bits(fused.var), bits(plain.var), `${c.name}: var`);
    const dz = reluBackward(dy, y);
    const want = batchNormBackward(dz, x, g, plain.mean, plain.var, { eps: c.eps });
    const got = batchNormBackward(dy, x, g, fused.mean, fused.var, { eps: c.eps, relu: { beta: b } });
    for (const k of ['dx', 'dgamma', 'dbeta'] as const) t.deepEqual(bits(got[k]), bits(want[k]), `${c.name}: ${k}`);
    const inf = batchNormInference(x, g, b, plain.mean, plain.var, { eps: c.eps, relu: true });
    const infPlain = relu(batchNormInference(x, g, b, plain.mean, plain.var, { eps: c.eps }));
    t.deepEqual(bits(inf), bits(infPlain), `${c.name}: inference`);
  }
});

perDevice('fused batch norm + relu against the float64 reference', (t, device) => {
  if (device !== 'cpu') {
    // no CUDA kernel: a clear error, not a silent batch norm without the relu
    const x = randn([2, 3, 3, 4], { device }), v = randn([4], { device });
    badInput(t)(() => batchNormTrain(x, v, v, { relu: true }), 'SENET_DEVICE', /^batchNormTrain: expected options\.relu x on the cpu/);
    return;
  }
  for (const [i, c] of CASES.entries()) {
    const d = setup(c.xs, 70 + i);
    const n = numel(c.xs) / d.C;
    const x = T(d.x, c.xs, device), g = T(d.gamma, [d.C], device), b = T(d.beta, [d.C], device);
    const out = batchNormTrain(x, g, b, { eps: c.eps, relu: true });
    const ref = batchNormTrainRef(d.x, c.xs, d.gamma, d.beta, c.eps);
    // relu does not round: batch norm's bound (batchnorm.test.ts) holds where it passes, and 0 stays 0
    const mag = batchNormForwardMags(d.x, c.xs, d.gamma, d.beta, c.eps).y;
    const y = read(out.y);
    assertClose(t, y, ref.y.map((v) => Math.max(0, v)), { mag, k: n + 6, name: `${c.name} y` });
    // the backward against the reference through the engine's mask (elements near 0 may round
    // either way; that the mask is the forward's is the bit-for-bit test above)
    const mean = read(out.mean), v = read(out.var);
    const dy = T(d.dy, c.xs, device);
    const gr = batchNormBackward(dy, x, g, out.mean, out.var, { eps: c.eps, relu: { beta: b } });
    const want = batchNormReluBackwardRef(d.dy, d.x, c.xs, d.gamma, d.beta, mean, v, c.eps, y);
    const sAbs = new Float64Array(d.C), sAbsX = new Float64Array(d.C);
    const sv = v.map((vv) => 1 / Math.sqrt(vv + c.eps));
    for (let j = 0; j < d.x.length; j++) {
      sAbs[j % d.C] += Math.abs(d.dy[j]!);
      sAbsX[j % d.C] += Math.abs(d.dy[j]! * (d.x[j]! - mean[j % d.C]!) * sv[j % d.C]!);
    }
    const magDx = d.x.map((xv, j) => {
      const cc = j % d.C, xh = Math.abs((xv - mean[cc]!) * sv[cc]!);
      return Math.abs(d.gamma[cc]!) * sv[cc]! * (Math.abs(d.dy[j]!) + sAbs[cc]! / n + (xh * sAbsX[cc]!) / n);
    });
    // as batchnorm.test.ts's backward bound (the masked dy is a subset of dy's terms)
    assertClose(t, read(gr.dbeta), want.dbeta, { mag: sAbs, k: n, name: `${c.name} dbeta` });
    assertClose(t, read(gr.dgamma), want.dgamma, { mag: sAbsX, k: n + 4, name: `${c.name} dgamma` });
    assertClose(t, read(gr.dx), want.dx, { mag: magDx, k: n + 16, name: `${c.name} dx` });
  }
});

test('relu(batch norm) reference backward matches finite differences', (t) => {
  const xs = [2, 4, 5, 6] as const;
  const d = setup(xs, 80);
  const st = batchStatsRef(d.x, xs);
  const g = batchNormReluBackwardRef(d.dy, d.x, xs, d.gamma, d.beta, st.mean, st.var, 1e-5);
  const L = (xx: Float64Array, gg: Float64Array, bb: Float64Array) =>
    dot(batchNormTrainRef(xx, xs, gg, bb, 1e-5).y.map((v) => Math.max(0, v)), d.dy);
  const ix = sampleIndices(d.x.length, 40);
  const nx = numericalGrad((v) => L(v, d.gamma, d.beta), d.x, ix);
  const ng = numericalGrad((v) => L(d.x, v, d.beta), Float64Array.from(d.gamma));
  const nb = numericalGrad((v) => L(d.x, d.gamma, v), Float64Array.from(d.beta));
  assertNear(t, ix.map((k) => g.dx[k]!), ix.map((k) => nx.get(k)!), FD_RTOL, FD_ATOL, 'dx');
  assertNear(t, [...g.dgamma], [...ng.values()], FD_RTOL, FD_ATOL, 'dgamma');
  assertNear(t, [...g.dbeta], [...nb.values()], FD_RTOL, FD_ATOL, 'dbeta');
  // the mask matters: some outputs are clipped
  t.true(batchNormApplyRef(d.x, xs, d.gamma, d.beta, st.mean, st.var, 1e-5).some((v) => v < 0));
});

test('fused batch norm + relu keeps NaN as relu does, and masks it in the backward (cpu)', (t) => {
  if (!DEVICES.includes('cpu')) return t.pass();
  const xs = [1, 2, 2, 2];
  const x = tensor([1, 2, -1, -2, 3, NaN, -3, 4], xs);
  const g = tensor([1, 1], [2]), b = tensor([0, 0], [2]);
  const st = batchNormTrain(x, g, b, { relu: true });
  const y = st.y.toArraySync();
  const want = relu(batchNormTrain(x, g, b).y).toArraySync();
  t.deepEqual([...y].map(String), [...want].map(String), 'the same values, NaN in channel 1');
  const dy = tensor([1, 1, 1, 1, 1, 1, 1, 1], xs);
  const gr = batchNormBackward(dy, x, g, st.mean, st.var, { relu: { beta: b } });
  const wantG = batchNormBackward(reluBackward(dy, relu(batchNormTrain(x, g, b).y)), x, g, st.mean, st.var);
  t.deepEqual([...gr.dx.toArraySync()].map(String), [...wantG.dx.toArraySync()].map(String));
});

test('Sequential runs a training BatchNorm2d + ReLU as one op: the same outputs and gradients as the two modules', (t) => {
  if (!DEVICES.includes('cpu')) return t.pass();
  const make = () => {
    const conv = new nn.Conv2d(6, 8, 3, { padding: 1, seed: 3 }), bn = new nn.BatchNorm2d(8), act = new nn.ReLU();
    return { conv, bn, act, seq: new nn.Sequential(conv, bn, act) };
  };
  const a = make(), b = make();
  const x = randn([2, 5, 5, 6], { seed: 4 }), dy = randn([2, 5, 5, 8], { seed: 5 });
  let fusedCalls = 0;
  const fr = a.bn.forwardRelu.bind(a.bn);
  a.bn.forwardRelu = (...args: Parameters<typeof fr>) => (fusedCalls++, fr(...args));
  const ya = a.seq.forward(x);
  t.is(fusedCalls, 1, 'the pair ran as one op');
  // the same network, module by module
  const h1 = b.conv.forward(x), h2 = b.bn.forward(h1), yb = b.act.forward(h2);
  t.deepEqual(bits(ya), bits(yb), 'forward');
  const dxa = a.seq.backward(dy);
  const g3 = b.act.backward(dy), g2 = b.bn.backward(g3), dxb = b.conv.backward(g2);
  t.deepEqual(bits(dxa), bits(dxb), 'dx');
  for (const [p, q] of [[a.bn.weight, b.bn.weight], [a.bn.bias, b.bn.bias], [a.conv.weight, b.conv.weight]] as const)
    t.deepEqual(bits(p.grad!), bits(q.grad!), `grad of ${p === a.conv.weight ? 'conv' : 'bn'} parameter`);
  t.deepEqual(bits(a.bn.runningVar), bits(b.bn.runningVar), 'running statistics');
  // eval: forwardRelu gives relu(batch norm with the running statistics)
  a.seq.eval();
  b.seq.eval();
  const ea = a.bn.forwardRelu(h1, a.act)!, eb = b.act.forward(b.bn.forward(h1));
  t.deepEqual(bits(ea), bits(eb), 'eval');
});

perDevice('fused batch norm + relu rejects bad input', (t, device) => {
  const bad = badInput(t);
  const x = randn([2, 3, 3, 8], { device }), g = randn([8], { device }), b = randn([8], { device });
  const m = randn([8], { device }), v = randn([8], { device, mean: 1, std: 0.1 });
  bad(() => batchNormTrain(x, g, b, { relu: 'yes' as never }), 'SENET_ARG', /^batchNormTrain: expected relu a boolean, got string 'yes'/);
  bad(() => batchNormInference(x, g, b, m, v, { relu: 1 as never }), 'SENET_ARG', /^batchNormInference: expected relu a boolean, got number 1/);
  bad(() => batchNormBackward(x, x, g, m, v, { relu: true as never }), 'SENET_ARG', /^batchNormBackward: expected relu \{beta: Tensor\}/);
  bad(() => batchNormBackward(x, x, g, m, v, { relu: { beta: randn([7], { device }) } }), 'SENET_SHAPE', /^batchNormBackward: expected relu\.beta shape \[8\], got \[7\]/);
  // the binding re-checks: relu without a beta
  const h = (u: Tensor) => u.handle('t', 'x');
  const e = t.throws(() => addon.batchNormBackward(h(x), h(x), h(g), h(m), h(v), { relu: true }), { instanceOf: Error });
  t.regex(e?.message ?? '', /batchNormBackward: expected beta a Tensor/);
  t.true(e instanceof SenetError || typeof (e as { code?: string }).code === 'string');
});
