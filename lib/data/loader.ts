/**
 * DataLoader: batches of a Dataset per epoch, in an order and with
 * augmentations that depend only on (seed, epoch), prepared ahead of the
 * consumer. Sample order of epoch e comes from Rng(deriveSeed(seed, e)); the
 * augmentations of the sample at position p of epoch e from
 * Rng(deriveSeed(seed, e, p)), so any epoch can be replayed on its own.
 *
 * Batches are built on the main thread in macrotasks (one batch's worth of
 * synchronous samples per task), so they fill the time the consumer spends
 * awaiting the engine; async datasets (image folders) keep up to
 * `concurrency` get() calls in flight, across batch boundaries.
 */
import { fail, describe } from '../errors.js';
import { type Dataset, type U8Source, u8Source } from './dataset.js';
import { compileAugment, type Augment, type AugmentPipeline } from './augment.js';
import { Rng, deriveSeed } from './rng.js';
import { checkBool, checkInt, isThenable } from './util.js';

export interface LoaderOptions {
  batchSize: number;
  /** default true */
  shuffle?: boolean;
  /** default 0 */
  seed?: number;
  /** default false */
  dropLast?: boolean;
  /**
   * class-balanced sampling: each epoch visits classes round-robin (each
   * round a fresh random order of the non-empty classes), taking the next
   * index of that class's list (shuffled per epoch, reshuffled when
   * exhausted); epoch length = dataset length
   */
  balanced?: boolean;
  /** applied in order to each sample */
  augment?: Augment[];
  /** batches prepared ahead of the one the consumer asked for (default 2) */
  prefetch?: number;
  /** parallel async get() calls (default 8) */
  concurrency?: number;
}

export interface Batch {
  /** [size, H, W, C] float32 NHWC */
  x: Float32Array;
  shape: [number, number, number, number];
  labels: Int32Array;
  /** dataset index of every sample */
  indices: Int32Array;
  size: number;
}

export class DataLoader {
  readonly dataset: Dataset;
  readonly outputShape: [number, number, number];
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly balanced: boolean;
  readonly prefetch: number;
  readonly concurrency: number;
  /** @internal */ readonly pipeline: AugmentPipeline;
  /** @internal uint8 pixels to augment from directly (in-memory datasets with augmentations) */
  readonly u8: U8Source | undefined;
  private byClass: Int32Array[] | undefined;

  constructor(ds: Dataset, o: LoaderOptions) {
    const op = 'DataLoader';
    if (ds === null || typeof ds !== 'object' || typeof ds.get !== 'function' || !Number.isInteger(ds.length))
      fail('SENET_ARG', op, 'ds', 'a Dataset', describe(ds));
    if (o === null || typeof o !== 'object') fail('SENET_ARG', op, 'o', 'an options object with batchSize', describe(o));
    const ss = ds.sampleShape;
    if (!Array.isArray(ss) || ss.length !== 3 || !ss.every((d) => Number.isInteger(d) && d > 0))
      fail('SENET_ARG', op, 'ds.sampleShape', 'an [H, W, C] triple of positive integers', describe(ss));
    if (!(ds.labels instanceof Int32Array) || ds.labels.length !== ds.length)
      fail('SENET_ARG', op, 'ds.labels', `an Int32Array of length ${ds.length}`, describe(ds.labels));
    this.dataset = ds;
    this.batchSize = checkInt(op, 'o.batchSize', o.batchSize, 1);
    this.shuffle = checkBool(op, 'o.shuffle', o.shuffle, true);
    this.seed = o.seed === undefined ? 0 : o.seed;
    if (!Number.isSafeInteger(this.seed)) fail('SENET_ARG', op, 'o.seed', 'a safe integer', describe(o.seed));
    this.dropLast = checkBool(op, 'o.dropLast', o.dropLast, false);
    this.balanced = checkBool(op, 'o.balanced', o.balanced, false);
    this.prefetch = o.prefetch === undefined ? 2 : checkInt(op, 'o.prefetch', o.prefetch, 0);
    this.concurrency = o.concurrency === undefined ? 8 : checkInt(op, 'o.concurrency', o.concurrency, 1);
    this.pipeline = compileAugment(o.augment, ss, op, 'o.augment');
    this.outputShape = [...this.pipeline.outShape];
    const src = u8Source(ds);
    this.u8 = src && this.pipeline.length > 0 && this.pipeline.takesU8 && src.sampleSize === ss[0] * ss[1] * ss[2] ? src : undefined;
  }

