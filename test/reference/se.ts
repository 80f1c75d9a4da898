/**
 * Float64 reference of the squeeze-excite op (DESIGN.md), forward and
 * backward, plus the error bounds the engine is held to.
 *
 * Shapes: u, r [N,H,W,C] (NHWC, H*W flattened to P), w1 [D,C], b1 [D],
 * w2 [C,D], b2 [C].
 */
export type Squeeze = 'avg' | 'max';
export type Gate = 'sigmoid' | 'tanh' | 'relu';
export interface SeOpts {
  squeeze: Squeeze;
  gate: Gate;
  residual: boolean;
}
export interface SeDims {
  N: number;
  P: number;
  C: number;
  D: number;
}
export interface SeParams {
  w1: Float64Array;
  b1: Float64Array;
  w2: Float64Array;
  b2: Float64Array;
}

export interface SeForward {
  z: Float64Array; // [N,C]
  argmax: Int32Array; // [N,C] (max squeeze)
  h: Float64Array; // [N,D] hidden pre-activation
  a: Float64Array; // [N,D]
  pre: Float64Array; // [N,C] gate pre-activation
  s: Float64Array; // [N,C]
  v: Float64Array; // [N,P,C] u*s (+ r)
  y: Float64Array;
}

export function gate(g: Gate, x: number): number {
  return g === 'sigmoid' ? 1 / (1 + Math.exp(-x)) : g === 'tanh' ? Math.tanh(x) : Math.max(x, 0);
}
export function gateGrad(g: Gate, pre: number, s: number): number {
  return g === 'sigmoid' ? s * (1 - s) : g === 'tanh' ? 1 - s * s : pre > 0 ? 1 : 0;
}
/** Largest |gate'| (its Lipschitz constant). */
export function gateLipschitz(g: Gate): number {
  return g === 'sigmoid' ? 0.25 : 1;
}

export function seForwardRef(d: SeDims, u: ArrayLike<number>, w: SeParams, r: ArrayLike<number> | null, o: SeOpts): SeForward {
  const { N, P, C, D } = d;
  const z = new Float64Array(N * C), argmax = new Int32Array(N * C);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      if (o.squeeze === 'avg') {
        let sum = 0;
        for (let p = 0; p < P; p++) sum += u[(n * P + p) * C + c]!;
        z[n * C + c] = sum / P;
      } else {
        let best = -Infinity, bi = 0;
        for (let p = 0; p < P; p++) {
          const x = u[(n * P + p) * C + c]!;
          if (x > best) {
            best = x;
            bi = p;
          }
        }
        z[n * C + c] = best;
        argmax[n * C + c] = bi;
      }
    }
  const h = new Float64Array(N * D), a = new Float64Array(N * D);
  for (let n = 0; n < N; n++)
    for (let j = 0; j < D; j++) {
      let acc = w.b1[j]!;
      for (let c = 0; c < C; c++) acc += w.w1[j * C + c]! * z[n * C + c]!;
      h[n * D + j] = acc;
      a[n * D + j] = Math.max(acc, 0);
    }
  const pre = new Float64Array(N * C), s = new Float64Array(N * C);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      let acc = w.b2[c]!;
      for (let j = 0; j < D; j++) acc += w.w2[c * D + j]! * a[n * D + j]!;
      pre[n * C + c] = acc;
      s[n * C + c] = gate(o.gate, acc);
    }
  const v = new Float64Array(N * P * C), y = new Float64Array(N * P * C);
  for (let n = 0; n < N; n++)
    for (let p = 0; p < P; p++)
      for (let c = 0; c < C; c++) {
        const i = (n * P + p) * C + c;
        const val = u[i]! * s[n * C + c]! + (o.residual ? r![i]! : 0);
        v[i] = val;
        y[i] = o.residual ? Math.max(val, 0) : val;
      }
  return { z, argmax, h, a, pre, s, v, y };
}

export interface SeGradients {
  du: Float64Array;
  dr: Float64Array;
  dw1: Float64Array;
  db1: Float64Array;
  dw2: Float64Array;
  db2: Float64Array;
}

/**
 * Backward. With `abs`, every product uses magnitudes and |gate'| is
 * replaced by its Lipschitz bound: the result bounds |each term| summed,
 * which scales the engine's error bound (see seBackwardBound).
 */
