/**
 * 2-D convolution on NHWC activations with OHWI weights ([out, kh, kw,
 * in/groups]), through oneDNN on CPU (cuDNN on CUDA): forward, backward
 * data, backward filter (with the bias gradient).
 */
import { addon } from '../native.js';
import { fail, native } from '../errors.js';
import { Tensor, checkShape, wrapOut, type Shape } from '../tensor.js';
import { pair, padding4, positiveInt, sameDevice, tensorArg, expectShape, type Padding } from './check.js';

export interface Conv2dOptions {
  stride?: number | [number, number];
  /** number, [ph, pw], [top, bottom, left, right], 'same' (TensorFlow) or 'valid' */
  padding?: Padding;
  dilation?: number | [number, number];
  groups?: number;
}

export interface Conv2dParams {
  stride: [number, number];
  padding: [number, number, number, number];
  dilation: [number, number];
  groups: number;
}

/** Resolves options against the input and weight shapes and checks that they fit. */
export function conv2dParams(op: string, xShape: Shape, wShape: Shape, opts: Conv2dOptions = {}): Conv2dParams {
  if (xShape.length !== 4) fail('SENET_SHAPE', op, 'x', 'a rank-4 NHWC tensor', `shape [${xShape}]`);
  if (wShape.length !== 4) fail('SENET_SHAPE', op, 'w', 'a rank-4 OHWI tensor', `shape [${wShape}]`);
  const stride = pair(op, 'stride', opts.stride, 1, 1);
  const dilation = pair(op, 'dilation', opts.dilation, 1, 1);
  const groups = positiveInt(op, 'groups', opts.groups, 1);
  const ci = xShape[3]!, co = wShape[0]!;
  if (ci % groups !== 0) fail('SENET_SHAPE', op, 'groups', `a divisor of the ${ci} input channels`, String(groups));
  if (co % groups !== 0) fail('SENET_SHAPE', op, 'groups', `a divisor of the ${co} output channels`, String(groups));
  if (wShape[3] !== ci / groups)
    fail('SENET_SHAPE', op, 'w', `OHWI with ${ci / groups} input channels per group (x has ${ci} channels, groups ${groups})`, `shape [${wShape}]`);
  const padding = padding4(op, opts.padding, [xShape[1]!, xShape[2]!], [wShape[1]!, wShape[2]!], stride, dilation);
  return { stride, padding, dilation, groups };
}

export function conv2d(x: Tensor, w: Tensor, b?: Tensor | null, opts: Conv2dOptions = {}): Tensor<'float32'> {
  const op = 'conv2d';
  const hx = tensorArg(op, 'x', x, { rank: 4, layout: 'NHWC' });
  const hw = tensorArg(op, 'w', w, { rank: 4, layout: 'OHWI' });
  const hb = b ? tensorArg(op, 'b', b, { rank: 1 }) : null;
  sameDevice(op, { x, w, b });
  const p = conv2dParams(op, x.shape, w.shape, opts);
  if (b) expectShape(op, 'b', b, [w.shape[0]!]);
  return wrapOut(native(() => addon.conv2d(hx, hw, hb, { ...p })));
}

/** dx of conv2d for an input of shape xShape. */
export function conv2dBackwardData(dy: Tensor, w: Tensor, xShape: Shape, opts: Conv2dOptions = {}): Tensor<'float32'> {
  const op = 'conv2dBackwardData';
  const hdy = tensorArg(op, 'dy', dy, { rank: 4, layout: 'NHWC' });
  const hw = tensorArg(op, 'w', w, { rank: 4, layout: 'OHWI' });
  sameDevice(op, { dy, w });
  const xs = checkShape(op, 'xShape', xShape);
  const p = conv2dParams(op, xs, w.shape, opts);
  return wrapOut(native(() => addon.conv2dBackwardData(hdy, hw, xs, { ...p })));
}

/** dw (and db) of conv2d for weights of shape wShape. */
export function conv2dBackwardFilter(
  dy: Tensor,
  x: Tensor,
  wShape: Shape,
  opts: Conv2dOptions & { withBias?: boolean } = {},
): { dw: Tensor<'float32'>; db: Tensor<'float32'> | null } {
  const op = 'conv2dBackwardFilter';
  const hdy = tensorArg(op, 'dy', dy, { rank: 4, layout: 'NHWC' });
  const hx = tensorArg(op, 'x', x, { rank: 4, layout: 'NHWC' });
  sameDevice(op, { dy, x });
  const ws = checkShape(op, 'wShape', wShape);
  const p = conv2dParams(op, x.shape, ws, opts);
  const [dw, db] = native(() => addon.conv2dBackwardFilter(hdy, hx, ws, opts.withBias ?? false, { ...p }));
  return { dw: wrapOut(dw), db: wrapOut(db) };
}