  /** Samples per epoch (balanced or not: the dataset length). */
  get epochLength(): number {
    return this.dataset.length;
  }

  numBatches(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Dataset indices of epoch e in visiting order (the first numBatches() * batchSize, or all, are used). */
  order(e: number): Int32Array {
    checkInt('DataLoader.order', 'e', e, 0);
    const N = this.dataset.length;
    const rng = new Rng(deriveSeed(this.seed, e));
    if (!this.balanced) {
      const a = new Int32Array(N);
      for (let i = 0; i < N; i++) a[i] = i;
      return this.shuffle ? rng.shuffle(a) : a;
    }
    if (!this.byClass) {
      const lab = this.dataset.labels;
      const counts = new Map<number, number>();
      for (let i = 0; i < N; i++) counts.set(lab[i], (counts.get(lab[i]) ?? 0) + 1);
      const classes = [...counts.keys()].sort((a, b) => a - b);
      const lists = classes.map((c) => new Int32Array(counts.get(c)!));
      const fill = new Map(classes.map((c, k) => [c, { k, n: 0 }]));
      for (let i = 0; i < N; i++) {
        const f = fill.get(lab[i])!;
        lists[f.k][f.n++] = i;
      }
      this.byClass = lists;
    }
    const lists = this.byClass.map((l) => Int32Array.from(l));
    const K = lists.length;
    const ptr = new Int32Array(K);
    if (this.shuffle) for (const l of lists) rng.shuffle(l);
    const round = new Int32Array(K);
    for (let k = 0; k < K; k++) round[k] = k;
    const a = new Int32Array(N);
    for (let p = 0; p < N; p++) {
      const r = p % K;
      if (r === 0 && this.shuffle) rng.shuffle(round);
      const c = round[r];
      const l = lists[c];
      if (ptr[c] === l.length) {
        ptr[c] = 0;
        if (this.shuffle) rng.shuffle(l);
      }
      a[p] = l[ptr[c]++];
    }
    return a;
  }

  /**
   * Batches of epoch e (0-based). Each call starts an independent run; leave
   * the loop early (break / return()) to stop its background work.
   */
  epoch(e: number): AsyncIterableIterator<Batch> {
    checkInt('DataLoader.epoch', 'e', e, 0);
    return new EpochRun(this, e, this.order(e));
  }
}

interface Slot {
  batch: Batch;
  remaining: number;
  promise: Promise<Batch>;
  resolve: (b: Batch) => void;
  reject: (e: unknown) => void;
}

const DONE: IteratorResult<Batch> = Object.freeze({ done: true, value: undefined });

class EpochRun implements AsyncIterableIterator<Batch> {
  private readonly L: DataLoader;
  private readonly ds: Dataset;
  private readonly e: number;
  private readonly order: Int32Array;
  private readonly nb: number;
  private readonly n: number; // positions used
  private readonly B: number;
  private readonly inSize: number;
  private readonly outSize: number;
  private readonly slots = new Map<number, Slot>();
  private readonly pool: Float32Array[] = [];
  private nextPos = 0;
  private limitBatch = 0;
  private taken = 0;
  private inflight = 0;
  private closed = false;
  private error: { e: unknown } | undefined;
  private pumping = false;
  private scheduled = false;

