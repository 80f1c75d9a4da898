/**
 * Per-sample augmentations on float32 HWC images. Each is compiled for its
 * input shape into an op that reads src and writes dst (never in place);
 * random choices come from the per-sample Rng the DataLoader keys by
 * (seed, epoch, position).
 */
import { fail, describe } from '../errors.js';
import { Rng } from './rng.js';
import { checkInt, checkNumber } from './util.js';

export type Augment =
  | { kind: 'padCrop'; pad: number; mode?: 'zero' | 'reflect' }
  | { kind: 'flip'; p?: number }
  | { kind: 'randomResizedCrop'; size: [number, number]; scale?: [number, number]; ratio?: [number, number] }
  | { kind: 'normalize'; mean: number[]; std: number[] };

export type Shape3 = [number, number, number];

/**
 * A geometric augmentation that moves pixels without changing the shape
 * (padCrop, flip): it draws its parameters, then maps output rows / columns
 * to input rows / columns (-1: a zero pixel). Consecutive ones compose into
 * one gather pass.
 */
interface GeoOp {
  readonly kind: 'padCrop' | 'flip';
  readonly random: boolean;
  draw(rng: Rng, p: Int32Array): void;
  rows(map: Int32Array, p: Int32Array): void;
  cols(map: Int32Array, p: Int32Array): void;
}

const KINDS = ['padCrop', 'flip', 'randomResizedCrop', 'normalize'] as const;

/** numpy/torch 'reflect' (no edge repeat): -1 -> 1, n -> n - 2 */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i >= n ? period - i : i;
}

function padCrop(H: number, W: number, pad: number, mode: 'zero' | 'reflect'): GeoOp {
  // pad, then crop an HxW window at (dy, dx), dy, dx uniform in [0, 2 pad]:
  // out(y, x) = in(y + oy, x + ox) with oy = dy - pad, ox = dx - pad
  const shift = (map: Int32Array, o: number, n: number) => {
    if (o === 0) return;
    for (let i = 0; i < map.length; i++) {
      const v = map[i];
      if (v < 0) continue;
      map[i] = mode === 'reflect' ? reflect(v + o, n) : v + o >= 0 && v + o < n ? v + o : -1;
    }
  };
  return {
    kind: 'padCrop',
    random: pad > 0,
    draw(rng, p) {
      p[0] = pad > 0 ? rng.int(2 * pad + 1) - pad : 0;
      p[1] = pad > 0 ? rng.int(2 * pad + 1) - pad : 0;
    },
    rows: (map, p) => shift(map, p[0], H),
    cols: (map, p) => shift(map, p[1], W),
  };
}

function flip(W: number, prob: number): GeoOp {
  return {
    kind: 'flip',
    random: true,
    draw(rng, p) {
      p[0] = rng.next() < prob ? 1 : 0;
    },
    rows() {},
    cols(map, p) {
      if (!p[0]) return;
      for (let i = 0; i < map.length; i++) if (map[i] >= 0) map[i] = W - 1 - map[i];
    },
  };
}

/** A stage of the compiled pipeline: reads an image of inShape, writes one of outShape. */
interface Stage {
  readonly inShape: Shape3;
  readonly outShape: Shape3;
  readonly random: boolean;
  /** float input at src[so...]; u8 input (pixels[so...] scaled by 1/255) when src is a Uint8Array */
  apply(src: Float32Array | Uint8Array, so: number, dst: Float32Array, d0: number, rng: Rng): void;
}

/**
 * Consecutive padCrop / flip ops and an optional trailing normalize as one
 * gather pass: out(y, x, c) = f_c(in(rowMap[y], colMap[x], c)), f_c the
 * normalisation (or identity), zero pixels giving f_c(0). Results are
 * bit-identical to applying the ops one at a time in float32.
 */
