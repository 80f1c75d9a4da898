/**
 * Float64 reference of the fully connected layer y = x W^T + b with
 * x [N,in], W [out,in] (PyTorch's layout), b [out], and its gradients.
 * Straight loops, written for clarity, not speed.
 */
export function linearRef(
  x: ArrayLike<number>, N: number, I: number, w: ArrayLike<number>, O: number, b: ArrayLike<number> | null,
): Float64Array {
  const y = new Float64Array(N * O);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < I; i++) s += x[n * I + i]! * w[o * I + i]!;
      y[n * O + o] = s;
    }
  return y;
}

/** dx = dy W [N,in], dw = dy^T x [out,in], db = sum_n dy [out]. */
export function linearBackwardRef(
  dy: ArrayLike<number>, x: ArrayLike<number>, N: number, I: number, w: ArrayLike<number>, O: number,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const dx = new Float64Array(N * I), dw = new Float64Array(O * I), db = new Float64Array(O);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      const g = dy[n * O + o]!;
      db[o] += g;
      for (let i = 0; i < I; i++) {
        dx[n * I + i] += g * w[o * I + i]!;
        dw[o * I + i] += g * x[n * I + i]!;
      }
    }
  return { dx, dw, db };
}
