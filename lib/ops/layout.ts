/** Data movement: transpose (any permutation), tile, constant padding and strided slices. */
import { addon } from '../native.js';
import { describe, fail, native } from '../errors.js';
import { Tensor, wrapOut } from '../tensor.js';
import { tensorArg } from './check.js';

function intList(op: string, arg: string, v: unknown, n: number, min: number): number[] {
  if (!Array.isArray(v) || v.length !== n)
    fail('SENET_ARG', op, arg, `an array of ${n} integers (one per dimension of x)`, describe(v));
  return v.map((d, i) => {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < min) fail('SENET_ARG', op, `${arg}[${i}]`, `an integer >= ${min}`, describe(d));
    return d;
  });
}

/** y.shape[i] = x.shape[perm[i]]. */
export function transpose(x: Tensor, perm: readonly number[]): Tensor<'float32'> {
  const op = 'transpose';
  const hx = tensorArg(op, 'x', x);
  const p = intList(op, 'perm', perm, x.rank, 0);
  const seen = new Set<number>();
  for (const a of p) {
    if (a >= x.rank || seen.has(a)) fail('SENET_ARG', op, 'perm', `a permutation of 0..${x.rank - 1}`, `[${p}]`);
    seen.add(a);
  }
  return wrapOut(native(() => addon.transpose(hx, p)));
}

/** x repeated reps[i] times along axis i. */
export function tile(x: Tensor, reps: readonly number[]): Tensor<'float32'> {
  const op = 'tile';
  const hx = tensorArg(op, 'x', x);
  const r = intList(op, 'reps', reps, x.rank, 0);
  return wrapOut(native(() => addon.tile(hx, r)));
}

/** x with paddings[i] = [before, after] elements of `value` around axis i. */
export function pad(x: Tensor, paddings: ReadonlyArray<readonly [number, number]>, value = 0): Tensor<'float32'> {
  const op = 'pad';
  const hx = tensorArg(op, 'x', x);
  if (!Array.isArray(paddings) || paddings.length !== x.rank)
    fail('SENET_ARG', op, 'paddings', `an array of ${x.rank} [before, after] pairs`, describe(paddings));
  const before: number[] = [], after: number[] = [];
  paddings.forEach((p, i) => {
    const [b, a] = intList(op, `paddings[${i}]`, p, 2, 0);
    before.push(b!);
    after.push(a!);
  });
  if (typeof value !== 'number') fail('SENET_ARG', op, 'value', 'a number', describe(value));
  return wrapOut(native(() => addon.pad(hx, before, after, value)));
}

/** y[i...] = x[begin + i * strides] for i < size along every axis (strides default 1). */
export function slice(x: Tensor, begin: readonly number[], size: readonly number[], strides?: readonly number[]): Tensor<'float32'> {
  const op = 'slice';
  const hx = tensorArg(op, 'x', x);
  const b = intList(op, 'begin', begin, x.rank, 0), n = intList(op, 'size', size, x.rank, 0);
  const s = strides === undefined ? b.map(() => 1) : intList(op, 'strides', strides, x.rank, 1);
  b.forEach((v, i) => {
    if (n[i]! > 0 && v + (n[i]! - 1) * s[i]! >= x.shape[i]!)
      fail('SENET_SHAPE', op, 'size', `a slice inside x [${x.shape}] (axis ${i}: begin ${v}, stride ${s[i]})`, `${n[i]} elements along axis ${i}`);
  });
  return wrapOut(native(() => addon.slice(hx, b, n, s)));
}
