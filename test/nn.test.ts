import test from 'ava';
import {
  nn, SGD, memory, randn, tensor, conv2d, squeezeExcite, softmaxCrossEntropy, dispose, SenetError, type Tensor,
} from '../lib/index.js';
import { read } from './helpers/tensors.js';

const { Conv2d, BatchNorm2d, ReLU, MaxPool2d, GlobalAvgPool, Linear, SqueezeExcite, Sequential, SEResNeXtBottleneck } = nn;

test('SE-ResNeXt bottleneck: timm names, ResNeXt widths, OHWI shapes', (t) => {
  const b = new SEResNeXtBottleneck(64, 64, { groups: 32, baseWidth: 4, seed: 1 });
  t.is(b.width, 128);
  t.is(b.outChannels, 256);
  const shapes = Object.fromEntries(b.namedParameters().map(([n, p]) => [n, [...p.value.shape]]));
  t.deepEqual(shapes, {
    'conv1.weight': [128, 1, 1, 64],
    'bn1.weight': [128], 'bn1.bias': [128],
    'conv2.weight': [128, 3, 3, 4],
    'bn2.weight': [128], 'bn2.bias': [128],
    'conv3.weight': [256, 1, 1, 128],
    'bn3.weight': [256], 'bn3.bias': [256],
    'se.fc1.weight': [16, 256], 'se.fc1.bias': [16], 'se.fc2.weight': [256, 16], 'se.fc2.bias': [256],
    'downsample.0.weight': [256, 1, 1, 64], 'downsample.1.weight': [256], 'downsample.1.bias': [256],
  });
  t.deepEqual(b.namedBuffers().map(([n]) => n), [
    'bn1.running_mean', 'bn1.running_var', 'bn2.running_mean', 'bn2.running_var', 'bn3.running_mean', 'bn3.running_var',
    'downsample.1.running_mean', 'downsample.1.running_var',
  ]);
  // identity shortcut when shapes match; no SE in the plain twin
  const id = new SEResNeXtBottleneck(256, 64, { se: false });
  t.is(id.downsample, null);
  t.is(id.se, null);
  b.dispose();
  id.dispose();
});

test('He-normal init: conv weights have std sqrt(2/fan_out)', (t) => {
  const c = new Conv2d(64, 256, 3, { seed: 3 });
  const w = read(c.weight.value);
  const std = Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length);
  // fan_out = 256*3*3; 147456 samples: relative standard error of std ~ 0.2%
  t.true(Math.abs(std / Math.sqrt(2 / (256 * 9)) - 1) < 0.02, `std ${std}`);
  c.dispose();
});

for (const se of [true, false]) {
  test(`every parameter of a ${se ? 'SE-' : ''}ResNeXt bottleneck receives a gradient; memory returns to baseline`, (t) => {
    const base = memory();
    const b = new SEResNeXtBottleneck(24, 8, { groups: 4, baseWidth: 16, stride: 2, se: se ? { reduction: 8 } : false, seed: 5 });
    const x = randn([2, 9, 9, 24], { seed: 1 });
    const y = b.forward(x);
    t.deepEqual([...y.shape], [2, 5, 5, 32]);
    const dy = randn(y.shape, { seed: 2 });
    const dx = b.backward(dy);
    t.deepEqual([...dx.shape], [...x.shape]);
    for (const [name, p] of b.namedParameters()) {
      t.truthy(p.grad, `${name} has a gradient`);
      const g = read(p.grad!);
      t.true(g.every(Number.isFinite) && g.some((v) => v !== 0), `${name} gradient is finite and non-zero`);
    }
    t.true(read(dx).every(Number.isFinite));
    dispose([x, y, dy, dx]);
    b.zeroGrad();
    b.dispose();
    t.is(memory().tensors, base.tensors);
    t.is(memory().bytes, base.bytes);
  });
}

