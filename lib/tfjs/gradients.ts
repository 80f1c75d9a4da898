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
 *    tensors; here one pass (SenetBatchNormGradSums: the two per-channel
 *    sums every parameter gradient needs) and one for dx (dy * scale * rsqrt).
 *  - Relu: dy * step(x) in one pass (SenetReluGrad) instead of two; Square
 *    (batch statistics in tf.moments): dy * 2x in one pass (SenetSquareGrad).
 *  - Mean, Sum: tfjs multiplies dy by a host-made tensor of ones of x's
 *    shape; here dy (scaled) is tiled to x's shape in one pass.
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
  tile,
  util,
  type GradConfig,
  type NamedAttrMap,
  type Tensor,
} from '@tensorflow/tfjs-core';
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
  const reps = x.shape.map((d, i) => (axes.includes(i) ? d : 1));
  const g = mean ? div(dy, scalar(util.sizeFromShape(reduceShape))) : dy;
  return tile(reshape(g, expanded), reps);
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
    return { x: () => engine().runKernel('SenetSquareGrad', { dy: t, x }) as Tensor };
  });

  for (const [name, isMean] of [['Mean', true], ['Sum', false]] as const) {
    override(name, (orig) => (dy, saved, attrs) => {
      const x = saved[0]!;
      const t = dy as Tensor;
      if (!onSenet() || x.rank === 0 || x.dtype !== 'float32' || t.dtype !== 'float32') return orig.gradFunc(dy, saved, attrs);
      return { x: () => tiledGrad(t, x, attrs, isMean) };
    });
  }

  override('FusedBatchNorm', (orig) => (dy, saved, attrs) => {
    const [x, mean, variance, scale] = saved as [Tensor, Tensor, Tensor, Tensor | undefined];
    const t = dy as Tensor;
    const ok =
      onSenet() && x.rank === 4 && mean.rank === 1 && variance.rank === 1 && (scale == null || scale.rank === 1) &&
      [t, x, mean, variance, scale].every((v) => v == null || v.dtype === 'float32');
    if (!ok) return orig.gradFunc(dy, saved, attrs);
    const eps = attrs['varianceEpsilon'] as number;
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
