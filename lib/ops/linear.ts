/** Fully connected: y = x W^T + b, x [N, in], W [out, in] (PyTorch's layout), b [out]. */
import { addon } from '../native.js';
import { fail, native } from '../errors.js';
import { Tensor, wrapOut } from '../tensor.js';
import { expectShape, sameDevice, tensorArg } from './check.js';

function check(op: string, x: Tensor, w: Tensor) {
  const hx = tensorArg(op, 'x', x, { rank: 2, layout: '[N, in]' });
  const hw = tensorArg(op, 'w', w, { rank: 2, layout: '[out, in]' });
  if (w.shape[1] !== x.shape[1])
    fail('SENET_SHAPE', op, 'w', `[out, ${x.shape[1]}] to match x's ${x.shape[1]} features`, `shape [${w.shape}]`);
  return [hx, hw] as const;
}

export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor<'float32'> {
  const op = 'linear';
  const [hx, hw] = check(op, x, w);
  const hb = b ? tensorArg(op, 'b', b, { rank: 1 }) : null;
  if (b) expectShape(op, 'b', b, [w.shape[0]!]);
  sameDevice(op, { x, w, b });
  return wrapOut(native(() => addon.linear(hx, hw, hb)));
}

export function linearBackward(
  dy: Tensor,
  x: Tensor,
  w: Tensor,
  o: { needDx?: boolean; withBias?: boolean } = {},
): { dx: Tensor<'float32'> | null; dw: Tensor<'float32'>; db: Tensor<'float32'> | null } {
  const op = 'linearBackward';
  const [hx, hw] = check(op, x, w);
  const hdy = tensorArg(op, 'dy', dy, { rank: 2, layout: '[N, out]' });
  expectShape(op, 'dy', dy, [x.shape[0]!, w.shape[0]!]);
  sameDevice(op, { dy, x, w });
  const [dx, dw, db] = native(() =>
    addon.linearBackward(hdy, hx, hw, { needDx: o.needDx ?? true, withBias: o.withBias ?? true }),
  );
  return { dx: wrapOut(dx), dw: wrapOut(dw), db: wrapOut(db) };
}
