/**
 * Float64 reference of the elementwise ops: relu and its gradient (taken
 * from relu's output, dx = dy [y > 0]), add, y + alpha x (addScaled_), and
 * u * s (+ r) per (sample, channel) with its gradients (scaleChannels).
 * Straight loops, written for clarity, not speed.
 */
export function reluRef(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v) => (v > 0 ? v : 0));
}

export function reluBackwardRef(dy: ArrayLike<number>, y: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(dy.length);
  for (let i = 0; i < dy.length; i++) dx[i] = y[i]! > 0 ? dy[i]! : 0;
  return dx;
}

export function addRef(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const y = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) y[i] = a[i]! + b[i]!;
  return y;
}

/** The gradients of a + b: dy to both. */
export function addBackwardRef(dy: ArrayLike<number>): { da: Float64Array; db: Float64Array } {
  return { da: Float64Array.from(dy), db: Float64Array.from(dy) };
}

export function addScaledRef(y: ArrayLike<number>, x: ArrayLike<number>, alpha: number): Float64Array {
  const out = new Float64Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = y[i]! + alpha * x[i]!;
  return out;
}

/** u [N, rows, C] * s [N, C] (+ bias [N, C]) (+ r), then relu if asked. */
export function scaleChannelsRef(u: ArrayLike<number>, s: ArrayLike<number>, N: number, C: number, r?: ArrayLike<number>, relu = false, bias?: ArrayLike<number>): Float64Array {
  const per = u.length / N;
  return Float64Array.from(u, (v, i) => {
    const k = Math.floor(i / per) * C + (i % C);
    const y = v * s[k]! + (bias ? bias[k]! : 0) + (r ? r[i]! : 0);
    return relu ? (y > 0 ? y : 0) : y;
  });
}

/** The gradients of u * s: du = dy * s, ds[n, c] = sum over sample n's rows of dy * u. */
export function scaleChannelsBackwardRef(dy: ArrayLike<number>, u: ArrayLike<number>, s: ArrayLike<number>, N: number, C: number): { du: Float64Array; ds: Float64Array } {
  const per = u.length / N;
  const ds = new Float64Array(N * C);
  const du = Float64Array.from(dy, (g, i) => {
    const k = Math.floor(i / per) * C + (i % C);
    ds[k] += g * u[i]!;
    return g * s[k]!;
  });
  return { du, ds };
}
