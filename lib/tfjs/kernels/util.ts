/** Shared pieces of the native tfjs kernels. */
import type { NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { addon, type NativeHandle } from '../../native.js';
import type { SenetBackend } from '../backend.js';
import { provenance } from '../provenance.js';

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

/** The last dimension of a (rank >= 1) shape. */
export function last(shape: readonly number[]): number {
  return shape[shape.length - 1]!;
}

/** Whether the kernels follow tfjs's graph (provenance.ts): on, and on the cpu device. */
export function following(b: SenetBackend): boolean {
  return provenance.enabled && b.device === 'cpu';
}

/** h with shape `shape` (h itself, or a view of it with h released). */
export function reshaped(h: H, shape: readonly number[]): H {
  if (sameShape(h.shape, shape)) return h;
  const v = addon.reshape(h, shape as number[]);
  h.release();
  return v;
}

/** A tensor info owning native tensor h, with shape `shape` (a view of h where its shape differs). */
export function outAs(b: SenetBackend, h: H, shape: readonly number[]): TensorInfo {
  return b.out(reshaped(h, shape), shape);
}

/** Whether two shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A handle of its own on h's data (lazy data holds its inputs this way). */
export function hold(h: H): H {
  return addon.reshape(h, h.shape);
}

/** Batch norm as a per-channel affine map, y = x * k + shift: k = scale / sqrt(var + eps), shift = offset - mean * k. */
export function bnAffine(b: SenetBackend, scale: H, offset: H, mean: H, variance: H, eps: number): [H, H] {
  const e = addon.full([1], eps, 'float32', b.device);
  const ve = addon.binary(variance, e, 'add'), r = addon.unary(ve, 'rsqrt', {}), k = addon.binary(r, scale, 'mul');
  const mk = addon.binary(mean, k, 'mul'), shift = addon.binary(offset, mk, 'sub');
  release(e, ve, r, mk);
  return [k, shift];
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
