/** Elementwise ops: relu (+ backward), add, per-(sample, channel) scaling (+ backward), and in-place helpers. */
import { addon } from '../native.js';
import { describe, fail, native } from '../errors.js';
import { Tensor, wrapOut } from '../tensor.js';
import { expectShape, sameDevice, tensorArg } from './check.js';

export function relu(x: Tensor): Tensor<'float32'> {
  const hx = tensorArg('relu', 'x', x);
  return wrapOut(native(() => addon.relu(hx)));
}

/** dx = dy * [y > 0], from relu's output y. */
export function reluBackward(dy: Tensor, y: Tensor): Tensor<'float32'> {
  const op = 'reluBackward';
  const hdy = tensorArg(op, 'dy', dy), hy = tensorArg(op, 'y', y);
  expectShape(op, 'dy', dy, y.shape);
  sameDevice(op, { dy, y });
  return wrapOut(native(() => addon.reluBackward(hdy, hy)));
}

/** a + b (same shapes). */
export function add(a: Tensor, b: Tensor): Tensor<'float32'> {
  const op = 'add';
  const ha = tensorArg(op, 'a', a), hb = tensorArg(op, 'b', b);
  expectShape(op, 'b', b, a.shape);
  sameDevice(op, { a, b });
  return wrapOut(native(() => addon.add(ha, hb)));
}

/** u [N, ..., C]: rank >= 2, non-empty. */
function checkU(op: string, u: Tensor): void {
  if (u.rank < 2 || u.size === 0) fail('SENET_SHAPE', op, 'u', 'a non-empty tensor [N, ..., C] of rank >= 2', `shape [${u.shape}]`);
}

function scaledArgs(op: string, u: Tensor, s: Tensor) {
  const hu = tensorArg(op, 'u', u), hs = tensorArg(op, 's', s);
  checkU(op, u);
  expectShape(op, 's', s, [u.shape[0]!, u.shape[u.rank - 1]!]);
  return [hu, hs] as const;
}

/**
 * y = u * s (+ bias) (+ residual) (then relu) with u [N, ..., C] and s, bias
 * [N, C] per sample and channel (a squeeze-excite block's last step), in one pass.
 */
export function scaleChannels(u: Tensor, s: Tensor, o: { residual?: Tensor; bias?: Tensor; relu?: boolean } = {}): Tensor<'float32'> {
  const op = 'scaleChannels';
  const [hu, hs] = scaledArgs(op, u, s);
  const hr = o.residual === undefined ? null : tensorArg(op, 'residual', o.residual);
  if (o.residual !== undefined) expectShape(op, 'residual', o.residual, u.shape);
  const hb = o.bias === undefined ? null : tensorArg(op, 'bias', o.bias);
  if (o.bias !== undefined) expectShape(op, 'bias', o.bias, s.shape);
  const others = { ...(o.residual ? { residual: o.residual } : {}), ...(o.bias ? { bias: o.bias } : {}) };
  sameDevice(op, { u, s, ...others });
  return wrapOut(native(() => addon.scaleChannels(hu, hs, hr, hb, { relu: o.relu === true })));
}

/**
 * relu's gradient from its output y, g = dy * [y > 0] (NaN in y passing), with
 * ds[n, c] = the sum over sample n's rows of g * u in the same pass: the two
 * gradients of relu(u * s + r) before s's (a squeeze-excite block written with ops).
 * With `bits` (squeezeExcite's saved mask and nan flag for this y) the mask is
 * read instead of y (a bit per element instead of a float), unless the flag
 * says some y is NaN; the result is the same.
 */
export function reluBackwardChannelDot(dy: Tensor, y: Tensor, u: Tensor, bits?: { mask: Tensor; nan: Tensor }): { dx: Tensor<'float32'>; ds: Tensor<'float32'> } {
  const op = 'reluBackwardChannelDot';
  const hdy = tensorArg(op, 'dy', dy), hy = tensorArg(op, 'y', y), hu = tensorArg(op, 'u', u);
  const hm = bits ? tensorArg(op, 'bits.mask', bits.mask, { dtype: 'uint8' }) : null;
  const hn = bits ? tensorArg(op, 'bits.nan', bits.nan, { dtype: 'uint8' }) : null;
  checkU(op, u);
  expectShape(op, 'dy', dy, u.shape);
  expectShape(op, 'y', y, u.shape);
  sameDevice(op, { dy, y, u, ...(bits ? { mask: bits.mask, nan: bits.nan } : {}) });
  const [dx, ds] = native(() => addon.reluBackwardChannelDot(hdy, hy, hu, hm, hn));
  return { dx: wrapOut(dx), ds: wrapOut(ds) };
}

/** The gradients of u * s (scaleChannels without residual and relu): du = dy * s, ds[n, c] = sum over sample n's rows of dy * u. */
export function scaleChannelsBackward(dy: Tensor, u: Tensor, s: Tensor): { du: Tensor<'float32'>; ds: Tensor<'float32'> } {
  const op = 'scaleChannelsBackward';
  const hdy = tensorArg(op, 'dy', dy);
  const [hu, hs] = scaledArgs(op, u, s);
  expectShape(op, 'dy', dy, u.shape);
  sameDevice(op, { dy, u, s });
  const [du, ds] = native(() => addon.scaleChannelsBackward(hdy, hu, hs));
  return { du: wrapOut(du), ds: wrapOut(ds) };
}

/** y += alpha * x, in place. */
export function addScaled_(y: Tensor, x: Tensor, alpha = 1): void {
  const op = 'addScaled_';
  const hy = tensorArg(op, 'y', y), hx = tensorArg(op, 'x', x);
  expectShape(op, 'x', x, y.shape);
  sameDevice(op, { y, x });
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) fail('SENET_ARG', op, 'alpha', 'a finite number', describe(alpha));
  native(() => addon.addScaled_(hy, hx, alpha));
}

/** Sets every element to value, in place. */
export function fill_(t: Tensor, value: number): void {
  const op = 'fill_';
  if (!(t instanceof Tensor)) fail('SENET_ARG', op, 'x', 'a Tensor', describe(t));
  const ht = t.handle(op, 'x');
  if (typeof value !== 'number') fail('SENET_ARG', op, 'value', 'a number', describe(value));
  native(() => addon.fill_(ht, value));
}
