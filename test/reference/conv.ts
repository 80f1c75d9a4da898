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

/** |B^T|, |G| and |A^T| of Winograd F(m x m, 3x3), m = 2 or 4 (Lavin & Gray 2015; native/cpu/dconv_avx2.cc). */
const ABS = {
  2: {
    BT: [[1, 0, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 0, 1]],
    G: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0, 0, 1]],
    AT: [[1, 1, 1, 0], [0, 1, 1, 1]],
  },
  4: {
    BT: [[4, 0, 5, 0, 1, 0], [0, 4, 4, 1, 1, 0], [0, 4, 4, 1, 1, 0], [0, 2, 1, 2, 1, 0], [0, 2, 1, 2, 1, 0], [0, 4, 0, 5, 0, 1]],
    G: [[1 / 4, 0, 0], [1 / 6, 1 / 6, 1 / 6], [1 / 6, 1 / 6, 1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, 1 / 12, 1 / 6], [0, 0, 1]],
    AT: [[1, 1, 1, 1, 1, 0], [0, 1, 1, 2, 2, 0], [0, 1, 1, 4, 4, 0], [0, 1, 1, 8, 8, 1]],
  },
} as const;

/**
 * |B^T| |d| |B| of the (m+2)x(m+2) input tile at output (ty, tx) of sample
 * n, per channel, into V [C][(m+2)^2] (pixels outside the input count as 0).
 */
function absInputTile(x: ArrayLike<number>, xs: readonly number[], p: ConvP, n: number, ty: number, tx: number, V: Float64Array, m: 2 | 4 = 2): void {
  const [, H, W, C] = xs as [number, number, number, number];
  const BT = ABS[m].BT, A = m + 2, P = A * A;
  V.fill(0);
  for (let i = 0; i < A; i++)
    for (let k = 0; k < A; k++) {
      const h = ty - p.padding[0] + i, w = tx - p.padding[2] + k;
      if (h < 0 || h >= H || w < 0 || w >= W) continue;
      for (let c = 0; c < C; c++) {
        const d = Math.abs(x[((n * H + h) * W + w) * C + c]!);
        for (let a = 0; a < A; a++) for (let e = 0; e < A; e++) V[c * P + a * A + e] += BT[a]![i]! * d * BT[e]![k]!;
      }
    }
}

/**
 * Error magnitude of Winograd F(m x m, 3x3) (stride 1, dilation 1, groups
 * 1): the same computation with every input, weight and transform
 * coefficient replaced by its absolute value, per output. An fp32
 * evaluation that rounds k times along any path errs by at most about k u
 * times this (forward error analysis of sums and products; F(2x2)'s 1/2s
 * are exact, F(4x4)'s 1/6, 1/12 and 1/24 round: one more rounding each).
 */
export function winogradMag(
  x: ArrayLike<number>, xs: readonly number[], w: ArrayLike<number>, ws: readonly number[], b: ArrayLike<number> | null, p: ConvP,
  m: 2 | 4 = 2,
): Float64Array {
  const [N, , , C] = xs as [number, number, number, number];
  const O = ws[0]!;
  const [, Ho, Wo] = conv2dShape(xs, ws, p) as [number, number, number, number];
  const { G, AT } = ABS[m];
  const A = m + 2, P = A * A;
  const y = new Float64Array(N * Ho * Wo * O);
  const U = new Float64Array(O * C * P);
  for (let o = 0; o < O; o++)
    for (let c = 0; c < C; c++)
      for (let a = 0; a < A; a++)
        for (let e = 0; e < A; e++) {
          let s = 0;
          for (let i = 0; i < 3; i++) for (let k = 0; k < 3; k++) s += G[a]![i]! * Math.abs(w[((o * 3 + i) * 3 + k) * C + c]!) * G[e]![k]!;
          U[(o * C + c) * P + a * A + e] = s;
        }
  const V = new Float64Array(C * P);
  for (let n = 0; n < N; n++)
    for (let ty = 0; ty < Ho; ty += m)
      for (let tx = 0; tx < Wo; tx += m) {
        absInputTile(x, xs, p, n, ty, tx, V, m);
        for (let o = 0; o < O; o++) {
          const M = new Float64Array(P);
          for (let c = 0; c < C; c++) for (let q = 0; q < P; q++) M[q] += V[c * P + q]! * U[(o * C + c) * P + q]!;
          for (let r = 0; r < m; r++)
            for (let s = 0; s < m; s++) {
              if (ty + r >= Ho || tx + s >= Wo) continue;
              let v = b ? Math.abs(b[o]!) : 0;
              for (let a = 0; a < A; a++) for (let e = 0; e < A; e++) v += AT[r]![a]! * M[a * A + e]! * AT[s]![e]!;
              y[((n * Ho + ty + r) * Wo + tx + s) * O + o] = v;
            }
        }
      }
  return y;
}

/**
 * Error magnitude of the Winograd F(m x m, 3x3) weight gradient (stride 1,
 * groups 1): dW = G^T (sum over tiles of (A dY A^T) . (B^T d B)) G with
 * every value and coefficient replaced by its absolute value, per weight.
 */
export function winogradWgradMag(
  x: ArrayLike<number>, xs: readonly number[], dy: ArrayLike<number>, ws: readonly number[], p: ConvP, m: 2 | 4 = 2,
): Float64Array {
  const [N, , , C] = xs as [number, number, number, number];
  const O = ws[0]!;
  const [, Ho, Wo] = conv2dShape(xs, ws, p) as [number, number, number, number];
  const { G, AT } = ABS[m]; // |A| = |A^T|^T, |G^T| = |G|^T
  const A = m + 2, P = A * A;
  const dU = new Float64Array(O * C * P);
  const V = new Float64Array(C * P), Y = new Float64Array(O * P);
  for (let n = 0; n < N; n++)
    for (let ty = 0; ty < Ho; ty += m)
      for (let tx = 0; tx < Wo; tx += m) {
        absInputTile(x, xs, p, n, ty, tx, V, m);
        Y.fill(0);
        for (let i = 0; i < m; i++)
          for (let k = 0; k < m; k++) {
            if (ty + i >= Ho || tx + k >= Wo) continue;
            for (let o = 0; o < O; o++) {
              const g = Math.abs(dy[((n * Ho + ty + i) * Wo + tx + k) * O + o]!);
              for (let a = 0; a < A; a++) for (let e = 0; e < A; e++) Y[o * P + a * A + e] += AT[i]![a]! * g * AT[k]![e]!;
            }
          }
        for (let o = 0; o < O; o++)
          for (let c = 0; c < C; c++) for (let q = 0; q < P; q++) dU[(o * C + c) * P + q] += Y[o * P + q]! * V[c * P + q]!;
      }
  const dw = new Float64Array(O * 9 * C);
  for (let o = 0; o < O; o++)
    for (let c = 0; c < C; c++)
      for (let kh = 0; kh < 3; kh++)
        for (let kw = 0; kw < 3; kw++) {
          let s = 0;
          for (let a = 0; a < A; a++) for (let e = 0; e < A; e++) s += G[a]![kh]! * dU[(o * C + c) * P + a * A + e]! * G[e]![kw]!;
          dw[((o * 3 + kh) * 3 + kw) * C + c] = s;
        }
  return dw;
}
