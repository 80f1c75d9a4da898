/** Initialisers (PyTorch's conventions; OHWI conv weights [out, kh, kw, in/groups]). */
import { randn, randu, type Shape, type Tensor } from '../tensor.js';

/** fan_in and fan_out of a weight: conv OHWI [O,KH,KW,I/g] or dense [out, in] (PyTorch's rule). */
export function fans(shape: Shape): { fanIn: number; fanOut: number } {
  if (shape.length === 2) return { fanIn: shape[1]!, fanOut: shape[0]! };
  const receptive = shape.slice(1, -1).reduce((a, b) => a * b, 1);
  return { fanIn: shape[shape.length - 1]! * receptive, fanOut: shape[0]! * receptive };
}

/** He / Kaiming normal: std = sqrt(2) / sqrt(fan) (ReLU gain). */
export function kaimingNormal(shape: Shape, opts: { mode?: 'fan_in' | 'fan_out'; seed?: number } = {}): Tensor<'float32'> {
  const { fanIn, fanOut } = fans(shape);
  const fan = (opts.mode ?? 'fan_out') === 'fan_in' ? fanIn : fanOut;
  return randn(shape, { std: Math.SQRT2 / Math.sqrt(Math.max(fan, 1)), seed: opts.seed });
}

/** U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for nn.Linear weights and biases. */
export function uniformFanIn(shape: Shape, fanIn: number, opts: { seed?: number } = {}): Tensor<'float32'> {
  const b = 1 / Math.sqrt(Math.max(fanIn, 1));
  return randu(shape, { low: -b, high: b, seed: opts.seed });
}
