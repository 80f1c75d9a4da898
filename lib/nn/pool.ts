import type { Shape, Tensor } from '../tensor.js';
import {
  avgPool2d,
  avgPool2dBackward,
  globalAvgPool,
  globalAvgPoolBackward,
  maxPool2d,
  maxPool2dBackward,
  maxPool2dTrain,
  type Pool2dOptions,
} from '../ops/pool.js';
import { Module } from './module.js';

export class MaxPool2d extends Module {
  private saved: { ws: Tensor; xShape: Shape } | null = null;
  constructor(readonly opts: Pool2dOptions) {
    super();
  }
  forward(x: Tensor): Tensor<'float32'> {
    this.clearSaved();
    if (!this.training) return maxPool2d(x, this.opts);
    const { y, workspace } = maxPool2dTrain(x, this.opts);
    this.saved = { ws: workspace, xShape: x.shape };
    return y;
  }
  backward(dy: Tensor): Tensor<'float32'> {
    const s = this.saved ?? this.noForward();
    const dx = maxPool2dBackward(dy, s.ws, s.xShape, this.opts);
    this.clearSaved();
    return dx;
  }
  override clearSaved(): void {
    this.saved?.ws.dispose();
    this.saved = null;
  }
}

export class AvgPool2d extends Module {
  private xShape: Shape | null = null;
  constructor(readonly opts: Pool2dOptions) {
    super();
  }
  forward(x: Tensor): Tensor<'float32'> {
    this.xShape = this.training ? x.shape : null;
    return avgPool2d(x, this.opts);
  }
  backward(dy: Tensor): Tensor<'float32'> {
    const xs = this.xShape ?? this.noForward();
    this.xShape = null;
    return avgPool2dBackward(dy, xs, this.opts);
  }
  override clearSaved(): void {
    this.xShape = null;
  }
}

/** [N,H,W,C] -> [N,C] (mean over H and W). */
export class GlobalAvgPool extends Module {
  private xShape: Shape | null = null;
  forward(x: Tensor): Tensor<'float32'> {
    this.xShape = this.training ? x.shape : null;
    return globalAvgPool(x);
  }
  backward(dy: Tensor): Tensor<'float32'> {
    const xs = this.xShape ?? this.noForward();
    this.xShape = null;
    return globalAvgPoolBackward(dy, xs);
  }
  override clearSaved(): void {
    this.xShape = null;
  }
}
