/**
 * The data pipeline (lib/data): IDX / MNIST-style files, CIFAR binary
 * files, image folders, augmentations, the DataLoader, Rng, subset / split.
 * Every test runs on small synthetic files written to a temp dir; the real
 * Fashion-MNIST files are used in addition when installed.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { SenetError, type SenetErrorCode } from '../lib/errors.js';
import {
  readIdx, loadIdxDataset, loadCifar, loadImageFolder, loadImage, subset, split, Rng, deriveSeed, DataLoader, rrcParams,
  FASHION_MNIST_CLASSES, type Dataset, type Batch, type Augment,
} from '../lib/data/index.js';

/** where the real Fashion-MNIST files are looked for (SENET_FASHION_MNIST overrides) */
const FASHION = process.env['SENET_FASHION_MNIST'] ?? '/usr/share/datasets/fashion-mnist';
const haveFashion = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']
  .every((f) => existsSync(join(FASHION, f)));

const ROOT = mkdtempSync(join(tmpdir(), 'senet-data-'));
test.after.always(() => rmSync(ROOT, { recursive: true, force: true }));
let dirCount = 0;
function tmp(name = 'd'): string {
  const d = join(ROOT, `${dirCount++}-${name}`);
  mkdirSync(d, { recursive: true });
  return d;
}

function err(t: ExecutionContext, e: unknown, code: SenetErrorCode, msg: string | RegExp): void {
  t.true(e instanceof SenetError, `expected a SenetError, got ${String(e)}`);
  const se = e as SenetError;
  t.is(se.code, code);
  if (typeof msg === 'string') t.is(se.message, msg);
  else t.regex(se.message, msg);
}
function throwsErr(t: ExecutionContext, fn: () => unknown, code: SenetErrorCode, msg: string | RegExp): void {
  err(t, t.throws(fn), code, msg);
}
async function rejectsErr(t: ExecutionContext, p: Promise<unknown>, code: SenetErrorCode, msg: string | RegExp): Promise<void> {
  err(t, await t.throwsAsync(p), code, msg);
}

// ---------------------------------------------------------------- IDX files

const IDX_CODE = { u8: 0x08, i8: 0x09, i16: 0x0b, i32: 0x0c, f32: 0x0d, f64: 0x0e } as const;
const IDX_SIZE = { u8: 1, i8: 1, i16: 2, i32: 4, f32: 4, f64: 8 } as const;

/** An IDX file written independently of lib/data (big-endian via DataView). */
function idx(type: keyof typeof IDX_CODE, dims: number[], values: ArrayLike<number>): Buffer {
  const item = IDX_SIZE[type];
  const head = 4 + 4 * dims.length;
  const buf = Buffer.alloc(head + values.length * item);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  buf[2] = IDX_CODE[type];
  buf[3] = dims.length;
  dims.forEach((d, i) => dv.setUint32(4 + 4 * i, d, false));
  for (let i = 0; i < values.length; i++) {
    const o = head + i * item, v = values[i];
    if (type === 'u8') dv.setUint8(o, v);
    else if (type === 'i8') dv.setInt8(o, v);
    else if (type === 'i16') dv.setInt16(o, v, false);
    else if (type === 'i32') dv.setInt32(o, v, false);
    else if (type === 'f32') dv.setFloat32(o, v, false);
    else dv.setFloat64(o, v, false);
  }
  return buf;
}

/** Synthetic MNIST-style files: n images of h x w (pixel = (i * 37 + k * 11) & 255), labels i % 10. */
function writeMnist(dir: string, split: 'train' | 't10k', n: number, h = 4, w = 3, gz = true, sep = '-'): { pixels: Uint8Array; labels: number[] } {
  const pixels = new Uint8Array(n * h * w);
  for (let i = 0; i < n; i++) for (let k = 0; k < h * w; k++) pixels[i * h * w + k] = (i * 37 + k * 11) & 255;
  const labels = Array.from({ length: n }, (_, i) => i % 10);
  const z = (b: Buffer) => (gz ? gzipSync(b) : b);
  writeFileSync(join(dir, `${split}-images${sep}idx3-ubyte${gz ? '.gz' : ''}`), z(idx('u8', [n, h, w], pixels)));
  writeFileSync(join(dir, `${split}-labels${sep}idx1-ubyte${gz ? '.gz' : ''}`), z(idx('u8', [n], labels)));
  return { pixels, labels };
}

test('readIdx: round trip of every IDX type, plain and gzipped', (t) => {
  const d = tmp();
  const cases: [keyof typeof IDX_CODE, number[], number[]][] = [
    ['u8', [2, 3, 2], [0, 1, 2, 127, 128, 255, 9, 8, 7, 6, 5, 4]],
    ['i8', [4], [-128, -1, 0, 127]],
    ['i16', [2, 2], [-32768, -2, 300, 32767]],
    ['i32', [3], [-2147483648, 1 << 20, 2147483647]],
    ['f32', [2], [1.5, -0.25]],
    ['f64', [1, 2], [Math.PI, -1e300]],
  ];
  for (const [type, dims, values] of cases)
    for (const gz of [false, true]) {
      const f = join(d, `${type}${gz ? '.gz' : ''}`);
      const raw = idx(type, dims, values);
      writeFileSync(f, gz ? gzipSync(raw) : raw);
      const r = readIdx(f);
      t.is(r.type, type);
      t.deepEqual(r.dims, dims);
      t.deepEqual([...r.data], values, `${type} gz=${gz}`);
      const ctor = { u8: Uint8Array, i8: Int8Array, i16: Int16Array, i32: Int32Array, f32: Float32Array, f64: Float64Array }[type];
      t.true(r.data instanceof ctor);
    }
});

