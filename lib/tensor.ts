/**
 * Tensors: float32 (and int32/uint8 helpers) in native memory, NHWC for
 * activations. Creation, reading, lifetime (dispose, tidy, keep and a
 * FinalizationRegistry safety net), memory accounting and the global seed.
 */
import { addon, type NativeHandle } from './native.js';
import { SenetError, describe, fail, fromNative, native } from './errors.js';

export type DType = 'float32' | 'int32' | 'uint8' | 'bfloat16';
export type Device = 'cpu' | `cuda:${number}` | 'cuda';
export type Shape = readonly number[];

export interface DataTypeMap {
  float32: Float32Array;
  int32: Int32Array;
  uint8: Uint8Array;
  bfloat16: Uint16Array;
}

/** Anything tensor(): a TypedArray, a flat or nested array of numbers. */
export type TensorLike = ArrayLike<number> | NestedArray;
interface NestedArray extends ReadonlyArray<number | NestedArray> {}

export interface CreateOptions {
  dtype?: DType;
  device?: Device;
}

const DTYPES = new Set<string>(['float32', 'int32', 'uint8', 'bfloat16']);

// ---------------------------------------------------------------- scopes

interface Scope {
  tracked: Set<Tensor>;
}
const scopes: Scope[] = [];

let leaked = 0;
const registry = new FinalizationRegistry<NativeHandle>((h) => {
  // A tensor was garbage-collected without dispose(): free it now.
  if (!h.released) {
    leaked++;
    h.release();
  }
});

export class Tensor<D extends DType = DType> {
  readonly shape: Shape;
  readonly dtype: D;
  readonly device: Device;
  /** @internal the native handle; null once disposed */
  _h: NativeHandle | null;

  /** @internal tensors are made by senet's functions, not with `new` */
  constructor(handle: NativeHandle) {
    this._h = handle;
    this.shape = Object.freeze(handle.shape.slice());
    this.dtype = handle.dtype as D;
    this.device = handle.device as Device;
    registry.register(this, handle, this);
    const top = scopes[scopes.length - 1];
    if (top) top.tracked.add(this);
  }

  /** Number of elements. */
  get size(): number {
    let n = 1;
    for (const d of this.shape) n *= d;
    return n;
  }
  get rank(): number {
    return this.shape.length;
  }
  get disposed(): boolean {
    return this._h === null;
  }

  /** @internal the handle, or a SENET_DISPOSED error naming op and argument */
  handle(op: string, arg: string): NativeHandle {
    if (this._h === null) fail('SENET_DISPOSED', op, arg, 'a live tensor', `a disposed tensor of shape [${this.shape}]`);
    return this._h;
  }

