/**
 * IDX files (http://yann.lecun.com/exdb/mnist/): magic 00 00 <type> <rank>,
 * <rank> big-endian uint32 dimensions, then the big-endian data. MNIST and
 * Fashion-MNIST ship as gzipped IDX files; readIdx accepts both.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync, constants as zc } from 'node:zlib';
import { fail } from '../errors.js';
import { type Dataset, type U8Source, checkIndex, U8_SOURCE } from './dataset.js';
import { ioError, ioFail, U8_TO_UNIT } from './util.js';

export type IdxType = 'u8' | 'i8' | 'i16' | 'i32' | 'f32' | 'f64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
export interface IdxFile {
  dims: number[];
  type: IdxType;
  data: IdxData;
}

const TYPES: Record<number, [IdxType, number]> = {
  0x08: ['u8', 1],
  0x09: ['i8', 1],
  0x0b: ['i16', 2],
  0x0c: ['i32', 4],
  0x0d: ['f32', 4],
  0x0e: ['f64', 8],
};

const hex2 = (b: number) => b.toString(16).padStart(2, '0');

/** Reads the file, gunzipping it when it starts with the gzip magic 1f 8b. */
function readMaybeGzip(op: string, file: string): { buf: Buffer; gzipError?: string } {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    ioFail(op, `cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, e);
  }
  if (raw.length < 2 || raw[0] !== 0x1f || raw[1] !== 0x8b) return { buf: raw };
  try {
    return { buf: gunzipSync(raw) };
  } catch (e) {
    // A truncated stream: decompress what is there, so the IDX parser can say
    // what is missing; a corrupt stream fails here.
    let partial: Buffer | undefined;
    try {
      partial = gunzipSync(raw, { finishFlush: zc.Z_SYNC_FLUSH });
    } catch {
      /* corrupt */
    }
    if (partial === undefined)
      ioError(op, file, 0, `expected a gzip stream, got corrupt gzip data (${(e as Error).message})`);
    return { buf: partial, gzipError: (e as Error).message };
  }
}

/**
 * Parses an IDX file held in memory; `file` names it in errors. gzipError:
 * the buffer is what could be decompressed of a gzip stream that failed so.
 */
export function parseIdx(buf: Uint8Array, file = '<buffer>', op = 'readIdx', gzipError?: string): IdxFile {
  const n = buf.byteLength;
  if (n < 4) ioError(op, file, 0, `expected a 4-byte IDX header, got a ${n}-byte file (truncated file)`);
  if (buf[0] !== 0 || buf[1] !== 0 || !(buf[2] in TYPES) || buf[3] === 0) {
    const got = [buf[0], buf[1], buf[2], buf[3]].map(hex2).join(' ');
    if (buf[0] !== 0 || buf[1] !== 0)
      ioError(op, file, 0, `expected the IDX magic number 00 00 <type> <rank>, got ${got} (not an IDX file)`);
    if (!(buf[2] in TYPES))
      ioError(op, file, 2, `expected an IDX type code (08 u8, 09 i8, 0b i16, 0c i32, 0d f32, 0e f64), got ${hex2(buf[2])}`);
    ioError(op, file, 3, 'expected a rank of at least 1, got 0');
  }
  const [type, item] = TYPES[buf[2]];
  const rank = buf[3];
  const dataStart = 4 + 4 * rank;
  if (n < dataStart)
    ioError(op, file, 4, `expected ${rank} dimension${rank > 1 ? 's' : ''} (${4 * rank} bytes), got ${n - 4} bytes (truncated file)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, n);
  const dims: number[] = [];
  let count = 1;
  for (let r = 0; r < rank; r++) {
    const d = dv.getUint32(4 + 4 * r, false);
    dims.push(d);
    count *= d;
  }
  const bytes = count * item;
  const have = n - dataStart;
  if (have < bytes)
    ioError(op, file, dataStart, `expected ${bytes} bytes of data, got ${have} (truncated file)`);
  if (have > bytes)
    ioError(op, file, dataStart + bytes, `expected ${bytes} bytes of data for dims [${dims.join(', ')}], got ${have} (${have - bytes} extra bytes at the end)`);
  if (gzipError !== undefined)
    ioError(op, file, n, `expected the end of the gzip stream, got '${gzipError}' (truncated file)`);
  let data: IdxData;
  switch (type) {
    case 'u8':
      data = new Uint8Array(buf.buffer, buf.byteOffset + dataStart, count);
      break;
    case 'i8':
      data = new Int8Array(buf.buffer, buf.byteOffset + dataStart, count);
      break;
    case 'i16': {
      const a = new Int16Array(count);
      for (let i = 0; i < count; i++) a[i] = dv.getInt16(dataStart + 2 * i, false);
      data = a;
      break;
    }
    case 'i32': {
      const a = new Int32Array(count);
      for (let i = 0; i < count; i++) a[i] = dv.getInt32(dataStart + 4 * i, false);
      data = a;
      break;
    }
    case 'f32': {
      const a = new Float32Array(count);
      for (let i = 0; i < count; i++) a[i] = dv.getFloat32(dataStart + 4 * i, false);
      data = a;
      break;
    }
    case 'f64': {
      const a = new Float64Array(count);
      for (let i = 0; i < count; i++) a[i] = dv.getFloat64(dataStart + 8 * i, false);
      data = a;
      break;
    }
  }
  return { dims, type, data };
}