/**
 * Magnitudes of the forward intermediates: the forward evaluated on
 * absolute values (sums of |terms|), which scale their rounding errors.
 * A gate output near 0 made by cancellation (tanh, relu) has an error of
 * the size of its pre-activation's magnitude: s gets |s| + L |pre|_abs.
 */
export function seForwardAbs(d: SeDims, u: ArrayLike<number>, w: SeParams, o: SeOpts, f: SeForward): Pick<SeForward, 'z' | 'a' | 's'> {
  const { N, P, C, D } = d;
  const z = new Float64Array(N * C);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      if (o.squeeze === 'max') {
        z[n * C + c] = Math.abs(f.z[n * C + c]!);
        continue;
      }
      let m = 0;
      for (let p = 0; p < P; p++) m += Math.abs(u[(n * P + p) * C + c]!);
      z[n * C + c] = m / P;
    }
  const a = new Float64Array(N * D);
  for (let n = 0; n < N; n++)
    for (let j = 0; j < D; j++) {
      if (!(f.h[n * D + j]! > 0)) continue;
      let m = Math.abs(w.b1[j]!);
      for (let c = 0; c < C; c++) m += Math.abs(w.w1[j * C + c]!) * z[n * C + c]!;
      a[n * D + j] = m;
    }
  const s = new Float64Array(N * C);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      let m = Math.abs(w.b2[c]!);
      for (let j = 0; j < D; j++) m += Math.abs(w.w2[c * D + j]!) * a[n * D + j]!;
      s[n * C + c] = Math.abs(f.s[n * C + c]!) + gateLipschitz(o.gate) * m;
    }
  return { z, a, s };
}

export function seBackwardRef(d: SeDims, dy: ArrayLike<number>, u: ArrayLike<number>, w: SeParams, f0: SeForward, o: SeOpts, abs = false): SeGradients {
  const { N, P, C, D } = d;
  const A = abs ? Math.abs : (x: number) => x;
  // In abs mode the forward intermediates are replaced by their magnitudes.
  const f = abs ? { ...f0, ...seForwardAbs(d, u, w, o, f0) } : f0;
  const g = new Float64Array(N * P * C);
  for (let i = 0; i < g.length; i++) g[i] = o.residual && !(f.v[i]! > 0) ? 0 : A(dy[i]!);
  const ds = new Float64Array(N * C);
  for (let n = 0; n < N; n++)
    for (let p = 0; p < P; p++)
      for (let c = 0; c < C; c++) ds[n * C + c] += g[(n * P + p) * C + c]! * A(u[(n * P + p) * C + c]!);
  const dpre = new Float64Array(N * C);
  for (let i = 0; i < N * C; i++)
    dpre[i] = ds[i]! * (abs && o.gate !== 'relu' ? gateLipschitz(o.gate) : gateGrad(o.gate, f.pre[i]!, f.s[i]!));
  const dw2 = new Float64Array(C * D), db2 = new Float64Array(C), dh = new Float64Array(N * D);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      const gp = dpre[n * C + c]!;
      db2[c] += gp;
      for (let j = 0; j < D; j++) {
        dw2[c * D + j] += gp * A(f.a[n * D + j]!);
        dh[n * D + j] += A(w.w2[c * D + j]!) * gp;
      }
    }
  for (let i = 0; i < N * D; i++) if (!(f.h[i]! > 0)) dh[i] = 0;
  const dw1 = new Float64Array(D * C), db1 = new Float64Array(D), dz = new Float64Array(N * C);
  for (let n = 0; n < N; n++)
    for (let j = 0; j < D; j++) {
      const gh = dh[n * D + j]!;
      db1[j] += gh;
      for (let c = 0; c < C; c++) {
        dw1[j * C + c] += gh * A(f.z[n * C + c]!);
        dz[n * C + c] += A(w.w1[j * C + c]!) * gh;
      }
    }
  const du = new Float64Array(N * P * C);
  for (let n = 0; n < N; n++)
    for (let p = 0; p < P; p++)
      for (let c = 0; c < C; c++) {
        const i = (n * P + p) * C + c;
        let v = g[i]! * A(f.s[n * C + c]!);
        if (o.squeeze === 'avg') v += dz[n * C + c]! / P;
        else if (f.argmax[n * C + c] === p) v += dz[n * C + c]!;
        du[i] = v;
      }
  return { du, dr: o.residual ? g : new Float64Array(0), dw1, db1, dw2, db2 };
}

