import { Tensor, full, zeros, type Shape } from '../tensor.js';
import { conv2d, conv2dBackwardData, conv2dBackwardFilter, conv2dParams, type Conv2dOptions } from '../ops/conv.js';
import { binary, unary } from '../ops/math.js';
import type { BatchNorm2d } from './batchnorm.js';
import { pair, positiveInt, windowOut } from '../ops/check.js';
import { fail } from '../errors.js';
import { kaimingNormal } from './init.js';
import { Module, retain, type Parameter } from './module.js';
import { cast } from './precision.js';
import { keep } from '../tensor.js';

export interface Conv2dModuleOptions extends Conv2dOptions {
  bias?: boolean;
  /** false for the first layer of a network: backward skips dx (returns null-free zero work) */
  inputGrad?: boolean;
  seed?: number;
}

/** 2-D convolution, NHWC in and out, weight OHWI [out, kh, kw, in/groups], He-normal (fan_out) init. */
export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly opts: Conv2dOptions;
  readonly inputGrad: boolean;
  private x: Tensor | null = null;
  /** the input was float32 and cast to bfloat16 here (the network's entry in bf16) */
  private castIn = false;

  constructor(readonly inChannels: number, readonly outChannels: number, kernel: number | [number, number], o: Conv2dModuleOptions = {}) {
    super();
    const op = 'Conv2d';
    const [kh, kw] = pair(op, 'kernel', kernel, 1, 1);
    const groups = positiveInt(op, 'groups', o.groups, 1);
    positiveInt(op, 'inChannels', inChannels, 1);
    positiveInt(op, 'outChannels', outChannels, 1);
    if (inChannels % groups || outChannels % groups)
      fail('SENET_SHAPE', op, 'groups', `a divisor of ${inChannels} and ${outChannels}`, String(groups));
    const shape: Shape = [outChannels, kh, kw, inChannels / groups];
    this.weight = this.registerParameter('weight', kaimingNormal(shape, { mode: 'fan_out', seed: o.seed }));
    this.bias = o.bias ? this.registerParameter('bias', zeros([outChannels]), { decay: false }) : null;
    this.opts = { stride: o.stride, padding: o.padding, dilation: o.dilation, groups };
    this.inputGrad = o.inputGrad ?? true;
  }

  forward(x: Tensor): Tensor<'float32'> {
    this.clearSaved();
    // bf16: a float32 input (the network's entry) becomes bfloat16 here.
    const xin = this.precision === 'bf16' && x.dtype === 'float32' ? keep(cast(x, 'bfloat16')) : x;
    const y = conv2d(xin, this.weight.value, this.bias?.value, this.opts);
    if (this.training) {
      this.x = xin === x ? retain(x) : xin;
      this.castIn = xin !== x;
    } else if (xin !== x) xin.dispose();
    return y;
  }

  /**
   * Eval mode: this convolution and the batch norm `bn` after it as one
   * convolution, bn folded into the weights and bias: w * k per output
   * channel and (b - mean) * k + beta, k = gamma / sqrt(var + eps). Folded
   * per call (parameters may change in place between calls), so only where
   * that costs less than bn's own pass: the folding reads and writes the
   * weights, bn's pass the output. Null where it does not apply (either in
   * training, bf16, another channel count, an output no larger than the
   * weights: batch 1, or 7x7 maps of wide layers).
   */
  forwardFolded(x: Tensor, bn: BatchNorm2d): Tensor<'float32'> | null {
    const w = this.weight.value;
    if (this.training || bn.training || this.precision !== 'fp32' || bn.precision !== 'fp32' || x.dtype !== 'float32' || bn.channels !== this.outChannels)
      return null;
    if (this.outShape(x.shape).reduce((a, d) => a * d, 1) <= w.size) return null;
    this.clearSaved();
    bn.clearSaved();
    const tmp: Tensor[] = [];
    const t = <T extends Tensor>(x: T): T => (tmp.push(x), x);
    try {
      const eps = t(full([1], bn.opts.eps, { device: w.device }));
      const k = t(binary(t(unary(t(binary(bn.runningVar, eps, 'add')), 'rsqrt')), bn.weight.value, 'mul'));
      const wk = t(binary(w, t(k.reshape([this.outChannels, 1, 1, 1])), 'mul'));
      const centred = this.bias ? t(binary(this.bias.value, bn.runningMean, 'sub')) : null;
      const mk = t(binary(centred ?? bn.runningMean, k, 'mul'));
      return conv2d(x, wk, t(binary(bn.bias.value, mk, centred ? 'add' : 'sub')), this.opts);
    } finally {
      for (const v of tmp) v.dispose();
    }
  }

  /** dx (or an empty placeholder of shape [0] when inputGrad is false). */
  backward(dy: Tensor): Tensor<'float32'> {
    const x = this.x ?? this.noForward();
    const { dw, db } = conv2dBackwardFilter(dy, x, this.weight.value.shape, { ...this.opts, withBias: !!this.bias });
    this.weight.accumulate(dw);
    if (db && this.bias) this.bias.accumulate(db);
    let dx = this.inputGrad ? conv2dBackwardData(dy, this.weight.value, x.shape, this.opts) : zeros([0]);
    if (this.inputGrad && this.castIn) {
      const f = cast(dx, 'float32'); // dx in the caller's dtype
      dx.dispose();
      dx = f;
    }
    this.clearSaved();
    return dx;
  }

  override profile(s: readonly number[], name = ''): import('./profile.js').Profile {
    const [, kh, kw, cg] = this.weight.value.shape as [number, number, number, number];
    const out = this.outShape(s);
    return this.row(name, out, out.reduce((a, d) => a * d, 1) * kh * kw * cg);
  }

  /** The output shape for input shape s (validated as conv2d does). */
  private outShape(s: readonly number[]): number[] {
    const w = this.weight.value.shape;
    const p = conv2dParams('Conv2d', s, w, this.opts);
    const ho = windowOut(s[1]!, w[1]!, p.stride[0], p.padding[0], p.padding[1], p.dilation[0]);
    const wo = windowOut(s[2]!, w[2]!, p.stride[1], p.padding[2], p.padding[3], p.dilation[1]);
    return [s[0]!, ho, wo, this.outChannels];
  }

  override clearSaved(): void {
    this.x?.dispose();
    this.x = null;
    this.castIn = false;
  }
}
