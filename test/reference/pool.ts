/**
 * Float64 reference of 2-D pooling on NHWC x [N,H,W,C]: max and average
 * windows with stride and padding [t,b,l,r] (padding never wins a max and
 * counts in an average only with countIncludePad, PyTorch's default), and
 * global average pooling [N,H,W,C] -> [N,C]. Straight loops, written for
 * clarity, not speed.
 */
export interface PoolP {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number, number, number];
  countIncludePad: boolean;
}

export function outSize(i: number, k: number, s: number, lo: number, hi: number): number {
  return Math.floor((i + lo + hi - k) / s) + 1;
}

export function pool2dShape(xs: readonly number[], p: PoolP): number[] {
  return [xs[0]!, outSize(xs[1]!, p.kernel[0], p.stride[0], p.padding[0], p.padding[1]),
    outSize(xs[2]!, p.kernel[1], p.stride[1], p.padding[2], p.padding[3]), xs[3]!];
}

/** Calls f(yi, xis) for every output element with the input indices its window covers (padding left out). */
function forEachWindow(xs: readonly number[], p: PoolP, f: (yi: number, xis: number[]) => void): void {
  const [N, H, W, C] = xs as [number, number, number, number];
  const [, Ho, Wo] = pool2dShape(xs, p) as [number, number, number, number];
  for (let n = 0; n < N; n++)
    for (let oh = 0; oh < Ho; oh++)
      for (let ow = 0; ow < Wo; ow++)
        for (let c = 0; c < C; c++) {
          const xis: number[] = [];
          for (let kh = 0; kh < p.kernel[0]; kh++) {
            const h = oh * p.stride[0] - p.padding[0] + kh;
            if (h < 0 || h >= H) continue;
            for (let kw = 0; kw < p.kernel[1]; kw++) {
              const w = ow * p.stride[1] - p.padding[2] + kw;
              if (w < 0 || w >= W) continue;
              xis.push(((n * H + h) * W + w) * C + c);
            }
          }
          f(((n * Ho + oh) * Wo + ow) * C + c, xis);
        }
}

/** Max pooling; also returns, per output, the input index of the maximum (the first one on ties). */
export function maxPool2dRef(x: ArrayLike<number>, xs: readonly number[], p: PoolP): { y: Float64Array; argmax: Int32Array } {
  const ys = pool2dShape(xs, p);
  const len = ys.reduce((a, d) => a * d, 1);
  const y = new Float64Array(len), argmax = new Int32Array(len);
  forEachWindow(xs, p, (yi, xis) => {
    let best = xis[0]!;
    for (const xi of xis) if (x[xi]! > x[best]!) best = xi;
    y[yi] = x[best]!;
    argmax[yi] = best;
  });
  return { y, argmax };
}

/** dx[argmax[o]] += dy[o]. */
export function maxPool2dBackwardRef(dy: ArrayLike<number>, argmax: Int32Array, xs: readonly number[]): Float64Array {
  const dx = new Float64Array(xs.reduce((a, d) => a * d, 1));
  for (let o = 0; o < dy.length; o++) dx[argmax[o]!] += dy[o]!;
  return dx;
}

function divisor(p: PoolP, valid: number): number {
  return p.countIncludePad ? p.kernel[0] * p.kernel[1] : valid;
}

export function avgPool2dRef(x: ArrayLike<number>, xs: readonly number[], p: PoolP): Float64Array {
  const y = new Float64Array(pool2dShape(xs, p).reduce((a, d) => a * d, 1));
  forEachWindow(xs, p, (yi, xis) => {
    let s = 0;
    for (const xi of xis) s += x[xi]!;
    y[yi] = s / divisor(p, xis.length);
  });
  return y;
}

export function avgPool2dBackwardRef(dy: ArrayLike<number>, xs: readonly number[], p: PoolP): Float64Array {
  const dx = new Float64Array(xs.reduce((a, d) => a * d, 1));
  forEachWindow(xs, p, (yi, xis) => {
    for (const xi of xis) dx[xi] += dy[yi]! / divisor(p, xis.length);
  });
  return dx;
}

/** How many windows read each input element (the length of dx's sums). */
export function coverCount(xs: readonly number[], p: PoolP): Int32Array {
  const cnt = new Int32Array(xs.reduce((a, d) => a * d, 1));
  forEachWindow(xs, p, (_, xis) => {
    for (const xi of xis) cnt[xi]++;
  });
  return cnt;
}

export function globalAvgPoolRef(x: ArrayLike<number>, xs: readonly number[]): Float64Array {
  const [N, H, W, C] = xs as [number, number, number, number];
  const y = new Float64Array(N * C);
  for (let i = 0; i < x.length; i++) {
    const n = Math.floor(i / (H * W * C));
    y[n * C + (i % C)] += x[i]!;
  }
  for (let j = 0; j < y.length; j++) y[j] /= H * W;
  return y;
}

export function globalAvgPoolBackwardRef(dy: ArrayLike<number>, xs: readonly number[]): Float64Array {
  const [N, H, W, C] = xs as [number, number, number, number];
  const dx = new Float64Array(N * H * W * C);
  for (let i = 0; i < dx.length; i++) dx[i] = dy[Math.floor(i / (H * W * C)) * C + (i % C)]! / (H * W);
  return dx;
}
