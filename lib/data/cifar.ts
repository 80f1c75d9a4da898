/**
 * CIFAR-10 / CIFAR-100, binary versions (https://www.cs.toronto.edu/~kriz/cifar.html):
 *   cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin: records of
 *     <1 byte label><3072 bytes: 1024 R, 1024 G, 1024 B, row-major 32x32>,
 *     class names in batches.meta.txt (one per line)
 *   cifar-100-binary/{train,test}.bin: records of
 *     <1 byte coarse label><1 byte fine label><3072 bytes>,
 *     class names in fine_label_names.txt and coarse_label_names.txt
 * Pixels are held in memory as uint8 HWC and converted to float on get().
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fail, describe } from '../errors.js';
import { type Dataset, type U8Source, checkIndex, U8_SOURCE } from './dataset.js';
import { ioError, ioFail, U8_TO_UNIT } from './util.js';

export const CIFAR10_CLASSES: readonly string[] = Object.freeze([
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
]);

const PIXELS = 32 * 32 * 3;

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function filesFor(classes: 10 | 100, split: 'train' | 'test'): string[] {
  if (classes === 100) return [split === 'train' ? 'train.bin' : 'test.bin'];
  return split === 'train' ? [1, 2, 3, 4, 5].map((k) => `data_batch_${k}.bin`) : ['test_batch.bin'];
}

/** The folder (dir itself or its cifar-10-batches-bin / cifar-100-binary child) holding the split's first file. */
function locate(dir: string, classes: 10 | 100, split: 'train' | 'test'): string | undefined {
  const sub = classes === 10 ? 'cifar-10-batches-bin' : 'cifar-100-binary';
  const first = filesFor(classes, split)[0];
  for (const d of [dir, join(dir, sub)]) if (existsSync(join(d, first))) return d;
  return undefined;
}

function readNames(file: string, count: number, fallback: () => string[]): string[] {
  if (!existsSync(file)) return fallback();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    ioFail('loadCifar', `cannot read ${file}: ${(e as Error).message}`, e);
  }
  const names = text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length !== count) ioFail('loadCifar', `expected ${file} to hold ${count} class names (one per line), got ${names.length}`);
  return names;
}

/**
 * Loads a CIFAR split. dir: the extracted folder (cifar-10-batches-bin or
 * cifar-100-binary) or its parent. o.classes: 10 or 100 (default: whichever
 * is found, CIFAR-10 first); o.label: CIFAR-100's 'fine' (100 classes,
 * default) or 'coarse' (20 superclasses) labels.
 */
