/** Shared helpers of the data pipeline: error construction and option checks. */
import { SenetError, fail, describe } from '../errors.js';

/** SENET_IO "<op>: <file> at byte <offset>: <what>". */
export function ioError(op: string, file: string, offset: number, what: string): never {
  throw new SenetError('SENET_IO', `${op}: ${file} at byte ${offset}: ${what}`);
}

/** SENET_IO "<op>: <message>" (for problems without a byte offset). */
export function ioFail(op: string, message: string, cause?: unknown): never {
  throw new SenetError('SENET_IO', `${op}: ${message}`, cause === undefined ? undefined : { cause });
}

export function checkInt(op: string, arg: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    const what =
      max === Number.MAX_SAFE_INTEGER
        ? min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer >= ${min}`
        : `an integer in [${min}, ${max}]`;
    fail('SENET_ARG', op, arg, what, describe(v));
  }
  return v;
}

export function checkNumber(op: string, arg: string, v: unknown, lo: number, hi: number, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) fail('SENET_ARG', op, arg, what, describe(v));
  return v;
}

export function checkBool(op: string, arg: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') fail('SENET_ARG', op, arg, 'a boolean', describe(v));
  return v;
}

export function checkOneOf<T extends string>(op: string, arg: string, v: unknown, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
    fail('SENET_ARG', op, arg, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, describe(v));
  return v as T;
}

/** [H, W] of positive integers. */
export function checkSize(op: string, arg: string, v: unknown): [number, number] {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((d) => Number.isInteger(d) && d > 0))
    fail('SENET_ARG', op, arg, 'a [height, width] pair of positive integers', Array.isArray(v) ? `[${v.map(String).join(', ')}]` : describe(v));
  return [v[0], v[1]];
}

/** Byte value -> float32 in [0, 1]. */
export const U8_TO_UNIT: Float32Array = (() => {
  const t = new Float32Array(256);
  for (let i = 0; i < 256; i++) t[i] = i / 255;
  return t;
})();

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}
