/**
 * The fused squeeze-excite op (DESIGN.md). For U [N,H,W,C] and hidden size D:
 *   z = squeeze(U)            mean (or max) over H, W          [N, C]
 *   a = relu(z W1^T + b1)      W1 [D, C]                         [N, D]
 *   s = gate(a W2^T + b2)      W2 [C, D]; sigmoid | tanh | relu  [N, C]
 *   y = U * s                  or, with a shortcut: relu(U * s + shortcut)
 * One native call forward, one backward; the saved state (s, z, a, the
 * argmax of a max squeeze and a 1-bit ReLU mask) is small.
 */
import { addon } from '../native.js';
import { describe, fail, native } from '../errors.js';
import { Tensor, wrapOut } from '../tensor.js';
import { expectShape, oneOf, sameDevice, tensorArg } from './check.js';

export type SeSqueeze = 'avg' | 'max';
export type SeGate = 'sigmoid' | 'tanh' | 'relu';

export interface SeWeights {
  w1: Tensor;
  b1: Tensor;
  w2: Tensor;
  b2: Tensor;
}

export interface SeOptions {
  squeeze?: SeSqueeze;
  gate?: SeGate;
  /** fused residual: y = relu(U*s + shortcut) */
  shortcut?: Tensor | null;
}

/** What backward needs from forward. Owns its tensors (dispose() frees them). */
export interface SeSaved {
  u: Tensor;
  s: Tensor<'float32'>;
  z: Tensor<'float32'>;
  a: Tensor<'float32'>;
  argmax: Tensor | null;
  /** with a shortcut: bit c of row p is [y > 0] */
  mask: Tensor | null;
  /** cpu, with a shortcut: [1] uint8, 1 when some y is NaN (where the mask bit is 0) */
  nan: Tensor | null;
  squeeze: SeSqueeze;
  gate: SeGate;
  residual: boolean;
}

export function disposeSeSaved(saved: SeSaved): void {
  for (const t of [saved.u, saved.s, saved.z, saved.a, saved.argmax, saved.mask, saved.nan]) t?.dispose();
}

function checkWeights(op: string, u: Tensor, w: SeWeights, withBiases: boolean) {
  if (!w || typeof w !== 'object') fail('SENET_ARG', op, 'weights', 'an object {w1, b1, w2, b2}', describe(w));
  const c = u.shape[3]!;
  const hw1 = tensorArg(op, 'w1', w.w1, { rank: 2, layout: '[hidden, C]' });
  const d = w.w1.shape[0]!;
  if (w.w1.shape[1] !== c || d < 1)
    fail('SENET_SHAPE', op, 'w1', `[hidden >= 1, ${c}] (u has ${c} channels)`, `shape [${w.w1.shape}]`);
  const hw2 = tensorArg(op, 'w2', w.w2, { rank: 2, layout: '[C, hidden]' });
  expectShape(op, 'w2', w.w2, [c, d]);
  if (!withBiases) return { hw1, hw2, hb1: null, hb2: null };
  const hb1 = tensorArg(op, 'b1', w.b1, { rank: 1 });
  expectShape(op, 'b1', w.b1, [d]);
  const hb2 = tensorArg(op, 'b2', w.b2, { rank: 1 });
  expectShape(op, 'b2', w.b2, [c]);
  return { hw1, hw2, hb1, hb2 };
}

/**
 * Forward. Returns y and, when `save` is true (training), the state for
 * squeezeExciteBackward; otherwise the state is freed at once.
 */
export function squeezeExcite(u: Tensor, w: SeWeights, o: SeOptions = {}, save = true): { y: Tensor<'float32'>; saved: SeSaved | null } {
  const op = 'squeezeExcite';
  const hu = tensorArg(op, 'u', u, { rank: 4, layout: 'NHWC' });
  const squeeze = oneOf(op, 'squeeze', o.squeeze, 'avg', ['avg', 'max'] as const);
  const gate = oneOf(op, 'gate', o.gate, 'sigmoid', ['sigmoid', 'tanh', 'relu'] as const);
  const { hw1, hw2, hb1, hb2 } = checkWeights(op, u, w, true);
  const r = o.shortcut ?? null;
  const hr = r ? tensorArg(op, 'shortcut', r, { rank: 4, layout: 'NHWC' }) : null;
  if (r) expectShape(op, 'shortcut', r, u.shape);
  sameDevice(op, { u, w1: w.w1, b1: w.b1, w2: w.w2, b2: w.b2, shortcut: r });
  const [y, s, z, a, argmax, mask, nan] = native(() => addon.squeezeExcite(hu, hw1, hb1!, hw2, hb2!, hr, { squeeze, gate }));
  if (!save) {
    for (const t of [s, z, a, argmax, mask, nan]) t?.release();
    return { y: wrapOut(y), saved: null };
  }
  const saved: SeSaved = {
    u: u.reshape(u.shape),
    s: wrapOut(s),
    z: wrapOut(z),
    a: wrapOut(a),
    argmax: argmax ? new Tensor(argmax) : null,
    mask: mask ? new Tensor(mask) : null,
    nan: nan ? new Tensor(nan) : null,
    squeeze,
    gate,
    residual: r !== null,
  };
  return { y: wrapOut(y), saved };
}

export interface SeGrads {
  du: Tensor<'float32'>;
  dshortcut: Tensor<'float32'> | null;
  dw1: Tensor<'float32'>;
  db1: Tensor<'float32'>;
  dw2: Tensor<'float32'>;
  db2: Tensor<'float32'>;
}

/** Backward from dy and the saved state (which stays owned by the caller). */
export function squeezeExciteBackward(dy: Tensor, saved: SeSaved, w: Pick<SeWeights, 'w1' | 'w2'>): SeGrads {
  const op = 'squeezeExciteBackward';
  if (!saved || typeof saved !== 'object' || !(saved.u instanceof Tensor))
    fail('SENET_ARG', op, 'saved', 'the state squeezeExcite returned', describe(saved));
  const hdy = tensorArg(op, 'dy', dy, { rank: 4, layout: 'NHWC' });
  const hu = tensorArg(op, 'saved.u', saved.u, { rank: 4, layout: 'NHWC' });
  expectShape(op, 'dy', dy, saved.u.shape);
  const { hw1, hw2 } = checkWeights(op, saved.u, w as SeWeights, false);
  const hs = tensorArg(op, 'saved.s', saved.s), hz = tensorArg(op, 'saved.z', saved.z), ha = tensorArg(op, 'saved.a', saved.a);
  const ham = saved.argmax ? tensorArg(op, 'saved.argmax', saved.argmax, { dtype: 'int32' }) : null;
  const hm = saved.mask ? tensorArg(op, 'saved.mask', saved.mask, { dtype: 'uint8' }) : null;
  sameDevice(op, { dy, u: saved.u, w1: w.w1, w2: w.w2 });
  const [du, dr, dw1, db1, dw2, db2] = native(() =>
    addon.squeezeExciteBackward(hdy, hu, hw1, hw2, hs, hz, ha, ham, hm, {
      squeeze: saved.squeeze,
      gate: saved.gate,
      residual: saved.residual,
    }),
  );
  return { du: wrapOut(du), dshortcut: wrapOut(dr), dw1: wrapOut(dw1), db1: wrapOut(db1), dw2: wrapOut(dw2), db2: wrapOut(db2) };
}