export function loadCifar(dir: string, split: 'train' | 'test', o: { classes?: 10 | 100; label?: 'fine' | 'coarse' } = {}): Dataset {
  const op = 'loadCifar';
  if (split !== 'train' && split !== 'test') fail('SENET_ARG', op, 'split', "'train' or 'test'", describe(split));
  if (o.classes !== undefined && o.classes !== 10 && o.classes !== 100) fail('SENET_ARG', op, 'o.classes', '10 or 100', describe(o.classes));
  if (o.label !== undefined && o.label !== 'fine' && o.label !== 'coarse') fail('SENET_ARG', op, 'o.label', "'fine' or 'coarse'", describe(o.label));
  const abs = resolve(String(dir));
  const tried: (10 | 100)[] = o.classes ? [o.classes] : [10, 100];
  let classes: 10 | 100 | undefined;
  let root: string | undefined;
  for (const c of tried) {
    root = locate(abs, c, split);
    if (root) {
      classes = c;
      break;
    }
  }
  if (!root || !classes) {
    const what = tried
      .map((c) => `${c === 10 ? 'cifar-10-batches-bin' : 'cifar-100-binary'}/ (${filesFor(c, split).join(', ')})`)
      .join(' or ');
    const looked = [abs, ...tried.map((c) => join(abs, c === 10 ? 'cifar-10-batches-bin' : 'cifar-100-binary'))].join(', ');
    const state = !existsSync(abs) ? ' (does not exist)' : !isDir(abs) ? ' (not a directory)' : `, which holds none of them (looked in ${looked})`;
    ioFail(op, `expected dir a directory holding ${what}, got ${abs}${state}; download the binary version from https://www.cs.toronto.edu/~kriz/cifar.html and pass its folder`);
  }
  if (classes === 10 && o.label === 'coarse') fail('SENET_ARG', op, 'o.label', "'fine' for CIFAR-10 (coarse labels exist only in CIFAR-100)", "'coarse'");
  const coarse = classes === 100 && o.label === 'coarse';
  const K = classes === 10 ? 10 : coarse ? 20 : 100;
  const labelBytes = classes === 10 ? 1 : 2;
  const labelAt = classes === 10 ? 0 : coarse ? 0 : 1;
  const rec = labelBytes + PIXELS;
  const files = filesFor(classes, split).map((f) => join(root, f));
  const bufs: Buffer[] = [];
  let N = 0;
  for (const f of files) {
    let b: Buffer;
    try {
      b = readFileSync(f);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      ioFail(op, `cannot read ${f}: ${err.code === 'ENOENT' ? `no such file (a ${split} split of CIFAR-${classes} needs ${files.length === 1 ? 'it' : files.map((x) => x.slice(root.length + 1)).join(', ')})` : err.message}`, e);
    }
    if (b.length % rec !== 0)
      ioError(op, f, b.length - (b.length % rec), `expected a whole number of ${rec}-byte records, got ${b.length} bytes (truncated file)`);
    if (b.length === 0) ioError(op, f, 0, `expected ${rec}-byte records, got an empty file`);
    bufs.push(b);
    N += b.length / rec;
  }
  const pixels = new Uint8Array(N * PIXELS);
  const labels = new Int32Array(N);
  let n = 0;
  for (let fi = 0; fi < files.length; fi++) {
    const b = bufs[fi];
    const count = b.length / rec;
    for (let r = 0; r < count; r++, n++) {
      const o0 = r * rec;
      if (classes === 100 && b[o0] >= 20) ioError(op, files[fi], o0, `expected a coarse label in [0, 20), got ${b[o0]} (record ${r})`);
      const lab = b[o0 + labelAt];
      if (lab >= (classes === 10 ? 10 : coarse ? 20 : 100))
        ioError(op, files[fi], o0 + labelAt, `expected a ${classes === 100 ? (coarse ? 'coarse ' : 'fine ') : ''}label in [0, ${K}), got ${lab} (record ${r})`);
      labels[n] = lab;
      const src = o0 + labelBytes;
      const dst = n * PIXELS;
      for (let p = 0; p < 1024; p++) {
        const d = dst + 3 * p;
        pixels[d] = b[src + p];
        pixels[d + 1] = b[src + 1024 + p];
        pixels[d + 2] = b[src + 2048 + p];
      }
    }
  }
  const generic = () => Array.from({ length: K }, (_, i) => String(i));
  const classNames =
    classes === 10
      ? readNames(join(root, 'batches.meta.txt'), 10, () => [...CIFAR10_CLASSES])
      : readNames(join(root, coarse ? 'coarse_label_names.txt' : 'fine_label_names.txt'), K, generic);
  const name = `cifar${classes}${coarse ? '-coarse' : ''}-${split}`;
  const lut = U8_TO_UNIT;
  const ds: Dataset & { [U8_SOURCE]: U8Source } = {
    [U8_SOURCE]: { pixels, sampleSize: PIXELS },
    name,
    length: N,
    sampleShape: Object.freeze([32, 32, 3]) as readonly [number, number, number],
    numClasses: K,
    classNames: Object.freeze(classNames),
    labels,
    get(i: number, out: Float32Array, offset: number): void {
      if (!(i >= 0 && i < N)) checkIndex(name, i, N);
      const base = i * PIXELS;
      for (let k = 0; k < PIXELS; k++) out[offset + k] = lut[pixels[base + k]];
    },
  };
  return ds;
}
