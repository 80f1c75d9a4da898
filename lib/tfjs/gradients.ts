/**
 * Gradients that run in fewer passes on the senet backend. tfjs computes a
 * kernel's gradient with ops (its gradient registry is global, keyed by
 * kernel name); for a few kernels whose tfjs gradient makes many passes
 * over full-size tensors we register a gradient that, when the active
 * backend is senet, computes the same values with fewer native kernels,
 * and otherwise calls tfjs's own gradient unchanged:
 *
 *  - FusedBatchNorm (x rank 4, per-channel parameters): tfjs's gradient
 *    tiles rsqrt(var) to x's shape and makes ~10 passes over x-sized
 *    tensors. When the mean and variance are x's batch statistics (the
 *    backend saw them computed: provenance.ts), batch norm's whole gradient
 *    in two passes (SenetBatchNormBackward, x's gradient through the
 *    statistics included) and zeros for the statistics; otherwise one pass
 *    (SenetBatchNormGradSums: the two per-channel sums every parameter
 *    gradient needs) and one for dx (dy * scale * rsqrt).
 *  - Relu: dy * step(x) in one pass (SenetReluGrad) instead of two; Square
 *    (batch statistics in tf.moments): dy * 2x in one pass (SenetSquareGrad).
 *  - Mean, Sum: tfjs multiplies dy by a host-made tensor of ones of x's
 *    shape; here dy (scaled) is broadcast to x's shape (lazily: the Add that
 *    accumulates it applies it; provenance.ts).
 *  - Multiply of [N, ..., C] by [N, 1, ..., 1, C] (a squeeze-excite
 *    scaling): both gradients in one pass (SenetScaleChannelsGrad), where
 *    tfjs makes a product, another product and a sum over x-sized tensors.
 *  - Square, Mean, Sum of a gradient known to be zero (the statistics'
 *    above): zeros, not computed unless read.
 *
 * SENET_TFJS_FUSED_GRADS=0 keeps tfjs's gradients everywhere.
 */
import {
  add,
  backend_util,
  div,
  engine,
  getGradient,
  mul,
  neg,
  registerGradient,
  reshape,
  rsqrt,
  scalar,
  util,
  type GradConfig,
  type NamedAttrMap,
  type Tensor,
} from '@tensorflow/tfjs-core';
import type { SenetBackend } from './backend.js';
import { scaling } from './kernels/graph.js';
import { BACKEND_NAME_CONST } from './names.js';

const ours = new Set<GradConfig>();

/**
 * On senet, and not while a gradient of this gradient is being recorded
 * (higher-order gradients: the tape is on, and it must see tfjs's
 * differentiable ops, not our gradient kernels, which have no gradient).
 */
function onSenet(): boolean {
  const e = engine();
  return e.backendName === BACKEND_NAME_CONST && (e.state as unknown as { gradientDepth: number }).gradientDepth === 0;
}

/** The senet backend (call after onSenet()). */
function senet(): SenetBackend {
  return engine().backend as unknown as SenetBackend;
}

function zerosLike(x: Tensor): Tensor {
  return engine().runKernel('SenetZeros', {}, { shape: x.shape } as unknown as NamedAttrMap) as Tensor;
}

/** A node of tfjs's gradient tape (the fields read here). */
interface TapeNode {
  kernelName: string;
  inputs: Record<string, Tensor>;
  outputs: Tensor[];
  saved?: Tensor[];
}

/** The tape being differentiated, indexed: each tensor's producer, each saved-tensor list's node. */
const tapes = new WeakMap<TapeNode[], { producer: Map<number, TapeNode>; bySaved: Map<Tensor[], TapeNode> }>();

function tapeIndex(tape: TapeNode[]) {
  // (the tape does not grow while first-order gradients run: tfjs records nothing then)
  let ix = tapes.get(tape);
  if (!ix) {
    ix = { producer: new Map(), bySaved: new Map() };
    for (const n of tape) {
      for (const o of n.outputs) if (o) ix.producer.set(o.id, n);
      if (n.saved) ix.bySaved.set(n.saved, n);
    }
    tapes.set(tape, ix);
  }
  return ix;
}

/**
 * Whether the batch norm being differentiated (its saved tensors `saved`)
 * takes x's batch statistics computed on this tape: its mean is Mean(x) and
 * its variance Mean(Square(Sub(x or Cast(x), mean or Reshape(mean)))), so
 * that tfjs would carry the mean's and variance's gradients back to this x.
 * The backend's facts say the data are the statistics over the right axes
 * (provenance.ts); the tape says the gradient flows there (statistics
 * computed outside the tape, or of another tensor holding the same data,
 * are constants for this gradient).
 */
function batchMoments(saved: Tensor[]): boolean {
  const b = senet();
  const [xs, ms, vs] = saved as [Tensor, Tensor, Tensor];
  const c = xs.shape[xs.shape.length - 1];
  const fm = b.facts(ms)?.meanOf, fv = b.facts(vs)?.varianceOf;
  if (b.device !== 'cpu' || !fm || !fv || fm.x !== xs.dataId || fm.channels !== c || fv.x !== xs.dataId || fv.mean !== ms.dataId || ms.size !== c) return false;
  const tape = (engine().state as unknown as { activeTape: TapeNode[] | null }).activeTape;
  if (!tape) return false;
  const ix = tapeIndex(tape);
  const node = ix.bySaved.get(saved);
  if (!node || node.kernelName !== 'FusedBatchNorm') return false;
  const { x, mean, variance } = node.inputs as { x: Tensor; mean: Tensor; variance: Tensor };
  const made = (t: Tensor | undefined, ...kernels: string[]) => {
    const n = t ? ix.producer.get(t.id) : undefined;
    return n && kernels.includes(n.kernelName) ? n : undefined;
  };
  const sub = made(made(made(variance, 'Mean')?.inputs['x'], 'Square')?.inputs['x'], 'Sub');
  if (made(mean, 'Mean')?.inputs['x'] !== x || !sub) return false;
  const a = sub.inputs['a']!, m = sub.inputs['b']!;
  return (a === x || made(a, 'Cast', 'Identity')?.inputs['x'] === x) && (m === mean || made(m, 'Reshape')?.inputs['x'] === mean);
}

