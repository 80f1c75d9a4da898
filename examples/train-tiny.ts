/**
 * A tiny SE-ResNeXt trained on random data: the engine end to end (conv,
 * BN, fused SE, pooling, linear, softmax cross-entropy, fused SGD) in a
 * few seconds. Usage: npm run train:tiny [-- --steps 60 --batch 32]
 */
import { parseArgs } from 'node:util';
import { nn, SGD, randn, softmaxCrossEntropy, dispose, memory, getNumThreads, info, syncSync } from '../lib/index.js';

const { values } = parseArgs({
  options: { steps: { type: 'string', default: '60' }, batch: { type: 'string', default: '32' }, size: { type: 'string', default: '16' } },
});
const steps = Number(values.steps), batch = Number(values.batch), size = Number(values.size);
const classes = 10;

const net = new nn.Sequential(
  new nn.Conv2d(3, 32, 3, { padding: 1, inputGrad: false, seed: 1 }),
  new nn.BatchNorm2d(32),
  new nn.ReLU(),
  new nn.SEResNeXtBottleneck(32, 16, { groups: 8, baseWidth: 8, se: { reduction: 8 }, seed: 2 }),
  new nn.SEResNeXtBottleneck(64, 32, { groups: 8, baseWidth: 8, stride: 2, se: { reduction: 8 }, seed: 3 }),
  new nn.GlobalAvgPool(),
  new nn.Linear(128, classes, { seed: 4 }),
);
const opt = new SGD(net.parameters(), { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-5 });
const x = randn([batch, size, size, 3], { seed: 11 });
const labels = Int32Array.from({ length: batch }, (_, i) => (i * 7) % classes);

const i = info();
console.log(`senet ${i.version} | ${i.isa} | ${getNumThreads()} threads | oneDNN ${i.dnnl} | ${net.numParameters()} parameters`);
console.log(`training on one random batch [${x.shape}] for ${steps} steps (the loss should fall towards 0)`);
const t0 = performance.now();
for (let step = 1; step <= steps; step++) {
  const logits = net.forward(x);
  const { loss, dlogits } = softmaxCrossEntropy(logits, labels);
  net.backward(dlogits).dispose();
  opt.step();
  opt.zeroGrad();
  if (step === 1 || step % 10 === 0) {
    const l = loss.item();
    const sec = (performance.now() - t0) / 1000;
    console.log(`step ${String(step).padStart(4)}  loss ${l.toFixed(4)}  ${((step * batch) / sec).toFixed(0)} img/s`);
    if (!Number.isFinite(l)) throw new Error(`loss became ${l} at step ${step}`);
  }
  dispose([logits, loss, dlogits]);
}
syncSync();
opt.dispose();
net.dispose();
x.dispose();
console.log(`done; live tensors: ${memory().tensors}`);
