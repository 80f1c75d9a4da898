import test from 'ava';
import { SGD, nn, randn, sgdStep, tensor, zeros, SenetError, type SenetErrorCode, type Tensor } from '../lib/index.js';
import { sgdStepMag, sgdStepRef, type SgdRefOptions } from './reference/sgd.js';
import { perDevice } from './helpers/devices.js';
import { Rng } from './helpers/rng.js';
import { T, numel, read } from './helpers/tensors.js';
import { assertClose } from './helpers/compare.js';
import { badInput } from './helpers/errors.js';

/**
 * Error bounds of one fp32 step, against the float64 reference fed the same float32 state (the
 * engine's parameters and buffers read back before the step), with G, B, P from sgdStepMag:
 *   g' = g + wd p: fl(wd), the product, the sum: 3u G;
 *   buf = m buf + (1 - d) g': fl(m) and its product (2u m|buf|), fl(1 - d) (2u, absolute), its
 *     product and g' (4u G), the sum (u B): <= 7u B, so k = 8 for the buffer;
 *   d (nesterov: g' + m buf, 3u G + 7u m B + 3u m B) then p - fl(lr) d (2u lr D, the sum u P):
 *     <= 12u P, so k = 12 for the parameter.
 */
const K_P = 12, K_BUF = 8;

const SHAPES: number[][] = [[3, 5], [40000], [7], [128, 130], [1]];

interface Case {
  name: string;
  o: Omit<SgdRefOptions, 'firstStep'>;
}

const CASES: Case[] = [
  { name: 'momentum 0.9', o: { lr: 0.1, momentum: 0.9 } },
  { name: 'nesterov, momentum 0.9, weight decay 0.05', o: { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.05 } },
  { name: 'momentum 0.5, dampening 0.3, weight decay 0.01', o: { lr: 0.2, momentum: 0.5, dampening: 0.3, weightDecay: 0.01 } },
  { name: 'momentum 0.99, dampening 1 (the buffer keeps the first gradient)', o: { lr: 0.01, momentum: 0.99, dampening: 1 } },
  { name: 'momentum 0, buffers null, weight decay 0.1', o: { lr: 0.3, weightDecay: 0.1 } },
];

for (const [ci, c] of CASES.entries()) {
  perDevice(`sgdStep over 4 steps (firstStep, then 3 more): ${c.name}`, (t, device) => {
    const r = new Rng(10 + ci);
    const mom = c.o.momentum ?? 0;
    const params = SHAPES.map((s) => T(r.array(numel(s)), s, device));
    // Buffers start as garbage: the first step must overwrite them without reading.
    const bufs = mom > 0 ? SHAPES.map((s) => T(r.array(numel(s), 100), s, device)) : null;
    for (let step = 0; step < 4; step++) {
      const o = { ...c.o, firstStep: step === 0 };
      const g = SHAPES.map((s) => r.array(numel(s)));
      const grads = g.map((gg, j) => T(gg, SHAPES[j]!, device));
      const p0 = params.map(read), b0 = bufs ? bufs.map(read) : null;
      sgdStep(params, grads, bufs, o);
      for (let j = 0; j < SHAPES.length; j++) {
        const want = sgdStepRef(p0[j]!, g[j]!, b0 ? b0[j]! : null, o);
        const mag = sgdStepMag(p0[j]!, g[j]!, b0 ? b0[j]! : null, o);
        const name = `step ${step} [${SHAPES[j]}]`;
        assertClose(t, read(params[j]!), want.p, { mag: mag.p, k: K_P, name: `${name} param` });
        if (bufs) assertClose(t, read(bufs[j]!), want.buf!, { mag: mag.buf!, k: K_BUF, name: `${name} buffer` });
        t.deepEqual(read(grads[j]!), g[j]!, `${name} grad untouched`);
      }
    }
  });
}

perDevice('sgdStep with momentum 0 leaves given buffers alone; zero-size and empty lists are no-ops', (t, device) => {
  const r = new Rng(20);
  const p = r.array(50), g = r.array(50), b = r.array(50);
  const [pT, bT] = [T(p, [50], device), T(b, [50], device)];
  sgdStep([pT], [T(g, [50], device)], [bT], { lr: 0.5 });
  const want = sgdStepRef(p, g, null, { lr: 0.5 });
  assertClose(t, read(pT), want.p, { mag: sgdStepMag(p, g, null, { lr: 0.5 }).p, k: K_P, name: 'param' });
  t.deepEqual(read(bT), b);
  const z = zeros([0, 3], { device });
  t.notThrows(() => sgdStep([z], [zeros([0, 3], { device })], [zeros([0, 3], { device })], { lr: 0.1, momentum: 0.9, firstStep: true }));
  t.notThrows(() => sgdStep([], [], null, { lr: 0.1 }));
});