test('readIdx: truncated and corrupt files name the file and the byte offset', (t) => {
  const d = tmp();
  const full = idx('u8', [5, 4, 3], Array.from({ length: 60 }, (_, i) => i));
  const w = (name: string, b: Uint8Array) => {
    const f = join(d, name);
    writeFileSync(f, b);
    return f;
  };
  let f = w('short', full.subarray(0, 16 + 50));
  throwsErr(t, () => readIdx(f), 'SENET_IO', `readIdx: ${f} at byte 16: expected 60 bytes of data, got 50 (truncated file)`);
  f = w('extra', Buffer.concat([full, Buffer.alloc(3)]));
  throwsErr(t, () => readIdx(f), 'SENET_IO', `readIdx: ${f} at byte 76: expected 60 bytes of data for dims [5, 4, 3], got 63 (3 extra bytes at the end)`);
  f = w('magic', Buffer.from([1, 2, 3, 4, 0, 0, 0, 0]));
  throwsErr(t, () => readIdx(f), 'SENET_IO', `readIdx: ${f} at byte 0: expected the IDX magic number 00 00 <type> <rank>, got 01 02 03 04 (not an IDX file)`);
  f = w('type', Buffer.from([0, 0, 7, 1, 0, 0, 0, 0]));
  throwsErr(t, () => readIdx(f), 'SENET_IO', `readIdx: ${f} at byte 2: expected an IDX type code (08 u8, 09 i8, 0b i16, 0c i32, 0d f32, 0e f64), got 07`);
  f = w('rank0', Buffer.from([0, 0, 8, 0]));
  throwsErr(t, () => readIdx(f), 'SENET_IO', `readIdx: ${f} at byte 3: expected a rank of at least 1, got 0`);
  f = w('tiny', Buffer.from([0, 0, 8]));
  throwsErr(t, () => readIdx(f), 'SENET_IO', `readIdx: ${f} at byte 0: expected a 4-byte IDX header, got a 3-byte file (truncated file)`);
  f = w('dims', full.subarray(0, 10));
  throwsErr(t, () => readIdx(f), 'SENET_IO', `readIdx: ${f} at byte 4: expected 3 dimensions (12 bytes), got 6 bytes (truncated file)`);
  // gzip: cut in the middle of the deflate stream (incompressible data so the cut lands in the data)
  const big = new Uint8Array(4000);
  let s = 1;
  for (let i = 0; i < big.length; i++) big[i] = (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
  const gz = gzipSync(idx('u8', [4000], big));
  f = w('cut.gz', gz.subarray(0, 2000));
  throwsErr(t, () => readIdx(f), 'SENET_IO', new RegExp(`^readIdx: ${f} at byte 8: expected 4000 bytes of data, got \\d+ \\(truncated file\\)$`));
  // gzip: all data there, trailer (CRC32 + size) missing
  f = w('trailer.gz', gz.subarray(0, gz.length - 8));
  throwsErr(t, () => readIdx(f), 'SENET_IO', `readIdx: ${f} at byte 4008: expected the end of the gzip stream, got 'unexpected end of file' (truncated file)`);
  f = w('garbage.gz', Buffer.from([0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
  throwsErr(t, () => readIdx(f), 'SENET_IO', new RegExp(`^readIdx: ${f} at byte 0: expected a gzip stream, got corrupt gzip data \\(.+\\)$`));
  f = join(d, 'missing');
  throwsErr(t, () => readIdx(f), 'SENET_IO', `readIdx: cannot read ${f}: no such file`);
});

test('loadIdxDataset: synthetic MNIST-style files (gz and plain), get() scales to [0, 1]', (t) => {
  for (const [gz, sep] of [[true, '-'], [false, '-'], [false, '.']] as const) {
    const d = tmp('digits');
    const { pixels, labels } = writeMnist(d, 't10k', 7, 4, 3, gz, sep);
    const ds = loadIdxDataset(d, 'test');
    t.is(ds.name, 'mnist-test');
    t.is(ds.length, 7);
    t.deepEqual([...ds.sampleShape], [4, 3, 1]);
    t.is(ds.numClasses, 10);
    t.deepEqual([...ds.classNames], ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    t.deepEqual([...ds.labels], labels);
    const out = new Float32Array(2 + 12);
    ds.get(5, out, 2);
    t.deepEqual([...out.subarray(2)], [...pixels.subarray(60, 72)].map((v) => Math.fround(v / 255)));
    t.is(out[0], 0);
    throwsErr(t, () => ds.get(7, out, 0), 'SENET_ARG', 'mnist-test: expected i an integer index in [0, 7), got number 7');
  }
  // Fashion-MNIST class names when the path says so; explicit names and name win
  const f = tmp('my-fashion-mnist');
  writeMnist(f, 'train', 3);
  const fd = loadIdxDataset(f, 'train');
  t.is(fd.name, 'fashion-mnist-train');
  t.deepEqual([...fd.classNames], [...FASHION_MNIST_CLASSES]);
  const nd = loadIdxDataset(f, 'train', { name: 'x', classNames: 'abcdefghijk'.split('') });
  t.is(nd.name, 'x');
  t.is(nd.numClasses, 11);
});

test('loadIdxDataset: missing directory / files, label problems', (t) => {
  const base = tmp();
  const nowhere = join(base, 'fashion-mnist');
  throwsErr(t, () => loadIdxDataset(nowhere, 'train'), 'SENET_IO',
    `loadIdxDataset: expected dir a directory holding train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz], got ${nowhere} (does not exist); ` +
    'install Fashion-MNIST with `apt-get install dataset-fashion-mnist` (it goes to /usr/share/datasets/fashion-mnist) or pass --data DIR');
  const m = tmp('mnist');
  writeMnist(m, 'train', 4);
  throwsErr(t, () => loadIdxDataset(m, 'test'), 'SENET_IO',
    `loadIdxDataset: expected dir a directory holding t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz], got ${m} without t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]; pass --data DIR`);
  throwsErr(t, () => loadIdxDataset(m, 'val' as 'test'), 'SENET_ARG', "loadIdxDataset: expected split 'train' or 'test', got val");
  // label count != image count
  const c = tmp('count');
  writeMnist(c, 'train', 4, 4, 3, false);
  writeFileSync(join(c, 'train-labels-idx1-ubyte'), idx('u8', [3], [0, 1, 2]));
  throwsErr(t, () => loadIdxDataset(c, 'train'), 'SENET_IO',
    `loadIdxDataset: ${join(c, 'train-labels-idx1-ubyte')} at byte 4: expected 4 labels (one per image in ${join(c, 'train-images-idx3-ubyte')}), got 3`);
  // label out of range
  writeFileSync(join(c, 'train-labels-idx1-ubyte'), idx('u8', [4], [0, 1, 12, 2]));
  throwsErr(t, () => loadIdxDataset(c, 'train'), 'SENET_IO',
    `loadIdxDataset: ${join(c, 'train-labels-idx1-ubyte')} at byte 10: expected a label in [0, 10), got 12 (sample 2)`);
  // images of the wrong type / rank
  writeFileSync(join(c, 'train-labels-idx1-ubyte'), idx('u8', [4], [0, 1, 2, 3]));
  writeFileSync(join(c, 'train-images-idx3-ubyte'), idx('f32', [4, 2], new Array(8).fill(0)));
  throwsErr(t, () => loadIdxDataset(c, 'train'), 'SENET_IO',
    `loadIdxDataset: ${join(c, 'train-images-idx3-ubyte')} at byte 2: expected u8 images of rank 3 [N, H, W] or 4 [N, H, W, C], got f32 of rank 2 [4, 2]`);
  // a truncated gz image file through the loader: readIdx's message
  const g = tmp('trunc');
  writeMnist(g, 'train', 50, 10, 10, true);
  const gf = join(g, 'train-images-idx3-ubyte.gz');
  const whole = gzipSync(idx('u8', [50, 10, 10], new Uint8Array(5000).map((_, i) => (i * 7919) % 251)));
  writeFileSync(gf, whole.subarray(0, Math.floor(whole.length / 2)));
  throwsErr(t, () => loadIdxDataset(g, 'train'), 'SENET_IO', new RegExp(`^readIdx: ${gf} at byte 16: expected 5000 bytes of data, got \\d+ \\(truncated file\\)$`));
});

(haveFashion ? test : test.skip)(`Fashion-MNIST at ${FASHION} (real files)`, (t) => {
  const tr = loadIdxDataset(FASHION, 'train');
  const te = loadIdxDataset(FASHION, 'test');
  t.is(tr.length, 60000);
  t.is(te.length, 10000);
  for (const ds of [tr, te]) {
    t.is(ds.numClasses, 10);
    t.deepEqual([...ds.sampleShape], [28, 28, 1]);
    t.deepEqual([...ds.classNames], [...FASHION_MNIST_CLASSES]);
    const counts = new Array(10).fill(0);
    for (const l of ds.labels) {
      t.true(l >= 0 && l < 10);
      counts[l]++;
    }
    t.deepEqual(counts, new Array(10).fill(ds.length / 10)); // both splits are balanced
    const out = new Float32Array(784);
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < ds.length; i += 97) {
      ds.get(i, out, 0);
      for (const v of out) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    t.is(lo, 0);
    t.is(hi, 1);
  }
});

// ---------------------------------------------------------------- CIFAR

/** A CIFAR record's pixel (y, x, c) value: distinct per record and position. */
const cifarPix = (rec: number, c: number, y: number, x: number) => (rec * 13 + c * 101 + y * 7 + x * 3) & 255;

function cifarRecords(labelBytes: number[][], first: number): Buffer {
  const recLen = labelBytes[0].length + 3072;
  const b = Buffer.alloc(labelBytes.length * recLen);
  labelBytes.forEach((lb, r) => {
    const o = r * recLen;
    lb.forEach((v, k) => (b[o + k] = v));
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) b[o + lb.length + c * 1024 + y * 32 + x] = cifarPix(first + r, c, y, x);
  });
  return b;
}

function checkCifarSample(t: ExecutionContext, ds: Dataset, i: number, rec: number): void {
  const out = new Float32Array(3072);
  ds.get(i, out, 0);
  for (const [y, x] of [[0, 0], [0, 31], [5, 17], [31, 0], [31, 31]])
    for (let c = 0; c < 3; c++) t.is(out[(y * 32 + x) * 3 + c], Math.fround(cifarPix(rec, c, y, x) / 255), `sample ${i} (${y}, ${x}, ${c})`);
}

test('loadCifar: synthetic CIFAR-10 binary batches (folder or its parent), HWC conversion', (t) => {
  const parent = tmp();
  const d = join(parent, 'cifar-10-batches-bin');
  mkdirSync(d);
  for (let k = 1; k <= 5; k++) writeFileSync(join(d, `data_batch_${k}.bin`), cifarRecords([[k], [(k + 3) % 10], [9]], (k - 1) * 3));
  writeFileSync(join(d, 'test_batch.bin'), cifarRecords([[3], [4]], 100));
  writeFileSync(join(d, 'batches.meta.txt'), 'a0\na1\na2\na3\na4\na5\na6\na7\na8\na9\n\n');
  for (const dir of [parent, d]) {
    const tr = loadCifar(dir, 'train');
    t.is(tr.name, 'cifar10-train');
    t.is(tr.length, 15);
    t.deepEqual([...tr.sampleShape], [32, 32, 3]);
    t.is(tr.numClasses, 10);
    t.deepEqual([...tr.classNames], ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8', 'a9']);
    t.deepEqual([...tr.labels], [1, 4, 9, 2, 5, 9, 3, 6, 9, 4, 7, 9, 5, 8, 9]);
    for (const i of [0, 4, 14]) checkCifarSample(t, tr, i, i);
    const te = loadCifar(dir, 'test', { classes: 10 });
    t.is(te.length, 2);
    t.deepEqual([...te.labels], [3, 4]);
    checkCifarSample(t, te, 1, 101);
  }
  // built-in names without batches.meta.txt
  const p2 = tmp();
  writeFileSync(join(p2, 'test_batch.bin'), cifarRecords([[0]], 0));
  t.is(loadCifar(p2, 'test').classNames[0], 'airplane');
});

test('loadCifar: synthetic CIFAR-100 (fine and coarse labels)', (t) => {
  const parent = tmp();
  const d = join(parent, 'cifar-100-binary');
  mkdirSync(d);
  writeFileSync(join(d, 'train.bin'), cifarRecords([[0, 99], [19, 5], [7, 42]], 0));
  writeFileSync(join(d, 'test.bin'), cifarRecords([[1, 2]], 50));
  writeFileSync(join(d, 'fine_label_names.txt'), Array.from({ length: 100 }, (_, i) => `f${i}`).join('\n') + '\n');
  writeFileSync(join(d, 'coarse_label_names.txt'), Array.from({ length: 20 }, (_, i) => `c${i}`).join('\n') + '\n');
  const fine = loadCifar(parent, 'train'); // auto-detected
  t.is(fine.name, 'cifar100-train');
  t.is(fine.numClasses, 100);
  t.deepEqual([...fine.labels], [99, 5, 42]);
  t.is(fine.classNames[42], 'f42');
  checkCifarSample(t, fine, 2, 2);
  const coarse = loadCifar(d, 'train', { classes: 100, label: 'coarse' });
  t.is(coarse.numClasses, 20);
  t.deepEqual([...coarse.labels], [0, 19, 7]);
  t.is(coarse.classNames[19], 'c19');
  const te = loadCifar(parent, 'test', { classes: 100 });
  t.deepEqual([...te.labels], [2]);
  checkCifarSample(t, te, 0, 50);
  throwsErr(t, () => loadCifar(parent, 'train', { classes: 10 }), 'SENET_IO', new RegExp(`^loadCifar: expected dir a directory holding cifar-10-batches-bin/ \\(data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin\\), got ${parent}, which holds none of them `));
});

test('loadCifar: truncated files, bad labels, missing files', (t) => {
  const d = tmp();
  const one = cifarRecords([[1], [2]], 0);
  writeFileSync(join(d, 'test_batch.bin'), one.subarray(0, 3073 + 1000));
  const f = join(d, 'test_batch.bin');
  throwsErr(t, () => loadCifar(d, 'test'), 'SENET_IO', `loadCifar: ${f} at byte 3073: expected a whole number of 3073-byte records, got 4073 bytes (truncated file)`);
  writeFileSync(f, cifarRecords([[1], [200]], 0));
  throwsErr(t, () => loadCifar(d, 'test'), 'SENET_IO', `loadCifar: ${f} at byte 3073: expected a label in [0, 10), got 200 (record 1)`);
  writeFileSync(join(d, 'data_batch_1.bin'), one);
  writeFileSync(join(d, 'data_batch_2.bin'), one);
  throwsErr(t, () => loadCifar(d, 'train'), 'SENET_IO',
    `loadCifar: cannot read ${join(d, 'data_batch_3.bin')}: no such file (a train split of CIFAR-10 needs data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin)`);
  const c = tmp();
  writeFileSync(join(c, 'test.bin'), cifarRecords([[3, 150]], 0));
  throwsErr(t, () => loadCifar(c, 'test', { classes: 100 }), 'SENET_IO', `loadCifar: ${join(c, 'test.bin')} at byte 1: expected a fine label in [0, 100), got 150 (record 0)`);
  const nowhere = join(c, 'nope');
  throwsErr(t, () => loadCifar(nowhere, 'test'), 'SENET_IO', new RegExp(`^loadCifar: expected dir a directory holding cifar-10-batches-bin/ \\(test_batch.bin\\) or cifar-100-binary/ \\(test.bin\\), got ${nowhere} \\(does not exist\\)`));
  throwsErr(t, () => loadCifar(c, 'test', { classes: 10 as 10, label: 'coarse' }), 'SENET_IO', /test_batch.bin/);
  throwsErr(t, () => loadCifar(c, 'test', { classes: 12 as 10 }), 'SENET_ARG', 'loadCifar: expected o.classes 10 or 100, got number 12');
});

// ---------------------------------------------------------------- image folders

async function png(file: string, w: number, h: number, ch: 1 | 3 | 4, px: (x: number, y: number, c: number) => number): Promise<void> {
  const raw = Buffer.alloc(w * h * ch);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < ch; c++) raw[(y * w + x) * ch + c] = px(x, y, c);
  const img = sharp(raw, { raw: { width: w, height: h, channels: ch } });
  await (file.endsWith('.png') ? img.png() : img.jpeg({ quality: 95 })).toFile(file);
}

test('loadImageFolder: classes from sorted folders, PNG/JPEG, resize modes, grayscale and RGB', async (t) => {
  const d = tmp();
  for (const c of ['zebra', 'ant', 'cat']) mkdirSync(join(d, c));
  // ant: a 40x20 (w x h) PNG: red | green | blue columns (0-9, 10-29, 30-39)
  const band = (x: number, _y: number, c: number) => (c === (x < 10 ? 0 : x < 30 ? 1 : 2) ? 255 : 0);
  await png(join(d, 'ant', 'b.png'), 40, 20, 3, band);
  await png(join(d, 'ant', 'a.png'), 7, 9, 4, (_x, _y, c) => [10, 200, 30, 255][c]); // RGBA, opaque
  // cat: a grayscale JPEG (larger than the output) and a skipped non-image
  await png(join(d, 'cat', 'g.jpg'), 30, 30, 1, () => 128);
  writeFileSync(join(d, 'cat', 'notes.txt'), 'not an image');
  writeFileSync(join(d, 'cat', '.hidden.png'), 'hidden');
  // zebra: a small PNG that needs upscaling
  await png(join(d, 'zebra', 'z.png'), 3, 3, 3, (_x, _y, c) => [255, 0, 0][c]);

  const ds = await loadImageFolder(d, { size: [10, 10] });
  t.deepEqual([...ds.classNames], ['ant', 'cat', 'zebra']);
  t.is(ds.numClasses, 3);
  t.is(ds.length, 4);
  t.deepEqual([...ds.labels], [0, 0, 1, 2]);
  t.deepEqual(ds.files.map((f) => f.slice(d.length + 1)), ['ant/a.png', 'ant/b.png', 'cat/g.jpg', 'zebra/z.png']);
  t.deepEqual([...ds.sampleShape], [10, 10, 3]);
  const out = new Float32Array(300);
  const px = (y: number, x: number) => [...out.subarray((y * 10 + x) * 3, (y * 10 + x) * 3 + 3)];
  const near = (a: number[], b: number[], tol: number, what: string) => t.true(a.every((v, i) => Math.abs(v - b[i]) <= tol), `${what}: ${a} vs ${b}`);
  await ds.get(0, out, 0);
  near(px(4, 4), [10 / 255, 200 / 255, 30 / 255], 1e-6, 'RGBA drops alpha');
  // shorter side (20 -> 10) then centre crop of the 20 columns: original columns 10..29, all green
  await ds.get(1, out, 0);
  for (let x = 0; x < 10; x++) near(px(5, x), [0, 1, 0], x === 0 || x === 9 ? 0.15 : 0.02, `centre crop column ${x}`);
  // stretch keeps all three bands
  const st = await loadImageFolder(d, { size: [10, 10], resize: 'stretch' });
  await st.get(1, out, 0);
  near(px(5, 0), [1, 0, 0], 0.02, 'stretch: red on the left');
  near(px(5, 5), [0, 1, 0], 0.02, 'stretch: green in the middle');
  near(px(5, 9), [0, 0, 1], 0.02, 'stretch: blue on the right');
  await ds.get(2, out, 0);
  near(px(3, 3), [128 / 255, 128 / 255, 128 / 255], 2 / 255, 'grayscale JPEG as RGB');
  await ds.get(3, out, 0);
  near(px(9, 9), [1, 0, 0], 1e-6, 'upscaled red');
  // channels: 1 = ITU-R 601 luma
  const g = await loadImageFolder(d, { size: [4, 6], channels: 1 });
  t.deepEqual([...g.sampleShape], [4, 6, 1]);
  const o1 = new Float32Array(24);
  await g.get(3, o1, 0);
  t.true(o1.every((v) => Math.abs(v - 0.299) < 1e-6), `luma of red: ${o1[0]}`);
  await g.get(0, o1, 0);
  t.true(Math.abs(o1[5] - (0.299 * 10 + 0.587 * 200 + 0.114 * 30) / 255) < 1e-6);
  // loadImage: the same decoding for one file
  const one = await loadImage(join(d, 'zebra', 'z.png'), { size: [2, 5] });
  t.is(one.length, 30);
  t.deepEqual([...one.subarray(0, 3)], [1, 0, 0]);
  const gray = await loadImage(join(d, 'cat', 'g.jpg'), { size: [3, 3], channels: 1 });
  t.is(gray.length, 9);
  t.true(Math.abs(gray[4] - 128 / 255) < 2 / 255);
});

test('loadImageFolder / loadImage: corrupt image, empty class, missing paths, bad options', async (t) => {
  const d = tmp();
  mkdirSync(join(d, 'a'));
  mkdirSync(join(d, 'b'));
  await png(join(d, 'a', 'ok.png'), 4, 4, 3, () => 9);
  writeFileSync(join(d, 'b', 'bad.png'), Buffer.from('this is not a png at all'));
  const ds = await loadImageFolder(d, { size: [4, 4] });
  const out = new Float32Array(48);
  await ds.get(0, out, 0);
  const bad = join(d, 'b', 'bad.png');
  await rejectsErr(t, ds.get(1, out, 0), 'SENET_IO', `loadImageFolder: cannot decode ${bad}: Input file contains unsupported image format`);
  // through the DataLoader: the epoch rejects with the same error
  const L = new DataLoader(ds, { batchSize: 2, shuffle: false });
  await rejectsErr(t, (async () => {
    for await (const b of L.epoch(0)) void b;
  })(), 'SENET_IO', `loadImageFolder: cannot decode ${bad}: Input file contains unsupported image format`);
  await rejectsErr(t, loadImage(bad, { size: [4, 4] }), 'SENET_IO', `loadImage: cannot decode ${bad}: Input file contains unsupported image format`);
  await rejectsErr(t, loadImage(join(d, 'nope.png'), { size: [4, 4] }), 'SENET_IO', `loadImage: cannot read ${join(d, 'nope.png')}: no such file`);
  // an empty class folder (non-images do not count)
  mkdirSync(join(d, 'c'));
  writeFileSync(join(d, 'c', 'readme.txt'), '');
  await rejectsErr(t, loadImageFolder(d, { size: [4, 4] }), 'SENET_IO', new RegExp(`^loadImageFolder: expected class folder ${join(d, 'c')} to hold images \\(.jpg .jpeg .*\\), got none$`));
  await rejectsErr(t, loadImageFolder(join(d, 'zzz'), { size: [4, 4] }), 'SENET_IO',
    `loadImageFolder: expected dir a directory with one sub-folder of images per class, got ${join(d, 'zzz')} (does not exist)`);
  await rejectsErr(t, loadImageFolder(join(d, 'a'), { size: [4, 4] }), 'SENET_IO',
    `loadImageFolder: expected dir a directory with one sub-folder of images per class, got ${join(d, 'a')} with no sub-folders`);
  await rejectsErr(t, loadImageFolder(d, { size: [0, 4] }), 'SENET_ARG', 'loadImageFolder: expected o.size a [height, width] pair of positive integers, got [0, 4]');
  await rejectsErr(t, loadImageFolder(d, { size: [4, 4], channels: 2 as 1 }), 'SENET_ARG', 'loadImageFolder: expected o.channels 1 or 3, got number 2');
  await rejectsErr(t, loadImageFolder(d, { size: [4, 4], resize: 'crop' as 'stretch' }), 'SENET_ARG',
    "loadImageFolder: expected o.resize one of 'shorter-side-then-center-crop', 'stretch', got string 'crop'");
});

// ---------------------------------------------------------------- in-memory test datasets

/** A float dataset (no uint8 fast path) over `data` [N, H, W, C]; optionally async with a delay per get(). */
function floatDataset(data: Float32Array, shape: [number, number, number], labels: number[], o: { numClasses?: number; delayMs?: number; onGet?: (i: number) => void } = {}): Dataset {
  const S = shape[0] * shape[1] * shape[2];
  const N = labels.length;
  const K = o.numClasses ?? Math.max(...labels) + 1;
  const copy = (i: number, out: Float32Array, off: number) => {
    o.onGet?.(i);
    out.set(data.subarray(i * S, i * S + S), off);
  };
  return {
    name: 'float',
    length: N,
    sampleShape: shape,
    numClasses: K,
    classNames: Array.from({ length: K }, (_, k) => `c${k}`),
    labels: Int32Array.from(labels),
    get: o.delayMs === undefined ? copy : (i, out, off) => new Promise<void>((res) => setTimeout(() => (copy(i, out, off), res()), o.delayMs)),
  };
}

/** The same dataset behind a plain get() (hides the uint8 fast path of IDX / CIFAR datasets). */
function wrap(ds: Dataset): Dataset {
  return { name: ds.name, length: ds.length, sampleShape: ds.sampleShape, numClasses: ds.numClasses, classNames: ds.classNames, labels: ds.labels, get: (i, o, f) => ds.get(i, o, f) };
}

async function collect(L: DataLoader, e: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of L.epoch(e)) out.push(b);
  return out;
}

/** One sample through a loader of batch size 1 (no shuffle). */
async function augmentOne(ds: Dataset, augment: Augment[], epoch = 0, seed = 0): Promise<Float32Array> {
  const L = new DataLoader(ds, { batchSize: 1, shuffle: false, augment, seed });
  const it = L.epoch(epoch);
  const r = await it.next();
  await it.return!();
  return (r.value as Batch).x;
}

const iota = (n: number, start = 1) => Float32Array.from({ length: n }, (_, i) => start + i);

// ---------------------------------------------------------------- augmentations

test('augment flip: p = 1 mirrors a known pattern, p = 0 is the identity, default p ~ 0.5', async (t) => {
  const [H, W, C] = [3, 4, 2];
  const img = iota(H * W * C);
  const ds = floatDataset(img, [H, W, C], [0]);
  const f = await augmentOne(ds, [{ kind: 'flip', p: 1 }]);
  const expect = new Float32Array(H * W * C);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) expect[(y * W + x) * C + c] = img[(y * W + (W - 1 - x)) * C + c];
  t.deepEqual([...f], [...expect]);
  t.deepEqual([...f.subarray(0, 8)], [7, 8, 5, 6, 3, 4, 1, 2]);
  t.deepEqual([...(await augmentOne(ds, [{ kind: 'flip', p: 0 }]))], [...img]);
  // default p: about half of 400 copies flipped
  const many = floatDataset(Float32Array.from({ length: 400 * 24 }, (_, i) => img[i % 24]), [H, W, C], new Array(400).fill(0));
  let flipped = 0;
  for (const b of await collect(new DataLoader(many, { batchSize: 64, augment: [{ kind: 'flip' }] }), 0))
    for (let k = 0; k < b.size; k++) if (b.x[k * 24] === 7) flipped++;
  t.true(flipped > 150 && flipped < 250, `${flipped} of 400 flipped`);
});

test('augment padCrop: every output is the input shifted by an offset in [-pad, pad]^2, zero or reflect padded', async (t) => {
  const [H, W] = [5, 6];
  const img = iota(H * W); // distinct, non-zero
  const ds = floatDataset(img, [H, W, 1], [0]);
  const reflect = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);
  for (const mode of ['zero', 'reflect'] as const) {
    const seen = new Set<string>();
    for (let e = 0; e < 150; e++) {
      const out = await augmentOne(ds, [{ kind: 'padCrop', pad: 2, mode }], e, 7);
      const match: string[] = [];
      for (let oy = -2; oy <= 2; oy++)
        for (let ox = -2; ox <= 2; ox++) {
          let ok = true;
          for (let y = 0; y < H && ok; y++)
            for (let x = 0; x < W && ok; x++) {
              const sy = y + oy, sx = x + ox;
              const v = mode === 'zero'
                ? (sy < 0 || sy >= H || sx < 0 || sx >= W ? 0 : img[sy * W + sx])
                : img[reflect(sy, H) * W + reflect(sx, W)];
              ok = out[y * W + x] === v;
            }
          if (ok) match.push(`${oy},${ox}`);
        }
      t.is(match.length, 1, `${mode} epoch ${e}: ${[...out]}`);
      seen.add(match[0]);
      // the offsets come from the sample's generator, Rng(deriveSeed(seed, epoch, position))
      if (e < 5) {
        const r = new Rng(deriveSeed(7, e, 0));
        t.is(match[0], `${r.int(5) - 2},${r.int(5) - 2}`);
      }
    }
    t.is(seen.size, 25, `${mode}: all 25 offsets occur`);
  }
  t.deepEqual([...(await augmentOne(ds, [{ kind: 'padCrop', pad: 0 }]))], [...img]);
});

test('augment normalize: (x - mean) / std per channel, float32', async (t) => {
  const img = Float32Array.from([0, 0.5, 1, 0.25, 0.75, 0.1, 0.2, 0.3, 0.4, 0.9, 0.8, 0.7]); // 2x2x3
  const ds = floatDataset(img, [2, 2, 3], [0]);
  const mean = [0.5, 0.4, 0.3], std = [0.2, 0.25, 0.5];
  const out = await augmentOne(ds, [{ kind: 'normalize', mean, std }]);
  t.deepEqual([...out], [...img].map((v, i) => Math.fround((v - mean[i % 3]) / std[i % 3])));
  t.is(out[0], Math.fround(-2.5));
  // grayscale and a chain: normalize twice
  const g = floatDataset(Float32Array.from([0, 1, 0.5, 0.25]), [2, 2, 1], [0]);
  const o2 = await augmentOne(g, [{ kind: 'normalize', mean: [0.5], std: [0.5] }, { kind: 'normalize', mean: [1], std: [2] }]);
  t.deepEqual([...o2], [-1, 1, 0, -0.5].map((v) => Math.fround((v - 1) / 2)));
});

/** Bilinear resize, half-pixel centres, clamped at the edges (no antialiasing). */
function bilinear(src: Float32Array, H: number, W: number, C: number, oh: number, ow: number): Float64Array {
  const out = new Float64Array(oh * ow * C);
  const coord = (i: number, n: number, o: number) => {
    const s = Math.min(Math.max((i + 0.5) * (n / o) - 0.5, 0), n - 1);
    const i0 = Math.floor(s);
    return [i0, Math.min(i0 + 1, n - 1), s - i0];
  };
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++) {
      const [y0, y1, fy] = coord(y, H, oh);
      const [x0, x1, fx] = coord(x, W, ow);
      for (let c = 0; c < C; c++) {
        const v = (yy: number, xx: number) => src[(yy * W + xx) * C + c];
        out[(y * ow + x) * C + c] = (1 - fy) * ((1 - fx) * v(y0, x0) + fx * v(y0, x1)) + fy * ((1 - fx) * v(y1, x0) + fx * v(y1, x1));
      }
    }
  return out;
}