test('gradients accumulate over two backward passes', (t) => {
  const m = new Linear(5, 3, { seed: 1 });
  const x = randn([4, 5]), dy = randn([4, 3]);
  const e = t.throws(() => m.backward(dy), { instanceOf: SenetError });
  t.regex(e!.message, /^Linear.backward: expected state a preceding forward\(\) in training mode, got none/);
  m.forward(x).dispose();
  m.backward(dy).dispose();
  const once = read(m.weight.grad!);
  m.forward(x).dispose();
  m.backward(dy).dispose();
  // g + g is exact in floating point
  t.deepEqual(read(m.weight.grad!), once.map((v) => 2 * v));
  m.zeroGrad();
  t.is(m.weight.grad, null);
  dispose([x, dy]);
  m.dispose();
});

test('eval mode saves nothing and uses running statistics', (t) => {
  const bn = new BatchNorm2d(6);
  const x = randn([3, 4, 4, 6], { mean: 2, std: 3 });
  bn.forward(x).dispose();
  bn.backward(randn([3, 4, 4, 6])).dispose();
  const rm = read(bn.runningMean);
  t.true(rm.every((v) => Math.abs(v) > 0.05), 'running mean moved towards the batch mean');
  bn.eval();
  const base = memory().tensors;
  const y = bn.forward(x);
  t.is(memory().tensors, base + 1, 'only the output is new');
  const e = t.throws(() => bn.backward(y), { instanceOf: SenetError });
  t.regex(e!.message, /^BatchNorm2d.backward: expected state a preceding forward\(\) in training mode, got none/);
  dispose([x, y]);
  bn.dispose();
});

test('modules match the ops they wrap', (t) => {
  const x = randn([2, 6, 6, 8], { seed: 3 });
  const c = new Conv2d(8, 12, 3, { padding: 1, stride: 2, bias: true, seed: 4 });
  t.deepEqual(read(c.forward(x)), read(conv2d(x, c.weight.value, c.bias!.value, { padding: 1, stride: 2 })));
  const se = new SqueezeExcite(8, { reduction: 4, squeeze: 'max', gate: 'tanh', seed: 5 });
  const w = { w1: se.fc1w.value, b1: se.fc1b!.value, w2: se.fc2w.value, b2: se.fc2b!.value };
  t.deepEqual(read(se.forward(x, x)), read(squeezeExcite(x, w, { squeeze: 'max', gate: 'tanh', shortcut: x }).y));
  t.is(se.hidden, 2);
  const e = t.throws(() => se.backward(x), { instanceOf: SenetError });
  t.regex(e!.message, /use backwardResidual/);
  const g = se.backwardResidual(x);
  t.deepEqual([...g.dshortcut.shape], [...x.shape]);
});

test('Sequential composes forward and backward; loadStateDict checks names and shapes', (t) => {
  const make = (seed: number) =>
    new Sequential(new Conv2d(3, 8, 3, { padding: 1, seed }), new BatchNorm2d(8), new ReLU(), new MaxPool2d({ kernel: 2 }),
      new GlobalAvgPool(), new Linear(8, 4, { seed: seed + 1 }));
  const a = make(1), b = make(10);
  const x = randn([2, 6, 6, 3], { seed: 7 });
  const ya = a.forward(x);
  t.deepEqual([...ya.shape], [2, 4]);
  t.notDeepEqual(read(ya), read(b.forward(x)));
  b.loadStateDict(a.stateDict());
  a.eval();
  b.eval();
  t.deepEqual(read(a.forward(x)), read(b.forward(x)));
  const sd = new Map(a.stateDict());
  sd.delete('0.weight');
  sd.set('9.weight', randn([1]));
  sd.set('5.bias', randn([5]));
  const e = t.throws(() => b.loadStateDict(sd), { instanceOf: SenetError });
  t.regex(e!.message, /missing keys: 0.weight/);
  t.regex(e!.message, /unexpected keys: 9.weight/);
  t.regex(e!.message, /shape mismatches: 5.bias: expected \[4\], got \[5\]/);
  a.train();
  const y = a.forward(x);
  const dx = a.backward(randn(y.shape));
  t.deepEqual([...dx.shape], [2, 6, 6, 3]);
});