/** Reads an IDX file, gzipped (detected by the magic bytes 1f 8b) or not. */
export function readIdx(file: string): IdxFile {
  const { buf, gzipError } = readMaybeGzip('readIdx', file);
  return parseIdx(buf, file, 'readIdx', gzipError);
}

export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
]);
export const MNIST_CLASSES: readonly string[] = Object.freeze(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function findIdx(dir: string, prefix: string, kind: 'images' | 'labels', rank: number): string | undefined {
  for (const sep of ['-', '.'])
    for (const gz of ['.gz', '']) {
      const p = join(dir, `${prefix}-${kind}${sep}idx${rank}-ubyte${gz}`);
      if (existsSync(p)) return p;
    }
  return undefined;
}

/**
 * MNIST-style IDX dataset: <dir>/train-images-idx3-ubyte[.gz] and
 * train-labels-idx1-ubyte[.gz] (split 'train') or t10k-* (split 'test');
 * the '.idx3-ubyte' spelling is accepted too. Images are u8 [N, H, W] (or
 * [N, H, W, C]), labels u8/i8/i16/i32 [N]. Class names: o.classNames, else
 * Fashion-MNIST's when the path contains 'fashion', else the digits.
 */
export function loadIdxDataset(dir: string, split: 'train' | 'test', o: { name?: string; classNames?: string[] } = {}): Dataset {
  const op = 'loadIdxDataset';
  if (split !== 'train' && split !== 'test') fail('SENET_ARG', op, 'split', "'train' or 'test'", String(split));
  const abs = resolve(String(dir));
  const fashion = /fashion/i.test(abs) || /fashion/i.test(o.name ?? '');
  const prefix = split === 'train' ? 'train' : 't10k';
  const want = `${prefix}-images-idx3-ubyte[.gz] and ${prefix}-labels-idx1-ubyte[.gz]`;
  const hint = fashion
    ? '; install Fashion-MNIST with `apt-get install dataset-fashion-mnist` (it goes to /usr/share/datasets/fashion-mnist) or pass --data DIR'
    : '; pass --data DIR';
  if (!isDir(abs))
    ioFail(op, `expected dir a directory holding ${want}, got ${abs} (${existsSync(abs) ? 'not a directory' : 'does not exist'})${hint}`);
  const imagesFile = findIdx(abs, prefix, 'images', 3);
  const labelsFile = findIdx(abs, prefix, 'labels', 1);
  if (!imagesFile || !labelsFile) {
    const missing = [!imagesFile && `${prefix}-images-idx3-ubyte[.gz]`, !labelsFile && `${prefix}-labels-idx1-ubyte[.gz]`].filter(Boolean);
    ioFail(op, `expected dir a directory holding ${want}, got ${abs} without ${missing.join(' and ')}${hint}`);
  }
  const img = readIdx(imagesFile);
  const lab = readIdx(labelsFile);
  if (img.type !== 'u8' || (img.dims.length !== 3 && img.dims.length !== 4))
    ioError(op, imagesFile, 2, `expected u8 images of rank 3 [N, H, W] or 4 [N, H, W, C], got ${img.type} of rank ${img.dims.length} [${img.dims.join(', ')}]`);
  if (lab.dims.length !== 1 || lab.type === 'f32' || lab.type === 'f64')
    ioError(op, labelsFile, 2, `expected integer labels of rank 1 [N], got ${lab.type} of rank ${lab.dims.length} [${lab.dims.join(', ')}]`);
  const [N, H, W] = img.dims;
  const C = img.dims.length === 4 ? img.dims[3] : 1;
  if (lab.dims[0] !== N)
    ioError(op, labelsFile, 4, `expected ${N} labels (one per image in ${imagesFile}), got ${lab.dims[0]}`);
  const classNames = o.classNames ? [...o.classNames] : [...(fashion ? FASHION_MNIST_CLASSES : MNIST_CLASSES)];
  if (classNames.length < 1) fail('SENET_ARG', op, 'o.classNames', 'a non-empty array of class names', 'an empty array');
  const K = classNames.length;
  const labels = new Int32Array(N);
  const src = lab.data;
  const itemSize = ({ u8: 1, i8: 1, i16: 2, i32: 4 } as Record<string, number>)[lab.type];
  for (let i = 0; i < N; i++) {
    const v = src[i];
    if (!(v >= 0 && v < K))
      ioError(op, labelsFile, 8 + i * itemSize, `expected a label in [0, ${K}), got ${v} (sample ${i})`);
    labels[i] = v;
  }
  // copy the pixels out of the (possibly much larger) file buffer
  const pixels = new Uint8Array(img.data as Uint8Array);
  const S = H * W * C;
  const name = o.name ?? `${fashion ? 'fashion-mnist' : 'mnist'}-${split}`;
  const lut = U8_TO_UNIT;
  const ds: Dataset & { [U8_SOURCE]: U8Source } = {
    [U8_SOURCE]: { pixels, sampleSize: S },
    name,
    length: N,
    sampleShape: Object.freeze([H, W, C]) as readonly [number, number, number],
    numClasses: K,
    classNames: Object.freeze(classNames),
    labels,
    get(i: number, out: Float32Array, offset: number): void {
      if (!(i >= 0 && i < N)) checkIndex(name, i, N);
      const base = i * S;
      for (let k = 0; k < S; k++) out[offset + k] = lut[pixels[base + k]];
    },
  };
  return ds;
}