function override(name: string, make: (orig: GradConfig) => GradConfig['gradFunc']): void {
  const cur = getGradient(name);
  if (!cur || ours.has(cur)) return;
  const cfg: GradConfig = { ...cur, gradFunc: make(cur) };
  ours.add(cfg);
  registerGradient(cfg);
}

function tiledGrad(dy: Tensor, x: Tensor, attrs: NamedAttrMap, mean: boolean): Tensor {
  const axes = util.parseAxisParam(attrs['axis'] as number | number[], x.shape);
  const [, reduceShape] = backend_util.computeOutAndReduceShapes(x.shape, axes);
  const expanded = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const g = mean ? div(dy, scalar(util.sizeFromShape(reduceShape))) : dy;
  return engine().runKernel('SenetBroadcastTo', { x: reshape(g, expanded) }, { shape: x.shape } as unknown as NamedAttrMap) as Tensor;
}

/** Installs the gradients (idempotent; again after tfjs re-registers its own). */
export function installGradients(): void {
  if (typeof process !== 'undefined' && process.env['SENET_TFJS_FUSED_GRADS'] === '0') return;

  override('Relu', (orig) => (dy, saved, attrs) => {
    const x = saved[0]!;
    const t = dy as Tensor;
    if (!onSenet() || x.dtype !== 'float32' || t.dtype !== 'float32') return orig.gradFunc(dy, saved, attrs);
    return { x: () => engine().runKernel('SenetReluGrad', { dy: t, x }) as Tensor };
  });

  override('Square', (orig) => (dy, saved, attrs) => {
    const x = saved[0]!;
    const t = dy as Tensor;
    if (!onSenet() || x.dtype !== 'float32' || t.dtype !== 'float32') return orig.gradFunc(dy, saved, attrs);
    if (senet().knownZero(t)) return { x: () => zerosLike(x) };
    return { x: () => engine().runKernel('SenetSquareGrad', { dy: t, x }) as Tensor };
  });

  for (const [name, isMean] of [['Mean', true], ['Sum', false]] as const) {
    override(name, (orig) => (dy, saved, attrs) => {
      const x = saved[0]!;
      const t = dy as Tensor;
      // (empty x and rank > 8, which senet's kernels do not take: tfjs's gradient)
      if (!onSenet() || x.rank === 0 || x.rank > 8 || x.size === 0 || x.dtype !== 'float32' || t.dtype !== 'float32') return orig.gradFunc(dy, saved, attrs);
      if (senet().knownZero(t)) return { x: () => zerosLike(x) };
      return { x: () => tiledGrad(t, x, attrs, isMean) };
    });
  }

  override('Multiply', (orig) => (dy, saved, attrs) => {
    const [a, b] = saved as [Tensor, Tensor];
    const t = dy as Tensor;
    const pair = onSenet() && senet().device === 'cpu' && t.dtype === 'float32' ? scaling(a, b) : null;
    if (!pair || !util.arraysEqual(t.shape, pair[0].shape)) return orig.gradFunc(dy, saved, attrs);
    const [du, ds] = engine().runKernel('SenetScaleChannelsGrad', { dy: t, u: pair[0] as Tensor, s: pair[1] as Tensor }) as Tensor[];
    return pair[0] === a ? { a: () => du!, b: () => ds! } : { a: () => ds!, b: () => du! };
  });

  override('FusedBatchNorm', (orig) => (dy, saved, attrs) => {
    const [x, mean, variance, scale] = saved as [Tensor, Tensor, Tensor, Tensor | undefined];
    const t = dy as Tensor;
    const ok =
      onSenet() && x.rank === 4 && mean.rank === 1 && variance.rank === 1 && (scale == null || (scale.rank === 1 && scale.size === mean.size)) &&
      [t, x, mean, variance, scale].every((v) => v == null || v.dtype === 'float32');
    if (!ok) return orig.gradFunc(dy, saved, attrs);
    const eps = attrs['varianceEpsilon'] as number;
    if (eps >= 1e-12 && eps <= 1 && batchMoments(saved)) {
      const inputs: Record<string, Tensor> = { dy: t, x, mean, variance };
      if (scale) inputs['scale'] = scale;
      const [dx, dScale, dOffset] = engine().runKernel('SenetBatchNormBackward', inputs, { varianceEpsilon: eps }) as Tensor[];
      const zeros = () => zerosLike(mean);
      return { x: () => dx!, mean: zeros, variance: zeros, scale: () => dScale!, offset: () => dOffset! };
    }
    const s = scale ?? scalar(1);
    const r = rsqrt(add(variance, scalar(eps)));
    const k = mul(r, s);
    const [sumDy, sumDyXmu] = engine().runKernel('SenetBatchNormGradSums', { dy: t, x, mean }) as Tensor[];
    return {
      x: () => mul(t, k),
      mean: () => reshape(neg(mul(k, sumDy!)), mean.shape),
      variance: () => reshape(mul(mul(mul(mul(r, r), r), scalar(-0.5)), mul(s, sumDyXmu!)), mean.shape),
      scale: () => reshape(mul(r, sumDyXmu!), mean.shape),
      offset: () => reshape(sumDy!, mean.shape),
    };
  });
}
