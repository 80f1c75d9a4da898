/**
 * Float64 reference of one SGD step on one tensor, PyTorch's torch.optim.SGD
 * semantics:
 *   g' = g + wd p
 *   buf = firstStep ? g' : momentum buf + (1 - dampening) g'
 *   d = nesterov ? g' + momentum buf : buf        (momentum 0: d = g', no buffer)
 *   p = p - lr d
 * Returns new arrays (the inputs are left alone). Straight loops, written
 * for clarity, not speed.
 */
export interface SgdRefOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  firstStep?: boolean;
}

export function sgdStepRef(
  p: ArrayLike<number>, g: ArrayLike<number>, buf: ArrayLike<number> | null, o: SgdRefOptions,
): { p: Float64Array; buf: Float64Array | null } {
  const mom = o.momentum ?? 0, damp = o.dampening ?? 0, wd = o.weightDecay ?? 0;
  const pOut = new Float64Array(p.length);
  const bOut = mom !== 0 ? new Float64Array(p.length) : null;
  for (let i = 0; i < p.length; i++) {
    const gd = g[i]! + wd * p[i]!;
    let d = gd;
    if (bOut) {
      bOut[i] = o.firstStep ? gd : mom * buf![i]! + (1 - damp) * gd;
      d = o.nesterov ? gd + mom * bOut[i]! : bOut[i]!;
    }
    pOut[i] = p[i]! - o.lr * d;
  }
  return { p: pOut, buf: bOut };
}

/**
 * Magnitudes for the error bounds of an fp32 step (same recurrences on absolute values, with
 * |1 - dampening| <= 1): G bounds |g'|, B bounds |buf|, and P bounds |p| and every intermediate of
 * the update p - lr d.
 */
export function sgdStepMag(
  p: ArrayLike<number>, g: ArrayLike<number>, buf: ArrayLike<number> | null, o: SgdRefOptions,
): { p: Float64Array; buf: Float64Array | null } {
  const mom = o.momentum ?? 0, wd = o.weightDecay ?? 0;
  const P = new Float64Array(p.length);
  const B = mom !== 0 ? new Float64Array(p.length) : null;
  for (let i = 0; i < p.length; i++) {
    const G = Math.abs(g[i]!) + wd * Math.abs(p[i]!);
    let D = G;
    if (B) {
      B[i] = o.firstStep ? G : mom * Math.abs(buf![i]!) + G;
      D = o.nesterov ? G + mom * B[i]! : B[i]!;
    }
    P[i] = Math.abs(p[i]!) + o.lr * D;
  }
  return { p: P, buf: B };
}