function gatherStage(shape: Shape3, geos: GeoOp[], mean: number[] | undefined, std: number[] | undefined): Stage {
  const [H, W, C] = shape;
  const rowLen = W * C;
  const rowMap = new Int32Array(H);
  const colMap = new Int32Array(W);
  const params = geos.map(() => new Int32Array(2));
  const m = Float64Array.from(mean ?? new Array(C).fill(0));
  const s = Float64Array.from(std ?? new Array(C).fill(1));
  const norm = mean !== undefined;
  // per-channel value of a zero (padded) pixel, and tables for u8 input
  const zero = new Float32Array(C);
  const table = new Float32Array(256 * C);
  for (let c = 0; c < C; c++) {
    zero[c] = norm ? (0 - m[c]) / s[c] : 0;
    for (let u = 0; u < 256; u++) {
      const v = Math.fround(u / 255);
      table[c * 256 + u] = norm ? (v - m[c]) / s[c] : v;
    }
  }
  const m0 = m[0], s0 = s[0], z0 = zero[0];
  return {
    inShape: shape,
    outShape: shape,
    random: geos.some((g) => g.random),
    apply(src, so, dst, d0, rng) {
      for (let y = 0; y < H; y++) rowMap[y] = y;
      for (let x = 0; x < W; x++) colMap[x] = x;
      for (let k = 0; k < geos.length; k++) geos[k].draw(rng, params[k]);
      for (let k = geos.length - 1; k >= 0; k--) {
        geos[k].rows(rowMap, params[k]);
        geos[k].cols(colMap, params[k]);
      }
      // the composed column map of padCrop(zero) / flip is an affine run
      // colMap[x] = c0 + step * (x - x0) on [x0, x1), -1 outside: use the
      // fast kernels; reflect padding takes the general one
      let x0 = 0;
      while (x0 < W && colMap[x0] < 0) x0++;
      let x1 = x0;
      while (x1 < W && colMap[x1] >= 0) x1++;
      let step = x1 - x0 > 1 ? colMap[x0 + 1] - colMap[x0] : 1;
      let affine = step === 1 || step === -1;
      for (let x = x1; affine && x < W; x++) if (colMap[x] >= 0) affine = false;
      for (let x = x0; affine && x < x1; x++) if (colMap[x] !== colMap[x0] + step * (x - x0)) affine = false;
      if (x1 === x0) step = 1;
      const u8 = src instanceof Uint8Array;
      if (affine) {
        const base = x1 > x0 ? colMap[x0] - step * x0 : 0; // src column = base + step * x
        if (C === 1) {
          if (u8) gatherU8C1(src, so, dst, d0, H, W, rowMap, x0, x1, base, step, table, z0);
          else gatherF32C1(src, so, dst, d0, H, W, rowMap, x0, x1, base, step, m0, s0, z0);
        } else {
          if (u8) gatherU8(src, so, dst, d0, H, W, C, rowMap, x0, x1, base, step, table, zero);
          else gatherF32(src, so, dst, d0, H, W, C, rowMap, x0, x1, base, step, m, s, zero);
        }
        return;
      }
      for (let y = 0; y < H; y++) {
        const sy = rowMap[y];
        let d = d0 + y * rowLen;
        if (sy < 0) {
          for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) dst[d++] = zero[c];
          continue;
        }
        const r = so + sy * rowLen;
        for (let x = 0; x < W; x++) {
          const sx = colMap[x];
          if (sx < 0) {
            for (let c = 0; c < C; c++) dst[d++] = zero[c];
            continue;
          }
          const p = r + sx * C;
          if (u8) for (let c = 0; c < C; c++) dst[d++] = table[c * 256 + src[p + c]];
          else for (let c = 0; c < C; c++) dst[d++] = (src[p + c] - m[c]) / s[c];
        }
      }
    },
  };
}

// Gather kernels: out row y = f(in row rowMap[y]) (or the zero value when
// rowMap[y] < 0), columns [x0, x1) from src column base + step * x, the rest
// zero. f: table lookup for u8 input, (v - m) / s for float input (exactly v
// when m = 0, s = 1).

