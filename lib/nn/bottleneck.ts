import type { Tensor } from '../tensor.js';
import { fail } from '../errors.js';
import { positiveInt } from '../ops/check.js';
import { add, relu, reluBackward } from '../ops/eltwise.js';
import { BatchNorm2d } from './batchnorm.js';
import { Conv2d } from './conv.js';
import { ReLU } from './activation.js';
import { Module, retain } from './module.js';
import { Sequential } from './sequential.js';
import { SqueezeExcite, type SqueezeExciteOptions } from './se.js';

export interface BottleneckOptions {
  stride?: number;
  /** cardinality (ResNeXt: 32; ResNet: 1) */
  groups?: number;
  /** width per group at planes = 64 (ResNeXt 32x4d: 4; ResNet: 64) */
  baseWidth?: number;
  expansion?: number;
  /** SE options, or false for the plain (no-SE) block */
  se?: SqueezeExciteOptions | false;
  /** legacy SENet (Cadene) puts the stride on conv1; timm and torchvision on conv2 */
  strideOnConv1?: boolean;
  /** zero-initialise bn3's scale (timm's default); off by default so SE is live from step 0 */
  zeroInitLastBn?: boolean;
  seed?: number;
}

/**
 * SE-ResNeXt bottleneck (Hu et al., Fig. 3 / Table 1): 1x1 -> grouped 3x3 ->
 * 1x1, BN after each, ReLU after the first two, SE on the third's output
 * fused with the residual add and the final ReLU. A projection shortcut
 * (1x1 conv + BN) when the stride or the channel count changes. Names follow
 * timm's Bottleneck (conv1, bn1, ..., se.fc1, downsample.0/1).
 */
export class SEResNeXtBottleneck extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly act1 = new ReLU();
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly act2 = new ReLU();
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly se: SqueezeExcite | null;
  readonly downsample: Sequential | null;
  readonly outChannels: number;
  readonly width: number;
  private y: Tensor | null = null; // no-SE path: output, for the final ReLU's backward

  constructor(readonly inChannels: number, readonly planes: number, o: BottleneckOptions = {}) {
    super();
    const op = 'SEResNeXtBottleneck';
    positiveInt(op, 'inChannels', inChannels, 1);
    positiveInt(op, 'planes', planes, 1);
    const stride = positiveInt(op, 'stride', o.stride, 1);
    const groups = positiveInt(op, 'groups', o.groups, 32);
    const baseWidth = positiveInt(op, 'baseWidth', o.baseWidth, 4);
    const expansion = positiveInt(op, 'expansion', o.expansion, 4);
    this.width = Math.floor((planes * baseWidth) / 64) * groups;
    if (this.width < groups) fail('SENET_ARG', op, 'baseWidth', `a width of at least one channel per group (planes*baseWidth/64 >= 1)`, String(baseWidth));
    this.outChannels = planes * expansion;
    const w = this.width, out = this.outChannels;
    const s1 = o.strideOnConv1 ? stride : 1, s2 = o.strideOnConv1 ? 1 : stride;
    const seed = o.seed;
    const sd = (k: number) => (seed === undefined ? undefined : seed + k);
    this.conv1 = this.registerModule('conv1', new Conv2d(inChannels, w, 1, { stride: s1, seed: sd(1) }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(w));
    this.registerModule('act1', this.act1);
    this.conv2 = this.registerModule('conv2', new Conv2d(w, w, 3, { stride: s2, padding: 1, groups, seed: sd(2) }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(w));
    this.registerModule('act2', this.act2);
    this.conv3 = this.registerModule('conv3', new Conv2d(w, out, 1, { seed: sd(3) }));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(out, { zeroInit: o.zeroInitLastBn }));
    this.se = o.se === false ? null : this.registerModule('se', new SqueezeExcite(out, { seed: sd(4), ...(o.se ?? {}) }));
    this.downsample =
      stride !== 1 || inChannels !== out
        ? this.registerModule('downsample', new Sequential(new Conv2d(inChannels, out, 1, { stride, seed: sd(5) }), new BatchNorm2d(out)))
        : null;
  }

  forward(x: Tensor): Tensor<'float32'> {
    this.clearSaved();
    let h = this.conv1.forward(x);
    for (const m of [this.bn1, this.act1, this.conv2, this.bn2, this.act2, this.conv3, this.bn3]) {
      const next = m.forward(h);
      h.dispose();
      h = next;
    }
    const sc = this.downsample ? this.downsample.forward(x) : x;
    let y: Tensor<'float32'>;
    if (this.se) {
      y = this.se.forward(h, sc);
    } else {
      const sum = add(h, sc);
      y = relu(sum);
      sum.dispose();
      if (this.training) this.y = retain(y);
    }
    h.dispose();
    if (sc !== x) sc.dispose();
    return y;
  }

  backward(dy: Tensor): Tensor<'float32'> {
    let du: Tensor, dsc: Tensor;
    if (this.se) {
      ({ du, dshortcut: dsc } = this.se.backwardResidual(dy));
    } else {
      const y = this.y ?? this.noForward();
      du = reluBackward(dy, y);
      dsc = du;
    }
    let g: Tensor = du;
    for (const m of [this.bn3, this.conv3, this.act2, this.bn2, this.conv2, this.act1, this.bn1, this.conv1]) {
      const next = m.backward(g);
      if (g !== dsc) g.dispose();
      g = next;
    }
    const gs = this.downsample ? this.downsample.backward(dsc) : dsc;
    const dx = add(g, gs);
    g.dispose();
    if (gs !== dsc) gs.dispose();
    dsc.dispose();
    this.clearSaved();
    return dx;
  }

  override clearSaved(): void {
    super.clearSaved();
    this.y?.dispose();
    this.y = null;
  }
}
