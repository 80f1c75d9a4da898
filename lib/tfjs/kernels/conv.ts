/**
 * Convolutions: Conv2D, its two backprops, FusedConv2D (bias + activation),
 * DepthwiseConv2dNative, its backprops and FusedDepthwiseConv2D, on senet's
 * oneDNN convolutions. tfjs's filters are HWIO ([fh, fw, in, out]; depthwise
 * [fh, fw, in, multiplier]); ours are OHWI: a filter is transposed once per
 * filter tensor and the transposed copy kept with the filter's data (tfjs
 * tensors are immutable), so inference transposes each weight once.
 */
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import { addon } from '../../native.js';
import type { SenetBackend } from '../backend.js';
import { activate, allF32, following, hold, outAs, release, size, type H, type NativeKernel } from './util.js';

type Info = backend_util.Conv2DInfo;

interface Params {
  stride: [number, number];
  padding: [number, number, number, number];
  dilation: [number, number];
  groups: number;
}

function windowOut(input: number, k: number, stride: number, lo: number, hi: number, dil: number): number {
  const span = dil * (k - 1) + 1;
  const padded = input + lo + hi;
  return padded < span ? 0 : Math.floor((padded - span) / stride) + 1;
}

/** senet's parameters for a tfjs conv info, or null when tfjs's shapes are not ours (NCHW, odd rounding, empty). */
function params(c: Info, groups: number): Params | null {
  if (c.dataFormat !== 'channelsLast') return null;
  const p = c.padInfo;
  if (p.top < 0 || p.bottom < 0 || p.left < 0 || p.right < 0) return null;
  if (size(c.inShape) === 0 || size(c.outShape) === 0 || c.filterHeight <= 0 || c.filterWidth <= 0) return null;
  if (windowOut(c.inHeight, c.filterHeight, c.strideHeight, p.top, p.bottom, c.dilationHeight) !== c.outHeight) return null;
  if (windowOut(c.inWidth, c.filterWidth, c.strideWidth, p.left, p.right, c.dilationWidth) !== c.outWidth) return null;
  return {
    stride: [c.strideHeight, c.strideWidth],
    padding: [p.top, p.bottom, p.left, p.right],
    dilation: [c.dilationHeight, c.dilationWidth],
    groups,
  };
}

/** HWIO [fh, fw, i, o] -> OHWI [o, fh, fw, i], cached with the filter. */
function ohwi(b: SenetBackend, filter: TensorInfo): H {
  return b.derive(filter, `ohwi:${filter.shape.join(',')}`, () => addon.transpose(b.h(filter), [3, 0, 1, 2]));
}

/** Depthwise [fh, fw, c, m] -> OHWI [c*m, fh, fw, 1] (grouped, one group per input channel), cached. */
function depthwiseOhwi(b: SenetBackend, filter: TensorInfo): H {
  const [fh, fw, c, m] = filter.shape as [number, number, number, number];
  return b.derive(filter, `dw-ohwi:${filter.shape.join(',')}`, () => {
    const flat = addon.reshape(b.h(filter), [fh * fw, c * m]);
    const t = addon.transpose(flat, [1, 0]);
    const r = addon.reshape(t, [c * m, fh, fw, 1]);
    release(flat, t);
    return r;
  });
}

/** conv + bias (+ activation) on native tensors; null when the pieces are outside what we run. */
function convForward(
  b: SenetBackend,
  x: TensorInfo,
  w: H,
  p: Params,
  outShape: number[],
  bias: TensorInfo | undefined,
  activation: string | undefined,
  prelu: TensorInfo | undefined,
  leakyAlpha: number | undefined,
  lazyFilter?: TensorInfo,
): TensorInfo | null {
  const co = outShape[3]!;
  const fuseBias = bias !== undefined && bias.shape.length === 1 && bias.shape[0] === co;
  if (lazyFilter && (fuseBias || bias === undefined) && (!activation || activation === 'linear') && following(b)) {
    // Described, not computed: a batch norm reading it folds itself in (graph.ts).
    const hx = b.h(x), hb = fuseBias ? b.h(bias!) : null;  // (inputs' data first: nothing held yet if either throws)
    const lazy = { what: 'conv' as const, shape: outShape.slice(), x: hold(hx), w: hold(w), bias: hb && hold(hb), p: p as unknown as Record<string, unknown>, filter: lazyFilter, biasInfo: fuseBias ? bias! : null };
    return b.lazyOut(lazy, {});
  }
  let y = addon.conv2d(b.h(x), w, fuseBias ? b.h(bias!) : null, p as unknown as Record<string, unknown>);
  if (bias !== undefined && !fuseBias) {
    // Other bias shapes (a scalar, [1, 1, co]...): a broadcast add.
    const y2 = addon.binary(y, b.h(bias), 'add');
    y.release();
    y = y2;
    if (y.shape.length !== 4 || y.shape.some((d, i) => d !== outShape[i])) {
      y.release();
      return null;
    }
  }
  if (activation && activation !== 'linear') {
    const a = activate(b, y, activation, prelu, leakyAlpha);
    if (!a) {
      y.release();
      return null;
    }
    if (a !== y) y.release();
    y = a;
  }
  return b.out(y, outShape);
}

