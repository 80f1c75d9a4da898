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
  /** biases in both FCs (timm: yes; the Keras seeds: no, then they are fixed zeros) */
  bias?: boolean;
  /** round the hidden size like timm (make_divisible(C/r, divisor)) instead of floor(C/r) */
  hiddenDivisor?: number;
  seed?: number;
}

/** timm's make_divisible(v, divisor, round_limit=0): the nearest multiple of divisor, at least divisor. */
export function makeDivisible(v: number, divisor: number): number {
  return Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
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
  readonly fc1b: Parameter | null;
  readonly fc2w: Parameter;
  readonly fc2b: Parameter | null;
  private zeroB1: Tensor<'float32'> | null = null;
  private zeroB2: Tensor<'float32'> | null = null;
  readonly squeeze: SeSqueeze;
  readonly gate: SeGate;
  readonly hidden: number;
  private saved: SeSaved | null = null;

  constructor(readonly channels: number, o: SqueezeExciteOptions = {}) {
    super();
    const op = 'SqueezeExcite';
    positiveInt(op, 'channels', channels, 1);
    const r = positiveInt(op, 'reduction', o.reduction, 16);
    const div = o.hiddenDivisor === undefined ? 0 : positiveInt(op, 'hiddenDivisor', o.hiddenDivisor, 1);
    this.hidden = positiveInt(op, 'hidden', o.hidden, div ? makeDivisible(channels / r, div) : Math.max(1, Math.floor(channels / r)));
    this.squeeze = o.squeeze ?? 'avg';
    this.gate = o.gate ?? 'sigmoid';
    const s = o.seed;
    const bias = o.bias ?? true;
    this.fc1w = this.registerParameter('fc1.weight', kaimingNormal([this.hidden, channels], { mode: 'fan_out', seed: s }));
    this.fc1b = bias ? this.registerParameter('fc1.bias', zeros([this.hidden]), { decay: false }) : null;
    this.fc2w = this.registerParameter('fc2.weight', kaimingNormal([channels, this.hidden], { mode: 'fan_out', seed: s === undefined ? undefined : s + 1 }));
    this.fc2b = bias ? this.registerParameter('fc2.bias', zeros([channels]), { decay: false }) : null;
    if (!bias) {
      this.zeroB1 = keep(zeros<'float32'>([this.hidden]));
      this.zeroB2 = keep(zeros<'float32'>([channels]));
    }
  }

  private weights() {
    return { w1: this.fc1w.value, b1: this.fc1b?.value ?? this.zeroB1!, w2: this.fc2w.value, b2: this.fc2b?.value ?? this.zeroB2! };
  }

  forward(u: Tensor, shortcut?: Tensor | null): Tensor<'float32'> {
    this.clearSaved();
    const { y, saved } = squeezeExcite(u, this.weights(), { squeeze: this.squeeze, gate: this.gate, shortcut }, this.training);
    if (saved) {
      // the saved state belongs to the module, not to an enclosing tidy()
      for (const t of [saved.u, saved.s, saved.z, saved.a, saved.argmax, saved.mask, saved.nan]) if (t) keep(t);
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
    this.fc2w.accumulate(g.dw2);
    if (this.fc1b) this.fc1b.accumulate(g.db1);
    else g.db1.dispose();
    if (this.fc2b) this.fc2b.accumulate(g.db2);
    else g.db2.dispose();
    this.clearSaved();
    return { du: g.du, dshortcut: g.dshortcut ?? zeros([0]) };
  }

  /** SE's cost as the paper counts it: the two FCs, the squeeze (a sum per element) and the scale (a product per element). */
  override profile(s: readonly number[], name = '') {
    const hw = s.length === 4 ? s[1]! * s[2]! : 1;
    return this.row(name, [...s], s[0]! * (2 * this.channels * this.hidden + 2 * hw * this.channels));
  }

  override clearSaved(): void {
    if (this.saved) disposeSeSaved(this.saved);
    this.saved = null;
  }

  override dispose(): void {
    super.dispose();
    this.zeroB1?.dispose();
    this.zeroB2?.dispose();
  }

  override to(device: import('../tensor.js').Device): this {
    super.to(device);
    // the fixed zero biases of an SE without biases follow the weights
    const move = (t: Tensor<'float32'> | null) => {
      if (!t || t.device === device) return t;
      const moved = keep(t.to(device));
      t.dispose();
      return moved;
    };
    this.zeroB1 = move(this.zeroB1);
    this.zeroB2 = move(this.zeroB2);
    return this;
  }
}
