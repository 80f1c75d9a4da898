/**
 * Float64 reference of the batched matmul (lib/ops/matmul.ts): y[b] =
 * op(a[b]) op(b[b]) + bias, op an optional transpose, a batch of 1
 * broadcasting; and its gradients.
 */
export interface MatmulDims {
  ba: number;
  bb: number;
  m: number;
  k: number;
  n: number;
  ta: boolean;
  tb: boolean;
}

const A = (d: MatmulDims, a: ArrayLike<number>, b: number, i: number, j: number) =>
  a[(d.ba === 1 ? 0 : b) * d.m * d.k + (d.ta ? j * d.m + i : i * d.k + j)]!;
const B = (d: MatmulDims, x: ArrayLike<number>, b: number, i: number, j: number) =>
  x[(d.bb === 1 ? 0 : b) * d.k * d.n + (d.tb ? j * d.k + i : i * d.n + j)]!;

export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, bias: ArrayLike<number> | null, d: MatmulDims): Float64Array {
  const batch = Math.max(d.ba, d.bb);
  const y = new Float64Array(batch * d.m * d.n);
  for (let q = 0; q < batch; q++)
    for (let i = 0; i < d.m; i++)
      for (let j = 0; j < d.n; j++) {
        let s = bias ? bias[j]! : 0;
        for (let p = 0; p < d.k; p++) s += A(d, a, q, i, p) * B(d, b, q, p, j);
        y[(q * d.m + i) * d.n + j] = s;
      }
  return y;
}

/** Gradients of sum(matmul(a, b) * dy) with respect to a and b, in their stored layouts (broadcast batches summed). */
export function matmulBackwardRef(dy: ArrayLike<number>, a: ArrayLike<number>, b: ArrayLike<number>, d: MatmulDims): { da: Float64Array; db: Float64Array } {
  const batch = Math.max(d.ba, d.bb);
  const da = new Float64Array(d.ba * d.m * d.k), db = new Float64Array(d.bb * d.k * d.n);
  for (let q = 0; q < batch; q++)
    for (let i = 0; i < d.m; i++)
      for (let j = 0; j < d.n; j++) {
        const g = dy[(q * d.m + i) * d.n + j]!;
        for (let p = 0; p < d.k; p++) {
          da[(d.ba === 1 ? 0 : q) * d.m * d.k + (d.ta ? p * d.m + i : i * d.k + p)] += g * B(d, b, q, p, j);
          db[(d.bb === 1 ? 0 : q) * d.k * d.n + (d.tb ? j * d.k + p : p * d.n + j)] += g * A(d, a, q, i, p);
        }
      }
  return { da, db };
}