function fusedOk(inputs: Record<string, TensorInfo | undefined>): boolean {
  const bias = inputs['bias'], prelu = inputs['preluActivationWeights'];
  return (!bias || allF32(bias)) && (!prelu || allF32(prelu));
}

const conv2D: NativeKernel = (inputs, b, attrs) => {
  const x = inputs['x']!, filter = inputs['filter']!;
  if (!allF32(x, filter) || x.shape.length !== 4) return null;
  const fmt = backend_util.convertConv2DDataFormat(attrs['dataFormat'] as unknown as 'NHWC' | 'NCHW');
  const c = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
    attrs['strides'] as never, attrs['dilations'] as never, attrs['pad'] as never, attrs['dimRoundingMode'] as never, false, fmt);
  const p = params(c, 1);
  if (!p) return null;
  return convForward(b, x, ohwi(b, filter), p, c.outShape, inputs['bias'] ?? undefined, attrs['activation'] as unknown as string,
    inputs['preluActivationWeights'] ?? undefined, attrs['leakyreluAlpha'] as unknown as number, filter);
};

const depthwise: NativeKernel = (inputs, b, attrs) => {
  const x = inputs['x']!, filter = inputs['filter']!;
  if (!allF32(x, filter) || x.shape.length !== 4) return null;
  const dilations = (attrs['dilations'] as unknown as number | [number, number]) ?? 1;
  const c = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
    attrs['strides'] as never, dilations, attrs['pad'] as never, attrs['dimRoundingMode'] as never, true);
  const p = params(c, c.inChannels);
  if (!p) return null;
  return convForward(b, x, depthwiseOhwi(b, filter), p, c.outShape, inputs['bias'] ?? undefined, attrs['activation'] as unknown as string,
    inputs['preluActivationWeights'] ?? undefined, attrs['leakyreluAlpha'] as unknown as number);
};

/**
 * The filter gradient of a 1x1 convolution without padding is a matrix
 * product: dW[ci, co] = sum over n, ho, wo of x[n, ho*sh, wo*sw, ci] dy[n, ho, wo, co]
 * (a strided slice of x when strided). It is computed so, with oneDNN's
 * matmul: senet's conv2dBackwardFilter (oneDNN's jit_1x1 backward-weights
 * with NHWC and stride > 1, oneDNN 2.6) returns wrong values for strided
 * 1x1 convolutions and can corrupt memory.
 */
function pointwiseFilterGrad(b: SenetBackend, x: TensorInfo, dy: TensorInfo, c: Info, fs: [number, number, number, number]): TensorInfo {
  const [n, ho, wo, co] = dy.shape as [number, number, number, number];
  const ci = x.shape[3]!;
  const strided = c.strideHeight > 1 || c.strideWidth > 1;
  const xs = strided ? addon.slice(b.h(x), [0, 0, 0, 0], [n, ho, wo, ci], [1, c.strideHeight, c.strideWidth, 1]) : null;
  const x2 = addon.reshape(xs ?? b.h(x), [n * ho * wo, ci]);
  const dy2 = addon.reshape(b.h(dy), [n * ho * wo, co]);
  const dw = addon.matmul(x2, dy2, null, { transposeA: true, transposeB: false });
  release(xs, x2, dy2);
  return outAs(b, dw, fs);
}

