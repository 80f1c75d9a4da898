/**
 * Pooling on NHWC: max windows, average windows (oneDNN on CPU), global average.
 * maxPool2dTrain also returns the workspace (argmax positions) backward needs.
 */
import { addon } from '../native.js';
import { fail, native } from '../errors.js';
import { Tensor, checkShape, wrapOut, type Shape } from '../tensor.js';
import { expectShape, pair, padding4, sameDevice, tensorArg, type Padding } from './check.js';

export interface Pool2dOptions {
  kernel: number | [number, number];
  /** default: the kernel size */
  stride?: number | [number, number];
  padding?: Padding;
  /** average pooling: divide by the full window (PyTorch's default) or by the valid part (TensorFlow) */
  countIncludePad?: boolean;
}

export interface Pool2dParams {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number, number, number];
  countIncludePad: boolean;
}

export function pool2dParams(op: string, xShape: Shape, o: Pool2dOptions): Pool2dParams {
  if (!o || o.kernel === undefined) fail('SENET_ARG', op, 'kernel', 'an integer or an array of 2 integers', 'undefined');
  if (xShape.length !== 4) fail('SENET_SHAPE', op, 'x', 'a rank-4 NHWC tensor', `shape [${xShape}]`);
  const kernel = pair(op, 'kernel', o.kernel, 1, 1);
  const stride = o.stride === undefined ? kernel : pair(op, 'stride', o.stride, 1, 1);
  const padding = padding4(op, o.padding, [xShape[1]!, xShape[2]!], kernel, stride);
  return { kernel, stride, padding, countIncludePad: o.countIncludePad ?? true };
}

/** Max pooling for inference (no workspace). */
export function maxPool2d(x: Tensor, o: Pool2dOptions): Tensor<'float32'> {
  const [y, ws] = maxPoolNative(x, o, false);
  ws.release();
  return wrapOut(y);
}

/** Max pooling keeping the workspace for maxPool2dBackward. */
export function maxPool2dTrain(x: Tensor, o: Pool2dOptions): { y: Tensor<'float32'>; workspace: Tensor } {
  const [y, ws] = maxPoolNative(x, o, true);
  return { y: wrapOut(y), workspace: new Tensor(ws) };
}

function maxPoolNative(x: Tensor, o: Pool2dOptions, workspace: boolean) {
  const op = 'maxPool2d';
  const hx = tensorArg(op, 'x', x, { rank: 4, layout: 'NHWC' });
  const p = pool2dParams(op, x.shape, o);
  return native(() => addon.maxPool2d(hx, { ...p, workspace }));
}

export function maxPool2dBackward(dy: Tensor, workspace: Tensor, xShape: Shape, o: Pool2dOptions): Tensor<'float32'> {
  const op = 'maxPool2dBackward';
  const hdy = tensorArg(op, 'dy', dy, { rank: 4, layout: 'NHWC' });
  const hws = tensorArg(op, 'workspace', workspace, { dtype: 'uint8' });
  sameDevice(op, { dy, workspace });
  const xs = checkShape(op, 'xShape', xShape);
  const p = pool2dParams(op, xs, o);
  return wrapOut(native(() => addon.maxPool2dBackward(hdy, hws, xs, { ...p })));
}

export function avgPool2d(x: Tensor, o: Pool2dOptions): Tensor<'float32'> {
  const op = 'avgPool2d';
  const hx = tensorArg(op, 'x', x, { rank: 4, layout: 'NHWC' });
  const p = pool2dParams(op, x.shape, o);
  return wrapOut(native(() => addon.avgPool2d(hx, { ...p })));
}

export function avgPool2dBackward(dy: Tensor, xShape: Shape, o: Pool2dOptions): Tensor<'float32'> {
  const op = 'avgPool2dBackward';
  const hdy = tensorArg(op, 'dy', dy, { rank: 4, layout: 'NHWC' });
  const xs = checkShape(op, 'xShape', xShape);
  const p = pool2dParams(op, xs, o);
  return wrapOut(native(() => addon.avgPool2dBackward(hdy, xs, { ...p })));
}

/** Mean over H and W: [N,H,W,C] -> [N,C]. */
export function globalAvgPool(x: Tensor): Tensor<'float32'> {
  const hx = tensorArg('globalAvgPool', 'x', x, { rank: 4, layout: 'NHWC' });
  return wrapOut(native(() => addon.globalAvgPool(hx)));
}

export function globalAvgPoolBackward(dy: Tensor, xShape: Shape): Tensor<'float32'> {
  const op = 'globalAvgPoolBackward';
  const hdy = tensorArg(op, 'dy', dy, { rank: 2, layout: '[N, C]' });
  const xs = checkShape(op, 'xShape', xShape);
  if (xs.length !== 4) fail('SENET_SHAPE', op, 'xShape', 'a rank-4 NHWC shape', `[${xs}]`);
  expectShape(op, 'dy', dy, [xs[0]!, xs[3]!]);
  return wrapOut(native(() => addon.globalAvgPoolBackward(hdy, xs)));
}