function gatherU8C1(src: Uint8Array, so: number, dst: Float32Array, d0: number, H: number, W: number, rowMap: Int32Array,
  x0: number, x1: number, base: number, step: number, table: Float32Array, z: number): void {
  for (let y = 0; y < H; y++) {
    const sy = rowMap[y];
    const d = d0 + y * W;
    if (sy < 0) {
      for (let x = 0; x < W; x++) dst[d + x] = z;
      continue;
    }
    const r = so + sy * W + base;
    for (let x = 0; x < x0; x++) dst[d + x] = z;
    if (step === 1) for (let x = x0; x < x1; x++) dst[d + x] = table[src[r + x]];
    else for (let x = x0; x < x1; x++) dst[d + x] = table[src[r - x]];
    for (let x = x1; x < W; x++) dst[d + x] = z;
  }
}

function gatherF32C1(src: Float32Array, so: number, dst: Float32Array, d0: number, H: number, W: number, rowMap: Int32Array,
  x0: number, x1: number, base: number, step: number, m: number, s: number, z: number): void {
  for (let y = 0; y < H; y++) {
    const sy = rowMap[y];
    const d = d0 + y * W;
    if (sy < 0) {
      for (let x = 0; x < W; x++) dst[d + x] = z;
      continue;
    }
    const r = so + sy * W + base;
    for (let x = 0; x < x0; x++) dst[d + x] = z;
    if (step === 1) for (let x = x0; x < x1; x++) dst[d + x] = (src[r + x] - m) / s;
    else for (let x = x0; x < x1; x++) dst[d + x] = (src[r - x] - m) / s;
    for (let x = x1; x < W; x++) dst[d + x] = z;
  }
}

function gatherU8(src: Uint8Array, so: number, dst: Float32Array, d0: number, H: number, W: number, C: number, rowMap: Int32Array,
  x0: number, x1: number, base: number, step: number, table: Float32Array, zero: Float32Array): void {
  const rowLen = W * C;
  for (let y = 0; y < H; y++) {
    const sy = rowMap[y];
    let d = d0 + y * rowLen;
    if (sy < 0) {
      for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) dst[d++] = zero[c];
      continue;
    }
    const r = so + sy * rowLen + base * C;
    for (let x = 0; x < x0; x++) for (let c = 0; c < C; c++) dst[d++] = zero[c];
    for (let x = x0; x < x1; x++) {
      const p = r + step * x * C;
      for (let c = 0; c < C; c++) dst[d++] = table[c * 256 + src[p + c]];
    }
    for (let x = x1; x < W; x++) for (let c = 0; c < C; c++) dst[d++] = zero[c];
  }
}

function gatherF32(src: Float32Array, so: number, dst: Float32Array, d0: number, H: number, W: number, C: number, rowMap: Int32Array,
  x0: number, x1: number, base: number, step: number, m: Float64Array, s: Float64Array, zero: Float32Array): void {
  const rowLen = W * C;
  for (let y = 0; y < H; y++) {
    const sy = rowMap[y];
    let d = d0 + y * rowLen;
    if (sy < 0) {
      for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) dst[d++] = zero[c];
      continue;
    }
    const r = so + sy * rowLen + base * C;
    for (let x = 0; x < x0; x++) for (let c = 0; c < C; c++) dst[d++] = zero[c];
    for (let x = x0; x < x1; x++) {
      const p = r + step * x * C;
      for (let c = 0; c < C; c++) dst[d++] = (src[p + c] - m[c]) / s[c];
    }
    for (let x = x1; x < W; x++) for (let c = 0; c < C; c++) dst[d++] = zero[c];
  }
}

/** Antialiased (triangle filter widened by the downscale factor) bilinear weights, as PIL and torch antialias=True. */
interface Coeffs {
  start: Int32Array;
  count: Int32Array;
  ksize: number;
  w: Float64Array;
}

