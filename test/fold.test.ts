/**
 * Eval-mode batch norm folding (nn.Conv2d.forwardFolded, nn.forwardLayers):
 * a Conv2d followed by a BatchNorm2d in eval mode runs as one convolution
 * with the batch norm folded into its weights and bias. Against the float64
 * reference of the convolution and then the batch norm, within the rounding
 * of the folded computation; taken exactly where the output outnumbers the
 * weights, in eval mode, for a BatchNorm2d right after the Conv2d; the
 * module's result the same either way within that bound.
 */
import test from 'ava';
import { memory, nn, tensor, type Tensor } from '../lib/index.js';
import { abs, assertClose } from './helpers/compare.js';
import { Rng } from './helpers/rng.js';
import { read } from './helpers/tensors.js';
import { batchNormApplyRef } from './reference/batchnorm.js';
import { conv2dRef, convP } from './reference/conv.js';

const { Conv2d, BatchNorm2d, ReLU, Sequential } = nn;

function modules(m: nn.Module): nn.Module[] {
  return [m, ...m.children().flatMap(([, c]) => modules(c))];
}

/** A conv (3x3, pad 1, with bias) + batch norm pair with random parameters and running statistics. */
function pair(ci: number, co: number, seed: number) {
  const r = new Rng(seed);
  const conv = new Conv2d(ci, co, 3, { padding: 1, bias: true, seed });
  const bn = new BatchNorm2d(co, { eps: 1e-3 });
  const values = {
    w: r.array(co * 9 * ci, 0.5), b: r.array(co), gamma: r.array(co), beta: r.array(co),
    mean: r.array(co), variance: Float64Array.from(r.array(co), (v) => 0.5 + v * v),
  };
  const state = (v: ArrayLike<number>, shape: number[]) => tensor(Float32Array.from(v), shape);
  conv.loadStateDict(new Map([['weight', state(values.w, [co, 3, 3, ci])], ['bias', state(values.b, [co])]]));
  bn.loadStateDict(new Map([
    ['weight', state(values.gamma, [co])], ['bias', state(values.beta, [co])],
    ['running_mean', state(values.mean, [co])], ['running_var', state(values.variance, [co])],
  ]));
  // what the modules hold (float32)
  const f = (a: Float64Array) => Float64Array.from(Float32Array.from(a));
  return { conv, bn, v: Object.fromEntries(Object.entries(values).map(([k, a]) => [k, f(a)])) as typeof values };
}

/** bn(conv(x)) in float64, and its magnitude for the error bound (the same in absolute values). */
function reference(x: Float64Array, xs: number[], p: ReturnType<typeof pair>) {
  const co = p.conv.outChannels, ws = [co, 3, 3, xs[3]!], P = convP([1, 1], [1, 1, 1, 1], [1, 1], 1);
  const y = batchNormApplyRef(conv2dRef(x, xs, p.v.w, ws, p.v.b, P), [...xs.slice(0, 3), co], p.v.gamma, p.v.beta, p.v.mean, p.v.variance, 1e-3);
  const k = Float64Array.from(p.v.gamma, (g, c) => Math.abs(g) / Math.sqrt(p.v.variance[c]! + 1e-3));
  const conv = conv2dRef(abs(x), xs, abs(p.v.w), ws, Float64Array.from(p.v.b, (b, c) => Math.abs(b) + Math.abs(p.v.mean[c]!)), P);
  const mag = Float64Array.from(conv, (v, i) => v * k[i % co]! + Math.abs(p.v.beta[i % co]!));
  return { y, mag };
}

/** Runs f with bn.forward counted; returns the output values and the count. */
// Counts the batch norm's own runs (forward, or forwardRelu with the ReLU after it).
function counting(bn: InstanceType<typeof BatchNorm2d>, f: () => Tensor) {
  let calls = 0;
  const plain = bn.forward.bind(bn), withRelu = bn.forwardRelu.bind(bn);
  bn.forward = (x: Tensor) => {
    calls++;
    return plain(x);
  };
  bn.forwardRelu = (...a: Parameters<typeof withRelu>) => {
    calls++;
    return withRelu(...a);
  };
  try {
    const y = f();
    const v = read(y);
    y.dispose();
    return { y: v, calls };
  } finally {
    bn.forward = plain;
    bn.forwardRelu = withRelu;
  }
}

