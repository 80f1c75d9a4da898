/**
 * The `senet` TensorFlow.js backend: tfjs-backend-cpu's MathBackendCPU
 * (whose kernels run everything senet does not accelerate) with a data
 * store whose entries can hold their data in senet's native memory.
 *
 * An entry (one per tfjs dataId) holds its data in one or both of
 *   - `native`: a senet tensor handle (float32, on the backend's device),
 *     what native kernels read and write, and
 *   - `host`: a TypedArray, what tfjs-backend-cpu's kernels read.
 * A native kernel's output starts native-only. When a cpu kernel reads
 * `values`, the entry waits for the queued work and, on the cpu device,
 * lends the kernel the native memory itself as a Float32Array (a borrowed
 * view, no copy: `hostViewBorrow`); the view is released (detached) when the
 * tfjs tensor is disposed, so the memory goes back to senet's allocator at
 * once. (A cpu kernel output that aliases a borrowed view - tfjs's Slice
 * returns subarrays - keeps it: that view then lives until garbage
 * collection.) What leaves tfjs for the user (dataSync(), data(), array())
 * is a copy in JavaScript memory, as with every tfjs backend that keeps its
 * data outside the JavaScript heap. Data written by tfjs (tf.tensor(), cpu
 * kernels) starts host-only and is copied to native memory once, the first
 * time a native kernel reads it. tfjs data is immutable, so both copies stay
 * valid.
 *
 * An entry may also be `lazy`: data a kernel described instead of computing
 * (zeros, x - mean, (x - mean)^2 of tfjs's batch statistics; provenance.ts),
 * computed the first time anything reads it, and may carry `facts` about
 * its data (what it was computed from) that let later kernels and gradients
 * take shorter ways through tfjs's batch-norm graph.
 *
 * On another device (SENET_TFJS_DEVICE=cuda) the same store keeps the native
 * data on the GPU and `values` becomes a copy to the host; native kernels
 * that have no CUDA implementation fall back to the cpu kernels.
 */
import { util, type BackendValues, type DataId, type DataType, type TensorInfo } from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { SenetError } from '../errors.js';
import { addon, type NativeHandle } from '../native.js';
import { computeLazy, releaseLazy, type Facts, type Lazy } from './provenance.js';
import { sameShape } from './kernels/util.js';

type H = NativeHandle;

/** Counters of what ran where, for benchmarks and the "where does the time go" question. */
export interface BackendStats {
  /** kernel name -> calls served by a native kernel */
  native: Map<string, number>;
  /** kernel name -> calls served by tfjs-backend-cpu's kernel */
  fallback: Map<string, number>;
  /** host -> native copies (tfjs-written data read by a native kernel) */
  uploads: number;
  uploadBytes: number;
  /** native data lent to cpu kernels as views (each waits for the queued work) */
  hostReads: number;
  /** native -> JavaScript copies (dataSync/data of native data) */
  hostCopies: number;
  /** relu gradients that read the fused squeeze-excite op's relu mask instead of relu's output */
  reluMaskReads: number;
}

/** One dataId's data (what `backend.data.get(dataId)` returns, as tfjs-backend-cpu expects). */
export class TensorEntry {
  dtype: DataType;
  refCount: number;
  complexTensorInfos?: { real: TensorInfo; imag: TensorInfo };
  /** the native tensor and its shape (tensors sharing the dataId may view it with other shapes) */
  native: H | null = null;
  nativeShape: number[] | null = null;
  /** host data: a JS TypedArray (tfjs-written, or a copy read for the user) or a borrowed view of `native` */
  host: BackendValues | null;
  /** the token of `host` when it is a borrowed view of `native` (0: it is not) */
  viewToken = 0;
  /** derived native tensors cached for this data: reshaped views, OHWI filters, pooling workspaces */
  derived: Map<string, H> | null = null;
  /** data described but not computed yet (computed on first read) */
  lazy: Lazy | null = null;
  /** what this data is known to be (provenance.ts) */
  facts: Facts | null = null;
  /** native tensors computed from this data and others, named by a key (memo()) */
  memo: { key: string; hs: H[] } | null = null;
  private readonly backend: SenetBackend;