function coeffs(inLen: number, outLen: number, cache: { c?: Coeffs }): Coeffs {
  const scale = inLen / outLen;
  const fs = Math.max(scale, 1);
  const support = fs; // bilinear: support 1, widened by fs
  const ksize = Math.ceil(support) * 2 + 1;
  let c = cache.c;
  if (!c || c.start.length < outLen || c.ksize < ksize) {
    const n = Math.max(outLen, c?.start.length ?? 0);
    const k = Math.max(ksize, c?.ksize ?? 0);
    c = cache.c = { start: new Int32Array(n), count: new Int32Array(n), ksize: k, w: new Float64Array(n * k) };
  }
  const K = c.ksize;
  const ss = 1 / fs;
  for (let i = 0; i < outLen; i++) {
    const center = (i + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inLen, Math.trunc(center + support + 0.5));
    let total = 0;
    const base = i * K;
    for (let x = 0; x < xmax - xmin; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      const w = t < 1 ? 1 - t : 0;
      c.w[base + x] = w;
      total += w;
    }
    for (let x = 0; x < xmax - xmin; x++) c.w[base + x] /= total;
    c.start[i] = xmin;
    c.count[i] = xmax - xmin;
  }
  return c;
}

/**
 * Resizes the window [top, top + h) x [left, left + w) of the HxWxC image at
 * src[so...] to oh x ow (bilinear, half-pixel centres, antialiased when
 * shrinking; pixels outside the window never contribute).
 */
export function resizeWindow(
  src: Float32Array, so: number, W: number, C: number,
  top: number, left: number, h: number, w: number,
  dst: Float32Array, d0: number, oh: number, ow: number,
  scratch: { tmp?: Float64Array; cx: { c?: Coeffs }; cy: { c?: Coeffs } },
): void {
  const cx = coeffs(w, ow, scratch.cx);
  const cy = coeffs(h, oh, scratch.cy);
  const need = h * ow * C;
  if (!scratch.tmp || scratch.tmp.length < need) scratch.tmp = new Float64Array(need);
  const tmp = scratch.tmp;
  const Kx = cx.ksize, Ky = cy.ksize;
  // horizontal: rows top..top+h-1 -> tmp [h, ow, C]
  for (let y = 0; y < h; y++) {
    const srow = so + ((top + y) * W + left) * C;
    const trow = y * ow * C;
    for (let x = 0; x < ow; x++) {
      const s = srow + cx.start[x] * C, n = cx.count[x], wb = x * Kx;
      for (let c = 0; c < C; c++) {
        let acc = 0;
        for (let k = 0; k < n; k++) acc += cx.w[wb + k] * src[s + k * C + c];
        tmp[trow + x * C + c] = acc;
      }
    }
  }
  // vertical: tmp -> dst [oh, ow, C]
  const rowLen = ow * C;
  for (let y = 0; y < oh; y++) {
    const t0 = cy.start[y] * rowLen, n = cy.count[y], wb = y * Ky;
    const d = d0 + y * rowLen;
    for (let k = 0; k < rowLen; k++) {
      let acc = 0;
      for (let j = 0; j < n; j++) acc += cy.w[wb + j] * tmp[t0 + j * rowLen + k];
      dst[d + k] = acc;
    }
  }
}

/** torchvision RandomResizedCrop.get_params: [top, left, h, w] of the crop window. */
export function rrcParams(H: number, W: number, scale: readonly [number, number], ratio: readonly [number, number], rng: Rng): [number, number, number, number] {
  const area = H * W;
  const lr0 = Math.log(ratio[0]), lr1 = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(lr0, lr1));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && w <= W && h > 0 && h <= H) {
      const top = rng.int(H - h + 1);
      const left = rng.int(W - w + 1);
      return [top, left, h, w];
    }
  }
  // fallback: central crop with the ratio clamped to the allowed range
  const inRatio = W / H;
  let w: number, h: number;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    w = W;
    h = Math.round(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    h = H;
    w = Math.round(h * Math.max(ratio[0], ratio[1]));
  } else {
    w = W;
    h = H;
  }
  return [Math.floor((H - h) / 2), Math.floor((W - w) / 2), h, w];
}

