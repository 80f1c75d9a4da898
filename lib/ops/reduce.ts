/** Reductions over any set of axes (sum, mean, max, min) and softmax over the last axis. */
import { addon } from '../native.js';
import { describe, fail, native } from '../errors.js';
import { Tensor, wrapOut } from '../tensor.js';
import { expectShape, sameDevice, tensorArg } from './check.js';

export type ReduceOp = 'sum' | 'mean' | 'max' | 'min';
const REDUCE_OPS: readonly string[] = ['sum', 'mean', 'max', 'min'];

/**
 * Reduces x over `axes` (negative axes count from the end); the result drops
 * those axes, or keeps them as 1 with keepDims. Sums accumulate in double;
 * max/min propagate NaN. An empty reduction gives 0 (sum), NaN (mean), -inf/+inf (max/min).
 */
export function reduce(x: Tensor, axes: number | readonly number[], op: ReduceOp, opts: { keepDims?: boolean } = {}): Tensor<'float32'> {
  const name = 'reduce';
  const hx = tensorArg(name, 'x', x);
  if (!REDUCE_OPS.includes(op as string)) fail('SENET_ARG', name, 'op', `one of ${REDUCE_OPS.join('|')}`, describe(op));
  const list = typeof axes === 'number' ? [axes] : axes;
  if (!Array.isArray(list)) fail('SENET_ARG', name, 'axes', 'an axis or an array of axes', describe(axes));
  const r = x.rank;
  const norm = list.map((a, i) => {
    if (typeof a !== 'number' || !Number.isInteger(a) || a < -r || a >= r)
      fail('SENET_ARG', name, `axes[${i}]`, `an axis in [${-r}, ${r - 1}] of x [${x.shape}]`, describe(a));
    return a < 0 ? a + r : a;
  });
  if (new Set(norm).size !== norm.length) fail('SENET_ARG', name, 'axes', 'distinct axes', `[${list}]`);
  const y = wrapOut(native(() => addon.reduce(hx, norm, op)));
  if (!opts.keepDims) return y;
  const kept = x.shape.map((d, i) => (norm.includes(i) ? 1 : d));
  const v = y.reshape(kept);
  y.dispose();
  return v;
}

/** softmax over the last axis (max-shifted). */
export function softmax(x: Tensor): Tensor<'float32'> {
  const hx = tensorArg('softmax', 'x', x);
  if (x.rank < 1) fail('SENET_SHAPE', 'softmax', 'x', 'a tensor of rank >= 1', `shape [${x.shape}]`);
  return wrapOut(native(() => addon.softmax(hx)));
}

/**
 * Batch norm's gradient sums per channel of the last axis, in one pass:
 * sumDy[c] = sum of dy[..., c], sumDyXmu[c] = sum of dy[..., c] * (x[..., c] - mean[c]).
 */
export function batchNormGradSums(dy: Tensor, x: Tensor, mean: Tensor): { sumDy: Tensor<'float32'>; sumDyXmu: Tensor<'float32'> } {
  const op = 'batchNormGradSums';
  const hdy = tensorArg(op, 'dy', dy), hx = tensorArg(op, 'x', x), hm = tensorArg(op, 'mean', mean, { rank: 1 });
  if (x.rank < 1 || x.shape[x.rank - 1] === 0) fail('SENET_SHAPE', op, 'x', 'a tensor with channels on its last axis', `shape [${x.shape}]`);
  expectShape(op, 'dy', dy, x.shape);
  expectShape(op, 'mean', mean, [x.shape[x.rank - 1]!]);
  sameDevice(op, { dy, x, mean });
  const [s1, s2] = native(() => addon.batchNormGradSums(hdy, hx, hm));
  return { sumDy: wrapOut(s1), sumDyXmu: wrapOut(s2) };
}

/**
 * Per channel of the last axis, the mean over every other axis of
 * (x - mean[c])^2: the batch variance about a given mean, in one pass
 * (differences in float32, sums in float64). No gradient of its own: it
 * serves batch statistics whose gradient is batchNormBackward's.
 */
export function centeredVariance(x: Tensor, mean: Tensor): Tensor<'float32'> {
  const op = 'centeredVariance';
  const hx = tensorArg(op, 'x', x), hm = tensorArg(op, 'mean', mean, { rank: 1 });
  if (x.rank < 1 || x.size === 0) fail('SENET_SHAPE', op, 'x', 'a non-empty tensor with channels on its last axis', `shape [${x.shape}]`);
  expectShape(op, 'mean', mean, [x.shape[x.rank - 1]!]);
  sameDevice(op, { x, mean });
  return wrapOut(native(() => addon.centeredVariance(hx, hm)));
}