  constructor(backend: SenetBackend, dtype: DataType, refCount: number, host: BackendValues | null) {
    this.backend = backend;
    this.dtype = dtype;
    this.refCount = refCount;
    this.host = host;
  }

  /** The host data tfjs-backend-cpu's kernels read (a borrowed view of the native data on first use). */
  get values(): BackendValues {
    this.materialize();
    if (this.host === null && this.native !== null) {
      const [view, token] = this.backend.borrowNative(this.native);
      this.host = view;
      this.viewToken = token;
    }
    return this.host as BackendValues;
  }
  set values(v: BackendValues) {
    this.releaseView();
    this.host = v;
    this.releaseNative();
    this.facts = null;
  }

  /** Ends the borrowed view's hold on the native memory (unless a cpu kernel output aliases it). */
  releaseView(): void {
    if (this.viewToken === 0) return;
    const view = this.host as unknown as ArrayBufferView;
    if (!this.backend.aliased.has(view.buffer)) addon.releaseHostView(view, this.viewToken);
    this.viewToken = 0;
    this.host = null;
  }

  /** Computes lazy data (a no-op for data that is there). */
  materialize(): void {
    const l = this.lazy;
    if (l === null) return;
    this.native = computeLazy(l);
    this.nativeShape = l.shape.slice();
    this.lazy = null;
    releaseLazy(l);
  }

  releaseNative(): void {
    if (this.lazy) releaseLazy(this.lazy);
    this.lazy = null;
    if (this.native) this.native.release();
    this.native = null;
    this.nativeShape = null;
    if (this.derived) for (const h of this.derived.values()) h.release();
    this.derived = null;
    if (this.memo) for (const h of this.memo.hs) h.release();
    this.memo = null;
  }
}

export interface SenetBackendOptions {
  /** where native data lives: 'cpu' (default) or 'cuda[:N]' (see the module comment) */
  device?: string;
  /** false: run every kernel with tfjs-backend-cpu (for comparisons) */
  native?: boolean;
}

export class SenetBackend extends MathBackendCPU {
  private static nextId = 0;
  readonly device: string;
  readonly nativeEnabled: boolean;
  readonly stats: BackendStats = { native: new Map(), fallback: new Map(), uploads: 0, uploadBytes: 0, hostReads: 0, hostCopies: 0, reluMaskReads: 0 };
  declare data: MathBackendCPU['data'];

  constructor(opts: SenetBackendOptions = {}) {
    super();
    this.device = opts.device === 'cuda' ? 'cuda:0' : (opts.device ?? 'cpu');
    this.nativeEnabled = opts.native ?? true;
    // A device this process does not have would send every kernel to the
    // JavaScript cpu kernels (each native call failing): say so instead.
    const info = addon.info();
    if (!info.devices.includes(this.device)) {
      const why = !info.cuda ? 'this build of senet has no CUDA' : info.cudaUnavailable ? `CUDA: ${info.cudaUnavailable}` : 'no such device';
      throw new SenetError('SENET_DEVICE', `senet/tfjs: expected device one of ${info.devices.join(', ')} (SENET_TFJS_DEVICE or the device option), got '${this.device}' (${why})`);
    }
  }

  private entry(dataId: DataId): TensorEntry {
    return this.data.get(dataId) as unknown as TensorEntry;
  }

  private put(e: TensorEntry): DataId {
    const dataId = { id: SenetBackend.nextId++ };
    (this.data as unknown as { set(d: DataId, v: TensorEntry): void }).set(dataId, e);
    return dataId;
  }

  // ------------------------------------------------------------ KernelBackend

  /** ArrayBuffers of borrowed views, and those a cpu kernel output aliases (never released early). */
  readonly lent = new WeakSet<ArrayBufferLike>();
  readonly aliased = new WeakSet<ArrayBufferLike>();

  private noteAlias(values: BackendValues): void {
    if (ArrayBuffer.isView(values) && this.lent.has(values.buffer)) this.aliased.add(values.buffer);
  }

  override write(values: BackendValues, shape: number[], dtype: DataType): DataId {
    this.noteAlias(values);
    return this.put(new TensorEntry(this, dtype, 1, values));
  }

  override move(dataId: DataId, values: BackendValues, shape: number[], dtype: DataType, refCount: number): void {
    this.noteAlias(values);
    (this.data as unknown as { set(d: DataId, v: TensorEntry): void }).set(dataId, new TensorEntry(this, dtype, refCount, values));
  }

