/**
 * Comparisons in the style of llm.c's validate_result: every element must
 * satisfy |got - want| <= tol_i; the first mismatches (at most ten) are
 * printed with their index and the tolerance.
 *
 * Tolerances come from the arithmetic. An fp32 sum of K terms has an error
 * of at most gamma_K * sum|terms| with gamma_K = K u / (1 - K u), u = 2^-24
 * (Higham, Accuracy and Stability of Numerical Algorithms, 3.1). The
 * references compute `mag` = the same sums over absolute values, so
 * tol_i = k * u * mag_i is a rigorous bound for sums of products, whatever
 * the summation order the engine uses; composite ops add the lengths of
 * their chained reductions (documented at each use).
 */
import type { ExecutionContext } from 'ava';

export const U32 = 2 ** -24; // unit roundoff of float32

export interface CloseOptions {
  /** per-element scale of the error bound (e.g. the sum of |terms|); default |want| */
  mag?: ArrayLike<number> | number;
  /** error bound = k * u * mag_i + atol */
  k: number;
  atol?: number;
  name?: string;
}

export function assertClose(t: ExecutionContext, got: ArrayLike<number>, want: ArrayLike<number>, o: CloseOptions): void {
  const name = o.name ?? 'tensor';
  if (got.length !== want.length) {
    t.fail(`${name}: length ${got.length}, expected ${want.length}`);
    return;
  }
  const atol = o.atol ?? 0;
  const bad: string[] = [];
  let nbad = 0, worst = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    const m = o.mag === undefined ? Math.abs(w) : typeof o.mag === 'number' ? o.mag : o.mag[i]!;
    const tol = o.k * U32 * m + atol;
    const err = Math.abs(g - w);
    if (!(err <= tol)) {
      nbad++;
      worst = Math.max(worst, tol > 0 ? err / tol : Infinity);
      if (bad.length < 10) bad.push(`  [${i}] got ${g}, want ${w}, |diff| ${err.toExponential(2)} > tol ${tol.toExponential(2)}`);
    }
  }
  if (nbad) t.fail(`${name}: ${nbad} of ${want.length} elements outside tolerance (worst ${worst.toFixed(1)}x tol)\n${bad.join('\n')}`);
  else t.pass();
}

/** Float64 reference checks (finite differences): |got - want| <= atol + rtol |want|. */
export function assertNear(t: ExecutionContext, got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol: number, name = 'tensor'): void {
  const bad: string[] = [];
  let nbad = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= atol + rtol * Math.abs(want[i]!))) {
      nbad++;
      if (bad.length < 10) bad.push(`  [${i}] got ${got[i]}, want ${want[i]}`);
    }
  }
  if (got.length !== want.length) t.fail(`${name}: length ${got.length}, expected ${want.length}`);
  else if (nbad) t.fail(`${name}: ${nbad} of ${want.length} elements differ\n${bad.join('\n')}`);
  else t.pass();
}

export function abs(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(a, Math.abs);
}