test('a tiny SE-ResNeXt learns a fixed random batch (loss falls, no NaN)', (t) => {
  const net = new Sequential(
    new Conv2d(3, 16, 3, { padding: 1, inputGrad: false, seed: 1 }),
    new BatchNorm2d(16),
    new ReLU(),
    new SEResNeXtBottleneck(16, 8, { groups: 4, baseWidth: 16, se: { reduction: 4 }, seed: 2 }),
    new SEResNeXtBottleneck(32, 8, { groups: 4, baseWidth: 16, stride: 2, se: { reduction: 4 }, seed: 3 }),
    new GlobalAvgPool(),
    new Linear(32, 5, { seed: 4 }),
  );
  const opt = new SGD(net.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4, nesterov: true });
  const x = randn([16, 8, 8, 3], { seed: 9 });
  const labels = Int32Array.from({ length: 16 }, (_, i) => i % 5);
  const base = memory().tensors;
  const losses: number[] = [];
  for (let step = 0; step < 40; step++) {
    const logits = net.forward(x) as Tensor<'float32'>;
    const { loss, dlogits } = softmaxCrossEntropy(logits, labels);
    losses.push(loss.item());
    net.backward(dlogits).dispose();
    opt.step();
    opt.zeroGrad();
    dispose([logits, loss, dlogits]);
  }
  t.true(losses.every(Number.isFinite));
  t.true(losses[losses.length - 1]! < 0.2 * losses[0]!, `loss ${losses[0]} -> ${losses[losses.length - 1]}`);
  // momentum buffers are the only new tensors
  t.is(memory().tensors, base + opt.momentumBuffers().filter(Boolean).length);
  opt.dispose();
  net.dispose();
  x.dispose();
  t.pass();
});

test('module constructors reject bad arguments', (t) => {
  const e1 = t.throws(() => new Conv2d(6, 8, 3, { groups: 4 }), { instanceOf: SenetError });
  t.regex(e1!.message, /^Conv2d: expected groups a divisor of 6 and 8, got 4/);
  t.throws(() => new Linear(0, 3), { message: /^Linear: expected inFeatures an integer >= 1, got number 0/ });
  t.throws(() => new SqueezeExcite(16, { reduction: 0 }), { message: /expected reduction an integer >= 1/ });
  t.throws(() => new SEResNeXtBottleneck(16, 4, { groups: 32, baseWidth: 4 }), { message: /SEResNeXtBottleneck: expected baseWidth a width of at least one channel per group/ });
  t.throws(() => new BatchNorm2d(-3), { message: /BatchNorm2d: expected channels an integer >= 1/ });
  t.is(tensor([1]).size, 1);
});

test('Module.to moves parameters, gradients and buffers; loadStateDict copies onto the module\'s device', (t) => {
  const m = new SqueezeExcite(8, { reduction: 4, bias: false, seed: 1 });
  const before = m.stateDict();
  const ids = [...before.values()].map((v) => v._h!.storageId);
  m.to('cpu');
  t.is(m.device, 'cpu');
  t.deepEqual([...m.stateDict().values()].map((v) => v._h!.storageId), ids, 'already there: nothing copied');
  const bn = new BatchNorm2d(3);
  const sd = new Map([['weight', randn([3])], ['bias', randn([3])], ['running_mean', randn([3])], ['running_var', randn([3])]]);
  bn.loadStateDict(sd);
  t.not(bn.weight.value._h!.storageId, sd.get('weight')!._h!.storageId, 'loaded by copy');
  t.deepEqual(read(bn.runningMean), read(sd.get('running_mean')!));
  m.dispose();
  bn.dispose();
});