test('eval: conv + batch norm folded where the output outnumbers the weights, within the folded rounding of the float64 reference', (t) => {
  const p = pair(8, 16, 5);
  const seq = new Sequential(p.conv, p.bn, new ReLU()).eval();
  const xs = [4, 6, 5, 8];
  const x = new Rng(9).array(4 * 6 * 5 * 8);
  const xt = tensor(Float32Array.from(x), xs);
  const ref = reference(Float64Array.from(Float32Array.from(x)), xs, p);
  const want = ref.y.map((v) => Math.max(0, v));
  // Roundings along a path: the 72-term sum, k (add, rsqrt as 1/sqrt: 2,
  // mul: 4), w * k, the bias (sub, mul, add: 3), its addition: at most
  // 72 + 6 of them; k = 80.
  const folded = counting(p.bn, () => seq.forward(xt));
  t.is(folded.calls, 0, '4 x 6 x 5 x 16 outputs > 16 x 3 x 3 x 8 weights: folded');
  assertClose(t, folded.y, want, { mag: ref.mag, k: 80, name: 'folded' });
  // batch 1: 480 outputs, fewer than the 1,152 weights: conv then batch norm
  const x1 = tensor(Float32Array.from(x.subarray(0, 6 * 5 * 8)), [1, 6, 5, 8]);
  const one = counting(p.bn, () => seq.forward(x1));
  t.is(one.calls, 1, 'batch 1: not folded');
  assertClose(t, one.y, want.subarray(0, 6 * 5 * 16), { mag: ref.mag.subarray(0, 6 * 5 * 16), k: 80, name: 'unfolded' });
  // training mode: never (batch statistics; the backward needs the pieces)
  seq.train();
  const tr = counting(p.bn, () => seq.forward(xt));
  t.is(tr.calls, 1, 'training: not folded');
  // a module between the conv and the batch norm: not a pair
  const p2 = pair(8, 16, 6);
  const apart = new Sequential(p2.conv, new ReLU(), p2.bn).eval();
  t.is(counting(p2.bn, () => apart.forward(xt)).calls, 1, 'conv, relu, bn: not folded');
  // bad input on the folded path: the convolution's own error, nothing folded or leaked
  seq.eval();  // (clears what the training forward saved)
  const before = memory().devices['cpu']!.tensors;
  const bad = tensor(new Float32Array(4 * 6 * 5 * 3), [4, 6, 5, 3]);
  t.throws(() => seq.forward(bad), { code: 'SENET_SHAPE', message: /Conv2d: expected w OHWI with 3 input channels per group \(x has 3 channels, groups 1\), got shape \[16,3,3,8\]/ });
  bad.dispose();
  t.is(memory().devices['cpu']!.tensors, before, 'no tensor left behind');
  for (const v of [xt, x1]) v.dispose();
});

test('eval: a bottleneck block folds its branch and projection (the model path) and matches its unfolded result', (t) => {
  const block = new nn.Bottleneck(16, 8, { stride: 1, seed: 3 });
  block.eval();
  const x = tensor(Float32Array.from(new Rng(4).array(4 * 8 * 8 * 16)), [4, 8, 8, 16]);
  const bns = modules(block).filter((m): m is InstanceType<typeof BatchNorm2d> => m instanceof BatchNorm2d);
  t.is(bns.length, 4, 'bn1-3 and the projection\'s');
  let calls = 0;
  const plain = bns.map((bn) => bn.forward.bind(bn));
  bns.forEach((bn, i) => (bn.forward = (h: Tensor) => (calls++, plain[i]!(h))));
  const y = block.forward(x);
  const got = read(y);
  y.dispose();
  t.is(calls, 0, 'every conv + bn pair of the block folded');
  // unfolded: the same modules with folding impossible (no conv before each bn)
  bns.forEach((bn, i) => (bn.forward = plain[i]!));
  const convs = modules(block).filter((m): m is InstanceType<typeof Conv2d> => m instanceof Conv2d);
  const fold = convs.map((c) => c.forwardFolded.bind(c));
  convs.forEach((c) => (c.forwardFolded = () => null));
  const y2 = block.forward(x);
  const want = read(y2);
  y2.dispose();
  convs.forEach((c, i) => (c.forwardFolded = fold[i]!));
  let worst = 0, scale = 0;
  for (let i = 0; i < want.length; i++) (worst = Math.max(worst, Math.abs(got[i]! - want[i]!))), (scale = Math.max(scale, Math.abs(want[i]!)));
  // Two fp32 evaluations of the same function, three layers deep: a few
  // hundred roundings of values of the output's scale at most.
  t.true(worst <= 300 * 2 ** -24 * scale * 16, `folded vs unfolded: ${worst} (scale ${scale})`);
  x.dispose();
});
