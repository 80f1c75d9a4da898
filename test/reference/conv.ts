/**
 * Float64 reference of 2-D convolution: NHWC x [N,H,W,Ci], OHWI w
 * [Co,KH,KW,Ci/g], bias [Co]; stride, padding [t,b,l,r], dilation, groups.
 * Straight loops, written for clarity, not speed.
 */
export interface ConvP {
  stride: [number, number];
  padding: [number, number, number, number];
  dilation: [number, number];
  groups: number;
}

export function outSize(i: number, k: number, s: number, lo: number, hi: number, d: number): number {
  return Math.floor((i + lo + hi - d * (k - 1) - 1) / s) + 1;
}

export function conv2dShape(xs: readonly number[], ws: readonly number[], p: ConvP): number[] {
  return [xs[0]!, outSize(xs[1]!, ws[1]!, p.stride[0], p.padding[0], p.padding[1], p.dilation[0]),
    outSize(xs[2]!, ws[2]!, p.stride[1], p.padding[2], p.padding[3], p.dilation[1]), ws[0]!];
}

/** Calls f(n, oh, ow, o, h, w, c, kh, kw, ci) for every (output, tap) pair that reads the input. */
function forEachTap(
  xs: readonly number[],
  ws: readonly number[],
  p: ConvP,
  f: (yi: number, xi: number, wi: number, o: number) => void,
): void {
  const [N, H, W, C] = xs as [number, number, number, number];
  const [O, KH, KW, Cg] = ws as [number, number, number, number];
  const [, Ho, Wo] = conv2dShape(xs, ws, p) as [number, number, number, number];
  const Og = O / p.groups;
  for (let n = 0; n < N; n++)
    for (let oh = 0; oh < Ho; oh++)
      for (let ow = 0; ow < Wo; ow++)
        for (let o = 0; o < O; o++) {
          const g = Math.floor(o / Og);
          const yi = ((n * Ho + oh) * Wo + ow) * O + o;
          for (let kh = 0; kh < KH; kh++) {
            const h = oh * p.stride[0] - p.padding[0] + kh * p.dilation[0];
            if (h < 0 || h >= H) continue;
            for (let kw = 0; kw < KW; kw++) {
              const w = ow * p.stride[1] - p.padding[2] + kw * p.dilation[1];
              if (w < 0 || w >= W) continue;
              for (let ci = 0; ci < Cg; ci++) {
                const c = g * Cg + ci;
                f(yi, ((n * H + h) * W + w) * C + c, ((o * KH + kh) * KW + kw) * Cg + ci, o);
              }
            }
          }
        }
}

export function conv2dRef(
  x: ArrayLike<number>, xs: readonly number[], w: ArrayLike<number>, ws: readonly number[], b: ArrayLike<number> | null, p: ConvP,
): Float64Array {
  const ys = conv2dShape(xs, ws, p);
  const y = new Float64Array(ys.reduce((a, d) => a * d, 1));
  if (b) for (let i = 0; i < y.length; i++) y[i] = b[i % ws[0]!]!;
  forEachTap(xs, ws, p, (yi, xi, wi) => {
    y[yi] += x[xi]! * w[wi]!;
  });
  return y;
}

export function conv2dBackwardRef(
  dy: ArrayLike<number>, x: ArrayLike<number>, xs: readonly number[], w: ArrayLike<number>, ws: readonly number[], p: ConvP,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const dx = new Float64Array(x.length), dw = new Float64Array(w.length), db = new Float64Array(ws[0]!);
  for (let i = 0; i < dy.length; i++) db[i % ws[0]!] += dy[i]!;
  forEachTap(xs, ws, p, (yi, xi, wi) => {
    dx[xi] += dy[yi]! * w[wi]!;
    dw[wi] += dy[yi]! * x[xi]!;
  });
  return { dx, dw, db };
}

/** A conv2d test case: NHWC input shape, OHWI weight shape, parameters, bias. */
export interface ConvCase {
  name: string;
  xs: [number, number, number, number];
  ws: [number, number, number, number];
  p: ConvP;
  bias: boolean;
}

export const convP = (
  stride: [number, number], padding: [number, number, number, number], dilation: [number, number], groups: number,
): ConvP => ({ stride, padding, dilation, groups });