/** Antialiased bilinear (triangle filter of width max(scale, 1)), as a direct 2-D sum. */
function triangleResize(src: Float32Array, H: number, W: number, C: number, oh: number, ow: number): Float64Array {
  const weights = (n: number, o: number) =>
    Array.from({ length: o }, (_, i) => {
      const sc = n / o, f = Math.max(sc, 1), ctr = (i + 0.5) * sc;
      const w = Array.from({ length: n }, (_, k) => Math.max(0, 1 - Math.abs((k + 0.5 - ctr) / f)));
      const sum = w.reduce((a, b) => a + b, 0);
      return w.map((v) => v / sum);
    });
  const wy = weights(H, oh), wx = weights(W, ow);
  const out = new Float64Array(oh * ow * C);
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++)
      for (let c = 0; c < C; c++) {
        let acc = 0;
        for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) acc += wy[y][i] * wx[x][j] * src[(i * W + j) * C + c];
        out[(y * ow + x) * C + c] = acc;
      }
  return out;
}

function closeTo(t: ExecutionContext, a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  t.is(a.length, b.length, what);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  t.true(worst <= tol, `${what}: max |diff| ${worst}`);
}

test('augment randomResizedCrop: output shape; scale [1,1] ratio [1,1] on a square image is a plain bilinear resize', async (t) => {
  let s = 3;
  const rnd = (n: number) => Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) / 16777216);
  const img5 = rnd(5 * 5 * 2);
  const ds5 = floatDataset(img5, [5, 5, 2], [0]);
  const full: Augment = { kind: 'randomResizedCrop', size: [8, 8], scale: [1, 1], ratio: [1, 1] };
  closeTo(t, await augmentOne(ds5, [full]), bilinear(img5, 5, 5, 2, 8, 8), 1e-6, 'upscale 5 -> 8');
  closeTo(t, await augmentOne(ds5, [{ ...full, size: [5, 5] }]), img5, 0, 'same size: identity');
  const L = new DataLoader(ds5, { batchSize: 1, augment: [{ ...full, size: [7, 3] }] });
  t.deepEqual(L.outputShape, [7, 3, 2]);
  // 5 -> 7 rows (bilinear), 5 -> 3 columns (antialiased)
  closeTo(t, (await collect(L, 0))[0].x, triangleResize(img5, 5, 5, 2, 7, 3), 1e-6, 'non-square output');
  closeTo(t, triangleResize(img5, 5, 5, 2, 8, 8), bilinear(img5, 5, 5, 2, 8, 8), 1e-12, 'the reference: no antialiasing when enlarging');
  // shrinking is antialiased (triangle filter widened by the scale factor), e.g. 8 -> 4: weights 1/8 3/8 3/8 1/8
  const img8 = rnd(8 * 8 * 3);
  const ds8 = floatDataset(img8, [8, 8, 3], [0]);
  const down = await augmentOne(ds8, [{ ...full, size: [4, 4] }]);
  closeTo(t, down, triangleResize(img8, 8, 8, 3, 4, 4), 1e-6, 'downscale 8 -> 4');
  const c = (1 * 4 + 1) * 3 + 1; // output (1, 1) channel 1: rows / columns 1..4 with weights [1, 3, 3, 1] / 8
  let e = 0;
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) e += ([1, 3, 3, 1][i] * [1, 3, 3, 1][j] / 64) * img8[((1 + i) * 8 + 1 + j) * 3 + 1];
  t.true(Math.abs(down[c] - e) < 1e-6);
  // random crops: values stay within the input range, shape from size
  const rrc = new DataLoader(floatDataset(rnd(20 * 30 * 3 * 4), [20, 30, 3], [0, 1, 0, 1]), { batchSize: 4, augment: [{ kind: 'randomResizedCrop', size: [6, 9] }] });
  for (const b of await collect(rrc, 0)) {
    t.deepEqual(b.shape, [4, 6, 9, 3]);
    t.true(b.x.every((v) => v >= 0 && v <= 1));
  }
  // fallback (no crop of the wanted ratio fits): centre crop clamped to the ratio, e.g. 4x16 -> centre 4x4
  const wide = rnd(4 * 16);
  const fb = await augmentOne(floatDataset(wide, [4, 16, 1], [0]), [{ kind: 'randomResizedCrop', size: [4, 4], scale: [1, 1], ratio: [1, 1] }]);
  const centre = [];
  for (let y = 0; y < 4; y++) for (let x = 6; x < 10; x++) centre.push(wide[y * 16 + x]);
  closeTo(t, fb, centre, 0, 'fallback centre crop');
  // parameters as torchvision: area fraction in scale, aspect ratio in ratio (up to rounding), inside the image
  const r = new Rng(5);
  for (let k = 0; k < 500; k++) {
    const [top, left, h, w] = rrcParams(100, 120, [0.2, 0.6], [0.5, 2], r);
    t.true(top >= 0 && left >= 0 && top + h <= 100 && left + w <= 120 && h > 0 && w > 0);
    const frac = (h * w) / 12000;
    t.true(frac > 0.17 && frac < 0.64, `area fraction ${frac}`);
    t.true(w / h > 0.45 && w / h < 2.2, `ratio ${w / h}`);
  }
});

