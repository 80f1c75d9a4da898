/**
 * Float64 reference of batch normalisation over N, H, W per channel of an
 * NHWC tensor x [N,H,W,C] (n = N*H*W values per channel): batch mean,
 * biased batch variance, y = gamma (x - mean) / sqrt(var + eps) + beta,
 * PyTorch's running-statistics update and the training-mode gradient.
 * Straight loops, written for clarity, not speed.
 */
export interface BnStats {
  mean: Float64Array;
  var: Float64Array;
}

/** Per-channel mean and biased variance (two passes). */
export function batchStatsRef(x: ArrayLike<number>, xs: readonly number[]): BnStats {
  const C = xs[3]!, n = x.length / C;
  const mean = new Float64Array(C), v = new Float64Array(C);
  for (let i = 0; i < x.length; i++) mean[i % C] += x[i]!;
  for (let c = 0; c < C; c++) mean[c] /= n;
  for (let i = 0; i < x.length; i++) v[i % C] += (x[i]! - mean[i % C]!) ** 2;
  for (let c = 0; c < C; c++) v[c] /= n;
  return { mean, var: v };
}

/** y = gamma (x - mean) / sqrt(var + eps) + beta with the given statistics (inference, and training's second half). */
export function batchNormApplyRef(
  x: ArrayLike<number>, xs: readonly number[], gamma: ArrayLike<number>, beta: ArrayLike<number>,
  mean: ArrayLike<number>, variance: ArrayLike<number>, eps: number,
): Float64Array {
  const C = xs[3]!;
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    y[i] = (gamma[c]! * (x[i]! - mean[c]!)) / Math.sqrt(variance[c]! + eps) + beta[c]!;
  }
  return y;
}

export function batchNormTrainRef(
  x: ArrayLike<number>, xs: readonly number[], gamma: ArrayLike<number>, beta: ArrayLike<number>, eps: number,
): { y: Float64Array } & BnStats {
  const s = batchStatsRef(x, xs);
  return { y: batchNormApplyRef(x, xs, gamma, beta, s.mean, s.var, eps), ...s };
}

/** PyTorch: r = (1 - m) r + m * stat, with the unbiased variance (n / (n - 1)) for the running variance. */
export function runningUpdateRef(
  rm: ArrayLike<number>, rv: ArrayLike<number>, s: BnStats, n: number, momentum: number,
): { runningMean: Float64Array; runningVar: Float64Array } {
  const C = rm.length;
  const runningMean = new Float64Array(C), runningVar = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    runningMean[c] = (1 - momentum) * rm[c]! + momentum * s.mean[c]!;
    runningVar[c] = (1 - momentum) * rv[c]! + (momentum * s.var[c]! * n) / (n - 1);
  }
  return { runningMean, runningVar };
}

/**
 * Training-mode gradient, with mean and var taken as given (the batch
 * statistics of x): with xhat = (x - mean) s, s = 1/sqrt(var + eps),
 *   dbeta = sum dy, dgamma = sum dy xhat,
 *   dx = gamma s (dy - dbeta/n - xhat dgamma/n).
 */
export function batchNormBackwardRef(
  dy: ArrayLike<number>, x: ArrayLike<number>, xs: readonly number[], gamma: ArrayLike<number>,
  mean: ArrayLike<number>, variance: ArrayLike<number>, eps: number,
): { dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array } {
  const C = xs[3]!, n = x.length / C;
  const s = Float64Array.from({ length: C }, (_, c) => 1 / Math.sqrt(variance[c]! + eps));
  const xhat = (i: number) => (x[i]! - mean[i % C]!) * s[i % C]!;
  const dgamma = new Float64Array(C), dbeta = new Float64Array(C), dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    dbeta[i % C] += dy[i]!;
    dgamma[i % C] += dy[i]! * xhat(i);
  }
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    dx[i] = gamma[c]! * s[c]! * (dy[i]! - dbeta[c]! / n - (xhat(i) * dgamma[c]!) / n);
  }
  return { dx, dgamma, dbeta };
}

/**
 * The backward of relu(batch norm of x): dy passes where the batch norm's
 * output z = gamma (x - mean) s + beta is > 0 (or where `mask` is 1), then
 * through batchNormBackwardRef.
 */
export function batchNormReluBackwardRef(
  dy: ArrayLike<number>, x: ArrayLike<number>, xs: readonly number[], gamma: ArrayLike<number>, beta: ArrayLike<number>,
  mean: ArrayLike<number>, variance: ArrayLike<number>, eps: number, mask?: ArrayLike<number>,
): { dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array } {
  const z = mask ? null : batchNormApplyRef(x, xs, gamma, beta, mean, variance, eps);
  const dz = Float64Array.from(dy, (g, i) => ((mask ? mask[i]! > 0 : z![i]! > 0) ? g : 0));
  return batchNormBackwardRef(dz, x, xs, gamma, mean, variance, eps);
}

/**
 * Magnitudes of the error bounds. Per channel (n = N*H*W values):
 *   M1 = sum|x|/n bounds |mean| and the fp32 mean's error: |d mean| <= (n+1) u M1;
 *   V2 = sum(|x| + |mean|)^2/n bounds the variance's terms: |d var| <= (n+4) u V2, whether the
 *   engine uses two passes (sum of (x - mean)^2, each term 3u, plus d mean^2 <= u V2 for n < 4095)
 *   or one (sum x^2 - n mean^2: the same bound).
 * y = gamma (x - mean) s + beta with s = 1/sqrt(var + eps) then has, to first order,
 *   |dy| <= |gamma| s (|d mean| + |x - mean| |d var| / (2 (var + eps))) + 6u (|gamma xhat| + |beta|)
 * (six roundings: x - mean, sqrt, divide, two products, the add), so k = n + 6 over
 *   mag = |gamma| s (M1 + |x - mean| V2 / (2 (var + eps))) + |gamma xhat| + |beta|.
 */
export function batchNormForwardMags(x: Float64Array, xs: readonly number[], gamma: Float64Array, beta: Float64Array, eps: number) {
  const C = xs[3]!, n = x.length / C;
  const { mean, var: v } = batchStatsRef(x, xs);
  const M1 = new Float64Array(C), V2 = new Float64Array(C);
  for (let i = 0; i < x.length; i++) {
    M1[i % C] += Math.abs(x[i]!) / n;
    V2[i % C] += (Math.abs(x[i]!) + Math.abs(mean[i % C]!)) ** 2 / n;
  }
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % C, s = 1 / Math.sqrt(v[c]! + eps), d = Math.abs(x[i]! - mean[c]!);
    y[i] = Math.abs(gamma[c]!) * s * (M1[c]! + (d * V2[c]!) / (2 * (v[c]! + eps))) + Math.abs(gamma[c]!) * d * s + Math.abs(beta[c]!);
  }
  return { y, M1, V2, mean, var: v };
}
