/**
 * Argument validation shared by the op wrappers: one helper per kind of
 * argument, one wording (errors.ts). The native side re-checks everything
 * that could read or write out of bounds; these give typed, early errors
 * with the user's stack.
 */
import { describe, fail } from '../errors.js';
import { Tensor, type DType } from '../tensor.js';
import type { NativeHandle } from '../native.js';

/** A live tensor of the given dtype (and rank, if given); returns its handle. */
export function tensorArg(
  op: string,
  arg: string,
  t: unknown,
  opts: { rank?: number; layout?: string; dtype?: DType } = {},
): NativeHandle {
  if (!(t instanceof Tensor)) fail('SENET_ARG', op, arg, 'a Tensor', describe(t));
  const h = t.handle(op, arg);
  const dtype = opts.dtype ?? 'float32';
  // Mixed precision: a CUDA activation may be bfloat16 where float32 is asked (native/core/args.cc).
  const bf16 = dtype === 'float32' && t.dtype === 'bfloat16' && t.device !== 'cpu';
  if (t.dtype !== dtype && !bf16) fail('SENET_DTYPE', op, arg, `dtype ${dtype}`, t.dtype);
  if (opts.rank !== undefined && t.rank !== opts.rank)
    fail('SENET_SHAPE', op, arg, `a rank-${opts.rank} ${opts.layout ?? ''} tensor`.replace('  ', ' '), `shape [${t.shape}]`);
  return h;
}

/** All given tensors on one device. */
export function sameDevice(op: string, named: Record<string, Tensor | null | undefined>): void {
  let first: [string, Tensor] | null = null;
  for (const [name, t] of Object.entries(named)) {
    if (!t) continue;
    if (!first) first = [name, t];
    else if (t.device !== first[1].device) fail('SENET_DEVICE', op, name, `to be on ${first[1].device} like ${first[0]}`, t.device);
  }
}

export function expectShape(op: string, arg: string, t: Tensor, shape: readonly number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
    fail('SENET_SHAPE', op, arg, `shape [${shape}]`, `[${t.shape}]`);
}

function int(op: string, arg: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    fail('SENET_ARG', op, arg, `an integer >= ${min}`, describe(v));
  return v;
}

/** n or [a, b] -> [a, b] */
export function pair(op: string, arg: string, v: unknown, def: number, min: number): [number, number] {
  if (v === undefined) return [def, def];
  if (typeof v === 'number') return [int(op, arg, v, min), int(op, arg, v, min)];
  if (Array.isArray(v) && v.length === 2) return [int(op, `${arg}[0]`, v[0], min), int(op, `${arg}[1]`, v[1], min)];
  fail('SENET_ARG', op, arg, 'an integer or an array of 2 integers', describe(v));
}

export function positiveInt(op: string, arg: string, v: unknown, def: number): number {
  return v === undefined ? def : int(op, arg, v, 1);
}

export function finiteNumber(op: string, arg: string, v: unknown, def: number, min = -Infinity, max = Infinity): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    fail('SENET_ARG', op, arg, `a finite number in [${min}, ${max}]`, describe(v));
  return v;
}

export function oneOf<T extends string>(op: string, arg: string, v: unknown, def: T, allowed: readonly T[]): T {
  if (v === undefined) return def;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
    fail('SENET_ARG', op, arg, `one of ${allowed.join('|')}`, describe(v));
  return v as T;
}

export type Padding = number | [number, number] | [number, number, number, number] | 'same' | 'valid';

/**
 * Padding as [top, bottom, left, right]. A number pads all sides, [ph, pw]
 * pads symmetrically (PyTorch), four numbers are explicit; 'valid' is none
 * and 'same' is TensorFlow's (output = ceil(input / stride), the odd pixel
 * at the bottom/right).
 */
export function padding4(
  op: string,
  v: unknown,
  spatial: readonly [number, number],
  kernel: readonly [number, number],
  stride: readonly [number, number],
  dilation: readonly [number, number] = [1, 1],
): [number, number, number, number] {
  if (v === undefined || v === 'valid') return [0, 0, 0, 0];
  if (v === 'same') {
    const sides: number[] = [];
    for (let i = 0; i < 2; i++) {
      const out = Math.ceil(spatial[i]! / stride[i]!);
      const span = (kernel[i]! - 1) * dilation[i]! + 1;
      const total = Math.max((out - 1) * stride[i]! + span - spatial[i]!, 0);
      sides.push(Math.floor(total / 2), total - Math.floor(total / 2));
    }
    return [sides[0]!, sides[1]!, sides[2]!, sides[3]!];
  }
  if (typeof v === 'number') {
    const p = int(op, 'padding', v, 0);
    return [p, p, p, p];
  }
  if (Array.isArray(v) && v.length === 2) {
    const a = int(op, 'padding[0]', v[0], 0), b = int(op, 'padding[1]', v[1], 0);
    return [a, a, b, b];
  }
  if (Array.isArray(v) && v.length === 4)
    return v.map((x, i) => int(op, `padding[${i}]`, x, 0)) as [number, number, number, number];
  fail('SENET_ARG', op, 'padding', "'same', 'valid', an integer, [ph, pw] or [top, bottom, left, right]", describe(v));
}

/** Output size of a strided window. */
export function windowOut(input: number, k: number, stride: number, lo: number, hi: number, dil = 1): number {
  const span = dil * (k - 1) + 1;
  const padded = input + lo + hi;
  return padded < span ? 0 : Math.floor((padded - span) / stride) + 1;
}
