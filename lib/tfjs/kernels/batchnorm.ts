/**
 * FusedBatchNorm: y = (x - mean) * scale / sqrt(variance + eps) + offset,
 * the parameters per channel (the last axis), on oneDNN's batch norm (or,
 * for an eps outside its range, two broadcast passes). Parameters of one
 * element broadcast; tfjs-backend-cpu cycles parameters of other lengths
 * through the flat data, which stays with it.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { addon } from '../../native.js';
import type { SenetBackend } from '../backend.js';
import { allF32, bnAffine, outAs, release, size, type H, type NativeKernel } from './util.js';

/** A parameter as a [C] vector (a view, a broadcast of one value, or the default). */
export function vec(b: SenetBackend, t: TensorInfo | undefined, c: number, def: number): H | null {
  if (!t) return addon.full([c], def, 'float32', b.device);
  const n = size(t.shape);
  if (n === c) return addon.reshape(b.h(t), [c]);
  if (n === 1) {
    const one = addon.reshape(b.h(t), [1]);
    const r = addon.tile(one, [c]);
    one.release();
    return r;
  }
  return null;
}

export const batchNormKernels: Record<string, NativeKernel> = {
  FusedBatchNorm: (inputs, b, attrs) => {
    const x = inputs['x']!, mean = inputs['mean']!, variance = inputs['variance']!;
    const scale = inputs['scale'] ?? undefined, offset = inputs['offset'] ?? undefined;
    if (!allF32(x, mean, variance) || (scale && !allF32(scale)) || (offset && !allF32(offset))) return null;
    if (x.shape.length === 0 || size(x.shape) === 0) return null;
    const eps = (attrs['varianceEpsilon'] as unknown as number | undefined) ?? 0.001;
    const c = x.shape[x.shape.length - 1]!;
    const v = [vec(b, scale, c, 1), vec(b, offset, c, 0), vec(b, mean, c, 0), vec(b, variance, c, 1)];
    if (v.some((h) => h === null)) {
      release(...v);
      return null;
    }
    const [g, beta, m, var_] = v as H[];
    const rows = size(x.shape) / c;
    const x4 = addon.reshape(b.h(x), [1, 1, rows, c]);
    let y: H;
    if (eps >= 1e-12 && eps <= 1) {
      y = addon.batchNormInference(x4, g!, beta!, m!, var_!, { eps });
    } else {
      const [k, shift] = bnAffine(b, g!, beta!, m!, var_!, eps);
      const xk = addon.binary(x4, k, 'mul');
      y = addon.binary(xk, shift, 'add');
      release(k, shift, xk);
    }
    release(x4, g, beta, m, var_);
    return outAs(b, y, x.shape);
  },
};
