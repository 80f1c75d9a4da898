/**
 * Elementwise math with NumPy/TensorFlow broadcasting: unary functions
 * (activations and friends), binary arithmetic, addN and clip. NaN
 * semantics follow TensorFlow.js (NaN in, NaN out; step maps NaN to NaN).
 * The TensorFlow.js backend runs tfjs's elementwise kernels on these.
 */
import { addon } from '../native.js';
import { describe, fail, native } from '../errors.js';
import { Tensor, wrapOut, type Shape } from '../tensor.js';
import { sameDevice, tensorArg } from './check.js';

export const UNARY_OPS = [
  'neg', 'abs', 'square', 'sqrt', 'rsqrt', 'reciprocal', 'exp', 'expm1', 'log', 'log1p', 'sigmoid', 'tanh',
  'softplus', 'relu', 'relu6', 'elu', 'selu', 'leakyRelu', 'step',
] as const;
export type UnaryOp = (typeof UNARY_OPS)[number];

/**
 * a op b elementwise; b is the second argument: prelu(x, alpha), eluGrad(dy, y) = dy * (y >= 0 ? 1 : y + 1),
 * reluGrad(dy, x) = dy * step(x) with step(NaN) = NaN, squareGrad(dy, x) = dy * 2x, addRelu(a, b) = relu(a + b).
 */
export const BINARY_OPS = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'squaredDifference', 'prelu', 'eluGrad', 'reluGrad', 'squareGrad', 'addRelu'] as const;
export type BinaryOp = (typeof BINARY_OPS)[number];

const MAX_DIMS = 8;

/** The broadcast shape of a and b (dims aligned on the right must be equal or 1). */
export function broadcastShape(op: string, a: Shape, b: Shape): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = i < r - a.length ? 1 : a[i - (r - a.length)]!;
    const db = i < r - b.length ? 1 : b[i - (r - b.length)]!;
    if (da !== db && da !== 1 && db !== 1) fail('SENET_SHAPE', op, 'b', `a shape that broadcasts with a's [${a}]`, `[${b}]`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/**
 * y = f(x). `alpha` is leakyRelu's slope and step's value for x <= 0.
 * relu, relu6, elu, leakyRelu pass NaN through.
 */
export function unary(x: Tensor, op: UnaryOp, opts: { alpha?: number } = {}): Tensor<'float32'> {
  const name = 'unary';
  const hx = tensorArg(name, 'x', x);
  if (!(UNARY_OPS as readonly string[]).includes(op as string)) fail('SENET_ARG', name, 'op', `one of ${UNARY_OPS.join('|')}`, describe(op));
  const alpha = opts.alpha ?? 0;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) fail('SENET_ARG', name, 'alpha', 'a finite number', describe(alpha));
  return wrapOut(native(() => addon.unary(hx, op, { alpha })));
}

/** y = a op b with broadcasting; y has the broadcast shape. */
export function binary(a: Tensor, b: Tensor, op: BinaryOp): Tensor<'float32'> {
  const name = 'binary';
  const ha = tensorArg(name, 'a', a), hb = tensorArg(name, 'b', b);
  if (!(BINARY_OPS as readonly string[]).includes(op as string)) fail('SENET_ARG', name, 'op', `one of ${BINARY_OPS.join('|')}`, describe(op));
  sameDevice(name, { a, b });
  for (const [arg, t] of [['a', a], ['b', b]] as const)
    if (t.rank > MAX_DIMS) fail('SENET_SHAPE', name, arg, `at most ${MAX_DIMS} dimensions`, `shape [${t.shape}]`);
  broadcastShape(name, a.shape, b.shape);
  return wrapOut(native(() => addon.binary(ha, hb, op)));
}

/** The sum of tensors of one shape. */
export function addN(xs: readonly Tensor[]): Tensor<'float32'> {
  const name = 'addN';
  if (!Array.isArray(xs) || xs.length === 0) fail('SENET_ARG', name, 'xs', 'a non-empty array of tensors', describe(xs));
  const hs = xs.map((t, i) => tensorArg(name, `xs[${i}]`, t));
  xs.forEach((t, i) => {
    if (t.device !== xs[0]!.device) fail('SENET_DEVICE', name, `xs[${i}]`, `to be on ${xs[0]!.device} like xs[0]`, t.device);
    if (t.shape.length !== xs[0]!.shape.length || t.shape.some((d: number, k: number) => d !== xs[0]!.shape[k]))
      fail('SENET_SHAPE', name, `xs[${i}]`, `shape [${xs[0]!.shape}] like xs[0]`, `[${t.shape}]`);
  });
  return wrapOut(native(() => addon.addN(hs)));
}

/** min(max(x, lo), hi); NaN stays NaN. */
export function clip(x: Tensor, lo: number, hi: number): Tensor<'float32'> {
  const name = 'clip';
  const hx = tensorArg(name, 'x', x);
  for (const [arg, v] of [['min', lo], ['max', hi]] as const)
    if (typeof v !== 'number' || !(Math.abs(v) <= 3.4e38)) fail('SENET_ARG', name, arg, 'a finite float32 number', describe(v));
  if (hi < lo) fail('SENET_ARG', name, 'max', 'a number >= min', describe(hi));
  return wrapOut(native(() => addon.clip(hx, { min: lo, max: hi })));
}
