/**
 * The kernels that follow tfjs's batch statistics and their gradients
 * (provenance.ts): Mean, Sub, Square, Sum, Neg and Add in front of the
 * plain elementwise and reduction kernels, and the backend's SenetZeros
 * and SenetBatchNormBackward (used by gradients.ts). Whatever they do not
 * recognise goes to the plain kernel unchanged.
 */
import { broadcast_util, util, type TensorInfo } from '@tensorflow/tfjs-core';
import { addon } from '../../native.js';
import type { SenetBackend } from '../backend.js';
import { provenance, type Of } from '../provenance.js';
import { elementwiseKernels } from './elementwise.js';
import { reduceKernels } from './reduce.js';
import { allF32, outAs, release, size, type NativeKernel } from './util.js';

function last(shape: readonly number[]): number {
  return shape[shape.length - 1]!;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** axes are every axis but the last of a rank >= 2 shape */
function leadingAxes(axes: readonly number[], rank: number): boolean {
  if (rank < 2 || axes.length !== rank - 1) return false;
  const s = [...axes].sort((p, q) => p - q);
  return s.every((a, i) => a === i);
}

/** m broadcasts per channel over x ([C] or [1, ..., 1, C], rank <= x's) */
function perChannel(m: TensorInfo, x: TensorInfo): boolean {
  const r = m.shape.length;
  return r >= 1 && r <= x.shape.length && last(m.shape) === last(x.shape) && m.shape.slice(0, -1).every((d) => d === 1);
}

function reducedShape(shape: readonly number[], axes: readonly number[], keepDims: boolean): number[] {
  return keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

function zeros(b: SenetBackend, shape: readonly number[]): TensorInfo {
  return b.lazyOut({ what: 'zeros', shape: shape.slice(), device: b.device }, { zero: true });
}

/** The batch statistics x's data was recorded with, if `of` describes x. */
function describes(of: Of | undefined, x: TensorInfo): boolean {
  return of !== undefined && of.x === x.dataId && of.channels === last(x.shape);
}

function reduce(name: 'Mean' | 'Sum'): NativeKernel {
  const plain = reduceKernels[name]!;
  return (inputs, b, attrs) => {
    const x = inputs['x']!;
    if (b.device !== 'cpu' || !allF32(x) || size(x.shape) === 0) return plain(inputs, b, attrs);
    const axes = util.parseAxisParam(attrs['axis'] as unknown as number | number[], x.shape);
    const shape = reducedShape(x.shape, axes, Boolean(attrs['keepDims']));
    if (b.knownZero(x)) return zeros(b, shape);
    if (name === 'Mean' && provenance.enabled && leadingAxes(axes, x.shape.length)) {
      const sq = b.facts(x)?.squaredCentered, lz = b.lazyOf(x);
      if (sq && sq.channels === last(x.shape) && lz?.what === 'squared-centered') {
        const v = addon.centeredVariance(lz.x, lz.mean);
        return b.note(outAs(b, v, [last(x.shape)], shape), { varianceOf: sq });
      }
      const r = plain(inputs, b, attrs) as TensorInfo | null;
      return r && b.note(r, { meanOf: { x: x.dataId, channels: last(x.shape) } });
    }
    return plain(inputs, b, attrs);
  };
}

const plainSub = elementwiseKernels['Sub']!, plainSquare = elementwiseKernels['Square']!;
const plainNeg = elementwiseKernels['Neg']!, plainAdd = elementwiseKernels['Add']!;

export const momentsKernels: Record<string, NativeKernel> = {
  Mean: reduce('Mean'),
  Sum: reduce('Sum'),

  // x - mean(x): described, not computed (tf.moments squares it, and only its mean is needed).
  Sub: (inputs, b, attrs) => {
    const x = inputs['a']!, m = inputs['b']!;
    if (provenance.enabled && b.device === 'cpu' && allF32(x, m) && x.shape.length >= 2 && perChannel(m, x) && size(x.shape) > 0) {
      const of = b.facts(m)?.meanOf;
      if (of && describes(of, x)) {
        const c = last(x.shape);
        const lazy = { what: 'centered' as const, shape: x.shape.slice(), x: addon.reshape(b.h(x), x.shape), mean: addon.reshape(b.h(m), [c]) };
        return b.lazyOut(lazy, { centered: { ...of, mean: m.dataId } });
      }
    }
    return plainSub(inputs, b, attrs);
  },

  Square: (inputs, b, attrs) => {
    const x = inputs['x']!;
    const lz = b.lazyOf(x), c = b.facts(x)?.centered;
    if (lz?.what === 'centered' && c && allF32(x) && sameShape(x.shape, lz.shape)) {
      const lazy = { what: 'squared-centered' as const, shape: x.shape.slice(), x: addon.reshape(lz.x, lz.x.shape), mean: addon.reshape(lz.mean, lz.mean.shape) };
      return b.lazyOut(lazy, { squaredCentered: c });
    }
    return plainSquare(inputs, b, attrs);
  },

  Neg: (inputs, b, attrs) => {
    const x = inputs['x']!;
    if (allF32(x) && b.knownZero(x)) return zeros(b, x.shape);
    return plainNeg(inputs, b, attrs);
  },

  // Gradient accumulation adds the statistics' zero gradients: a + 0 is a.
  Add: (inputs, b, attrs) => {
    const x = inputs['a']!, y = inputs['b']!;
    if (allF32(x, y)) {
      const zx = b.knownZero(x), zy = b.knownZero(y);
      if (zx || zy) {
        const shape = broadcast_util.assertAndGetBroadcastShape(x.shape, y.shape);
        if (zx && zy) return zeros(b, shape);
        const other = zx ? y : x;
        if (sameShape(other.shape, shape)) {
          b.incRef(other.dataId);
          return { dataId: other.dataId, shape, dtype: 'float32' };
        }
      }
    }
    return plainAdd(inputs, b, attrs);
  },

  /** Zeros of attrs.shape (float32), computed only if read. */
  SenetZeros: (_inputs, b, attrs) => zeros(b, attrs['shape'] as unknown as number[]),

  /**
   * Batch norm's whole gradient from batch statistics (x's gradient through
   * the mean and variance included): [dx, dscale, doffset], the parameters'
   * gradients shaped as the mean.
   */
  SenetBatchNormBackward: (inputs, b, attrs) => {
    const dy = inputs['dy']!, x = inputs['x']!, mean = inputs['mean']!, variance = inputs['variance']!, scale = inputs['scale'];
    if (!allF32(dy, x, mean, variance) || (scale && !allF32(scale)) || x.shape.length !== 4) return null;
    const c = last(x.shape);
    const eps = attrs['varianceEpsilon'] as unknown as number;
    const g = scale ? addon.reshape(b.h(scale), [c]) : addon.full([c], 1, 'float32', b.device);
    const m = addon.reshape(b.h(mean), [c]), v = addon.reshape(b.h(variance), [c]);
    const [dx, dg, db] = addon.batchNormBackward(b.h(dy), b.h(x), g, m, v, { eps });
    release(g, m, v);
    return [b.out(dx!, x.shape), outAs(b, dg!, [c], mean.shape), outAs(b, db!, [c], mean.shape)];
  },
};