  constructor(L: DataLoader, e: number, order: Int32Array) {
    this.L = L;
    this.ds = L.dataset;
    this.e = e;
    this.order = order;
    this.B = L.batchSize;
    this.nb = L.numBatches();
    this.n = Math.min(order.length, this.nb * this.B);
    const s = L.dataset.sampleShape;
    this.inSize = s[0] * s[1] * s[2];
    this.outSize = L.outputShape[0] * L.outputShape[1] * L.outputShape[2];
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Batch> {
    return this;
  }

  next(): Promise<IteratorResult<Batch>> {
    if (this.error) return Promise.reject(this.error.e);
    if (this.closed || this.taken >= this.nb) {
      this.close();
      return Promise.resolve(DONE);
    }
    const k = this.taken++;
    this.limitBatch = Math.max(this.limitBatch, Math.min(this.nb, k + 1 + this.L.prefetch));
    const slot = this.slot(k);
    // Build batch k now if it has not started (the consumer waits for it
    // anyway); otherwise continue in a macrotask, after the consumer got it.
    if (this.nextPos <= k * this.B) this.pump();
    else this.schedule();
    return slot.promise.then((b) => {
      this.slots.delete(k);
      if (this.taken >= this.nb && this.slots.size === 0) this.closed = true;
      return { done: false, value: b };
    });
  }

  return(): Promise<IteratorResult<Batch>> {
    this.close();
    return Promise.resolve(DONE);
  }

  private close(): void {
    this.closed = true;
    this.slots.clear();
    this.pool.length = 0;
  }

  private slot(k: number): Slot {
    let s = this.slots.get(k);
    if (s) return s;
    const size = Math.min(this.B, this.n - k * this.B);
    const [H, W, C] = this.L.outputShape;
    let resolve!: (b: Batch) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<Batch>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {}); // rejections reach the consumer through next()
    s = {
      batch: { x: new Float32Array(size * this.outSize), shape: [size, H, W, C], labels: new Int32Array(size), indices: new Int32Array(size), size },
      remaining: size,
      promise,
      resolve,
      reject,
    };
    this.slots.set(k, s);
    return s;
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private fail(e: unknown): void {
    if (this.error) return;
    this.error = { e };
    for (const s of this.slots.values()) s.reject(e);
    this.closed = true;
  }

  /** Starts samples up to the allowed batch, `concurrency` async ones at a time, one batch of sync ones per macrotask. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      let syncDone = 0;
      while (!this.closed && this.inflight < this.L.concurrency) {
        const end = Math.min(this.n, this.limitBatch * this.B);
        if (this.nextPos >= end) break;
        if (syncDone >= this.B) {
          this.schedule();
          break;
        }
        const pos = this.nextPos++;
        if (this.start(pos)) this.inflight++;
        else syncDone++;
      }
    } catch (e) {
      this.fail(e);
    } finally {
      this.pumping = false;
    }
  }

  /** Starts the sample at position pos; returns whether it went async. */
  private start(pos: number): boolean {
    const k = Math.floor(pos / this.B);
    const j = pos - k * this.B;
    const slot = this.slot(k);
    const b = slot.batch;
    const idx = this.order[pos];
    b.indices[j] = idx;
    b.labels[j] = this.ds.labels[idx];
    const L = this.L;
    const P = L.pipeline;
    const u8 = L.u8;
    if (u8) {
      const rng = P.random ? new Rng(deriveSeed(L.seed, this.e, pos)) : null;
      P.run(u8.pixels, (u8.map ? u8.map[idx] : idx) * u8.sampleSize, b.x, j * this.outSize, rng);
      this.finished(slot, false);
      return false;
    }
    if (P.length === 0) {
      const r = this.ds.get(idx, b.x, j * this.outSize);
      if (isThenable(r)) {
        r.then(() => this.finished(slot, true), (e) => this.failed(e));
        return true;
      }
      this.finished(slot, false);
      return false;
    }
    const raw = this.pool.pop() ?? new Float32Array(this.inSize);
    const r = this.ds.get(idx, raw, 0);
    if (isThenable(r)) {
      r.then(
        () => {
          if (this.closed) return;
          try {
            this.augment(raw, b, j, pos);
          } catch (e) {
            this.failed(e);
            return;
          }
          this.finished(slot, true);
        },
        (e) => this.failed(e),
      );
      return true;
    }
    this.augment(raw, b, j, pos);
    this.finished(slot, false);
    return false;
  }

  /** Augments the decoded sample `raw` (position pos) into slot j of batch b. */
  private augment(raw: Float32Array, b: Batch, j: number, pos: number): void {
    const L = this.L;
    const P = L.pipeline;
    P.run(raw, 0, b.x, j * this.outSize, P.random ? new Rng(deriveSeed(L.seed, this.e, pos)) : null);
    this.pool.push(raw);
  }

  private failed(e: unknown): void {
    this.inflight--;
    if (!this.closed) this.fail(e);
  }

  private finished(slot: Slot, async: boolean): void {
    if (--slot.remaining === 0) slot.resolve(slot.batch);
    if (async) {
      this.inflight--;
      this.pump();
    }
  }
}