  /** Copies the data to a new TypedArray once the queued work that produces it has run. */
  async toArray(): Promise<DataTypeMap[D]> {
    const h = this.handle('toArray', 'tensor');
    try {
      return (await h.toArray()) as DataTypeMap[D];
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Like toArray(), blocking the calling thread until the data is ready. */
  toArraySync(): DataTypeMap[D] {
    const h = this.handle('toArraySync', 'tensor');
    return native(() => h.toArraySync()) as DataTypeMap[D];
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) fail('SENET_SHAPE', 'item', 'tensor', 'one element', `shape [${this.shape}]`);
    return this.toArraySync()[0]!;
  }

  /** Nested JS arrays (for printing and small tests). */
  toNested(): unknown {
    const data = Array.from(this.toArraySync() as ArrayLike<number>);
    const build = (dim: number, offset: number): unknown => {
      if (dim === this.shape.length) return data[offset];
      let stride = 1;
      for (let i = dim + 1; i < this.shape.length; i++) stride *= this.shape[i]!;
      return Array.from({ length: this.shape[dim]! }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }

  /** A tensor of another shape over the same memory (no copy). */
  reshape(shape: Shape): Tensor<D> {
    const h = this.handle('reshape', 'x');
    return new Tensor<D>(native(() => addon.reshape(h, checkShape('reshape', 'shape', shape))));
  }

  /**
   * This tensor on another device (a copy; on the same device, a clone).
   * Crossing devices goes through host memory: meant for parameters and
   * results, not for a training step's hot path (upload batches with
   * tensor(data, shape, { device })).
   */
  to(device: Device): Tensor<D> {
    const h = this.handle('to', 'x');
    if (device === this.device) return this.clone();
    const data = native(() => h.toArraySync());
    return new Tensor<D>(native(() => addon.fromData(data, [...this.shape], this.dtype, device)));
  }

  /** A copy with its own memory. */
  clone(): Tensor<D> {
    const h = this.handle('clone', 'x');
    return new Tensor<D>(native(() => addon.clone(h)));
  }

  /** Frees the memory (when no queued work still uses it). Idempotent. */
  dispose(): void {
    if (this._h === null) return;
    registry.unregister(this);
    for (const s of scopes) s.tracked.delete(this);
    this._h.release();
    this._h = null;
  }

  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape}], ${this.disposed ? 'disposed' : this.device})`;
  }
}

// ---------------------------------------------------------------- lifetime

/** A value tidy() can return: tensors, arrays and plain objects of them. */
export type TensorContainer = Tensor | TensorContainer[] | { [k: string]: TensorContainer } | null | undefined | void | number | string | boolean;

function collect(v: unknown, out: Set<Tensor>, seen = new Set<unknown>()): void {
  if (v instanceof Tensor) {
    out.add(v);
    return;
  }
  if (v === null || typeof v !== 'object' || seen.has(v)) return;
  seen.add(v);
  if (Array.isArray(v)) for (const x of v) collect(x, out, seen);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collect(x, out, seen);
}

/**
 * Runs fn and disposes every tensor created inside it, except those it
 * returns (which move to the enclosing scope) and those passed to keep().
 * fn must be synchronous, as in tfjs.
 */
export function tidy<T extends TensorContainer>(fn: () => T): T {
  const scope: Scope = { tracked: new Set() };
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise)
      fail('SENET_ARG', 'tidy', 'fn', 'a synchronous function', 'a function returning a Promise');
  } finally {
    scopes.pop();
  }
  const keep = new Set<Tensor>();
  collect(result, keep);
  for (const t of scope.tracked) if (!keep.has(t)) t.dispose();
  const parent = scopes[scopes.length - 1];
  if (parent) for (const t of keep) if (!t.disposed) parent.tracked.add(t);
  return result;
}

/** Excludes a tensor from the enclosing tidy() scopes. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.tracked.delete(t);
  return t;
}

/** Disposes tensors in any container. */
export function dispose(v: TensorContainer): void {
  const ts = new Set<Tensor>();
  collect(v, ts);
  for (const t of ts) t.dispose();
}

export interface DeviceMemory {
  /** live tensors (handles not yet disposed) */
  tensors: number;
  /** bytes viewed by live tensors */
  bytes: number;
  /** storages alive (live tensors, views and queued work) */
  storages: number;
  allocatedBytes: number;
  peakAllocatedBytes: number;
  /** freed blocks kept for reuse (emptyCache() returns them) */
  cachedBytes?: number;
  /** CUDA (device 0; `perDevice` for each): bytes held from the driver by the caching allocator */
  reservedBytes?: number;
  /** CUDA: bytes of the reserved blocks handed out (tensors and kernel scratch) */
  inUseBytes?: number;
  peakReservedBytes?: number;
  cacheHits?: number;
  cacheMisses?: number;
  /** CUDA: the device's free and total memory (cudaMemGetInfo) */
  deviceFreeBytes?: number;
  deviceTotalBytes?: number;
  perDevice?: Record<string, Omit<DeviceMemory, 'tensors' | 'bytes' | 'storages' | 'allocatedBytes' | 'peakAllocatedBytes' | 'perDevice'>>;
}
export interface MemoryInfo {
  tensors: number;
  bytes: number;
  /** tensors freed by the garbage collector instead of dispose() */
  leaked: number;
  devices: Record<string, DeviceMemory>;
}

export function memory(): MemoryInfo {
  const m = native(() => addon.memory());
  const devices: Record<string, DeviceMemory> = { cpu: m.cpu };
  if (m.cuda) devices['cuda'] = m.cuda;
  let tensors = 0,
    bytes = 0;
  for (const d of Object.values(devices)) {
    tensors += d.tensors;
    bytes += d.bytes;
  }
  return { tensors, bytes, leaked, devices };
}

/** Returns cached free blocks to the system. */
export function emptyCache(): void {
  native(() => addon.emptyCache());
}

/** Resolves when every queued op has run; rejects with the first asynchronous error. */
export async function sync(): Promise<void> {
  try {
    await addon.sync();
  } catch (e) {
    throw fromNative(e);
  }
}
export function syncSync(): void {
  native(() => addon.syncSync());
}

export function setNumThreads(n: number): void {
  native(() => addon.setNumThreads(n));
}
export function getNumThreads(): number {
  return addon.getNumThreads();
}

// ---------------------------------------------------------------- creation

/** @internal validates a shape: an array of non-negative integers. */
export function checkShape(op: string, arg: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) fail('SENET_SHAPE', op, arg, 'an array of dimensions', describe(shape));
  shape.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0)
      fail('SENET_SHAPE', op, `${arg}[${i}]`, 'a non-negative integer dimension', describe(d));
  });
  return shape as number[];
}

function checkDType(op: string, dtype: unknown): DType {
  if (typeof dtype !== 'string' || !DTYPES.has(dtype))
    fail('SENET_DTYPE', op, 'dtype', 'one of float32|int32|uint8|bfloat16', describe(dtype));
  return dtype as DType;
}

function inferShape(data: unknown): number[] {
  const shape: number[] = [];
  let v: unknown = data;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0];
  }
  return shape;
}

function flatten(data: unknown, out: number[]): void {
  if (Array.isArray(data)) for (const x of data) flatten(x, out);
  else out.push(data as number);
}

const ARRAY_TYPES = {
  float32: Float32Array,
  int32: Int32Array,
  uint8: Uint8Array,
  bfloat16: Uint16Array,
} as const;

/**
 * A tensor from data. Nested arrays give their own shape; flat data needs
 * `shape` (or becomes 1-D). The data is copied.
 */
export function tensor<D extends DType = 'float32'>(
  data: TensorLike,
  shape?: Shape,
  opts: CreateOptions & { dtype?: D } = {},
): Tensor<D> {
  const op = 'tensor';
  const dtype = checkDType(op, opts.dtype ?? (data instanceof Int32Array ? 'int32' : 'float32')) as D;
  const device = opts.device ?? 'cpu';
  let flat: ArrayLike<number>;
  let inferred: number[];
  if (ArrayBuffer.isView(data)) {
    flat = data as unknown as ArrayLike<number>;
    inferred = [flat.length];
  } else if (Array.isArray(data)) {
    inferred = inferShape(data);
    const out: number[] = [];
    flatten(data, out);
    flat = out;
  } else if (data && typeof (data as ArrayLike<number>).length === 'number') {
    flat = data as ArrayLike<number>;
    inferred = [flat.length];
  } else {
    fail('SENET_ARG', op, 'data', 'a TypedArray or an array of numbers', describe(data));
  }
  const s = shape ? checkShape(op, 'shape', shape) : inferred;
  const Ctor = ARRAY_TYPES[dtype];
  let typed: ArrayBufferView;
  if (flat instanceof Ctor) typed = flat;
  else {
    for (let i = 0; i < flat.length; i++) {
      const v = flat[i];
      if (typeof v !== 'number') fail('SENET_ARG', op, `data[${i}]`, 'a number', describe(v));
    }
    typed = Ctor.from(flat as ArrayLike<number>);
  }
  return new Tensor<D>(native(() => addon.fromData(typed, s, dtype, device)));
}

export function full<D extends DType = 'float32'>(shape: Shape, value: number, opts: CreateOptions & { dtype?: D } = {}): Tensor<D> {
  const op = 'full';
  const s = checkShape(op, 'shape', shape);
  const dtype = checkDType(op, opts.dtype ?? 'float32');
  if (typeof value !== 'number') fail('SENET_ARG', op, 'value', 'a number', describe(value));
  return new Tensor<D>(native(() => addon.full(s, value, dtype, opts.device ?? 'cpu')));
}

export function zeros<D extends DType = 'float32'>(shape: Shape, opts: CreateOptions & { dtype?: D } = {}): Tensor<D> {
  return full(shape, 0, opts);
}

export function ones<D extends DType = 'float32'>(shape: Shape, opts: CreateOptions & { dtype?: D } = {}): Tensor<D> {
  return full(shape, 1, opts);
}

// ---------------------------------------------------------------- seeds

let seedState = 0x5eed5eedn;

/** Sets the global seed: randn()/randu() calls without a seed follow from it. */
export function setSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) fail('SENET_ARG', 'setSeed', 'seed', 'a non-negative safe integer', describe(seed));
  seedState = BigInt(seed);
}

/** Next seed of the global sequence (splitmix64, reduced to 53 bits). */
export function nextSeed(): number {
  seedState = (seedState + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
  let z = seedState;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
  z = z ^ (z >> 31n);
  return Number(z & 0x1fffffffffffffn);
}

/** The state of the global seed sequence (for checkpoints). */
export function getSeedState(): string {
  return seedState.toString();
}
export function setSeedState(state: string): void {
  seedState = BigInt(state);
}

export interface RandomOptions {
  seed?: number;
  device?: Device;
}

/** Normal samples (Philox4x32-10 + Box-Muller): the same values on every device and thread count. */
export function randn(shape: Shape, opts: RandomOptions & { mean?: number; std?: number } = {}): Tensor<'float32'> {
  const s = checkShape('randn', 'shape', shape);
  const seed = opts.seed ?? nextSeed();
  return new Tensor(native(() => addon.randn(s, seed, opts.mean ?? 0, opts.std ?? 1, opts.device ?? 'cpu')));
}

/** Uniform samples in [low, high). */
export function randu(shape: Shape, opts: RandomOptions & { low?: number; high?: number } = {}): Tensor<'float32'> {
  const s = checkShape('randu', 'shape', shape);
  const seed = opts.seed ?? nextSeed();
  return new Tensor(native(() => addon.randu(s, seed, opts.low ?? 0, opts.high ?? 1, opts.device ?? 'cpu')));
}

/** @internal: a live handle of a tensor argument, with op/arg in the error */
export function h(op: string, arg: string, t: unknown): NativeHandle {
  if (!(t instanceof Tensor)) fail('SENET_ARG', op, arg, 'a Tensor', describe(t));
  return t.handle(op, arg);
}

/** @internal: wraps native output handles */
export function wrapOut(x: NativeHandle): Tensor<'float32'>;
export function wrapOut(x: NativeHandle | null): Tensor<'float32'> | null;
export function wrapOut(x: NativeHandle | null): Tensor<'float32'> | null {
  return x ? new Tensor(x) : null;
}

export { SenetError };
