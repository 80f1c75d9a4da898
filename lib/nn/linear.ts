import type { Tensor } from '../tensor.js';
import { linear, linearBackward } from '../ops/linear.js';
import { positiveInt } from '../ops/check.js';
import { uniformFanIn } from './init.js';
import { Module, retain, type Parameter } from './module.js';
import { cast } from './precision.js';
import { keep } from '../tensor.js';

/** y = x W^T + b, W [out, in]; PyTorch's default init U(±1/sqrt(in)). */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  private x: Tensor | null = null;
  /** the input was bfloat16 (mixed precision): the layer runs in float32 */
  private castIn = false;

  constructor(readonly inFeatures: number, readonly outFeatures: number, o: { bias?: boolean; seed?: number } = {}) {
    super();
    positiveInt('Linear', 'inFeatures', inFeatures, 1);
    positiveInt('Linear', 'outFeatures', outFeatures, 1);
    this.weight = this.registerParameter('weight', uniformFanIn([outFeatures, inFeatures], inFeatures, { seed: o.seed }));
    this.bias = (o.bias ?? true)
      ? this.registerParameter('bias', uniformFanIn([outFeatures], inFeatures, { seed: o.seed === undefined ? undefined : o.seed + 1 }), { decay: false })
      : null;
  }

  forward(x: Tensor): Tensor<'float32'> {
    this.clearSaved();
    const xin = x.dtype === 'bfloat16' ? keep(cast(x, 'float32')) : x;
    const y = linear(xin, this.weight.value, this.bias?.value);
    if (this.training) {
      this.x = xin === x ? retain(x) : xin;
      this.castIn = xin !== x;
    } else if (xin !== x) xin.dispose();
    return y;
  }

  backward(dy: Tensor): Tensor<'float32'> {
    const x = this.x ?? this.noForward();
    const g = linearBackward(dy, x, this.weight.value, { needDx: true, withBias: !!this.bias });
    this.weight.accumulate(g.dw);
    if (g.db && this.bias) this.bias.accumulate(g.db);
    const castIn = this.castIn;
    this.clearSaved();
    if (!castIn) return g.dx!;
    const dx = cast(g.dx!, 'bfloat16');
    g.dx!.dispose();
    return dx;
  }

  override profile(s: readonly number[], name = '') {
    return this.row(name, [s[0]!, this.outFeatures], s[0]! * this.inFeatures * this.outFeatures);
  }

  override clearSaved(): void {
    this.x?.dispose();
    this.x = null;
    this.castIn = false;
  }
}
