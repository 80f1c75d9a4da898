/**
 * Two SGD steps of a small SE-ResNeXt against PyTorch: the same timm network
 * (test/fixtures/timm/timm_sgd_tiny.safetensors, built by make_timm_fixtures.py
 * with timm's ResNet + Bottleneck + SE classes), the same float32 weights,
 * the same batch, training-mode BN, mean cross-entropy without label
 * smoothing, and torch.optim.SGD(lr 0.1, momentum 0.9, weight_decay 1e-4,
 * nesterov False, dampening 0), which decays EVERY parameter -- so senet's
 * SGD runs with filterDecay false. Two steps, so the second uses the momentum
 * buffer of the first. Checked after each step: the loss (of the forward
 * before the step), every parameter, and every running statistic.
 *
 * Reference and tolerance. The fixture holds the same two steps in float64
 * (the reference: exact for our purposes) and, per tensor and step, err32 =
 * max |torch float32 - float64|, the realised error of one float32
 * implementation. A rigorous a-priori bound for a training step (forward,
 * backward through BN with batch statistics, SE and grouped convolutions,
 * then the update) is out of reach, so senet is held to a multiple of what
 * float32 arithmetic demonstrably costs here:
 *
 *   max |senet - float64| <= C max(err32, u max|float64|)   per tensor,  C = 16
 *
 * u max|value| is the rounding of the stored result itself (a floor for
 * tensors where torch happened to be nearly exact). C: two float32
 * implementations differ only in the order and blocking of their
 * reductions; in the standard probabilistic model an error of a K-term sum
 * grows like sqrt(K) u sum|terms| for a sequential order and like
 * sqrt(log2 K) u sum|terms| for a pairwise/blocked one, so their realised
 * errors can differ by up to sqrt(K / log2 K). The longest reductions here
 * are the weight gradients of the stem convolution, over N*H*W = 4*20*20 =
 * 1600 terms: sqrt(1600 / 10.6) = 12.3, hence C = 16. The loss is held to
 * the same rule. Resolution: the tolerances (a few 1e-7 relative) are far
 * below what the test must see: weight decay changes a parameter by lr wd
 * |p| = 1e-5 |p| per step (2.9e-5 |p| after step 2 with momentum); the
 * second test shows that leaving BN parameters undecayed (filterDecay true,
 * timm's filter_bias_and_bn) fails this comparison.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { SGD, softmaxCrossEntropy, tensor, type SgdOptions, type Tensor } from '../lib/index.js';
import { readSafetensors, entryToInt32, type SafeEntry, type SafeFile } from '../lib/io/safetensors.js';
import { convertTimmState, mapTimmKey } from '../lib/io/timm.js';
import { ResNet, type ResNetConfig } from '../models/resnet.js';
import { U32 } from './helpers/compare.js';

const FILE = join(fileURLToPath(new URL('./fixtures/timm/', import.meta.url)), 'timm_sgd_tiny.safetensors');
const C = 16;

function f64(e: SafeEntry): Float64Array {
  const dv = new DataView(e.bytes.buffer, e.bytes.byteOffset, e.bytes.byteLength);
  if (e.dtype === 'F64') return Float64Array.from({ length: e.bytes.byteLength / 8 }, (_, i) => dv.getFloat64(i * 8, true));
  if (e.dtype === 'F32') return Float64Array.from({ length: e.bytes.byteLength / 4 }, (_, i) => dv.getFloat32(i * 4, true));
  throw new Error(`expected F32 or F64, got ${e.dtype}`);
}

/** timm layout -> senet layout: conv OIHW -> OHWI; SE 1x1 convs [O, I, 1, 1] -> [O, I] (same order). */
function toSenetLayout(senetName: string, shape: number[], v: Float64Array): Float64Array {
  if (shape.length !== 4 || senetName.includes('.se.')) return v;
  const [O, I, H, W] = shape as [number, number, number, number];
  const out = new Float64Array(v.length);
  for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++)
    out[((o * H + h) * W + w) * I + i] = v[((o * I + i) * H + h) * W + w]!;
  return out;
}

function nchwToNhwc(x: Float64Array, [n, c, h, w]: number[]): Float32Array {
  const out = new Float32Array(x.length);
  for (let a = 0; a < n!; a++) for (let k = 0; k < c!; k++) for (let i = 0; i < h!; i++) for (let j = 0; j < w!; j++)
    out[((a * h! + i) * w! + j) * c! + k] = x[((a * c! + k) * h! + i) * w! + j]!;
  return out;
}

interface Outcome {
  /** per step: |senet loss - float64| / tolerance */
  loss: number[];
  /** per step, per timm name: max |senet - float64| / tolerance */
  tensors: Array<Map<string, number>>;
  log: string[];
}

