/** The Dataset interface, and views of datasets: subset and split. */
import { fail, describe } from '../errors.js';
import { Rng } from './rng.js';

export interface Dataset {
  readonly name: string;
  readonly length: number;
  /** [H, W, C] of every sample as get() writes it */
  readonly sampleShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly classNames: readonly string[];
  /** label of every sample (for balanced sampling and evaluation) */
  readonly labels: Int32Array;
  /** writes sample i as float32 HWC, pixel values scaled to [0, 1], at out[offset ...] */
  get(i: number, out: Float32Array, offset: number): void | Promise<void>;
}

/**
 * Internal: in-memory datasets (IDX, CIFAR, and subsets of them) also
 * expose their uint8 HWC pixels under this symbol, so the DataLoader can
 * augment straight from bytes without a float copy first. Sample i's pixels
 * are pixels[(map ? map[i] : i) * sampleSize ...]; get(i) writes them / 255.
 */
export const U8_SOURCE: unique symbol = Symbol('senet.data.u8Source');
export interface U8Source {
  readonly pixels: Uint8Array;
  readonly sampleSize: number;
  readonly map?: Int32Array;
}
export function u8Source(ds: Dataset): U8Source | undefined {
  return (ds as { [U8_SOURCE]?: U8Source })[U8_SOURCE];
}

/** Throws SENET_ARG unless i is an integer in [0, length). */
export function checkIndex(op: string, i: number, length: number): void {
  if (!(i >= 0 && i < length && Number.isInteger(i))) fail('SENET_ARG', op, 'i', `an integer index in [0, ${length})`, describe(i));
}

/** The samples ds[indices[0]], ds[indices[1]], ... as a dataset (indices may repeat). */
export function subset(ds: Dataset, indices: ArrayLike<number>, name?: string): Dataset {
  if (indices === null || typeof indices !== 'object' || typeof indices.length !== 'number')
    fail('SENET_ARG', 'subset', 'indices', 'an array of sample indices', describe(indices));
  const n = indices.length;
  const map = new Int32Array(n);
  const labels = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const i = indices[k];
    if (!(Number.isInteger(i) && i >= 0 && i < ds.length))
      fail('SENET_ARG', 'subset', `indices[${k}]`, `an integer in [0, ${ds.length})`, describe(i));
    map[k] = i;
    labels[k] = ds.labels[i];
  }
  const nm = name ?? `${ds.name}[${n}]`;
  const src = u8Source(ds);
  let u8: U8Source | undefined;
  if (src) {
    const m = src.map ? map.map((i) => src.map![i]) : map;
    u8 = { pixels: src.pixels, sampleSize: src.sampleSize, map: m };
  }
  return {
    ...(u8 ? { [U8_SOURCE]: u8 } : {}),
    name: nm,
    length: n,
    sampleShape: ds.sampleShape,
    numClasses: ds.numClasses,
    classNames: ds.classNames,
    labels,
    get(i: number, out: Float32Array, offset: number) {
      if (!(i >= 0 && i < n)) checkIndex(nm, i, n);
      return ds.get(map[i], out, offset);
    },
  };
}

/**
 * A deterministic, class-stratified random split: the first dataset holds
 * round(fraction * length) samples (at least 1, at most length - 1), the
 * second the rest. Each class contributes in proportion to its size (largest
 * remainders get the leftover samples); which samples go where depends only
 * on (seed, dataset labels). Both parts keep the original sample order.
 * E.g. `const [val, train] = split(ds, 0.1, seed)`.
 */
export function split(ds: Dataset, fraction: number, seed: number): [Dataset, Dataset] {
  if (typeof fraction !== 'number' || !(fraction > 0 && fraction < 1)) fail('SENET_ARG', 'split', 'fraction', 'a number in (0, 1)', describe(fraction));
  const N = ds.length;
  if (N < 2) fail('SENET_ARG', 'split', 'ds', 'a dataset of at least 2 samples', `${N} samples`);
  if (!Number.isSafeInteger(seed)) fail('SENET_ARG', 'split', 'seed', 'a safe integer', describe(seed));
  const rng = new Rng(seed);
  const total = Math.min(N - 1, Math.max(1, Math.round(fraction * N)));
  // group indices by class (labels outside [0, numClasses) form their own group)
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < N; i++) {
    const c = ds.labels[i];
    let g = byClass.get(c);
    if (!g) byClass.set(c, (g = []));
    g.push(i);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  const take = new Map<number, number>();
  let assigned = 0;
  const rema: { c: number; r: number }[] = [];
  for (const c of classes) {
    const q = (total * byClass.get(c)!.length) / N;
    const f = Math.floor(q);
    take.set(c, f);
    assigned += f;
    rema.push({ c, r: q - f });
  }
  rema.sort((a, b) => b.r - a.r || a.c - b.c);
  for (let k = 0; assigned < total; k++, assigned++) {
    const c = rema[k % rema.length].c;
    take.set(c, take.get(c)! + 1);
  }
  const inFirst = new Uint8Array(N);
  for (const c of classes) {
    const g = Int32Array.from(byClass.get(c)!);
    rng.shuffle(g);
    const t = take.get(c)!;
    for (let k = 0; k < t; k++) inFirst[g[k]] = 1;
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < N; i++) (inFirst[i] ? a : b).push(i);
  return [subset(ds, a, `${ds.name}[split ${fraction} #1]`), subset(ds, b, `${ds.name}[split ${fraction} #2]`)];
}