/**
 * First-order bounds on the engine's fp32 error, per element, from the
 * lengths of the chained sums (gamma_K ~ K u per sum of K terms, Higham 3.1)
 * and the Lipschitz constants of the nonlinearities:
 *   z:   avg of P terms            |dz|   <= (P+1) u mean|u|          (max: exact)
 *   h:   b1 + C products           |dh|   <= (C+2) u |h|_abs + |W1| |dz|
 *   pre: b2 + D products           |dpre| <= (D+2) u |pre|_abs + |W2| |dh|
 *   s = gate(pre)                  |ds|   <= L |dpre| + 2 u |s|
 *   y = relu(u s (+ r))            |dy|   <= |u| |ds| + 3 u (|u s| + |r|)
 * (|.|_abs: the same sums over absolute values.) The returned bounds are
 * these, times 2 for the terms dropped at first order.
 */
export function seForwardBound(d: SeDims, u: ArrayLike<number>, w: SeParams, r: ArrayLike<number> | null, o: SeOpts, f: SeForward) {
  const { N, P, C, D } = d;
  const u32 = 2 ** -24, L = gateLipschitz(o.gate);
  const ez = new Float64Array(N * C), zabs = new Float64Array(N * C);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      let m = 0;
      for (let p = 0; p < P; p++) m += Math.abs(u[(n * P + p) * C + c]!);
      zabs[n * C + c] = o.squeeze === 'avg' ? m / P : Math.abs(f.z[n * C + c]!);
      ez[n * C + c] = o.squeeze === 'avg' ? (P + 1) * u32 * (m / P) : 0;
    }
  const eh = new Float64Array(N * D), habs = new Float64Array(N * D);
  for (let n = 0; n < N; n++)
    for (let j = 0; j < D; j++) {
      let m = Math.abs(w.b1[j]!), e = 0;
      for (let c = 0; c < C; c++) {
        m += Math.abs(w.w1[j * C + c]!) * zabs[n * C + c]!;
        e += Math.abs(w.w1[j * C + c]!) * ez[n * C + c]!;
      }
      habs[n * D + j] = m;
      eh[n * D + j] = (C + 2) * u32 * m + e;
    }
  const es = new Float64Array(N * C);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      let m = Math.abs(w.b2[c]!), e = 0;
      for (let j = 0; j < D; j++) {
        m += Math.abs(w.w2[c * D + j]!) * habs[n * D + j]!;
        e += Math.abs(w.w2[c * D + j]!) * eh[n * D + j]!;
      }
      es[n * C + c] = L * ((D + 2) * u32 * m + e) + 2 * u32 * Math.abs(f.s[n * C + c]!);
    }
  const ey = new Float64Array(N * P * C);
  for (let n = 0; n < N; n++)
    for (let p = 0; p < P; p++)
      for (let c = 0; c < C; c++) {
        const i = (n * P + p) * C + c;
        const uu = Math.abs(u[i]!);
        ey[i] = 2 * (uu * es[n * C + c]! + 3 * u32 * (uu * Math.abs(f.s[n * C + c]!) + (r ? Math.abs(r[i]!) : 0)));
      }
  for (let i = 0; i < ez.length; i++) ez[i] *= 2;
  for (let i = 0; i < eh.length; i++) eh[i] *= 2;
  for (let i = 0; i < es.length; i++) es[i] *= 2;
  return { z: ez, h: eh, s: es, y: ey };
}

/**
 * Bound on the backward's fp32 error: each gradient is a multilinear chain
 * of sums of lengths P (ds), C (da), D (dz) and N (parameter gradients),
 * fed by forward values whose own relative error is at most (P + C + D + 6) u
 * of their magnitudes (seForwardBound). To first order the error of a chain
 * is at most (sum of the chain's sum lengths + the forward's) u times the
 * chain evaluated on magnitudes (seBackwardRef with abs = true: forward
 * intermediates replaced by seForwardAbs, |gate'| by its Lipschitz bound);
 * factor 2 for higher-order terms.
 */
export function seBackwardK(d: SeDims): number {
  return 2 * (2 * (d.P + d.C + d.D) + d.N + 12);
}