/** Two senet SGD steps from the fixture's weights; every result measured against the float64 reference. */
function run(optOverrides: Partial<SgdOptions> = {}): Outcome {
  const f = readSafetensors(FILE);
  const entry = (n: string) => f.tensors.get(n) ?? (() => { throw new Error(`${FILE}: no tensor '${n}'`); })();
  const config = JSON.parse(f.metadata['config']!) as ResNetConfig;
  const o = JSON.parse(f.metadata['optimizer']!) as { lr: number; momentum: number; weight_decay: number; nesterov: boolean; dampening: number };
  const err32 = JSON.parse(f.metadata['err32']!) as Record<string, [number, number]>;
  const loss32 = JSON.parse(f.metadata['loss32']!) as number[];
  const loss64 = f64(entry('loss64'));
  const sd: SafeFile = { tensors: new Map(), metadata: {} };
  for (const [k, e] of f.tensors) if (k.startsWith('sd.')) sd.tensors.set(k.slice(3), e);

  const conv = convertTimmState(sd, FILE);
  const model = new ResNet(config);
  model.loadStateDict(conv.tensors);
  for (const v of conv.tensors.values()) v.dispose();
  model.train();
  const opt = new SGD(model.parameters(), {
    lr: o.lr, momentum: o.momentum, weightDecay: o.weight_decay, nesterov: o.nesterov, dampening: o.dampening,
    filterDecay: false, // torch.optim.SGD(model.parameters(), weight_decay=...) decays every parameter
    ...optOverrides,
  });
  const xe = entry('x');
  const x = tensor(nchwToNhwc(f64(xe), xe.shape), [xe.shape[0]!, xe.shape[2]!, xe.shape[3]!, xe.shape[1]!]);
  const labels = entryToInt32(entry('labels'), 'labels');
  const out: Outcome = { loss: [], tensors: [], log: [] };
  try {
    for (let step = 0; step < 2; step++) {
      const logits = model.forward(x);
      const { loss, dlogits } = softmaxCrossEntropy(logits, labels);
      const l = loss.item();
      model.backward(dlogits).dispose();
      opt.step();
      opt.zeroGrad();
      for (const t of [logits, loss, dlogits]) t.dispose();
      const ltol = C * Math.max(Math.abs(loss32[step]! - loss64[step]!), U32 * Math.abs(loss64[step]!));
      out.loss.push(Math.abs(l - loss64[step]!) / ltol);
      out.log.push(`step ${step + 1}: loss senet ${l}, float64 ${loss64[step]}, torch32 ${loss32[step]}`);
      const state = model.stateDict();
      const ratios = new Map<string, number>();
      for (const [name, errs] of Object.entries(err32)) {
        const sname = mapTimmKey(name)!;
        const cur = state.get(sname);
        if (!cur) throw new Error(`senet has no ${sname} (timm ${name})`);
        const e0 = entry(`sd.${name}`), d = entry(`ref${step + 1}.${name}`);
        const v0 = f64(e0), dv = f64(d);
        const ref = toSenetLayout(sname, e0.shape, v0.map((v, i) => v + dv[i]!));
        const got = (cur as Tensor<'float32'>).toArraySync() as Float32Array;
        let err = 0, mag = 0;
        for (let i = 0; i < ref.length; i++) {
          err = Math.max(err, Math.abs(got[i]! - ref[i]!));
          mag = Math.max(mag, Math.abs(ref[i]!));
        }
        ratios.set(name, err / (C * Math.max(errs[step]!, U32 * mag)));
      }
      out.tensors.push(ratios);
    }
  } finally {
    x.dispose();
    opt.dispose();
    model.dispose();
  }
  return out;
}

function worst(m: Map<string, number>): [string, number] {
  return [...m.entries()].reduce((a, b) => (b[1] > a[1] ? b : a), ['', -1]);
}

test('SGD (momentum 0.9, weight decay 1e-4, lr 0.1), two steps of a timm SE-ResNeXt: loss, parameters and running stats match PyTorch (float64 reference)', (t: ExecutionContext) => {
  const r = run();
  for (const line of r.log) t.log(line);
  r.loss.forEach((q, s) => t.true(q <= 1, `step ${s + 1}: loss off by ${q.toFixed(2)}x the tolerance`));
  r.tensors.forEach((m, s) => {
    const bad = [...m.entries()].filter(([, q]) => !(q <= 1)).map(([n, q]) => `${n} (${q.toFixed(2)}x)`);
    t.deepEqual(bad, [], `step ${s + 1}: tensors outside C max(err32, u max|value|)`);
    const [n, q] = worst(m);
    t.log(`step ${s + 1}: ${m.size} tensors; loss at ${r.loss[s]!.toFixed(3)} of its tolerance; worst tensor ${n} at ${q.toFixed(3)} of its tolerance`);
  });
});

test('the SGD comparison resolves weight decay: filterDecay true (BN and biases undecayed) fails it', (t) => {
  const r = run({ filterDecay: true });
  // After step 2 every BN scale differs from PyTorch's by ~2.9e-5 |gamma|, about 10x the tolerance.
  const m = r.tensors[1]!;
  const bnWeights = [...m.keys()].filter((k) => /(^|\.)bn\d\.weight$|downsample\.1\.weight$/.test(k));
  t.true(bnWeights.length > 10);
  const caught = bnWeights.filter((k) => m.get(k)! > 1);
  t.deepEqual(bnWeights.filter((k) => !caught.includes(k)), [], 'BN scales that the comparison cannot tell from undecayed');
  const all = [...m.values()].filter((q) => q > 1).length;
  t.log(`undecayed BN/biases: ${all} of ${m.size} tensors outside tolerance after step 2 (worst ${worst(m)[1].toFixed(1)}x)`);
});
