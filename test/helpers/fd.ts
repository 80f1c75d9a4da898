/**
 * Central finite differences on float64 references. For a scalar loss
 * L(x) = sum(f(x) * r) with a fixed random r, the analytic gradient of the
 * reference backward (given dy = r) must match (L(x+h) - L(x-h)) / 2h.
 * With h = 1e-5 in float64 the truncation error is O(h^2 f''') ~ 1e-10 and
 * the rounding error O(eps |L| / h) ~ 1e-10, so 1e-6 relative (plus 1e-7
 * absolute) separates a correct gradient from a wrong one by orders of
 * magnitude. Inputs are kept away from kinks (ReLU, max) by the tests.
 */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Numerical gradient of loss(x) at the given indices (all when omitted). */
export function numericalGrad(loss: (x: Float64Array) => number, x: Float64Array, indices?: number[], h = 1e-5): Map<number, number> {
  const out = new Map<number, number>();
  const idx = indices ?? Array.from({ length: x.length }, (_, i) => i);
  for (const i of idx) {
    const old = x[i]!;
    x[i] = old + h;
    const lp = loss(x);
    x[i] = old - h;
    const lm = loss(x);
    x[i] = old;
    out.set(i, (lp - lm) / (2 * h));
  }
  return out;
}

/** Up to n distinct indices in [0, len), spread deterministically. */
export function sampleIndices(len: number, n: number): number[] {
  if (len <= n) return Array.from({ length: len }, (_, i) => i);
  const out = new Set<number>();
  for (let k = 0; out.size < n; k++) out.add(Math.floor(((k * 0.6180339887498949) % 1) * len));
  return [...out];
}

export const FD_RTOL = 1e-6;
export const FD_ATOL = 1e-7;
