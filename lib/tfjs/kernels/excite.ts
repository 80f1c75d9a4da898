/**
 * The squeeze-excite chain (provenance.ts): a squeeze (Mean over H and W of
 * [N, H, W, C] data) and the small ops that take it are described as
 * `Deferred` steps; where Multiply's factor is the gate of its own u, the
 * block's u * s (+ r) (and the Relu after it) runs as senet's fused
 * squeeze-excite op. Each function returns null when the call is not one it
 * describes (the caller's kernel runs).
 */
import { broadcast_util, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import { addon } from '../../native.js';
import type { SenetBackend } from '../backend.js';
import { Deferred, excite, type DeferredOp, type Lazy } from '../provenance.js';
import { plan } from './matmul.js';
import { allF32, following, hold, last, release, reshaped, sameShape, size, type H } from './util.js';

type Excited = Extract<Lazy, { what: 'excited' }>;

/** t's deferred step, if its data is one. */
export function deferredOf(b: SenetBackend, t: TensorInfo): Deferred | null {
  const l = b.lazyOf(t);
  return l?.what === 'deferred' ? l.node : null;
}

/**
 * A tensor whose data is `step` of `inputs` (deferred ones referenced, the
 * others' data held); `run` gets each input's data with that input's shape
 * (a deferred step's value has its own, and tfjs may have reshaped it since).
 */
function defer(b: SenetBackend, step: DeferredOp, shape: readonly number[], inputs: TensorInfo[], run: (args: H[]) => H): TensorInfo {
  // (every input's data first: nothing is held if computing one throws)
  const got = inputs.map((t) => deferredOf(b, t) ?? b.h(t));
  const args = got.map((a) => (a instanceof Deferred ? a.ref() : hold(a)));
  const shapes = inputs.map((t) => t.shape.slice());
  const shaped = (hs: H[]): H => {
    const views = hs.map((h, i) => (sameShape(h.shape, shapes[i]!) ? null : addon.reshape(h, shapes[i]!)));
    try {
      return run(hs.map((h, i) => views[i] ?? h));
    } finally {
      release(...views);
    }
  };
  return b.lazyOut({ what: 'deferred', shape: shape.slice(), node: new Deferred(step, shape.slice(), args, shaped) }, {});
}

/** Mean of [N, H, W, C] over H and W (H*W > 1): described. */
export function squeeze(b: SenetBackend, x: TensorInfo, axes: readonly number[], shape: readonly number[]): TensorInfo | null {
  if (!following(b) || !allF32(x) || x.shape.length !== 4 || size(x.shape) === 0 || x.shape[1]! * x.shape[2]! < 2) return null;
  const ax = [...axes].sort((p, q) => p - q);
  if (ax.length !== 2 || ax[0] !== 1 || ax[1] !== 2 || deferredOf(b, x)) return null;
  return defer(b, { op: 'squeeze' }, shape, [x], ([h]) => reshaped(addon.reduce(h!, [1, 2], 'mean'), shape));
}

/** BatchMatMul / _FusedMatMul (bias of N values, linear/relu/sigmoid) of a deferred operand: described. */
export function matmul(b: SenetBackend, inputs: Record<string, TensorInfo | undefined>, attrs: NamedAttrMap, fused: boolean): TensorInfo | null {
  const a = inputs['a']!, w = inputs['b']!, bias = inputs['bias'] ?? undefined;
  if (!following(b) || !(deferredOf(b, a) || deferredOf(b, w)) || !allF32(a, w) || (bias && !allF32(bias))) return null;
  const act = (fused ? (attrs['activation'] as unknown as string | undefined) : undefined) ?? 'linear';
  if ((act !== 'linear' && act !== 'relu' && act !== 'sigmoid') || inputs['preluActivationWeights']) return null;
  const ta = Boolean(attrs['transposeA']), tb = Boolean(attrs['transposeB']);
  const p = plan(a, w, ta, tb);
  if (!p) return null;
  const n = last(p.out);
  if (bias && !(size(bias.shape) === n && last(bias.shape) === n)) return null;
  const step = { op: 'matmul', transposeA: ta, transposeB: tb, bias: bias !== undefined, activation: act } as const;
  return defer(b, step, p.out, bias ? [a, w, bias] : [a, w], ([ha, hw, hbias]) => {
    const va = addon.reshape(ha!, p.a3), vw = addon.reshape(hw!, p.b3), vb = hbias ? addon.reshape(hbias, [n]) : null;
    let y = addon.matmul(va, vw, vb, { transposeA: ta, transposeB: tb });
    release(va, vw, vb);
    if (act !== 'linear') {
      const z = addon.unary(y, act, {});
      y.release();
      y = z;
    }
    return reshaped(y, p.out);
  });
}

/** x + y where one is deferred and the sum has its shape (a bias added): described. */
export function add(b: SenetBackend, x: TensorInfo, y: TensorInfo): TensorInfo | null {
  if (!following(b) || !allF32(x, y)) return null;
  const dx = deferredOf(b, x), dy = deferredOf(b, y);
  if (!dx && !dy) return null;
  const shape = broadcast_util.assertAndGetBroadcastShape(x.shape, y.shape);
  // (nothing larger than the chain is held for later)
  if (!((dx && sameShape(shape, x.shape)) || (dy && sameShape(shape, y.shape)))) return null;
  return defer(b, { op: 'add' }, shape, [x, y], ([p, q]) => addon.binary(p!, q!, 'add'));
}

/** Relu or Sigmoid of deferred data: described. */
export function unary(b: SenetBackend, x: TensorInfo, op: 'relu' | 'sigmoid'): TensorInfo | null {
  if (!following(b) || !allF32(x) || !deferredOf(b, x)) return null;
  return defer(b, { op }, x.shape, [x], ([h]) => addon.unary(h!, op, {}));
}

// ---------------------------------------------------------------- the pattern

/** One dense layer of the excitation, act(input W + bias), in any of the forms tfjs writes it. */
interface Layer {
  input: Deferred;
  w: H;
  transposed: boolean;
  bias: H | null;
}

function layer(x: Deferred, act: 'relu' | 'sigmoid'): Layer | null {
  let m: Deferred | null = null;
  let bias: H | null = null;
  const st = x.step;
  if (st.op === 'matmul' && st.activation === act) m = x; // _FusedMatMul with the activation
  else if (st.op === act && x.args[0] instanceof Deferred) {
    const pre = x.args[0];
    if (pre.step.op === 'add') {
      // matmul + bias (either order)
      const [p, q] = pre.args;
      const [mm, bb] = p instanceof Deferred ? [p, q] : [q, p];
      if (!(mm instanceof Deferred) || !bb || bb instanceof Deferred || mm.step.op !== 'matmul' || mm.step.activation !== 'linear' || mm.step.bias) return null;
      m = mm;
      bias = bb;
    } else if (pre.step.op === 'matmul' && pre.step.activation === 'linear') m = pre;
  }
  if (!m || m.step.op !== 'matmul' || m.step.transposeA) return null;
  const [input, w, fb] = m.args;
  if (!(input instanceof Deferred) || !w || w instanceof Deferred || fb instanceof Deferred) return null;
  if (fb) {
    if (bias) return null;
    bias = fb;
  }
  return { input, w, transposed: m.step.transposeB, bias };
}

/** Whether a bias is n values along its last axis (leading dimensions all 1), as the fused op adds it. */
function vector(bias: H | null, n: number): boolean {
  return bias === null || (last(bias.shape) === n && bias.shape.slice(0, -1).every((d) => d === 1));
}

/** A weight's [rows, cols] as used (its leading dimensions all 1). */
function used(w: H, transposed: boolean): [number, number] | null {
  const s = w.shape;
  if (s.length < 2 || s.slice(0, -2).some((d) => d !== 1)) return null;
  const r = s[s.length - 2]!, c = s[s.length - 1]!;
  return transposed ? [c, r] : [r, c];
}

/** sigmoid(relu(mean_HW(u) W1 + b1) W2 + b2), as the fused op computes it. */
export interface Gate {
  z: Deferred;
  a: Deferred;
  l1: Layer;
  l2: Layer;
  d: number;
}

/** The squeeze-excite gate of u that `gate` is, or null. */
export function gateOf(gate: Deferred, u: H): Gate | null {
  if (u.shape.length !== 4) return null;
  const n = u.shape[0]!, c = u.shape[3]!;
  const l2 = layer(gate, 'sigmoid');
  const l1 = l2 && layer(l2.input, 'relu');
  if (!l2 || !l1) return null;
  const z = l1.input, x = z.args[0];
  if (z.step.op !== 'squeeze' || !x || x instanceof Deferred || x.storageId !== u.storageId || !sameShape(x.shape, u.shape)) return null;
  const m1 = used(l1.w, l1.transposed), m2 = used(l2.w, l2.transposed);
  if (!m1 || !m2 || m1[0] !== c || m2[1] !== c || m1[1] !== m2[0]) return null;
  const d = m1[1];
  if (!vector(l1.bias, d) || !vector(l2.bias, c)) return null;
  if (size(z.shape) !== n * c || size(l2.input.shape) !== n * d || size(gate.shape) !== n * c) return null;
  return { z, a: l2.input, l1, l2, d };
}

/** A dense layer's weight as the fused op takes it: [out, in]. */
function outIn(l: Layer, rows: number, cols: number): H {
  if (l.transposed) return addon.reshape(l.w, [rows, cols]);
  const v = addon.reshape(l.w, [cols, rows]);
  const t = addon.transpose(v, [1, 0]);
  v.release();
  return t;
}

function give(node: Deferred, h: H): void {
  const v = reshaped(h, node.shape);
  if (!node.offer(v)) v.release();
}

/**
 * u * s (+ r) of lazy 'excited' data, relu'd when `relu` (the Relu of
 * u * s + r asks). The fused op where it computes the same thing and the
 * gate is not computed yet (it then also gives the squeeze, the hidden
 * activation and the gate their values); otherwise the gate and one pass.
 */
function compute(l: Excited, relu: boolean): { y: H; bits: { mask: H; nan: H } | null } {
  const n = l.u.shape[0]!, c = l.u.shape[3]!;
  const g = l.gate.value === null ? gateOf(l.gate, l.u) : null;
  if (g && g.z.value === null && g.a.value === null && relu === (l.r !== null)) {
    const d = g.d;
    const w1 = outIn(g.l1, d, c), w2 = outIn(g.l2, c, d);
    const b1 = g.l1.bias ? addon.reshape(g.l1.bias, [d]) : addon.full([d], 0, 'float32', 'cpu');
    const b2 = g.l2.bias ? addon.reshape(g.l2.bias, [c]) : addon.full([c], 0, 'float32', 'cpu');
    try {
      const [y, s, z, a, argmax, mask, nan] = addon.squeezeExcite(l.u, w1, b1, w2, b2, l.r, { squeeze: 'avg', gate: 'sigmoid' });
      release(argmax);
      give(g.z, z);
      give(g.a, a);
      give(l.gate, s);
      if (mask && nan) return { y, bits: { mask, nan } };
      release(mask, nan);
      return { y, bits: null };
    } finally {
      release(w1, w2, b1, b2);
    }
  }
  const s = addon.reshape(l.gate.compute(), [n, c]);
  try {
    return { y: addon.scaleChannels(l.u, s, l.r, null, { relu }), bits: null };
  } finally {
    s.release();
  }
}

excite.compute = compute;

/** u * s with s (deferred, [N, 1, 1, C]) the squeeze-excite gate of u: described. */
export function scaled(b: SenetBackend, u: TensorInfo, s: TensorInfo): TensorInfo | null {
  const g = following(b) ? deferredOf(b, s) : null;
  if (!g || !allF32(u) || u.shape.length !== 4) return null;
  const hu = b.h(u);
  if (!gateOf(g, hu)) return null;
  return b.lazyOut({ what: 'excited', shape: u.shape.slice(), u: hold(hu), gate: g.ref(), r: null }, {});
}

/** (u * s) + r, either order, r of the same shape: described. */
export function residual(b: SenetBackend, x: TensorInfo, y: TensorInfo): TensorInfo | null {
  if (x.dataId === y.dataId || !allF32(x, y) || !sameShape(x.shape, y.shape)) return null;
  for (const [p, q] of [[x, y], [y, x]] as const) {
    const l = b.lazyOf(p);
    if (l?.what === 'excited' && l.r === null && sameShape(l.shape, p.shape)) {
      const hq = b.h(q);
      return b.lazyOut({ what: 'excited', shape: l.shape.slice(), u: hold(l.u), gate: l.gate.ref(), r: hold(hq) }, {});
    }
  }
  return null;
}

/**
 * relu(u * s + r) of lazy 'excited' data: the fused op. The input's data
 * becomes lazy u * s + r that keeps the output and the fused op's relu mask
 * (for Relu's gradient, as graph.ts's scaling; it reads one bit per element
 * instead of the output).
 */
export function reluExcited(b: SenetBackend, x: TensorInfo): TensorInfo | null {
  const l = b.lazyOf(x);
  if (l?.what !== 'excited' || l.r === null || !allF32(x) || !sameShape(l.shape, x.shape)) return null;
  const { y, bits } = compute(l, true);
  const n = l.u.shape[0]!, c = l.u.shape[3]!;
  const scaled = { what: 'scaled', shape: l.shape.slice(), u: hold(l.u), s: addon.reshape(l.gate.compute(), [n, c]), r: hold(l.r), bias: null, reluOut: hold(y) } as const;
  b.relazy(x, bits ? { ...scaled, bits } : scaled);
  return b.out(y, x.shape);
}
