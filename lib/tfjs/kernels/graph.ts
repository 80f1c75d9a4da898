/**
 * The kernels that follow tfjs's graph (provenance.ts): batch statistics
 * and their gradients (Mean, Sub, Square, Sum, Neg, Add), channel scaling
 * (Multiply by [N, 1, ..., 1, C], Add, Relu), in front of the plain
 * elementwise and reduction kernels, and the backend's own kernels for
 * gradients.ts (SenetZeros, SenetBatchNormBackward, SenetBroadcastTo,
 * SenetScaleChannelsGrad, SenetReluGrad). Whatever they do not recognise
 * goes to the plain kernel unchanged.
 */
import { broadcast_util, util, type TensorInfo } from '@tensorflow/tfjs-core';
import { addon } from '../../native.js';
import type { SenetBackend } from '../backend.js';
import type { Lazy, Of } from '../provenance.js';
import { batchNormKernels, vec } from './batchnorm.js';
import { elementwiseKernels } from './elementwise.js';
import { add as addDeferred, matmul as matmulDeferred, reluExcited, residual, scaled, squeeze, unary as unaryDeferred } from './excite.js';
import { matmulKernels } from './matmul.js';
import { reduceKernels } from './reduce.js';
import { allF32, bnAffine, following, hold, last, outAs, release, sameShape, size, type H, type NativeKernel } from './util.js';

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
    const squeezed = name === 'Mean' ? squeeze(b, x, axes, shape) : null;
    if (squeezed) return squeezed;
    if (name === 'Mean' && following(b) && leadingAxes(axes, x.shape.length)) {
      const sq = b.facts(x)?.squaredCentered, lz = b.lazyOf(x);
      if (sq && sq.channels === last(x.shape) && lz?.what === 'squared-centered') {
        const v = addon.centeredVariance(lz.x, lz.mean);
        return b.note(outAs(b, v, shape), { varianceOf: sq });
      }
      const r = plain(inputs, b, attrs) as TensorInfo | null;
      return r && b.note(r, { meanOf: { x: x.dataId, channels: last(x.shape) } });
    }
    return plain(inputs, b, attrs);
  };
}

const plainSub = elementwiseKernels['Sub']!, plainSquare = elementwiseKernels['Square']!;
const plainNeg = elementwiseKernels['Neg']!, plainAdd = elementwiseKernels['Add']!;
const plainMul = elementwiseKernels['Multiply']!, plainRelu = elementwiseKernels['Relu']!;
const plainBatchNorm = batchNormKernels['FusedBatchNorm']!;
const plainReluGrad = elementwiseKernels['SenetReluGrad']!, plainSigmoid = elementwiseKernels['Sigmoid']!;
const plainBatchMatMul = matmulKernels['BatchMatMul']!, plainFusedMatMul = matmulKernels['_FusedMatMul']!;

type ConvLazy = Extract<Lazy, { what: 'conv' }>;

/**
 * A batch norm with given statistics folded into the convolution before it:
 * weights w * k per output channel and bias (b - mean) * k + offset, with
 * k = scale / sqrt(variance + eps); kept with the filter while the
 * statistics are the same tensors (inference runs them again and again).
 */
function folded(b: SenetBackend, l: ConvLazy, inputs: Record<string, TensorInfo | undefined>, eps: number) {
  const c = last(l.shape);
  const mean = inputs['mean']!, variance = inputs['variance']!, scale = inputs['scale'] ?? undefined, offset = inputs['offset'] ?? undefined;
  if (!allF32(mean, variance) || (scale && !allF32(scale)) || (offset && !allF32(offset))) return null;
  const key = [mean, variance, scale, offset, l.biasInfo].map((t) => (t ? b.uid(t) : '-')).join(',') + `:${eps}`;
  return b.memo(l.filter, key, () => {
    const v = [vec(b, scale, c, 1), vec(b, offset, c, 0), vec(b, mean, c, 0), vec(b, variance, c, 1)];
    if (v.some((h) => h === null)) {
      release(...v);
      return null;
    }
    const [g, beta, m, var_] = v as H[];
    // conv(x, w) * k + shift = conv(x, w * k) + (bias * k + shift)
    const [k, shift] = bnAffine(b, g!, beta!, m!, var_!, eps);
    const k4 = addon.reshape(k, [c, 1, 1, 1]);
    const w = addon.binary(l.w, k4, 'mul');
    const bk = l.bias ? addon.binary(l.bias, k, 'mul') : null;
    const bias = bk ? addon.binary(bk, shift, 'add') : hold(shift);
    release(g, beta, m, var_, k, k4, bk, shift);
    return [w, bias];
  });
}
// Derived tensors Relu's gradient leaves with its output (the u and s it summed against, the sums).
const CDOT_U = 'channel-dot:u', CDOT_S = 'channel-dot:s', CDOT = 'channel-dot:sums';

