import { Tensor, ones, zeros } from '../tensor.js';
import { batchNormBackward, batchNormInference, batchNormTrain, type BatchNormOptions } from '../ops/batchnorm.js';
import { positiveInt } from '../ops/check.js';
import { Module, retain, type Parameter } from './module.js';
import type { ReLU } from './activation.js';

/** Batch norm over N,H,W per channel; running statistics as PyTorch (momentum 0.1, unbiased variance). */
export class BatchNorm2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly opts: Required<BatchNormOptions>;
  private saved: { x: Tensor; mean: Tensor; var: Tensor; relu: boolean } | null = null;

  constructor(readonly channels: number, o: BatchNormOptions & { zeroInit?: boolean } = {}) {
    super();
    positiveInt('BatchNorm2d', 'channels', channels, 1);
    this.weight = this.registerParameter('weight', o.zeroInit ? zeros([channels]) : ones([channels]), { decay: false });
    this.bias = this.registerParameter('bias', zeros([channels]), { decay: false });
    this.registerBuffer('running_mean', zeros([channels]));
    this.registerBuffer('running_var', ones([channels]));
    this.opts = { eps: o.eps ?? 1e-5, momentum: o.momentum ?? 0.1 };
  }

  get runningMean(): Tensor<'float32'> {
    return this.buffer('running_mean');
  }
  get runningVar(): Tensor<'float32'> {
    return this.buffer('running_var');
  }

  forward(x: Tensor): Tensor<'float32'> {
    return this.run(x, false);
  }

  /**
   * relu(this.forward(x)) as one op (cpu): batch norm's own output is never
   * written, and in training the relu's backward runs inside this module's
   * (its mask recomputed from x with the weight and bias as they are at
   * the backward, as batch norm's own backward reads the weight then: a
   * step that changes them between the two gives another mask); `relu`
   * passes its gradient through.
   * Returns null where it does not apply (another device): run the two.
   */
  forwardRelu(x: Tensor, relu: ReLU): Tensor<'float32'> | null {
    if (x.device !== 'cpu') return null;
    relu.fusedForward();
    return this.run(x, true);
  }

  /** Batch norm (then relu, fused, when asked) with the batch statistics in training, the running ones in eval. */
  private run(x: Tensor, relu: boolean): Tensor<'float32'> {
    this.clearSaved();
    const o = { ...this.opts, relu };
    if (!this.training) return batchNormInference(x, this.weight.value, this.bias.value, this.runningMean, this.runningVar, o);
    const r = batchNormTrain(x, this.weight.value, this.bias.value, { ...o, runningMean: this.runningMean, runningVar: this.runningVar });
    this.saved = { x: retain(x), mean: retain(r.mean), var: retain(r.var), relu };
    r.mean.dispose();
    r.var.dispose();
    return r.y;
  }

  backward(dy: Tensor): Tensor<'float32'> {
    const s = this.saved ?? this.noForward();
    const relu = s.relu ? { beta: this.bias.value } : null;
    const g = batchNormBackward(dy, s.x, this.weight.value, s.mean, s.var, { ...this.opts, relu });
    this.weight.accumulate(g.dgamma);
    this.bias.accumulate(g.dbeta);
    this.clearSaved();
    return g.dx;
  }

  override profile(s: readonly number[], name = '') {
    return this.row(name, [...s], 0);
  }

  override clearSaved(): void {
    if (this.saved) for (const t of [this.saved.x, this.saved.mean, this.saved.var]) t.dispose();
    this.saved = null;
  }
}
