/** Sum, Mean, Max, Min over axes, and Softmax over the last axis. */
import { util } from '@tensorflow/tfjs-core';
import { addon } from '../../native.js';
import { allF32, outAs, size, type NativeKernel } from './util.js';

function reduceKernel(op: string, axisAttr: string): NativeKernel {
  return (inputs, b, attrs) => {
    const x = inputs['x']!;
    if (!allF32(x) || size(x.shape) === 0) return null;
    const axes = util.parseAxisParam(attrs[axisAttr] as unknown as number | number[], x.shape);
    const keepDims = Boolean(attrs['keepDims']);
    const reduced = x.shape.filter((_, i) => !axes.includes(i));
    const shape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : reduced;
    if (axes.length === 0) return b.out(addon.clone(b.h(x)), x.shape);
    return outAs(b, addon.reduce(b.h(x), axes, op), shape);
  };
}

export const reduceKernels: Record<string, NativeKernel> = {
  Sum: reduceKernel('sum', 'axis'),
  Mean: reduceKernel('mean', 'axis'),
  Max: reduceKernel('max', 'reductionIndices'),
  Min: reduceKernel('min', 'axis'),
  Softmax: (inputs, b, attrs) => {
    const x = inputs['logits']!;
    const dim = attrs['dim'] as unknown as number;
    if (!allF32(x) || x.shape.length === 0 || (dim !== -1 && dim !== x.shape.length - 1)) return null;
    return b.out(addon.softmax(b.h(x)), x.shape);
  },
};

/** Batch norm gradient sums per channel (gradients.ts): [sum(dy), sum(dy * (x - mean))]. */
reduceKernels['SenetBatchNormGradSums'] = (inputs, b) => {
  const dy = inputs['dy']!, x = inputs['x']!, mean = inputs['mean']!;
  if (!allF32(dy, x, mean)) return null;
  const c = x.shape[x.shape.length - 1]!;
  const [s1, s2] = addon.batchNormGradSums(b.h(dy), b.h(x), b.h(mean));
  return [b.out(s1, [c]), b.out(s2, [c])];
};
