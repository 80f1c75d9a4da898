/**
 * SenetError: every error senet throws on purpose. `code` is stable
 * (SENET_SHAPE, SENET_DTYPE, SENET_DEVICE, SENET_DISPOSED, SENET_ARG,
 * SENET_OOM, SENET_DNNL, SENET_CUDA, SENET_CUDNN, SENET_CUBLAS, SENET_IO,
 * SENET_KERNEL, SENET_INTERNAL); the message names the op and the argument
 * and says what was expected and what was given, in one wording:
 *   "<op>: expected <arg> <expected>, got <given>"
 */
export type SenetErrorCode =
  | 'SENET_SHAPE'
  | 'SENET_DTYPE'
  | 'SENET_DEVICE'
  | 'SENET_DISPOSED'
  | 'SENET_ARG'
  | 'SENET_OOM'
  | 'SENET_DNNL'
  | 'SENET_CUDA'
  | 'SENET_CUDNN'
  | 'SENET_CUBLAS'
  | 'SENET_IO'
  | 'SENET_KERNEL'
  | 'SENET_INTERNAL';

export class SenetError extends Error {
  readonly code: SenetErrorCode;
  constructor(code: SenetErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SenetError';
    this.code = code;
  }
}

/** Throws "<op>: expected <arg> <expected>, got <given>". */
export function fail(code: SenetErrorCode, op: string, arg: string, expected: string, given: string): never {
  throw new SenetError(code, `${op}: expected ${arg} ${expected}, got ${given}`);
}

/** A short description of any value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'string') return `string '${v.length > 40 ? v.slice(0, 40) + '…' : v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${String(v)}`;
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (typeof v === 'function') return 'a function';
  const name = (v as object).constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}

const CODES = new Set<string>([
  'SENET_SHAPE', 'SENET_DTYPE', 'SENET_DEVICE', 'SENET_DISPOSED', 'SENET_ARG', 'SENET_OOM', 'SENET_DNNL',
  'SENET_CUDA', 'SENET_CUDNN', 'SENET_CUBLAS', 'SENET_IO', 'SENET_KERNEL', 'SENET_INTERNAL',
]);

/**
 * Converts an error thrown by the native addon into a SenetError. Created
 * here, on the caller's stack, so the trace points at the user's call.
 */
export function fromNative(e: unknown): Error {
  if (e instanceof SenetError) return e;
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CODES.has(code)) return new SenetError(code as SenetErrorCode, e.message);
  }
  return e instanceof Error ? e : new Error(String(e));
}

/** Runs a native call, re-throwing its errors as SenetError. */
export function native<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fromNative(e);
  }
}