function rrcStage(inShape: Shape3, size: [number, number], scale: [number, number], ratio: [number, number]): Stage {
  const [H, W, C] = inShape;
  const [oh, ow] = size;
  const scratch = { cx: {}, cy: {} };
  let f32: Float32Array | undefined;
  return {
    inShape,
    outShape: [oh, ow, C],
    random: true,
    apply(src, so, dst, d0, rng) {
      const [top, left, h, w] = rrcParams(H, W, scale, ratio, rng);
      if (src instanceof Uint8Array) {
        const n = H * W * C;
        if (!f32) f32 = new Float32Array(n);
        for (let k = 0; k < n; k++) f32[k] = src[so + k] / 255;
        src = f32;
        so = 0;
      }
      resizeWindow(src, so, W, C, top, left, h, w, dst, d0, oh, ow, scratch);
    },
  };
}

function numPair(op: string, arg: string, v: unknown, dflt: [number, number], what: string, pos: boolean): [number, number] {
  if (v === undefined) return dflt;
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && (pos ? x > 0 : x >= 0)) || v[0] > v[1])
    fail('SENET_ARG', op, arg, what, Array.isArray(v) ? `[${v.map(String).join(', ')}]` : describe(v));
  return [v[0], v[1]];
}

function perChannel(op: string, arg: string, v: unknown, C: number, nonZero: boolean): number[] {
  const what = `an array of ${C} ${nonZero ? 'non-zero ' : ''}number${C > 1 ? 's' : ''} (one per channel)`;
  if (!Array.isArray(v) && !(ArrayBuffer.isView(v) && !(v instanceof DataView))) fail('SENET_ARG', op, arg, what, describe(v));
  const a = Array.from(v as ArrayLike<number>);
  if (a.length !== C) fail('SENET_ARG', op, arg, what, `an array of length ${a.length}`);
  a.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isFinite(x) || (nonZero && x === 0)) fail('SENET_ARG', op, `${arg}[${i}]`, `a finite ${nonZero ? 'non-zero ' : ''}number`, describe(x));
  });
  return a;
}

/**
 * A compiled augmentation list: stages run in order through scratch
 * buffers, the last one writing into the batch.
 */
export class AugmentPipeline {
  readonly inShape: Shape3;
  readonly outShape: Shape3;
  /** whether run() draws from its rng */
  readonly random: boolean;
  /** whether run() can read uint8 pixels directly (its first stage gathers) */
  readonly takesU8: boolean;
  private readonly stages: Stage[];
  private readonly a: Float32Array;
  private readonly b: Float32Array;

  constructor(inShape: Shape3, stages: Stage[]) {
    this.inShape = inShape;
    this.stages = stages;
    this.outShape = stages.length ? stages[stages.length - 1].outShape : inShape;
    this.random = stages.some((s) => s.random);
    this.takesU8 = stages.length > 0;
    let big = 0;
    for (let k = 0; k + 1 < stages.length; k++) big = Math.max(big, stages[k].outShape[0] * stages[k].outShape[1] * stages[k].outShape[2]);
    this.a = new Float32Array(big);
    this.b = new Float32Array(big);
  }

  get length(): number {
    return this.stages.length;
  }