/**
 * [full, factor] when one of a, b is [N, ..., C] (more than one element per
 * sample and channel) and the other [N, 1, ..., 1, C]: a per-(sample,
 * channel) scaling, as a squeeze-excite block's.
 */
export function scaling(a: TensorInfo, b: TensorInfo): [TensorInfo, TensorInfo] | null {
  if (!allF32(a, b) || a.shape.length !== b.shape.length || a.shape.length < 3) return null;
  const fits = (u: TensorInfo, s: TensorInfo) =>
    s.shape[0] === u.shape[0] && last(s.shape) === last(u.shape) && s.shape.slice(1, -1).every((d) => d === 1) && size(u.shape) > size(s.shape);
  return fits(a, b) ? [a, b] : fits(b, a) ? [b, a] : null;
}

export const graphKernels: Record<string, NativeKernel> = {
  Mean: reduce('Mean'),
  Sum: reduce('Sum'),

  // x - mean(x): described, not computed (tf.moments squares it, and only its mean is needed).
  Sub: (inputs, b, attrs) => {
    const x = inputs['a']!, m = inputs['b']!;
    if (following(b) && allF32(x, m) && x.shape.length >= 2 && perChannel(m, x) && size(x.shape) > 0) {
      const of = b.facts(m)?.meanOf;
      if (of && describes(of, x)) {
        const c = last(x.shape);
        const hx = b.h(x), hm = b.h(m);  // (inputs' data first: nothing held yet if either throws)
        const lazy = { what: 'centered' as const, shape: x.shape.slice(), x: hold(hx), mean: addon.reshape(hm, [c]) };
        return b.lazyOut(lazy, { centered: { ...of, mean: m.dataId } });
      }
    }
    return plainSub(inputs, b, attrs);
  },

  Square: (inputs, b, attrs) => {
    const x = inputs['x']!;
    const lz = b.lazyOf(x), c = b.facts(x)?.centered;
    if (lz?.what === 'centered' && c && allF32(x) && sameShape(x.shape, lz.shape)) {
      const lazy = { what: 'squared-centered' as const, shape: x.shape.slice(), x: hold(lz.x), mean: hold(lz.mean) };
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
  // A lazy broadcast (Mean's gradient) is added in the add's own pass; a
  // lazy u * s plus r stays lazy (Relu computes it).
  Add: (inputs, b, attrs) => {
    const x = inputs['a']!, y = inputs['b']!;
    // the squeeze-excite block's (u * s) + r; a bias added to the excitation (excite.ts)
    const d = residual(b, x, y) ?? addDeferred(b, x, y);
    if (d) return d;
    // (x + x: computing one side's data would release the lazy handles the other side's rule reads)
    if (allF32(x, y) && x.dataId !== y.dataId) {
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
      if (sameShape(x.shape, y.shape)) {
        // (dy * s) + Mean's gradient [N, 1, ..., 1, C]: one lazy u * s + bias (either order)
        for (const [p, q] of [[x, y], [y, x]] as const) {
          const l = b.lazyOf(p), lq = b.lazyOf(q);
          if (l?.what === 'scaled' && l.r === null && l.bias === null && l.reluOut === null && lq?.what === 'broadcast' && sameShape(l.shape, p.shape) &&
              sameShape(lq.shape, q.shape) && lq.v.shape[0] === l.shape[0] && last(lq.v.shape) === last(l.shape) && lq.v.shape.slice(1, -1).every((d) => d === 1)) {
            const bias = addon.reshape(lq.v, l.s.shape);
            return b.lazyOut({ what: 'scaled', shape: l.shape.slice(), u: hold(l.u), s: hold(l.s), r: null, bias, reluOut: null }, {});
          }
        }
        for (const [p, q] of [[x, y], [y, x]] as const) {
          const l = b.lazyOf(p);
          if (l?.what === 'broadcast' && sameShape(l.shape, p.shape)) return b.out(addon.binary(b.h(q), l.v, 'add'), q.shape);
          // u * s (+ bias) + r: still one pass where read
          if (l?.what === 'scaled' && l.r === null && l.reluOut === null && sameShape(l.shape, p.shape)) {
            const hq = b.h(q);
            const lazy = { what: 'scaled' as const, shape: l.shape.slice(), u: hold(l.u), s: hold(l.s), r: hold(hq), bias: l.bias ? hold(l.bias) : null, reluOut: null };
            return b.lazyOut(lazy, {});
          }
        }
        if (following(b) && size(x.shape) > 0) {
          const hx = b.h(x), hy = b.h(y);
          return b.lazyOut({ what: 'sum', shape: x.shape.slice(), a: hold(hx), b: hold(hy), reluOut: null }, {});
        }
      }
    }
    return plainAdd(inputs, b, attrs);
  },

  // u * s with s [N, 1, ..., 1, C]: described (an Add and a Relu may follow).
  Multiply: (inputs, b, attrs) => {
    const pair = following(b) ? scaling(inputs['a']!, inputs['b']!) : null;
    if (pair) {
      const [u, s] = pair;
      const e = scaled(b, u, s);
      if (e) return e;
      const hu = b.h(u), hs = b.h(s);
      const lazy = { what: 'scaled' as const, shape: u.shape.slice(), u: hold(hu), s: addon.reshape(hs, [u.shape[0]!, last(u.shape)]), r: null, bias: null, reluOut: null };
      return b.lazyOut(lazy, {});
    }
    return plainMul(inputs, b, attrs);
  },

  // relu(u * s + r), relu(a + b) in one pass; the lazy input keeps the output for the gradient.
  Relu: (inputs, b, attrs) => {
    const x = inputs['x']!;
    const d = unaryDeferred(b, x, 'relu') ?? reluExcited(b, x);
    if (d) return d;
    const l = b.lazyOf(x);
    if ((l?.what === 'scaled' || l?.what === 'sum') && allF32(x) && sameShape(l.shape, x.shape)) {
      const y = l.what === 'scaled' ? addon.scaleChannels(l.u, l.s, l.r, l.bias, { relu: true }) : addon.binary(l.a, l.b, 'addRelu');
      if (l.reluOut === null) l.reluOut = hold(y);
      return b.out(y, x.shape);
    }
    return plainRelu(inputs, b, attrs);
  },

  // The excitation's steps (excite.ts).
  Sigmoid: (inputs, b, attrs) => unaryDeferred(b, inputs['x']!, 'sigmoid') ?? plainSigmoid(inputs, b, attrs),
  BatchMatMul: (inputs, b, attrs) => matmulDeferred(b, inputs, attrs, false) ?? plainBatchMatMul(inputs, b, attrs),
  _FusedMatMul: (inputs, b, attrs) => matmulDeferred(b, inputs, attrs, true) ?? plainFusedMatMul(inputs, b, attrs),

  /** dy * [x > 0] (NaN in x passing), from relu's output where the lazy x kept it (the same signs). */
  SenetReluGrad: (inputs, b, attrs) => {
    const dy = inputs['dy']!, x = inputs['x']!;
    // dy's data first (were it x's, computing it ends x's lazy state and the plain kernel runs)
    const hdy = allF32(dy, x) ? b.h(dy) : null;
    const l = b.lazyOf(x);
    if (hdy && (l?.what === 'scaled' || l?.what === 'sum') && l.reluOut !== null && sameShape(dy.shape, x.shape) && sameShape(l.shape, x.shape)) {
      if (l.what === 'sum') return b.out(addon.binary(hdy, l.reluOut, 'reluGrad'), x.shape);
      // relu(u * s + ...): the sums of the result against u (Multiply's gradient for s) in the same pass
      const [g, ds] = addon.reluBackwardChannelDot(hdy, l.reluOut, l.u, l.bits?.mask ?? null, l.bits?.nan ?? null);
      if (l.bits) b.stats.reluMaskReads++;
      const out = b.out(g!, x.shape);
      b.derive(out, CDOT_U, () => hold(l.u));
      b.derive(out, CDOT_S, () => hold(l.s));
      b.derive(out, CDOT, () => ds!);
      return out;
    }
    return plainReluGrad(inputs, b, attrs);
  },

  /** x (rank of attrs.shape, dimensions 1 or the shape's) repeated to attrs.shape: described, not computed. */
  SenetBroadcastTo: (inputs, b, attrs) => {
    const x = inputs['x']!, shape = attrs['shape'] as unknown as number[];
    if (!allF32(x) || x.shape.length !== shape.length || x.shape.some((d, i) => d !== 1 && d !== shape[i])) return null;
    if (b.device !== 'cpu') return b.out(addon.tile(b.h(x), shape.map((d, i) => (x.shape[i] === d ? 1 : d))), shape);
    return b.lazyOut({ what: 'broadcast', shape: shape.slice(), v: hold(b.h(x)) }, {});
  },

  /**
   * Multiply's gradients for u [N, ..., C] times s [N, 1, ..., 1, C]: [du, ds]
   * in one pass; or, where Relu's gradient left ds with dy, ds and a lazy dy * s.
   */
  SenetScaleChannelsGrad: (inputs, b) => {
    const dy = inputs['dy']!, u = inputs['u']!, s = inputs['s']!;
    if (!allF32(dy, u, s) || !sameShape(dy.shape, u.shape)) return null;
    const n = u.shape[0]!, c = last(u.shape);
    const hu = b.derived(dy, CDOT_U), hs = b.derived(dy, CDOT_S), sums = b.derived(dy, CDOT);
    if (hu && hs && sums && hu.storageId === b.h(u).storageId && sameShape(hu.shape, u.shape) && hs.storageId === b.h(s).storageId) {
      const lazy = { what: 'scaled' as const, shape: u.shape.slice(), u: hold(b.h(dy)), s: addon.reshape(b.h(s), [n, c]), r: null, bias: null, reluOut: null };
      return [b.lazyOut(lazy, {}), b.out(addon.reshape(sums, s.shape), s.shape)];
    }
    const s2 = addon.reshape(b.h(s), [n, c]);
    const [du, ds] = addon.scaleChannelsBackward(b.h(dy), b.h(u), s2);
    s2.release();
    return [b.out(du!, u.shape), outAs(b, ds!, s.shape)];
  },

  // A batch norm with given statistics of a convolution's output: folded into the convolution.
  FusedBatchNorm: (inputs, b, attrs) => {
    const x = inputs['x']!;
    const l = b.lazyOf(x);
    const eps = (attrs['varianceEpsilon'] as unknown as number | undefined) ?? 0.001;
    const params = ['mean', 'variance', 'scale', 'offset'].map((k) => inputs[k]);
    if (l?.what === 'conv' && allF32(x) && sameShape(l.shape, x.shape) && eps >= 0 && Number.isFinite(eps) && params.every((t) => !t || t.dataId !== x.dataId)) {
      const f = folded(b, l, inputs, eps);
      if (f) {
        const y = addon.conv2d(l.x, f.hs[0]!, f.hs[1]!, l.p);
        if (f.owned) release(...f.hs);
        return b.out(y, x.shape);
      }
    }
    return plainBatchNorm(inputs, b, attrs);
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
    return [b.out(dx!, x.shape), outAs(b, dg!, mean.shape), outAs(b, db!, mean.shape)];
  },
};
