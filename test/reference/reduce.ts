/**
 * Float64 references of the reduce family (lib/ops/reduce.ts): sum, mean,
 * max, min over axes (max/min propagate NaN), softmax over the last axis and
 * its gradient, and batch norm's per-channel gradient sums.
 */
import { numelOf, type Shape } from './math.js';

export function reduceRef(x: ArrayLike<number>, shape: Shape, axes: readonly number[], op: string): { y: Float64Array; shape: number[] } {
  const outShape = shape.filter((_, i) => !axes.includes(i));
  const n = numelOf(outShape);
  const y = new Float64Array(n).fill(op === 'max' ? -Infinity : op === 'min' ? Infinity : 0);
  const count = axes.reduce((a, i) => a * shape[i]!, 1);
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < numelOf(shape); k++) {
    let o = 0;
    for (let i = 0; i < shape.length; i++) if (!axes.includes(i)) o = o * shape[i]! + idx[i]!;
    const v = x[k]!;
    if (op === 'sum' || op === 'mean') y[o] += v;
    else if (op === 'max') y[o] = Number.isNaN(v) || v > y[o]! ? v : y[o]!;
    else y[o] = Number.isNaN(v) || v < y[o]! ? v : y[o]!;
    for (let i = shape.length - 1; i >= 0; i--) {
      if (++idx[i]! < shape[i]!) break;
      idx[i] = 0;
    }
  }
  if (op === 'mean') for (let o = 0; o < n; o++) y[o] /= count;
  return { y, shape: outShape };
}

/** softmax over rows of length L */
export function softmaxRef(x: ArrayLike<number>, L: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / L; r++) {
    let m = -Infinity;
    for (let i = 0; i < L; i++) m = Math.max(m, x[r * L + i]!);
    let s = 0;
    for (let i = 0; i < L; i++) s += (y[r * L + i] = Math.exp(x[r * L + i]! - m));
    for (let i = 0; i < L; i++) y[r * L + i] /= s;
  }
  return y;
}

/** The gradient of sum(softmax(x) * dy): dx = y * (dy - sum(dy * y)) per row. */
export function softmaxBackwardRef(dy: ArrayLike<number>, y: ArrayLike<number>, L: number): Float64Array {
  const dx = new Float64Array(y.length);
  for (let r = 0; r < y.length / L; r++) {
    let s = 0;
    for (let i = 0; i < L; i++) s += dy[r * L + i]! * y[r * L + i]!;
    for (let i = 0; i < L; i++) dx[r * L + i] = y[r * L + i]! * (dy[r * L + i]! - s);
  }
  return dx;
}

/** Per channel c of the last axis: sum(dy), sum(dy * (x - mean[c])). */
export function batchNormGradSumsRef(dy: ArrayLike<number>, x: ArrayLike<number>, mean: ArrayLike<number>): { sumDy: Float64Array; sumDyXmu: Float64Array } {
  const C = mean.length;
  const s1 = new Float64Array(C), s2 = new Float64Array(C);
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    s1[c] += dy[i]!;
    s2[c] += dy[i]! * (x[i]! - mean[c]!);
  }
  return { sumDy: s1, sumDyXmu: s2 };
}

/** Per channel c of the last axis: the mean of (x - mean[c])^2 over the other axes. */
export function centeredVarianceRef(x: ArrayLike<number>, mean: ArrayLike<number>): Float64Array {
  const C = mean.length, v = new Float64Array(C);
  for (let i = 0; i < x.length; i++) v[i % C] += (x[i]! - mean[i % C]!) ** 2;
  return v.map((s) => s / (x.length / C));
}

/** y = (x - mean) * scale / sqrt(var + eps) + offset per channel (batch norm with given statistics). */
export function batchNormRef(x: ArrayLike<number>, mean: ArrayLike<number>, variance: ArrayLike<number>, scale: ArrayLike<number>, offset: ArrayLike<number>, eps: number): Float64Array {
  const C = mean.length;
  return Float64Array.from(x, (v, i) => {
    const c = i % C;
    return ((v - mean[c]!) * scale[c]!) / Math.sqrt(variance[c]! + eps) + offset[c]!;
  });
}
