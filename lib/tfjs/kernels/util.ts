/** Shared pieces of the native tfjs kernels. */
import type { NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { addon, type NativeHandle } from '../../native.js';
import type { SenetBackend } from '../backend.js';

export type H = NativeHandle;

/**
 * A native kernel: returns its outputs, or null when this call is outside
 * what it handles (another dtype, NCHW, an empty tensor...); tfjs-backend-cpu's
 * kernel then runs instead.
 */
export type NativeKernel = (
  inputs: Record<string, TensorInfo | undefined>,
  backend: SenetBackend,
  attrs: NamedAttrMap & Record<string, never>,
) => TensorInfo | TensorInfo[] | null;

export const MAX_RANK = 8;

export function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Every given tensor is float32 and of rank <= 8. */
export function allF32(...ts: Array<TensorInfo | undefined | null>): boolean {
  for (const t of ts) if (!t || t.dtype !== 'float32' || t.shape.length > MAX_RANK) return false;
  return true;
}

/** A tensor info over native tensor h (of shape hShape) with shape `shape` (a view when they differ). */
export function outAs(b: SenetBackend, h: H, hShape: readonly number[], shape: readonly number[]): TensorInfo {
  if (hShape.length === shape.length && hShape.every((d, i) => d === shape[i])) return b.out(h, shape);
  const v = addon.reshape(h, shape as number[]);
  h.release();
  return b.out(v, shape);
}

/** Releases intermediate native tensors. */
export function release(...hs: Array<H | null | undefined>): void {
  for (const h of hs) if (h) h.release();
}

/** An activation of the fused kernels on native tensor x; returns x itself for 'linear'. */
export function activate(
  b: SenetBackend,
  x: H,
  activation: string | undefined,
  prelu: TensorInfo | undefined,
  leakyAlpha: number | undefined,
): H | null {
  switch (activation ?? 'linear') {
    case 'linear': return x;
    case 'relu': return addon.unary(x, 'relu', {});
    case 'relu6': return addon.unary(x, 'relu6', {});
    case 'elu': return addon.unary(x, 'elu', {});
    case 'sigmoid': return addon.unary(x, 'sigmoid', {});
    case 'leakyrelu': return addon.unary(x, 'leakyRelu', { alpha: leakyAlpha ?? 0.2 });
    case 'prelu': return prelu && allF32(prelu) ? addon.binary(x, b.h(prelu), 'prelu') : null;
    default: return null;
  }
}