  /** What leaves tfjs (dataSync, engine data moves, bufferSync): JavaScript memory, a copy of native data. */
  override readSync(dataId: DataId): BackendValues {
    const e = this.entry(dataId);
    e.materialize();
    if (e.dtype !== 'complex64' && e.native !== null && (e.host === null || e.viewToken !== 0)) {
      const copy = this.copyNative(e.native);
      e.releaseView();
      e.host = copy;
    }
    return super.readSync(dataId);
  }

  override async read(dataId: DataId): Promise<BackendValues> {
    const e = this.entry(dataId);
    e.materialize();
    if (e.dtype === 'complex64' || e.native === null || (e.host !== null && e.viewToken === 0)) return this.readSync(dataId);
    // The native copy waits for the queued work without blocking the event
    // loop and holds the data until it lands: a tensor disposed meanwhile
    // still reads (tfjs's contract for a read started while it was alive;
    // tfjs's debug-mode profiler relies on it).
    this.stats.hostCopies++;
    const copy = (await e.native.toArray()) as BackendValues;
    if (!this.data.has(dataId)) return util.convertBackendValuesAndArrayBuffer(copy, e.dtype);
    const now = this.entry(dataId);
    if (now === e && e.native !== null && (e.host === null || e.viewToken !== 0)) {
      e.releaseView();
      e.host = copy;
    }
    return this.readSync(dataId);
  }

  override disposeData(dataId: DataId, force = false): boolean {
    if (!this.data.has(dataId)) return true;
    const e = this.entry(dataId);
    e.refCount--;
    if (!force && e.refCount > 0) return false;
    if (e.complexTensorInfos) {
      this.disposeData(e.complexTensorInfos.real.dataId, true);
      this.disposeData(e.complexTensorInfos.imag.dataId, true);
    }
    e.releaseView();
    e.releaseNative();
    e.host = null;
    this.data.delete(dataId);
    return true;
  }

  override async time(f: () => void): Promise<{ kernelMs: number }> {
    const t0 = performance.now();
    f();
    await addon.sync();
    return { kernelMs: performance.now() - t0 };
  }

  override memory(): { unreliable: boolean; reasons: string[] } {
    return {
      unreliable: true,
      reasons: ['tfjs-written data is counted by the garbage collector; native data is in senet.memory()'],
    };
  }

  // ------------------------------------------------------------ native data

  /** Host data of a native tensor for a cpu kernel: a borrowed view on cpu (no copy; token != 0), a copy elsewhere. */
  borrowNative(h: H): [BackendValues, number] {
    this.stats.hostReads++;
    if (this.device !== 'cpu') return [h.toArraySync() as BackendValues, 0];
    const [view, token] = addon.hostViewBorrow(h);
    if (token !== 0) this.lent.add(view.buffer);
    return [view as BackendValues, token];
  }

  /** A copy of a native tensor in JavaScript memory (what the user gets). */
  copyNative(h: H): BackendValues {
    this.stats.hostCopies++;
    return h.toArraySync() as BackendValues;
  }

  /** Whether a tensor's data already lives in native memory (no upload needed). */
  isNative(t: TensorInfo): boolean {
    const e = this.entry(t.dataId);
    return e.native !== null || e.lazy !== null;
  }

  /** What t's data is known to be (null: nothing). */
  facts(t: TensorInfo): Facts | null {
    return this.entry(t.dataId).facts;
  }

  /** Whether every element of t is known to be zero. */
  knownZero(t: TensorInfo): boolean {
    return this.entry(t.dataId).facts?.zero === true;
  }

  /** The lazy description of t's data, if it has not been computed. */
  lazyOf(t: TensorInfo): Lazy | null {
    return this.entry(t.dataId).lazy;
  }

  /** A tfjs tensor (info) of data described by `lazy` (owned by the entry from now on). */
  lazyOut(lazy: Lazy, facts: Facts): TensorInfo {
    const e = new TensorEntry(this, 'float32', 1, null);
    e.lazy = lazy;
    e.facts = facts;
    return { dataId: this.put(e), shape: lazy.shape.slice(), dtype: 'float32' };
  }

