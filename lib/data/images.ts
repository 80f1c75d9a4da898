/**
 * Images through sharp: loadImage (one file, for prediction) and
 * loadImageFolder (one sub-folder per class, decoded on demand).
 */
import { readdirSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { fail, describe } from '../errors.js';
import { type Dataset, checkIndex } from './dataset.js';
import { checkOneOf, checkSize, ioFail, U8_TO_UNIT } from './util.js';

export type ResizeMode = 'shorter-side-then-center-crop' | 'stretch';
export interface ImageOptions {
  /** [height, width] of the output */
  size: [number, number];
  /** 3: RGB (default); 1: ITU-R 601 luma of the RGB image, as PIL's convert('L') */
  channels?: 1 | 3;
  /**
   * 'shorter-side-then-center-crop' (default): scale so the image covers
   * size (for a square size: the shorter side becomes the size), then crop
   * the centre; 'stretch': scale each axis to size, ignoring the aspect ratio.
   */
  resize?: ResizeMode;
}

/** File extensions loadImageFolder takes as images (lower case). */
export const IMAGE_EXTENSIONS: readonly string[] = Object.freeze([
  '.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.heic', '.heif', '.svg',
]);

interface Checked {
  H: number;
  W: number;
  C: 1 | 3;
  resize: ResizeMode;
}

function checkImageOptions(op: string, o: ImageOptions): Checked {
  if (o === null || typeof o !== 'object') fail('SENET_ARG', op, 'o', 'an options object with size: [height, width]', describe(o));
  const [H, W] = checkSize(op, 'o.size', o.size);
  if (o.channels !== undefined && o.channels !== 1 && o.channels !== 3) fail('SENET_ARG', op, 'o.channels', '1 or 3', describe(o.channels));
  const resize = checkOneOf(op, 'o.resize', o.resize, ['shorter-side-then-center-crop', 'stretch'] as const, 'shorter-side-then-center-crop');
  return { H, W, C: o.channels ?? 3, resize };
}

/** Decodes, resizes and writes the image as float HWC in [0, 1] at out[offset...]. */
async function decodeInto(op: string, file: string, c: Checked, out: Float32Array, offset: number): Promise<void> {
  let data: Buffer;
  try {
    const r = await sharp(file)
      .rotate() // EXIF orientation
      .resize({ width: c.W, height: c.H, fit: c.resize === 'stretch' ? 'fill' : 'cover', position: 'centre' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (r.info.width !== c.W || r.info.height !== c.H || r.info.channels !== 3)
      throw new Error(`decoded to ${r.info.width}x${r.info.height}x${r.info.channels}, not ${c.W}x${c.H}x3`);
    data = r.data;
  } catch (e) {
    ioFail(op, `cannot decode ${file}: ${(e as Error).message}`, e);
  }
  const n = c.H * c.W;
  const lut = U8_TO_UNIT;
  if (c.C === 3) {
    for (let k = 0; k < 3 * n; k++) out[offset + k] = lut[data[k]];
  } else {
    for (let k = 0; k < n; k++)
      out[offset + k] = (0.299 * data[3 * k] + 0.587 * data[3 * k + 1] + 0.114 * data[3 * k + 2]) / 255;
  }
}

/** One image as float32 HWC [size[0], size[1], channels] in [0, 1] (e.g. for `senet predict`). */
export async function loadImage(file: string, o: ImageOptions): Promise<Float32Array> {
  const c = checkImageOptions('loadImage', o);
  const abs = resolve(String(file));
  let st;
  try {
    st = statSync(abs);
  } catch {
    ioFail('loadImage', `cannot read ${abs}: no such file`);
  }
  if (!st.isFile()) ioFail('loadImage', `cannot read ${abs}: not a file`);
  const out = new Float32Array(c.H * c.W * c.C);
  await decodeInto('loadImage', abs, c, out, 0);
  return out;
}

export interface ImageFolderDataset extends Dataset {
  /** the image files, in sample order */
  readonly files: readonly string[];
  get(i: number, out: Float32Array, offset: number): Promise<void>;
}

function isDirFollow(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function isFileFollow(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * An image-folder dataset: dir/<class>/<image>, class indices in sorted
 * order of the sub-folder names, images sorted by name within a class.
 * Files whose extension is not in IMAGE_EXTENSIONS and hidden entries are
 * skipped. get() is async and decodes (sharp) and resizes on demand.
 */
export async function loadImageFolder(dir: string, o: ImageOptions): Promise<ImageFolderDataset> {
  const op = 'loadImageFolder';
  const c = checkImageOptions(op, o);
  const abs = resolve(String(dir));
  const want = 'expected dir a directory with one sub-folder of images per class';
  let entries: string[];
  if (isFileFollow(abs)) ioFail(op, `${want}, got ${abs} (a file)`);
  try {
    entries = readdirSync(abs);
  } catch (e) {
    ioFail(op, `${want}, got ${abs} (${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (e as Error).message})`, e);
  }
  const classNames = entries.filter((n) => !n.startsWith('.') && isDirFollow(join(abs, n))).sort(byCodePoint);
  if (classNames.length === 0) ioFail(op, `${want}, got ${abs} with no sub-folders`);
  const files: string[] = [];
  const labelList: number[] = [];
  for (let k = 0; k < classNames.length; k++) {
    const cdir = join(abs, classNames[k]);
    const imgs = readdirSync(cdir)
      .filter((n) => !n.startsWith('.') && IMAGE_EXTENSIONS.includes(extname(n).toLowerCase()) && isFileFollow(join(cdir, n)))
      .sort(byCodePoint);
    if (imgs.length === 0)
      ioFail(op, `expected class folder ${cdir} to hold images (${IMAGE_EXTENSIONS.join(' ')}), got none`);
    for (const f of imgs) {
      files.push(join(cdir, f));
      labelList.push(k);
    }
  }
  const N = files.length;
  const name = `imagefolder:${abs}`;
  return {
    name,
    length: N,
    sampleShape: Object.freeze([c.H, c.W, c.C]) as readonly [number, number, number],
    numClasses: classNames.length,
    classNames: Object.freeze(classNames),
    labels: Int32Array.from(labelList),
    files: Object.freeze(files),
    async get(i: number, out: Float32Array, offset: number): Promise<void> {
      if (!(i >= 0 && i < N)) checkIndex(name, i, N);
      return decodeInto(op, files[i], c, out, offset);
    },
  };
}