test('augment: the uint8 fast path (IDX / CIFAR) gives bit-identical batches to plain float get()', async (t) => {
  const d = tmp('digits');
  writeMnist(d, 'train', 50, 6, 5);
  const ds = loadIdxDataset(d, 'train');
  const c = tmp();
  writeFileSync(join(c, 'test_batch.bin'), cifarRecords(Array.from({ length: 20 }, (_, i) => [i % 10]), 0));
  const cifar = loadCifar(c, 'test');
  const chains: Augment[][] = [
    [{ kind: 'padCrop', pad: 2 }, { kind: 'flip' }, { kind: 'normalize', mean: [0.3], std: [0.4] }],
    [{ kind: 'flip', p: 0.7 }, { kind: 'padCrop', pad: 3, mode: 'reflect' }],
    [{ kind: 'randomResizedCrop', size: [4, 4] }, { kind: 'flip' }, { kind: 'normalize', mean: [0.5], std: [0.2] }],
    [{ kind: 'normalize', mean: [0.1], std: [2] }, { kind: 'padCrop', pad: 1 }],
  ];
  for (const [base, C] of [[ds, 1], [cifar, 3]] as const)
    for (const [k, chain0] of chains.entries()) {
      const chain = chain0.map((a) => (a.kind === 'normalize' ? { ...a, mean: new Array(C).fill(a.mean[0]), std: new Array(C).fill(a.std[0]) } : a));
      for (const src of [base, subset(base, [3, 1, 4, 1, 5, 9, 2, 6])]) {
        const a = await collect(new DataLoader(src, { batchSize: 7, augment: chain, seed: 11 }), 2);
        const b = await collect(new DataLoader(wrap(src), { batchSize: 7, augment: chain, seed: 11 }), 2);
        t.deepEqual(a.map((x) => [...x.indices]), b.map((x) => [...x.indices]));
        t.deepEqual(a.map((x) => [...x.x]), b.map((x) => [...x.x]), `${src.name} chain ${k}`);
      }
    }
});