export const convKernels: Record<string, NativeKernel> = {
  Conv2D: conv2D,
  FusedConv2D: (inputs, b, attrs) => (fusedOk(inputs) ? conv2D(inputs, b, attrs) : null),
  DepthwiseConv2dNative: depthwise,
  FusedDepthwiseConv2D: (inputs, b, attrs) => (fusedOk(inputs) ? depthwise(inputs, b, attrs) : null),

  Conv2DBackpropInput: (inputs, b, attrs) => {
    const dy = inputs['dy']!, filter = inputs['filter']!;
    const inputShape = attrs['inputShape'] as unknown as [number, number, number, number];
    if (!allF32(dy, filter) || dy.shape.length !== 4) return null;
    const fmt = backend_util.convertConv2DDataFormat(attrs['dataFormat'] as unknown as 'NHWC' | 'NCHW');
    const c = backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], attrs['strides'] as never, 1,
      attrs['pad'] as never, attrs['dimRoundingMode'] as never, false, fmt);
    const p = params(c, 1);
    if (!p || c.outShape.some((d, i) => d !== dy.shape[i])) return null;
    if (following(b)) {
      // Described: computed where read (tfjs's fused conv asks for it even where nothing needs it).
      const hdy = b.h(dy), w = ohwi(b, filter);
      const lazy = { what: 'conv-input-grad' as const, shape: inputShape.slice(), dy: hold(hdy), w: hold(w), p: p as unknown as Record<string, unknown> };
      return b.lazyOut(lazy, {});
    }
    return b.out(addon.conv2dBackwardData(b.h(dy), ohwi(b, filter), inputShape, p as unknown as Record<string, unknown>), inputShape);
  },

  Conv2DBackpropFilter: (inputs, b, attrs) => {
    const x = inputs['x']!, dy = inputs['dy']!;
    const fs = attrs['filterShape'] as unknown as [number, number, number, number];
    if (!allF32(x, dy) || x.shape.length !== 4) return null;
    const fmt = backend_util.convertConv2DDataFormat(attrs['dataFormat'] as unknown as 'NHWC' | 'NCHW');
    const c = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], fs, attrs['strides'] as never, 1,
      attrs['pad'] as never, attrs['dimRoundingMode'] as never, false, fmt);
    const p = params(c, 1);
    if (!p || c.outShape.some((d, i) => d !== dy.shape[i])) return null;
    if (fs[0] === 1 && fs[1] === 1 && p.padding.every((v) => v === 0)) return pointwiseFilterGrad(b, x, dy, c, fs);
    const [dw] = addon.conv2dBackwardFilter(b.h(dy), b.h(x), [fs[3], fs[0], fs[1], fs[2]], false, p as unknown as Record<string, unknown>);
    const hwio = addon.transpose(dw, [1, 2, 3, 0]);
    dw.release();
    return b.out(hwio, fs);
  },

  DepthwiseConv2dNativeBackpropInput: (inputs, b, attrs) => {
    const dy = inputs['dy']!, filter = inputs['filter']!;
    const inputShape = attrs['inputShape'] as unknown as [number, number, number, number];
    if (!allF32(dy, filter) || dy.shape.length !== 4) return null;
    const c = backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], attrs['strides'] as never,
      attrs['dilations'] as never, attrs['pad'] as never, attrs['dimRoundingMode'] as never, true);
    const p = params(c, c.inChannels);
    if (!p || c.outShape.some((d, i) => d !== dy.shape[i])) return null;
    return b.out(addon.conv2dBackwardData(b.h(dy), depthwiseOhwi(b, filter), inputShape, p as unknown as Record<string, unknown>), inputShape);
  },

  DepthwiseConv2dNativeBackpropFilter: (inputs, b, attrs) => {
    const x = inputs['x']!, dy = inputs['dy']!;
    const fs = attrs['filterShape'] as unknown as [number, number, number, number];
    if (!allF32(x, dy) || x.shape.length !== 4) return null;
    const c = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], fs, attrs['strides'] as never,
      attrs['dilations'] as never, attrs['pad'] as never, attrs['dimRoundingMode'] as never, true);
    const p = params(c, c.inChannels);
    if (!p || c.outShape.some((d, i) => d !== dy.shape[i])) return null;
    const [fh, fw, ci, m] = fs;
    const [dw] = addon.conv2dBackwardFilter(b.h(dy), b.h(x), [ci * m, fh, fw, 1], false, p as unknown as Record<string, unknown>);
    const flat = addon.reshape(dw, [ci * m, fh * fw]);
    const t = addon.transpose(flat, [1, 0]);
    release(dw, flat);
    return outAs(b, t, fs);
  },
};
