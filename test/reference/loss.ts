/**
 * Float64 reference of the mean softmax cross-entropy over a batch of
 * logits [N,K] with label smoothing eps (PyTorch's definition: targets
 * q = (1 - eps) one_hot(label) + eps/K), and its gradient
 * dlogits = (softmax(logits) - q) / N. Straight loops, written for
 * clarity, not speed.
 */
export interface CeRef {
  loss: number;
  dlogits: Float64Array;
  /** per row: log-sum-exp, computed stably (max + log sum exp(x - max)) */
  lse: Float64Array;
  /** per row: max of the row */
  max: Float64Array;
  /** softmax [N,K] */
  p: Float64Array;
  /** targets [N,K] */
  q: Float64Array;
}

export function softmaxCrossEntropyRef(
  logits: ArrayLike<number>, N: number, K: number, labels: ArrayLike<number>, eps: number,
): CeRef {
  const lse = new Float64Array(N), max = new Float64Array(N);
  const p = new Float64Array(N * K), q = new Float64Array(N * K), dlogits = new Float64Array(N * K);
  let total = 0;
  for (let n = 0; n < N; n++) {
    let mx = -Infinity;
    for (let k = 0; k < K; k++) mx = Math.max(mx, logits[n * K + k]!);
    let s = 0;
    for (let k = 0; k < K; k++) s += Math.exp(logits[n * K + k]! - mx);
    max[n] = mx;
    lse[n] = mx + Math.log(s);
    for (let k = 0; k < K; k++) {
      const i = n * K + k;
      q[i] = (1 - eps) * (k === labels[n] ? 1 : 0) + eps / K;
      p[i] = Math.exp(logits[i]! - lse[n]!);
      total -= q[i]! * (logits[i]! - lse[n]!);
      dlogits[i] = (p[i]! - q[i]!) / N;
    }
  }
  return { loss: total / N, dlogits, lse, max, p, q };
}