test('bad options are SENET_ARG with the standard wording', (t) => {
  const ds = floatDataset(iota(12), [2, 2, 3], [0]);
  throwsErr(t, () => new DataLoader(ds, { batchSize: 0 }), 'SENET_ARG', 'DataLoader: expected o.batchSize a positive integer, got number 0');
  throwsErr(t, () => new DataLoader(ds, { batchSize: 2.5 }), 'SENET_ARG', 'DataLoader: expected o.batchSize a positive integer, got number 2.5');
  throwsErr(t, () => new DataLoader(ds, { batchSize: 1, prefetch: -1 }), 'SENET_ARG', 'DataLoader: expected o.prefetch a non-negative integer, got number -1');
  throwsErr(t, () => new DataLoader(ds, { batchSize: 1, augment: [{ kind: 'rotate' } as unknown as Augment] }), 'SENET_ARG',
    "DataLoader: expected o.augment[0].kind one of 'padCrop', 'flip', 'randomResizedCrop', 'normalize', got string 'rotate'");
  throwsErr(t, () => new DataLoader(ds, { batchSize: 1, augment: [{ kind: 'flip' }, { kind: 'normalize', mean: [0.5], std: [1, 1, 1] }] }), 'SENET_ARG',
    'DataLoader: expected o.augment[1].mean an array of 3 numbers (one per channel), got an array of length 1');
  throwsErr(t, () => new DataLoader(ds, { batchSize: 1, augment: [{ kind: 'normalize', mean: [0, 0, 0], std: [1, 0, 1] }] }), 'SENET_ARG',
    'DataLoader: expected o.augment[0].std[1] a finite non-zero number, got number 0');
  throwsErr(t, () => new DataLoader(ds, { batchSize: 1, augment: [{ kind: 'padCrop', pad: -1 }] }), 'SENET_ARG',
    'DataLoader: expected o.augment[0].pad a non-negative integer, got number -1');
  throwsErr(t, () => new DataLoader(ds, { batchSize: 1, augment: [{ kind: 'flip', p: 2 }] }), 'SENET_ARG',
    'DataLoader: expected o.augment[0].p a probability in [0, 1], got number 2');
  throwsErr(t, () => new DataLoader(ds, { batchSize: 1, augment: [{ kind: 'randomResizedCrop', size: [4, 4], scale: [0.9, 0.1] }] }), 'SENET_ARG',
    'DataLoader: expected o.augment[0].scale a [min, max] pair with 0 < min <= max, got [0.9, 0.1]');
  // normalize after an RRC that keeps 3 channels is fine
  t.notThrows(() => new DataLoader(ds, { batchSize: 1, augment: [{ kind: 'randomResizedCrop', size: [4, 4] }, { kind: 'normalize', mean: [0, 0, 0], std: [1, 1, 1] }] }));
  throwsErr(t, () => split(ds, 1.5, 0), 'SENET_ARG', 'split: expected fraction a number in (0, 1), got number 1.5');
  throwsErr(t, () => split(ds, 0, 0), 'SENET_ARG', 'split: expected fraction a number in (0, 1), got number 0');
  throwsErr(t, () => subset(ds, [0, 1]), 'SENET_ARG', 'subset: expected indices[1] an integer in [0, 1), got number 1');
  const L = new DataLoader(ds, { batchSize: 1 });
  throwsErr(t, () => L.epoch(-1), 'SENET_ARG', 'DataLoader.epoch: expected e a non-negative integer, got number -1');
});

