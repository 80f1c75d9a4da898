import type { Tensor } from '../tensor.js';
import { relu, reluBackward } from '../ops/eltwise.js';
import { Module, retain } from './module.js';

export class ReLU extends Module {
  private y: Tensor | null = null;

  forward(x: Tensor): Tensor<'float32'> {
    this.clearSaved();
    const y = relu(x);
    if (this.training) this.y = retain(y);
    return y;
  }

  backward(dy: Tensor): Tensor<'float32'> {
    const y = this.y ?? this.noForward();
    const dx = reluBackward(dy, y);
    this.clearSaved();
    return dx;
  }

  override profile(s: readonly number[], name = '') {
    return this.row(name, [...s], 0);
  }

  override clearSaved(): void {
    this.y?.dispose();
    this.y = null;
  }
}