perDevice('sgdStep rejects bad input with SENET_* errors naming op and argument, and updates nothing', (t, device) => {
  const r = new Rng(30);
  const a0 = r.array(12), b0 = r.array(6);
  const a = T(a0, [3, 4], device), b = T(b0, [6], device);
  const ga = randn([3, 4], { device }), gb = randn([6], { device });
  const ba = zeros([3, 4], { device }), bb = zeros([6], { device });
  const bad = badInput(t);
  const o = { lr: 0.1, momentum: 0.9 };
  bad(() => sgdStep([a], [ga], null, { lr: 0.1, nesterov: true }), 'SENET_ARG', /^sgdStep: expected nesterov momentum > 0 and dampening 0 \(as PyTorch\), got momentum number 0, dampening number 0/);
  bad(() => sgdStep([a], [ga], [ba], { ...o, nesterov: true, dampening: 0.1 }), 'SENET_ARG', /^sgdStep: expected nesterov momentum > 0 and dampening 0 \(as PyTorch\), got momentum number 0.9, dampening number 0.1/);
  bad(() => sgdStep([a, b], [ga, gb], null, o), 'SENET_ARG', /^sgdStep: expected buffers one momentum buffer per parameter when momentum > 0, got null/);
  bad(() => sgdStep([a, b], [ga, gb], [ba], o), 'SENET_ARG', /^sgdStep: expected buffers one momentum buffer per parameter when momentum > 0, got an array of length 1/);
  bad(() => sgdStep([a, b], [ga], [ba, bb], o), 'SENET_SHAPE', /^sgdStep: expected grads 2 tensors \(one per parameter\), got an array of length 1/);
  bad(() => sgdStep([a, b], [ga, randn([3, 2], { device })], [ba, bb], o), 'SENET_SHAPE', /^sgdStep: expected grads\[1\] shape \[6\], got \[3,2\]/);
  bad(() => sgdStep([a, b], [ga, gb], [zeros([4, 3], { device }), bb], o), 'SENET_SHAPE', /^sgdStep: expected buffers\[0\] shape \[3,4\], got \[4,3\]/);
  bad(() => sgdStep([a, b, a], [ga, gb, ga], null, { lr: 0.1 }), 'SENET_ARG', /^sgdStep: expected params\[2\] a tensor not listed twice, got a repeated parameter/);
  bad(() => sgdStep([a, a.reshape([12])], [ga, ga.reshape([12])], null, { lr: 0.1 }), 'SENET_ARG', /^sgdStep: expected params\[1\] a tensor not listed twice, got a repeated parameter/);
  bad(() => sgdStep([a, b], [ga, gb], [ga, bb], o), 'SENET_ARG', /^sgdStep: expected buffers\[0\] its own storage, got a tensor shared with another argument/);
  bad(() => sgdStep([a, b], [ga, gb], [ba, zeros([6, 2], { device })], o), 'SENET_SHAPE', /expected buffers\[1\] shape \[6\], got \[6,2\]/);
  bad(() => sgdStep([a], [ga], null, {} as never), 'SENET_ARG', /^sgdStep: expected lr a finite number >= 0, got undefined/);
  bad(() => sgdStep([a], [ga], null, { lr: -1 }), 'SENET_ARG', /^sgdStep: expected lr a finite number in \[0, Infinity\], got number -1/);
  bad(() => sgdStep([a], [ga], null, { lr: NaN }), 'SENET_ARG', /^sgdStep: expected lr a finite number in \[0, Infinity\], got number NaN/);
  bad(() => sgdStep([a], [ga], [ba], { lr: 0.1, momentum: 1.5 }), 'SENET_ARG', /^sgdStep: expected momentum a finite number in \[0, 1\], got number 1.5/);
  bad(() => sgdStep([a], [ga], null, { lr: 0.1, weightDecay: Infinity }), 'SENET_ARG', /^sgdStep: expected weightDecay a finite number in \[0, Infinity\], got number Infinity/);
  bad(() => sgdStep(a as never, [ga], null, { lr: 0.1 }), 'SENET_ARG', /^sgdStep: expected params an array of tensors, got a Tensor/);
  bad(() => sgdStep([a, 'b' as never], [ga, gb], null, { lr: 0.1 }), 'SENET_ARG', /^sgdStep: expected params\[1\] a Tensor, got string 'b'/);
  bad(() => sgdStep([a], [tensor(new Int32Array(12), [3, 4], { dtype: 'int32', device })], null, { lr: 0.1 }), 'SENET_DTYPE', /^sgdStep: expected grads\[0\] dtype float32, got int32/);
  const dead = randn([6], { device });
  dead.dispose();
  bad(() => sgdStep([a, dead], [ga, gb], null, { lr: 0.1 }), 'SENET_DISPOSED', /^sgdStep: expected params\[1\] a live tensor, got a disposed tensor of shape \[6\]/);
  bad(() => sgdStep([a, b], [ga, gb], [ba, dead], o), 'SENET_DISPOSED', /^sgdStep: expected buffers\[1\] a live tensor/);
  // Every refused call was refused whole: no parameter moved.
  t.deepEqual(read(a), a0);
  t.deepEqual(read(b), b0);
  // The engine still works.
  sgdStep([a, b], [ga, gb], [ba, bb], { ...o, firstStep: true });
  t.notDeepEqual(read(a), a0);
});