// ---------------------------------------------------------------- DataLoader

/** N samples of shape 2x3x1 whose pixels encode the sample index. */
function indexDataset(N: number, labels?: number[], o: { delayMs?: number; onGet?: (i: number) => void } = {}): Dataset {
  const data = new Float32Array(N * 6);
  for (let i = 0; i < N; i++) for (let k = 0; k < 6; k++) data[i * 6 + k] = i + k / 10;
  return floatDataset(data, [2, 3, 1], labels ?? Array.from({ length: N }, (_, i) => i % 3), { numClasses: 3, ...o });
}

test('DataLoader: batch shapes, labels, contents; last partial batch or dropLast', async (t) => {
  const ds = indexDataset(10);
  const L = new DataLoader(ds, { batchSize: 4, shuffle: false });
  t.is(L.numBatches(), 3);
  t.deepEqual(L.outputShape, [2, 3, 1]);
  const bs = await collect(L, 0);
  t.deepEqual(bs.map((b) => b.size), [4, 4, 2]);
  t.deepEqual(bs.map((b) => b.shape), [[4, 2, 3, 1], [4, 2, 3, 1], [2, 2, 3, 1]]);
  t.deepEqual(bs.map((b) => b.x.length), [24, 24, 12]);
  t.deepEqual(bs.flatMap((b) => [...b.indices]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  for (const b of bs)
    for (let k = 0; k < b.size; k++) {
      t.is(b.labels[k], ds.labels[b.indices[k]]);
      t.is(b.x[k * 6 + 4], Math.fround(b.indices[k] + 0.4));
    }
  const D = new DataLoader(ds, { batchSize: 4, dropLast: true });
  t.is(D.numBatches(), 2);
  const db = await collect(D, 0);
  t.deepEqual(db.map((b) => b.size), [4, 4]);
  t.is(new Set(db.flatMap((b) => [...b.indices])).size, 8);
  t.is((await collect(new DataLoader(indexDataset(3), { batchSize: 4, dropLast: true }), 0)).length, 0);
});

test('DataLoader: every index exactly once per epoch; same (seed, epoch) gives identical batches, other epochs / seeds another order', async (t) => {
  const N = 103;
  const ds = indexDataset(N);
  const aug: Augment[] = [{ kind: 'padCrop', pad: 1 }, { kind: 'flip' }];
  const L = new DataLoader(ds, { batchSize: 10, seed: 42, augment: aug });
  const e3 = await collect(L, 3);
  const all = e3.flatMap((b) => [...b.indices]);
  t.deepEqual([...all].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i));
  t.notDeepEqual(all, Array.from({ length: N }, (_, i) => i), 'shuffled');
  // an epoch is reproducible on its own: a fresh loader, other epochs run before or not
  const L2 = new DataLoader(ds, { batchSize: 10, seed: 42, augment: aug });
  await collect(L2, 0);
  const again = await collect(L2, 3);
  t.deepEqual(again.map((b) => [...b.indices]), e3.map((b) => [...b.indices]));
  t.deepEqual(again.map((b) => [...b.x]), e3.map((b) => [...b.x]));
  const e4 = (await collect(L, 4)).flatMap((b) => [...b.indices]);
  t.notDeepEqual(e4, all);
  t.deepEqual([...e4].sort((a, b) => a - b), [...all].sort((a, b) => a - b));
  const other = (await collect(new DataLoader(ds, { batchSize: 10, seed: 43 }), 3)).flatMap((b) => [...b.indices]);
  t.notDeepEqual(other, all);
  // the order does not depend on the augmentations or the batch size
  const plain = (await collect(new DataLoader(ds, { batchSize: 7, seed: 42 }), 3)).flatMap((b) => [...b.indices]);
  t.deepEqual(plain, all);
  // same as the documented order: Fisher-Yates with Rng(deriveSeed(seed, epoch))
  t.deepEqual([...L.order(3)], all);
});

test('DataLoader balanced: classes drawn round-robin, indices reshuffled when a class runs out', async (t) => {
  const labels = [...new Array(70).fill(0), ...new Array(20).fill(1), ...new Array(10).fill(2)];
  const ds = indexDataset(100, labels);
  const L = new DataLoader(ds, { batchSize: 6, balanced: true, seed: 1 });
  t.is(L.numBatches(), 17);
  const bs = await collect(L, 0);
  t.is(bs.reduce((a, b) => a + b.size, 0), 100, 'epoch length = dataset length');
  const counts = [0, 0, 0];
  for (const b of bs) {
    const per = [0, 0, 0];
    for (let k = 0; k < b.size; k++) {
      t.is(b.labels[k], labels[b.indices[k]]);
      per[b.labels[k]]++;
    }
    if (b.size === 6) t.deepEqual(per, [2, 2, 2], 'a batch of a multiple of 3 holds each class equally');
    per.forEach((v, c) => (counts[c] += v));
  }
  t.deepEqual([...counts].sort(), [33, 33, 34]);
  // class 2 (10 samples, 33 or 34 draws): every sample 3 or 4 times
  const uses = new Map<number, number>();
  for (const b of bs) for (const i of b.indices) if (labels[i] === 2) uses.set(i, (uses.get(i) ?? 0) + 1);
  t.is(uses.size, 10);
  t.true([...uses.values()].every((u) => u === 3 || u === 4), `${[...uses.values()]}`);
  // deterministic per (seed, epoch), different across epochs
  t.deepEqual((await collect(L, 0)).map((b) => [...b.indices]), bs.map((b) => [...b.indices]));
  t.notDeepEqual((await collect(L, 1)).map((b) => [...b.indices]), bs.map((b) => [...b.indices]));
});

test.serial('DataLoader prefetch: batches are prepared while the consumer awaits', async (t) => {
  // synchronous dataset: after the consumer takes batch 0 and waits, batches 1..prefetch are ready, no more
  let gets = 0;
  const ds = indexDataset(64, undefined, { onGet: () => gets++ });
  const L = new DataLoader(ds, { batchSize: 4, prefetch: 3, shuffle: false });
  const it = L.epoch(0);
  const first = await it.next();
  t.false(first.done);
  for (let k = 0; k < 20; k++) await new Promise((r) => setImmediate(r)); // event-loop turns while the consumer "computes"
  t.is(gets, 16, '1 + 3 batches decoded');
  await it.return!();
  // asynchronous dataset (20 ms per get): consumer work overlaps decoding
  const slow = indexDataset(32, undefined, { delayMs: 20 });
  const run = async (prefetch: number) => {
    const t0 = performance.now();
    for await (const b of new DataLoader(slow, { batchSize: 4, concurrency: 4, prefetch }).epoch(0)) {
      void b;
      await new Promise((r) => setTimeout(r, 20)); // the "engine"
    }
    return performance.now() - t0;
  };
  const sequential = await run(0);
  const overlapped = await run(2);
  t.log(`8 batches, 20 ms decode + 20 ms compute each: prefetch 0 ${sequential.toFixed(0)} ms, prefetch 2 ${overlapped.toFixed(0)} ms`);
  t.true(sequential > 300, `sequential ${sequential}`);
  t.true(overlapped < 0.75 * sequential, `overlapped ${overlapped} vs sequential ${sequential}`);
});

test('DataLoader: async get() with concurrency, early exit, errors from get()', async (t) => {
  let active = 0, peak = 0;
  const data = iota(30 * 6, 0);
  const ds: Dataset = {
    ...floatDataset(data, [2, 3, 1], Array.from({ length: 30 }, (_, i) => i % 2)),
    get: async (i, out, off) => {
      peak = Math.max(peak, ++active);
      await new Promise((r) => setTimeout(r, 1 + (i % 3)));
      out.set(data.subarray(i * 6, i * 6 + 6), off);
      active--;
    },
  };
  const bs = await collect(new DataLoader(ds, { batchSize: 8, concurrency: 5, seed: 3 }), 1);
  t.true(peak <= 5 && peak >= 2, `peak ${peak}`);
  t.deepEqual(bs.map((b) => b.size), [8, 8, 8, 6]);
  for (const b of bs) for (let k = 0; k < b.size; k++) t.is(b.x[k * 6], b.indices[k] * 6);
  // same batches as a synchronous twin
  const twin = await collect(new DataLoader(floatDataset(data, [2, 3, 1], [...ds.labels]), { batchSize: 8, seed: 3 }), 1);
  t.deepEqual(bs.map((b) => [...b.x]), twin.map((b) => [...b.x]));
  // leaving early
  let n = 0;
  for await (const b of new DataLoader(ds, { batchSize: 4 }).epoch(0)) {
    void b;
    if (++n === 2) break;
  }
  t.is(n, 2);
  // errors from get() reach the consumer
  const broken: Dataset = { ...ds, get: (i, out, off) => { if (i === 13) throw new Error('boom 13'); out.fill(0, off, off + 6); } };
  await t.throwsAsync(collect(new DataLoader(broken, { batchSize: 4, shuffle: false }), 0), { message: 'boom 13' });
});

// ---------------------------------------------------------------- subset / split

test('subset and split', async (t) => {
  const labels = Array.from({ length: 50 }, (_, i) => (i < 30 ? 0 : i < 45 ? 1 : 2));
  const ds = indexDataset(50, labels);
  const s = subset(ds, [5, 40, 5], 'sub');
  t.is(s.name, 'sub');
  t.is(s.length, 3);
  t.deepEqual([...s.labels], [0, 1, 0]);
  const out = new Float32Array(6);
  s.get(1, out, 0);
  t.is(out[0], 40);
  const [a, b] = split(ds, 0.2, 9);
  t.is(a.length, 10);
  t.is(b.length, 40);
  const ia: number[] = [], ib: number[] = [];
  for (let k = 0; k < a.length; k++) (a.get(k, out, 0), ia.push(out[0]));
  for (let k = 0; k < b.length; k++) (b.get(k, out, 0), ib.push(out[0]));
  t.deepEqual([...ia, ...ib].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i), 'a partition');
  const cnt = (l: Int32Array) => [0, 1, 2].map((c) => l.filter((v) => v === c).length);
  t.deepEqual(cnt(a.labels), [6, 3, 1], 'stratified');
  t.deepEqual(cnt(b.labels), [24, 12, 4]);
  const [a2] = split(ds, 0.2, 9);
  t.deepEqual([...a2.labels], [...a.labels]);
  const ia2: number[] = [];
  for (let k = 0; k < a2.length; k++) (a2.get(k, out, 0), ia2.push(out[0]));
  t.deepEqual(ia2, ia, 'deterministic');
  const [a3] = split(ds, 0.2, 10);
  const ia3: number[] = [];
  for (let k = 0; k < a3.length; k++) (a3.get(k, out, 0), ia3.push(out[0]));
  t.notDeepEqual(ia3, ia, 'another seed, another split');
  // a split of an IDX dataset through the loader
  const d = tmp('digits');
  writeMnist(d, 'train', 40);
  const [v, tr] = split(loadIdxDataset(d, 'train'), 0.25, 1);
  t.is(v.length + tr.length, 40);
  const bs = await collect(new DataLoader(tr, { batchSize: 8 }), 0);
  t.is(bs.reduce((n, x) => n + x.size, 0), 30);
});

