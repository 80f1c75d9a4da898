import type { Shape, Tensor } from '../tensor.js';
import {
  avgPool2d,
  avgPool2dBackward,
  globalAvgPool,
  globalAvgPoolBackward,
  maxPool2d,
  maxPool2dBackward,
  maxPool2dTrain,
  pool2dParams,
  type Pool2dOptions,
} from '../ops/pool.js';
import { windowOut } from '../ops/check.js';
import { Module } from './module.js';
import { cast } from './precision.js';
import type { Profile } from './profile.js';

export interface PoolModuleOptions extends Pool2dOptions {
  /** PyTorch's ceil_mode: the last partial window counts (padding added at the bottom/right) */
  ceilMode?: boolean;
}

/** Options with ceil_mode resolved into explicit padding for this input size. */
function resolve(op: string, s: Shape, o: PoolModuleOptions): Pool2dOptions {
  if (!o.ceilMode) return o;
  const p = pool2dParams(op, s, o);
  const pad = [...p.padding] as [number, number, number, number];
  for (let i = 0; i < 2; i++) {
    const size = s[1 + i]!, k = p.kernel[i]!, st = p.stride[i]!, lo = pad[2 * i]!, hi = pad[2 * i + 1]!;
    let out = Math.ceil((size + lo + hi - k) / st) + 1;
    if ((out - 1) * st >= size + lo) out--; // the last window starts inside the input (PyTorch's rule)
    pad[2 * i + 1] = Math.max(hi, (out - 1) * st + k - size - lo);
  }
  return { kernel: p.kernel, stride: p.stride, padding: pad, countIncludePad: o.countIncludePad };
}

function poolOut(op: string, s: readonly number[], o: Pool2dOptions): number[] {
  const p = pool2dParams(op, s, o);
  return [s[0]!, windowOut(s[1]!, p.kernel[0], p.stride[0], p.padding[0], p.padding[1]),
    windowOut(s[2]!, p.kernel[1], p.stride[1], p.padding[2], p.padding[3]), s[3]!];
}

export class MaxPool2d extends Module {
  private saved: { ws: Tensor; xShape: Shape; o: Pool2dOptions } | null = null;
  constructor(readonly opts: PoolModuleOptions) {
    super();
  }
  forward(x: Tensor): Tensor<'float32'> {
    this.clearSaved();
    const o = resolve('MaxPool2d', x.shape, this.opts);
    if (!this.training) return maxPool2d(x, o);
    const { y, workspace } = maxPool2dTrain(x, o);
    this.saved = { ws: workspace, xShape: x.shape, o };
    return y;
  }
  backward(dy: Tensor): Tensor<'float32'> {
    const s = this.saved ?? this.noForward();
    const dx = maxPool2dBackward(dy, s.ws, s.xShape, s.o);
    this.clearSaved();
    return dx;
  }
  override profile(s: readonly number[], name = ''): Profile {
    return this.row(name, poolOut('MaxPool2d', s, resolve('MaxPool2d', s, this.opts)), 0);
  }
  override clearSaved(): void {
    this.saved?.ws.dispose();
    this.saved = null;
  }
}

export class AvgPool2d extends Module {
  private saved: { xShape: Shape; o: Pool2dOptions } | null = null;
  constructor(readonly opts: PoolModuleOptions) {
    super();
  }
  forward(x: Tensor): Tensor<'float32'> {
    const o = resolve('AvgPool2d', x.shape, this.opts);
    this.saved = this.training ? { xShape: x.shape, o } : null;
    return avgPool2d(x, o);
  }
  backward(dy: Tensor): Tensor<'float32'> {
    const s = this.saved ?? this.noForward();
    this.saved = null;
    return avgPool2dBackward(dy, s.xShape, s.o);
  }
  override profile(s: readonly number[], name = ''): Profile {
    return this.row(name, poolOut('AvgPool2d', s, resolve('AvgPool2d', s, this.opts)), 0);
  }
  override clearSaved(): void {
    this.saved = null;
  }
}

/** [N,H,W,C] -> [N,C] (mean over H and W). */
export class GlobalAvgPool extends Module {
  private xShape: Shape | null = null;
  private xBf16 = false;
  /** float32 out, also for bfloat16 inputs (a float32 reduction: mixed precision's classifier is float32) */
  forward(x: Tensor): Tensor<'float32'> {
    this.xShape = this.training ? x.shape : null;
    this.xBf16 = x.dtype === 'bfloat16';
    return globalAvgPool(x);
  }
  backward(dy: Tensor): Tensor<'float32'> {
    const xs = this.xShape ?? this.noForward();
    this.xShape = null;
    const dx = globalAvgPoolBackward(dy, xs);
    if (!this.xBf16) return dx;
    const b = cast(dx, 'bfloat16');
    dx.dispose();
    return b;
  }
  override profile(s: readonly number[], name = ''): Profile {
    return this.row(name, [s[0]!, s[3]!], 0);
  }
  override clearSaved(): void {
    this.xShape = null;
  }
}

/** [N, ...] -> [N, prod(...)] (a view: NHWC is contiguous). */
export class Flatten extends Module {
  private xShape: Shape | null = null;
  forward(x: Tensor): Tensor {
    this.xShape = x.shape;
    return x.reshape([x.shape[0]!, x.size / x.shape[0]!]);
  }
  backward(dy: Tensor): Tensor {
    const xs = this.xShape ?? this.noForward();
    return dy.reshape(xs);
  }
  override profile(s: readonly number[], name = ''): Profile {
    return this.row(name, [s[0]!, s.slice(1).reduce((a, b) => a * b, 1)], 0);
  }
  override clearSaved(): void {
    this.xShape = null;
  }
}
