import test from 'ava';
import { nn, randn, dispose, softmaxCrossEntropy, memory, SenetError } from '../lib/index.js';
import { createModel, listModels, modelConfig } from '../models/index.js';
import { read } from './helpers/tensors.js';

const PAPER: Array<[string, number, number | null]> = [
  // name, parameters (M), GFLOPs (multiply-adds) at 224x224 -- Hu et al. 2018, Tables 2 and 3; He et al. 2016
  ['se_resnet50', 28.09, 3.87],
  ['se_resnext50_32x4d', 27.56, 4.25],
  ['resnet50', 25.56, 3.86],
  ['se_resnet101', 49.33, 7.6],
  ['se_resnet152', 66.82, 11.32],
];

for (const [name, params, gflops] of PAPER)
  test(`${name}: ${params}M parameters${gflops ? `, ${gflops} GFLOPs` : ''} at 224x224 (paper)`, (t) => {
    const m = createModel(name);
    const p = nn.totals(m.profile([1, 224, 224, 3]).rows);
    t.is(p.params, m.numParameters());
    // The paper quotes 3-4 significant digits; our count must round to it.
    t.true(Math.abs(p.params / 1e6 - params) < 0.006, `params ${p.params}`);
    // FLOP conventions differ by a fraction of a percent between counters
    // (the paper adds SE's squeeze and scale, as we do); 1% separates a
    // wrong architecture (a missing block is > 2%) from the convention.
    if (gflops) t.true(Math.abs(p.macs / 1e9 / gflops - 1) < 0.01, `GFLOPs ${p.macs / 1e9}`);
    m.dispose();
  });

// timm's test_models practice: every registered model, a small input: the
// output shape, finite values, and a gradient for every parameter.
for (const info of listModels()) {
  const small = info.inputSize[0] <= 32;
  const size: [number, number, number] = small ? [info.inputSize[0], info.inputSize[1], info.inputSize[2]] : [64, 64, 3];
  const heavy = /101|152/.test(info.name);
  test(`${info.name}: forward/backward at ${size.join('x')}: shapes, finite values, every parameter gets a gradient`, (t) => {
    if (heavy) {
      // the deepest nets are checked forward only (the backward path is the same code as depth 50)
      const m = createModel(info.name, { numClasses: 7, inputSize: [size[0], size[1]] });
      m.eval();
      const x = randn([1, ...size], { seed: 1 });
      const y = m.forward(x);
      t.deepEqual([...y.shape], [1, 7]);
      t.true(read(y).every(Number.isFinite));
      dispose([x, y]);
      m.dispose();
      return;
    }
    const base = memory().tensors;
    const m = createModel(info.name, { numClasses: 7, inputSize: [size[0], size[1]], seed: 3 });
    const x = randn([2, ...size], { seed: 1 });
    const y = m.forward(x);
    t.deepEqual([...y.shape], [2, 7]);
    t.true(read(y).every(Number.isFinite));
    const { loss, dlogits } = softmaxCrossEntropy(y, [1, 5]);
    m.backward(dlogits).dispose();
    const missing = m.namedParameters().filter(([, p]) => !p.grad || !read(p.grad).some((v) => v !== 0)).map(([n]) => n);
    t.deepEqual(missing, [], 'parameters without a gradient');
    const bad = m.namedParameters().filter(([, p]) => p.grad && !read(p.grad).every(Number.isFinite)).map(([n]) => n);
    t.deepEqual(bad, []);
    dispose([x, y, loss, dlogits]);
    m.zeroGrad();
    m.dispose();
    t.is(memory().tensors, base, 'memory back to baseline');
  });
}