// ---------------------------------------------------------------- Rng

test('Rng: deterministic, state round trip, int / normal ranges; deriveSeed is stable', (t) => {
  const a = new Rng(123), b = new Rng(123);
  const xs = Array.from({ length: 5 }, () => a.next());
  t.deepEqual(Array.from({ length: 5 }, () => b.next()), xs);
  t.notDeepEqual(Array.from({ length: 5 }, () => new Rng(124).next()), xs);
  const st = a.state();
  t.regex(st, /^xoshiro128\*\*:[0-9a-f]{32}$/);
  const ahead = [a.next(), a.int(1000), a.normal(), a.next()];
  const r = Rng.from(st);
  t.deepEqual([r.next(), r.int(1000), r.normal(), r.next()], ahead);
  t.is(r.state(), a.state());
  throwsErr(t, () => Rng.from('nope'), 'SENET_ARG', /^Rng.from: expected state a string from Rng.state\(\)/);
  throwsErr(t, () => new Rng(1.5), 'SENET_ARG', 'Rng: expected seed a safe integer, got number 1.5');
  const g = new Rng(7);
  const hist = new Array(10).fill(0);
  let sum = 0, sq = 0, lo = 1, hi = 0;
  for (let i = 0; i < 20000; i++) {
    hist[g.int(10)]++;
    const n = g.normal();
    sum += n;
    sq += n * n;
    const u = g.next();
    lo = Math.min(lo, u);
    hi = Math.max(hi, u);
  }
  t.true(hist.every((h) => h > 1800 && h < 2200), `${hist}`);
  t.true(Math.abs(sum / 20000) < 0.03 && Math.abs(sq / 20000 - 1) < 0.05);
  t.true(lo >= 0 && lo < 0.001 && hi < 1 && hi > 0.999);
  t.true([1, 3, 1 << 30, 2 ** 32].every((n) => { const v = g.int(n); return Number.isInteger(v) && v >= 0 && v < n; }));
  // pinned values: checkpoints rely on these never changing
  t.is(deriveSeed(0), deriveSeed(0));
  t.not(deriveSeed(1, 2), deriveSeed(2, 1));
  t.not(deriveSeed(1, 2), deriveSeed(1, 2, 0));
  t.deepEqual([deriveSeed(0), deriveSeed(42, 3, 17), deriveSeed(2 ** 40, -1)], PINNED_SEEDS);
  t.is(new Rng(42).state(), PINNED_STATE);
  // the generator is xoshiro128**: the reference implementation's outputs from state {1, 2, 3, 4}
  const ref = Rng.from('xoshiro128**:00000001000000020000000300000004');
  t.deepEqual(Array.from({ length: 10 }, () => ref.uint32()),
    [11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804]);
  t.true(Number.isInteger(deriveSeed(5, 6)) && deriveSeed(5, 6) >= 0 && deriveSeed(5, 6) < 2 ** 32);
});
const PINNED_SEEDS = [2650810860, 2101700281, 142358631];
const PINNED_STATE = 'xoshiro128**:20e448180895a9231339a01fb4e3841a';