/** The optimizer's per-parameter options as the float64 reference takes them. */
interface ParamRef {
  p: nn.Parameter;
  o: Omit<SgdRefOptions, 'firstStep'>;
}

/** One optimizer step checked against the reference: grads given per parameter (null: no gradient this step). */
function checkStep(t: import('ava').ExecutionContext, opt: SGD, refs: ParamRef[], grads: Array<Float64Array | null>, label: string) {
  const before = refs.map(({ p }) => read(p.value));
  const bufs = opt.momentumBuffers().map((b) => (b ? read(b) : null));
  refs.forEach(({ p }, j) => {
    p.zeroGrad();
    const g = grads[j];
    if (g) p.accumulate(T(g, p.value.shape, p.value.device));
  });
  opt.step();
  const after = opt.momentumBuffers();
  refs.forEach(({ p, o }, j) => {
    const g = grads[j];
    const name = `${label} param ${j}`;
    if (!g) {
      t.deepEqual(read(p.value), before[j]!, `${name} without a gradient is untouched`);
      return;
    }
    // PyTorch: a parameter without a momentum buffer yet starts it with its gradient.
    const so = { ...o, firstStep: (o.momentum ?? 0) > 0 && bufs[j] === null };
    const want = sgdStepRef(before[j]!, g, bufs[j]!, so);
    const mag = sgdStepMag(before[j]!, g, bufs[j]!, so);
    assertClose(t, read(p.value), want.p, { mag: mag.p, k: K_P, name: `${name} value` });
    if (want.buf) assertClose(t, read(after[j]!), want.buf, { mag: mag.buf!, k: K_BUF, name: `${name} momentum buffer` });
  });
}

test('SGD optimizer: parameter groups, filterDecay, nesterov, 3 steps against the reference', (t) => {
  const r = new Rng(40);
  const P = (s: number[], decay = true) => new nn.Parameter(T(r.array(numel(s)), s, 'cpu'), { decay });
  const w1 = P([4, 3]), b1 = P([4], false), w2 = P([20000]), b2 = P([5], false);
  const opt = new SGD([
    { params: [w1, b1] },
    { params: [w2, b2], lr: 0.01, nesterov: true, dampening: 0 },
  ], { lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 5e-3, filterDecay: true });
  const refs: ParamRef[] = [
    { p: w1, o: { lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 5e-3 } },
    { p: b1, o: { lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0 } },
    { p: w2, o: { lr: 0.01, momentum: 0.9, dampening: 0, weightDecay: 5e-3, nesterov: true } },
    { p: b2, o: { lr: 0.01, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: true } },
  ];
  for (let step = 0; step < 3; step++) checkStep(t, opt, refs, refs.map(({ p }) => r.array(p.value.size)), `step ${step}`);
  t.is(opt.stepCount, 3);
  // setLr reaches every group.
  opt.setLr(0.02);
  for (const ref of refs) ref.o.lr = 0.02;
  checkStep(t, opt, refs, refs.map(({ p }) => r.array(p.value.size)), 'after setLr');
  opt.dispose();
});