test('SE options: no-SE twin, per-stage SE, placements, squeeze and gate variants all build and train', (t) => {
  const plain = createModel('se_resnet20', { se: false });
  const se = createModel('se_resnet20');
  t.true(se.numParameters() > plain.numParameters());
  t.false(plain.namedParameters().some(([n]) => n.includes('.se.')));
  const partial = createModel('se_resnet20', { seStages: [false, true, false] });
  const seNames = partial.namedParameters().map(([n]) => n).filter((n) => n.includes('.se.'));
  t.true(seNames.length > 0 && seNames.every((n) => n.startsWith('layer2.')));
  for (const placement of ['standard', 'pre', 'post', 'identity'] as const)
    for (const [squeeze, gate] of [['avg', 'sigmoid'], ['max', 'tanh'], ['avg', 'relu']] as const) {
      const m = createModel('se_resnet20', { placement, squeeze, gate, inChannels: 1, numClasses: 10, seed: 2 });
      const x = randn([2, 12, 12, 1], { seed: 4 });
      const y = m.forward(x);
      const { loss, dlogits } = softmaxCrossEntropy(y, [3, 9]);
      m.backward(dlogits).dispose();
      const grads = m.namedParameters().filter(([n]) => n.includes('.se.'));
      t.true(grads.length > 0 && grads.every(([, p]) => p.grad !== null), `${placement} ${squeeze} ${gate}`);
      // pre: the SE works on the block input channels
      if (placement === 'pre') t.is(grads.find(([n]) => n === 'layer2.0.se.fc2.weight')?.[1].value.shape[0], 16);
      dispose([x, y, loss, dlogits]);
      m.dispose();
    }
  for (const m of [plain, se, partial]) m.dispose();
});

test('ImageNet models adapt their stem to small and one-channel inputs', (t) => {
  const m = createModel('se_resnext50_32x4d', { stem: 'cifar', inChannels: 1, numClasses: 10 });
  const p = m.profile([1, 28, 28, 1]);
  t.deepEqual(p.out, [1, 10]);
  t.deepEqual(p.rows[0]!.outShape, [1, 28, 28, 64], 'a 3x3 stride-1 stem keeps 28x28');
  t.deepEqual(m.namedParameters()[0]![1].value.shape, [64, 3, 3, 1]);
  const legacy = createModel('se_resnet50', { stem: 'legacy' });
  // Caffe pooling: 3x3/2 without padding, ceil mode: 112 -> 56 as with padding 1
  t.deepEqual(legacy.profile([1, 224, 224, 3]).rows.find((r) => r.name === 'maxpool')!.outShape, [1, 56, 56, 64]);
  // 228 -> conv 114 -> ceil((114-3)/2)+1 = 57, where flooring without padding would give 56
  t.deepEqual(legacy.profile([1, 228, 228, 3]).rows.find((r) => r.name === 'maxpool')!.outShape, [1, 57, 57, 64]);
  m.dispose();
  legacy.dispose();
});

test("the seeds' models: mini SE-ResNet (flatten head) at 28x28x1 and 32x32x3, SEResNeXt-29 8x64d", (t) => {
  for (const [h, c] of [[28, 1], [32, 3]] as const) {
    const m = createModel('se_resnet_mini', { inChannels: c, inputSize: [h, h] });
    const down = Math.ceil(Math.ceil(h / 2) / 2);
    t.is(m.fc.inFeatures, down * down * 1024);
    const x = randn([1, h, h, c]);
    m.eval();
    const y = m.forward(x);
    t.deepEqual([...y.shape], [1, 10]);
    t.false(m.namedParameters().some(([n]) => n.endsWith('se.fc1.bias')), 'the seed SE has no biases');
    dispose([x, y]);
    m.dispose();
  }
  const cfg = modelConfig('se_resnext29_8x64d');
  t.deepEqual([cfg.groups, cfg.widths, cfg.outs, cfg.shortcut, cfg.se?.reduction], [8, [512, 512, 512], [64, 128, 256], 'zeropad', 4]);
  const m = createModel('se_resnext29_8x64d');
  const names = m.namedParameters().map(([n]) => n);
  t.false(names.some((n) => n.includes('downsample')), 'zero-padded shortcuts have no parameters');
  t.true(names.includes('layer1.0.conv1.bias'), 'convolutions with biases as in the seed');
  m.dispose();
});

test('createModel rejects unknown names and bad options', (t) => {
  const e = t.throws(() => createModel('se_resnet51'), { instanceOf: SenetError });
  t.regex(e!.message, /^createModel: expected name one of se_resnet18, .*got 'se_resnet51'/);
  t.throws(() => createModel('se_resnet20', { seStages: [true] }), { message: /expected seStages 3 booleans \(one per stage\), got 1/ });
  t.throws(() => createModel('se_resnet20', { placement: 'inside' as never }), { message: /expected sePlacement one of standard\|pre\|post\|identity/ });
  t.throws(() => createModel('se_resnet20', { reduction: 0 }), { message: /expected reduction an integer >= 1/ });
});