  /**
   * Augments the sample at src[so...] (float32 in [0, 1], or uint8 pixels
   * when takesU8) into dst[d0...]; rng: the sample's generator (may be
   * null when !random).
   */
  run(src: Float32Array | Uint8Array, so: number, dst: Float32Array, d0: number, rng: Rng | null): void {
    const st = this.stages;
    if (st.length === 0) {
      const n = this.inShape[0] * this.inShape[1] * this.inShape[2];
      for (let k = 0; k < n; k++) dst[d0 + k] = src instanceof Uint8Array ? src[so + k] / 255 : src[so + k];
      return;
    }
    for (let k = 0; k < st.length; k++) {
      const last = k === st.length - 1;
      const out = last ? dst : k % 2 === 0 ? this.a : this.b;
      st[k].apply(src, so, out, last ? d0 : 0, rng as Rng);
      src = out;
      so = 0;
    }
  }
}

/** Validates the augmentation list and compiles it for samples of inShape; SENET_ARG on bad options. */
export function compileAugment(list: readonly Augment[] | undefined, inShape: readonly [number, number, number], op = 'DataLoader', arg = 'o.augment'): AugmentPipeline {
  const shape0: Shape3 = [inShape[0], inShape[1], inShape[2]];
  if (list === undefined) return new AugmentPipeline(shape0, []);
  if (!Array.isArray(list)) fail('SENET_ARG', op, arg, 'an array of augmentations', describe(list));
  const stages: Stage[] = [];
  let shape: Shape3 = shape0;
  let geos: GeoOp[] = [];
  const flush = (mean?: number[], std?: number[]) => {
    if (geos.length || mean) stages.push(gatherStage(shape, geos, mean, std));
    geos = [];
  };
  list.forEach((a: Augment, i) => {
    const at = `${arg}[${i}]`;
    if (a === null || typeof a !== 'object') fail('SENET_ARG', op, at, 'an augmentation object {kind: ...}', describe(a));
    const kind = (a as { kind?: unknown }).kind;
    switch (kind) {
      case 'padCrop': {
        const pad = checkInt(op, `${at}.pad`, (a as { pad?: unknown }).pad, 0);
        const mode = (a as { mode?: unknown }).mode;
        if (mode !== undefined && mode !== 'zero' && mode !== 'reflect') fail('SENET_ARG', op, `${at}.mode`, "'zero' or 'reflect'", describe(mode));
        geos.push(padCrop(shape[0], shape[1], pad, (mode as 'zero' | 'reflect' | undefined) ?? 'zero'));
        break;
      }
      case 'flip': {
        const p = (a as { p?: unknown }).p;
        geos.push(flip(shape[1], p === undefined ? 0.5 : checkNumber(op, `${at}.p`, p, 0, 1, 'a probability in [0, 1]')));
        break;
      }
      case 'randomResizedCrop': {
        const r = a as { size?: unknown; scale?: unknown; ratio?: unknown };
        const size = r.size;
        if (!Array.isArray(size) || size.length !== 2 || !size.every((d) => Number.isInteger(d) && d > 0))
          fail('SENET_ARG', op, `${at}.size`, 'a [height, width] pair of positive integers', Array.isArray(size) ? `[${size.map(String).join(', ')}]` : describe(size));
        const scale = numPair(op, `${at}.scale`, r.scale, [0.08, 1], 'a [min, max] pair with 0 < min <= max', true);
        const ratio = numPair(op, `${at}.ratio`, r.ratio, [3 / 4, 4 / 3], 'a [min, max] pair with 0 < min <= max', true);
        flush();
        const st = rrcStage(shape, [size[0], size[1]], scale, ratio);
        stages.push(st);
        shape = st.outShape;
        break;
      }
      case 'normalize': {
        const r = a as { mean?: unknown; std?: unknown };
        flush(perChannel(op, `${at}.mean`, r.mean, shape[2], false), perChannel(op, `${at}.std`, r.std, shape[2], true));
        break;
      }
      default:
        fail('SENET_ARG', op, `${at}.kind`, `one of ${KINDS.map((k) => `'${k}'`).join(', ')}`, describe(kind));
    }
  });
  flush();
  return new AugmentPipeline(shape0, stages);
}
