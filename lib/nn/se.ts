import { fail } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { keep, zeros } from '../tensor.js';
import { positiveInt } from '../ops/check.js';
import {
  disposeSeSaved,
  squeezeExcite,
  squeezeExciteBackward,
  type SeGate,
  type SeSaved,
  type SeSqueeze,
} from '../ops/se.js';
import { kaimingNormal } from './init.js';
import { Module, type Parameter } from './module.js';

export interface SqueezeExciteOptions {
  /** reduction ratio r: hidden = max(1, floor(C / r)) (paper: 16) */
  reduction?: number;
  /** explicit hidden size (overrides reduction; timm rounds to multiples of 8) */
  hidden?: number;
  squeeze?: SeSqueeze;
  gate?: SeGate;
  seed?: number;
}

/**
 * The SE block as one fused op. Parameters are named as timm's SEModule
 * (fc1.weight [D, C], fc1.bias, fc2.weight [C, D], fc2.bias); timm stores
 * them as 1x1 convolutions, which are the same numbers.
 *
 * forward(u) gives u*s; forward(u, shortcut) gives relu(u*s + shortcut), the
 * end of a residual block, fused. backward(dy) returns du;
 * backwardResidual(dy) returns du and dshortcut.
 */
export class SqueezeExcite extends Module {
  readonly fc1w: Parameter;
  readonly fc1b: Parameter;
  readonly fc2w: Parameter;
  readonly fc2b: Parameter;
  readonly squeeze: SeSqueeze;
  readonly gate: SeGate;
  readonly hidden: number;
  private saved: SeSaved | null = null;

  constructor(readonly channels: number, o: SqueezeExciteOptions = {}) {
    super();
    const op = 'SqueezeExcite';
    positiveInt(op, 'channels', channels, 1);
    const r = positiveInt(op, 'reduction', o.reduction, 16);
    this.hidden = positiveInt(op, 'hidden', o.hidden, Math.max(1, Math.floor(channels / r)));
    this.squeeze = o.squeeze ?? 'avg';
    this.gate = o.gate ?? 'sigmoid';
    const s = o.seed;
    this.fc1w = this.registerParameter('fc1.weight', kaimingNormal([this.hidden, channels], { mode: 'fan_out', seed: s }));
    this.fc1b = this.registerParameter('fc1.bias', zeros([this.hidden]), { decay: false });
    this.fc2w = this.registerParameter('fc2.weight', kaimingNormal([channels, this.hidden], { mode: 'fan_out', seed: s === undefined ? undefined : s + 1 }));
    this.fc2b = this.registerParameter('fc2.bias', zeros([channels]), { decay: false });
  }

  private weights() {
    return { w1: this.fc1w.value, b1: this.fc1b.value, w2: this.fc2w.value, b2: this.fc2b.value };
  }

  forward(u: Tensor, shortcut?: Tensor | null): Tensor<'float32'> {
    this.clearSaved();
    const { y, saved } = squeezeExcite(u, this.weights(), { squeeze: this.squeeze, gate: this.gate, shortcut }, this.training);
    if (saved) {
      // the saved state belongs to the module, not to an enclosing tidy()
      for (const t of [saved.u, saved.s, saved.z, saved.a, saved.argmax, saved.mask]) if (t) keep(t);
      this.saved = saved;
    }
    return y;
  }

  backward(dy: Tensor): Tensor<'float32'> {
    if (this.saved?.residual)
      fail('SENET_ARG', 'SqueezeExcite.backward', 'state', 'a forward without shortcut (use backwardResidual)', 'a forward with a shortcut');
    return this.backwardResidual(dy).du;
  }

  backwardResidual(dy: Tensor): { du: Tensor<'float32'>; dshortcut: Tensor<'float32'> } {
    const saved = this.saved ?? this.noForward();
    const g = squeezeExciteBackward(dy, saved, { w1: this.fc1w.value, w2: this.fc2w.value });
    this.fc1w.accumulate(g.dw1);
    this.fc1b.accumulate(g.db1);
    this.fc2w.accumulate(g.dw2);
    this.fc2b.accumulate(g.db2);
    this.clearSaved();
    return { du: g.du, dshortcut: g.dshortcut ?? zeros([0]) };
  }

  override clearSaved(): void {
    if (this.saved) disposeSeSaved(this.saved);
    this.saved = null;
  }
}
