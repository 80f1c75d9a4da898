/**
 * MaxPool, MaxPoolGrad, AvgPool, AvgPoolGrad on senet's pooling ops.
 * tfjs semantics: average pooling divides by the in-bounds part of the
 * window, and AvgPoolGrad by the whole window (as tfjs-backend-cpu and
 * webgl do). MaxPoolGrad needs the argmax workspace of the forward pass:
 * MaxPool keeps it with its output while a gradient is being recorded
 * (and computes none otherwise); without it the forward runs again.
 */
import { backend_util, engine, type TensorInfo } from '@tensorflow/tfjs-core';
import { addon } from '../../native.js';
import type { SenetBackend } from '../backend.js';
import { allF32, size, type H, type NativeKernel } from './util.js';

interface PoolParams {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number, number, number];
  countIncludePad: boolean;
  /** tfjs's max pooling skips NaN (a window of NaNs gives -Infinity); torch's propagates it */
  propagateNan: false;
}

function windowOut(input: number, k: number, stride: number, lo: number, hi: number): number {
  const padded = input + lo + hi;
  return padded < k ? 0 : Math.floor((padded - k) / stride) + 1;
}

function poolParams(x: TensorInfo, attrs: Record<string, unknown>, countIncludePad: boolean): { p: PoolParams; out: number[]; key: string } | null {
  if (!allF32(x) || x.shape.length !== 4 || size(x.shape) === 0) return null;
  const c = backend_util.computePool2DInfo(x.shape as [number, number, number, number], attrs['filterSize'] as never, attrs['strides'] as never,
    1, attrs['pad'] as never, attrs['dimRoundingMode'] as never);
  const pad = c.padInfo;
  const pads = [pad.top, pad.bottom, pad.left, pad.right] as [number, number, number, number];
  if (pads.some((v) => v < 0) || pad.top >= c.filterHeight || pad.bottom >= c.filterHeight || pad.left >= c.filterWidth || pad.right >= c.filterWidth)
    return null;
  if (size(c.outShape) === 0) return null;
  if (windowOut(c.inHeight, c.filterHeight, c.strideHeight, pad.top, pad.bottom) !== c.outHeight) return null;
  if (windowOut(c.inWidth, c.filterWidth, c.strideWidth, pad.left, pad.right) !== c.outWidth) return null;
  const p: PoolParams = {
    kernel: [c.filterHeight, c.filterWidth], stride: [c.strideHeight, c.strideWidth], padding: pads, countIncludePad, propagateNan: false,
  };
  return { p, out: c.outShape, key: `ws:${x.shape.join(',')}:${p.kernel}:${p.stride}:${p.padding}` };
}

function recording(): boolean {
  return (engine().state as unknown as { gradientDepth: number }).gradientDepth > 0;
}

function workspace(b: SenetBackend, x: TensorInfo, output: TensorInfo | undefined, p: PoolParams, key: string): { ws: H; own: boolean } {
  const kept = output ? b.derived(output, key) : undefined;
  if (kept) return { ws: kept, own: false };
  const [y, ws] = addon.maxPool2d(b.h(x), p as unknown as Record<string, unknown>);
  y.release();
  return { ws, own: true };
}

export const poolKernels: Record<string, NativeKernel> = {
  MaxPool: (inputs, b, attrs) => {
    const x = inputs['x']!;
    const q = poolParams(x, attrs, false);
    if (!q) return null;
    const rec = recording();
    const [y, ws] = addon.maxPool2d(b.h(x), { ...q.p, workspace: rec } as unknown as Record<string, unknown>);
    const out = b.out(y, q.out);
    if (rec) b.derive(out, q.key, () => ws);
    else ws.release();
    return out;
  },
  MaxPoolGrad: (inputs, b, attrs) => {
    const dy = inputs['dy']!, x = inputs['input']!, output = inputs['output'];
    const q = poolParams(x, attrs, false);
    if (!q || !allF32(dy) || dy.shape.some((d, i) => d !== q.out[i])) return null;
    const { ws, own } = workspace(b, x, output ?? undefined, q.p, q.key);
    const dx = addon.maxPool2dBackward(b.h(dy), ws, x.shape, q.p as unknown as Record<string, unknown>);
    if (own) ws.release();
    return b.out(dx, x.shape);
  },
  AvgPool: (inputs, b, attrs) => {
    const x = inputs['x']!;
    const q = poolParams(x, attrs, false);
    if (!q) return null;
    return b.out(addon.avgPool2d(b.h(x), q.p as unknown as Record<string, unknown>), q.out);
  },
  AvgPoolGrad: (inputs, b, attrs) => {
    const dy = inputs['dy']!, x = inputs['input']!;
    const q = poolParams(x, attrs, true);
    if (!q || !allF32(dy) || dy.shape.some((d, i) => d !== q.out[i])) return null;
    return b.out(addon.avgPool2dBackward(b.h(dy), x.shape, q.p as unknown as Record<string, unknown>), x.shape);
  },
};
