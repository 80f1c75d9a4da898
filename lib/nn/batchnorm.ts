import { Tensor, ones, zeros } from '../tensor.js';
import { batchNormBackward, batchNormInference, batchNormTrain, type BatchNormOptions } from '../ops/batchnorm.js';
import { positiveInt } from '../ops/check.js';
import { Module, retain, type Parameter } from './module.js';

/** Batch norm over N,H,W per channel; running statistics as PyTorch (momentum 0.1, unbiased variance). */
export class BatchNorm2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly opts: Required<BatchNormOptions>;
  private saved: { x: Tensor; mean: Tensor; var: Tensor } | null = null;

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
    this.clearSaved();
    if (!this.training)
      return batchNormInference(x, this.weight.value, this.bias.value, this.runningMean, this.runningVar, this.opts);
    const r = batchNormTrain(x, this.weight.value, this.bias.value, {
      ...this.opts,
      runningMean: this.runningMean,
      runningVar: this.runningVar,
    });
    this.saved = { x: retain(x), mean: retain(r.mean), var: retain(r.var) };
    r.mean.dispose();
    r.var.dispose();
    return r.y;
  }

  backward(dy: Tensor): Tensor<'float32'> {
    const s = this.saved ?? this.noForward();
    const g = batchNormBackward(dy, s.x, this.weight.value, s.mean, s.var, this.opts);
    this.weight.accumulate(g.dgamma);
    this.bias.accumulate(g.dbeta);
    this.clearSaved();
    return g.dx;
  }

  override profile(s: readonly number[], name = '') {
    return this.row(name, [...s], 0);
  }

  override clearSaved(): void {
    if (this.saved) for (const t of Object.values(this.saved)) t.dispose();
    this.saved = null;
  }
}
