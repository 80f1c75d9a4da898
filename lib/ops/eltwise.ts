/** Elementwise ops: relu (+ backward), add, and in-place helpers. */
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