test('SGD optimizer without momentum keeps no buffers', (t) => {
  const r = new Rng(50);
  const w = new nn.Parameter(T(r.array(30), [5, 6], 'cpu'));
  const opt = new SGD([w], { lr: 0.3, weightDecay: 0.1 });
  for (let step = 0; step < 3; step++) checkStep(t, opt, [{ p: w, o: { lr: 0.3, weightDecay: 0.1 } }], [r.array(30)], `step ${step}`);
  t.deepEqual(opt.momentumBuffers(), [null]);
});

// PyTorch keeps one momentum buffer per parameter and starts it (buf = g', no dampening) at that
// parameter's first gradient, whenever that comes. Parameters without a gradient are skipped.
test('SGD optimizer: a parameter whose first gradient comes at a later step starts its momentum as in PyTorch', (t) => {
  const r = new Rng(60);
  const o = { lr: 0.1, momentum: 0.9, dampening: 0.5 };
  // a late parameter listed after one that already has a buffer
  const a = new nn.Parameter(T(r.array(8), [8], 'cpu')), b = new nn.Parameter(T(r.array(8), [8], 'cpu'));
  const opt1 = new SGD([a, b], o);
  const refs1 = [{ p: a, o }, { p: b, o }];
  checkStep(t, opt1, refs1, [r.array(8), null], 'b late: step 0');
  checkStep(t, opt1, refs1, [r.array(8), r.array(8)], 'b late: step 1');
  // a late parameter listed before one that already has a buffer
  const c = new nn.Parameter(T(r.array(8), [8], 'cpu')), d = new nn.Parameter(T(r.array(8), [8], 'cpu'));
  const opt2 = new SGD([c, d], { ...o, dampening: 0 });
  const refs2 = [{ p: c, o: { ...o, dampening: 0 } }, { p: d, o: { ...o, dampening: 0 } }];
  checkStep(t, opt2, refs2, [null, r.array(8)], 'c late: step 0');
  checkStep(t, opt2, refs2, [r.array(8), r.array(8)], 'c late: step 1');
});

test('SGD optimizer rejects a bad learning rate', (t) => {
  const w = new nn.Parameter(zeros([2]));
  const e = t.throws(() => new SGD([w], { lr: -1 }), { instanceOf: SenetError });
  t.is(e?.code, 'SENET_ARG');
  t.regex(e?.message ?? '', /^SGD: expected lr a finite number >= 0, got -1/);
  const e2 = t.throws(() => new SGD([w], { lr: NaN }), { instanceOf: SenetError });
  t.regex(e2?.message ?? '', /^SGD: expected lr a finite number >= 0, got NaN/);
});

test('the native sgdStep binding re-checks what the TypeScript layer checks', async (t) => {
  const { addon } = await import('../lib/native.js');
  const p = randn([3, 4]), g = randn([3, 4]), h = (x: Tensor) => x.handle('t', 'x');
  const e1 = t.throws(() => addon.sgdStep([h(p)], [h(randn([4, 3]))], null, { lr: 0.1 }));
  t.is((e1 as { code?: string }).code, 'SENET_SHAPE');
  t.regex(e1!.message, /sgdStep: expected grads\[0\] shape \[3,4\], got \[4,3\]/);
  const e2 = t.throws(() => addon.sgdStep([h(p)], [h(g)], null, { lr: 0.1, momentum: 0.9 }));
  t.regex(e2!.message, /sgdStep: expected buffers one momentum buffer per parameter when momentum > 0, got null/);
  const e3 = t.throws(() => addon.sgdStep([h(p)], [], null, { lr: 0.1 }));
  t.regex(e3!.message, /sgdStep: expected grads 1 tensors \(one per parameter\), got 0/);
  const e4 = t.throws(() => addon.sgdStep([h(p)], [h(g)], [h(p)], { lr: 0.1, momentum: 0.5 }));
  t.regex(e4!.message, /sgdStep: expected buffers\[0\] its own storage/);
  const e5 = t.throws(() => addon.sgdStep([h(p)], [h(g)], null, { lr: 1e9 }));
  t.is((e5 as { code?: string }).code, 'SENET_ARG');
});
