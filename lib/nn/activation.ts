import type { Tensor } from '../tensor.js';
import { relu, reluBackward } from '../ops/eltwise.js';
import { Module, retain } from './module.js';

export class ReLU extends Module {
  private y: Tensor | null = null;
  /** ran inside the batch norm before it (BatchNorm2d.forwardRelu): backward passes the gradient through */
  private fused = false;

  forward(x: Tensor): Tensor<'float32'> {
    this.clearSaved();
    const y = relu(x);
    if (this.training) this.y = retain(y);
    return y;
  }

  /** Called by BatchNorm2d.forwardRelu, which computed this module's forward (and will its backward). */
  fusedForward(): void {
    this.clearSaved();
    this.fused = this.training;
  }

  backward(dy: Tensor): Tensor<'float32'> {
    if (this.fused) {
      this.clearSaved();
      return dy.reshape(dy.shape) as Tensor<'float32'>; // a view: the caller disposes dy
    }
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
    this.fused = false;
  }
}