// ---------------------------------------------------------------- speed

test.serial('speed: one Fashion-MNIST-sized epoch (60000 x 28x28, batch 128) with padCrop(4) + flip + normalize', async (t) => {
  let ds: Dataset;
  if (haveFashion) ds = loadIdxDataset(FASHION, 'train');
  else {
    const d = tmp('speed');
    const px = new Uint8Array(60000 * 784);
    for (let i = 0; i < px.length; i++) px[i] = (i * 2654435761) >>> 24;
    writeFileSync(join(d, 'train-images-idx3-ubyte'), idx('u8', [60000, 28, 28], px));
    writeFileSync(join(d, 'train-labels-idx1-ubyte'), idx('u8', [60000], Array.from({ length: 60000 }, (_, i) => i % 10)));
    ds = loadIdxDataset(d, 'train');
  }
  const L = new DataLoader(ds, {
    batchSize: 128,
    seed: 1,
    augment: [{ kind: 'padCrop', pad: 4 }, { kind: 'flip' }, { kind: 'normalize', mean: [0.286], std: [0.353] }],
  });
  const times: number[] = [];
  for (let e = 0; e < 3; e++) {
    const t0 = performance.now();
    let n = 0, batches = 0;
    for await (const b of L.epoch(e)) {
      n += b.size;
      batches++;
    }
    times.push(performance.now() - t0);
    t.is(n, 60000);
    t.is(batches, 469);
  }
  t.log(`${haveFashion ? 'Fashion-MNIST' : 'synthetic 60000x28x28'}: one epoch of 469 batches: ${times.map((x) => x.toFixed(0)).join(', ')} ms`);
  t.true(Math.min(...times) < 5000, `${times}`);
});