  /** Describes t's (still lazy) data anew (the old description released). */
  relazy(t: TensorInfo, lazy: Lazy): void {
    const e = this.entry(t.dataId);
    const old = e.lazy;
    e.lazy = lazy;
    if (old) releaseLazy(old);
  }

  /** Records what t's data is known to be. */
  note(t: TensorInfo, facts: Facts): TensorInfo {
    this.entry(t.dataId).facts = facts;
    return t;
  }

  /** The native float32 tensor of `t`, with t's shape (uploads tfjs-written data once). */
  h(t: TensorInfo): H {
    const e = this.entry(t.dataId);
    e.materialize();
    let h = e.native;
    if (h === null) {
      let v = e.values as unknown;
      if (!(v instanceof Float32Array)) v = Float32Array.from(v as ArrayLike<number>);
      h = addon.fromData(v as Float32Array, t.shape, 'float32', this.device);
      this.stats.uploads++;
      this.stats.uploadBytes += (v as Float32Array).byteLength;
      e.native = h;
      e.nativeShape = t.shape.slice();
    }
    if (sameShape(e.nativeShape!, t.shape)) return h;
    return this.derive(t, `shape:${t.shape.join(',')}`, () => addon.reshape(h!, t.shape));
  }

  /** A native tensor computed from `t` once and kept with t's data (transposed filters, views). */
  derive(t: TensorInfo, key: string, make: () => H): H {
    const e = this.entry(t.dataId);
    if (!e.derived) e.derived = new Map();
    let d = e.derived.get(key);
    if (!d) {
      d = make();
      e.derived.set(key, d);
    }
    return d;
  }

  private readonly uids = new WeakMap<DataId, number>();
  private nextUid = 1;

  /** A number naming t's data, unique in this process (dataIds moved from other backends may repeat their ids). */
  uid(t: TensorInfo): number {
    let u = this.uids.get(t.dataId);
    if (u === undefined) this.uids.set(t.dataId, (u = this.nextUid++));
    return u;
  }

  /**
   * Native tensors computed from t's data and other data that `key` names,
   * kept with t's data until another key replaces them (one set per tensor:
   * a filter's batch-norm fold). `owned`: t's data is gone, the caller
   * releases them.
   */
  memo(t: TensorInfo, key: string, make: () => H[] | null): { hs: H[]; owned: boolean } | null {
    if (!this.data.has(t.dataId)) {
      const hs = make();
      return hs && { hs, owned: true };
    }
    const e = this.entry(t.dataId);
    if (e.memo?.key === key) return { hs: e.memo.hs, owned: false };
    const hs = make();
    if (!hs) return null;
    if (e.memo) for (const h of e.memo.hs) h.release();
    e.memo = { key, hs };
    return { hs, owned: false };
  }

  /** A derived tensor cached with t's data, if any. */
  derived(t: TensorInfo, key: string): H | undefined {
    return this.data.has(t.dataId) ? this.entry(t.dataId).derived?.get(key) : undefined;
  }

  /** A tfjs tensor (info) owning native tensor `h` of shape `shape`. */
  out(h: H, shape: readonly number[]): TensorInfo {
    const e = new TensorEntry(this, 'float32', 1, null);
    e.native = h;
    e.nativeShape = shape.slice();
    return { dataId: this.put(e), shape: shape.slice(), dtype: 'float32' };
  }

  /**
   * Computes the data of lazy tensors (queues it; provenance.ts): what a
   * benchmark must do before it waits, since lazy data is otherwise computed
   * only when something reads it.
   */
  compute(ts: readonly TensorInfo[]): void {
    for (const t of ts) if (this.data.has(t.dataId)) this.entry(t.dataId).materialize();
  }

  /** Waits for every queued native op (tests and benchmarks). */
  sync(): Promise<void> {
    return addon.sync();
  }
  syncSync(): void {
    addon.syncSync();
  }

  /** Zeroes the counters. */
  resetStats(): void {
    this.stats.native.clear();
    this.stats.fallback.clear();
    this.stats.uploads = 0;
    this.stats.uploadBytes = 0;
    this.stats.hostReads = 0;
    this.stats.hostCopies = 0;
    this.stats.reluMaskReads = 0;
  }
}
