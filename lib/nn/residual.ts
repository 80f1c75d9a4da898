/**
 * Residual blocks with a squeeze-excite module in any of the paper's
 * placements (Hu et al., Fig. 5 / Table 14):
 *   standard  y = relu(SE(F(x)) + S(x))      -- fused: one native op
 *   pre       y = relu(F(SE(x)) + S(x))
 *   post      y = SE(relu(F(x) + S(x)))
 *   identity  y = relu(F(x) + SE(S(x)))
 * F is the residual branch (basic: 3x3-3x3; bottleneck: 1x1-3x3-1x1, grouped
 * for ResNeXt), S the shortcut: identity, a projection (1x1 conv + BN) or a
 * zero-padded one (average pooling + channel zero padding: ResNet option A
 * and the seed's SEResNeXt). One implementation of forward and backward
 * serves every block; blocks only build their branch. Names follow timm
 * (conv1, bn1, ..., se.fc1, downsample.0/1).
 */
import type { Tensor } from '../tensor.js';
import { fail } from '../errors.js';
import { positiveInt, oneOf } from '../ops/check.js';
import { add, relu, reluBackward } from '../ops/eltwise.js';
import { avgPool2d, avgPool2dBackward } from '../ops/pool.js';
import { padChannels, padChannelsBackward } from '../ops/pad.js';
import { BatchNorm2d } from './batchnorm.js';
import { Conv2d } from './conv.js';
import { ReLU } from './activation.js';
import { Module, retain } from './module.js';
import { Sequential, forwardLayers } from './sequential.js';
import { SqueezeExcite, type SqueezeExciteOptions } from './se.js';
import type { Profile, ProfileRow } from './profile.js';

export type SePlacement = 'standard' | 'pre' | 'post' | 'identity';
export type ShortcutKind = 'projection' | 'zeropad';

export interface ResidualOptions {
  stride?: number;
  /** SE options, or false for the plain block */
  se?: SqueezeExciteOptions | false;
  sePlacement?: SePlacement;
  /** shortcut when the shape changes (default projection) */
  shortcut?: ShortcutKind;
  /** zero-padded shortcut: pooling window before the padding (1 = subsample, 2 = 2x2 average) */
  zeropadKernel?: number;
  /** biases in the branch convolutions (the Keras seeds have them) */
  convBias?: boolean;
  /** zero-initialise the last BN's scale (timm's default); off by default so SE is live from step 0 */
  zeroInitLastBn?: boolean;
  seed?: number;
}

/** Average pooling (stride) + zeros around the channels. */
export class ZeroPadShortcut extends Module {
  private xShape: readonly number[] | null = null;
  readonly before: number;
  readonly after: number;
  constructor(readonly inChannels: number, readonly outChannels: number, readonly stride: number, readonly kernel: number) {
    super();
    if (outChannels < inChannels)
      fail('SENET_ARG', 'ZeroPadShortcut', 'outChannels', `at least the ${inChannels} input channels`, String(outChannels));
    this.before = Math.floor((outChannels - inChannels) / 2);
    this.after = outChannels - inChannels - this.before;
  }
  private pool() {
    return { kernel: this.kernel, stride: this.stride, padding: 'same' as const, countIncludePad: false };
  }
  forward(x: Tensor): Tensor<'float32'> {
    this.xShape = this.training ? x.shape : null;
    if (this.stride === 1 && this.kernel === 1) return padChannels(x, this.before, this.after);
    const p = avgPool2d(x, this.pool());
    const y = padChannels(p, this.before, this.after);
    p.dispose();
    return y;
  }
  backward(dy: Tensor): Tensor<'float32'> {
    const xs = this.xShape ?? this.noForward();
    this.xShape = null;
    const g = padChannelsBackward(dy, this.before, this.after);
    if (this.stride === 1 && this.kernel === 1) return g;
    const dx = avgPool2dBackward(g, xs, this.pool());
    g.dispose();
    return dx;
  }
  override profile(s: readonly number[], name = ''): Profile {
    const ho = Math.ceil(s[1]! / this.stride), wo = Math.ceil(s[2]! / this.stride);
    return this.row(name, [s[0]!, ho, wo, this.outChannels], 0);
  }
  override clearSaved(): void {
    this.xShape = null;
  }
}

export abstract class ResidualBlock extends Module {
  readonly se: SqueezeExcite | null;
  readonly placement: SePlacement;
  readonly downsample: Module | null;
  /** the residual branch in order (registered by subclasses under their timm names) */
  protected branch: Module[] = [];
  private joinSaved: Tensor | null = null; // relu output (plain/pre/identity) or relu(F+S) (post)

  protected constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    stride: number,
    o: ResidualOptions,
    seChannels: { standard: number; pre: number },
  ) {
    super();
    const op = this.constructor.name;
    this.placement = oneOf(op, 'sePlacement', o.sePlacement, 'standard', ['standard', 'pre', 'post', 'identity'] as const);
    const kind = oneOf(op, 'shortcut', o.shortcut, 'projection', ['projection', 'zeropad'] as const);
    const seed = o.seed;
    const sd = (k: number) => (seed === undefined ? undefined : seed + k);
    this.downsample = null;
    if (stride !== 1 || inChannels !== outChannels) {
      this.downsample =
        kind === 'projection'
          ? new Sequential(new Conv2d(inChannels, outChannels, 1, { stride, seed: sd(5) }), new BatchNorm2d(outChannels))
          : new ZeroPadShortcut(inChannels, outChannels, stride, positiveInt(op, 'zeropadKernel', o.zeropadKernel, 1));
    }
    // SE acts on the block input for 'pre', on the output channels otherwise.
    const seC = this.placement === 'pre' ? seChannels.pre : seChannels.standard;
    this.se = o.se === false || o.se === undefined ? null : new SqueezeExcite(seC, { seed: sd(4), ...o.se });
  }

  /** Registers the SE and shortcut modules after the branch (timm's order). */
  protected finish(): void {
    if (this.se) this.registerModule('se', this.se);
    if (this.downsample) this.registerModule('downsample', this.downsample);
  }

  forward(x: Tensor): Tensor<'float32'> {
    this.clearSaved();
    const pre = this.se && this.placement === 'pre';
    const x0: Tensor = pre ? this.se!.forward(x) : x;
    const h = forwardLayers(this.branch, x0);
    if (x0 !== x && x0 !== h) x0.dispose();
    const sc = this.downsample ? this.downsample.forward(x) : x;
    let y: Tensor<'float32'>;
    if (this.se && this.placement === 'standard') {
      y = this.se.forward(h, sc); // relu(u*s + shortcut), fused
    } else if (this.se && this.placement === 'identity') {
      const s2 = this.se.forward(sc);
      const sum = add(h, s2);
      y = relu(sum);
      sum.dispose();
      s2.dispose();
      if (this.training) this.joinSaved = retain(y);
    } else {
      const sum = add(h, sc);
      const r = relu(sum);
      sum.dispose();
      if (this.se && this.placement === 'post') {
        y = this.se.forward(r);
        if (this.training) this.joinSaved = retain(r);
        r.dispose();
      } else {
        y = r;
        if (this.training) this.joinSaved = retain(y);
      }
    }
    h.dispose();
    if (sc !== x) sc.dispose();
    return y;
  }

  backward(dy: Tensor): Tensor<'float32'> {
    // gradients at the join: du (branch output), dsc (shortcut output)
    let du: Tensor, dsc: Tensor;
    if (this.se && this.placement === 'standard') {
      ({ du, dshortcut: dsc } = this.se.backwardResidual(dy));
    } else if (this.se && this.placement === 'identity') {
      du = reluBackward(dy, this.joinSaved ?? this.noForward());
      dsc = this.se.backward(du);
    } else if (this.se && this.placement === 'post') {
      const saved = this.joinSaved ?? this.noForward();
      const g = this.se.backward(dy);
      du = reluBackward(g, saved);
      g.dispose();
      dsc = du.reshape(du.shape);
    } else {
      du = reluBackward(dy, this.joinSaved ?? this.noForward());
      dsc = du.reshape(du.shape);
    }
    let g: Tensor = du;
    for (let i = this.branch.length - 1; i >= 0; i--) {
      const next = this.branch[i]!.backward(g);
      g.dispose();
      g = next;
    }
    if (this.se && this.placement === 'pre') {
      const gx = this.se.backward(g);
      g.dispose();
      g = gx;
    }
    const gs = this.downsample ? this.downsample.backward(dsc) : dsc;
    const dx = add(g, gs);
    g.dispose();
    gs.dispose();
    dsc.dispose();
    this.clearSaved();
    return dx;
  }

  override profile(s: readonly number[], name = ''): Profile {
    const p = (n: string) => (name ? `${name}.${n}` : n);
    const rows: ProfileRow[] = [];
    let shape = [...s];
    if (this.se && this.placement === 'pre') rows.push(...this.se.profile(shape, p('se')).rows);
    for (const [n, m] of this.children()) {
      if (m === this.se || m === this.downsample) continue;
      const r = m.profile(shape, p(n));
      rows.push(...r.rows);
      shape = r.out;
    }
    if (this.se && this.placement !== 'pre') rows.push(...this.se.profile(this.placement === 'identity' ? shape : shape, p('se')).rows);
    if (this.downsample) rows.push(...this.downsample.profile(s, p('downsample')).rows);
    return { out: shape, rows };
  }

  override clearSaved(): void {
    super.clearSaved();
    this.joinSaved?.dispose();
    this.joinSaved = null;
  }
}

/** ResNet basic block: 3x3 (stride) -> BN -> ReLU -> 3x3 -> BN, expansion 1. */
export class BasicBlock extends ResidualBlock {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;

  constructor(inChannels: number, planes: number, o: ResidualOptions = {}) {
    const op = 'BasicBlock';
    positiveInt(op, 'inChannels', inChannels, 1);
    positiveInt(op, 'planes', planes, 1);
    const stride = positiveInt(op, 'stride', o.stride, 1);
    super(inChannels, planes, stride, o, { standard: planes, pre: inChannels });
    const sd = (k: number) => (o.seed === undefined ? undefined : o.seed + k);
    const bias = o.convBias ?? false;
    this.conv1 = this.registerModule('conv1', new Conv2d(inChannels, planes, 3, { stride, padding: 1, bias, seed: sd(1) }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    const act1 = this.registerModule('act1', new ReLU());
    this.conv2 = this.registerModule('conv2', new Conv2d(planes, planes, 3, { padding: 1, bias, seed: sd(2) }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes, { zeroInit: o.zeroInitLastBn }));
    this.branch = [this.conv1, this.bn1, act1, this.conv2, this.bn2];
    this.finish();
  }
}

export interface BottleneckOptions extends ResidualOptions {
  /** cardinality (ResNeXt 32x4d: 32; ResNet: 1) */
  groups?: number;
  /** width per group at planes = 64 (ResNeXt 32x4d: 4; ResNet: 64) */
  baseWidth?: number;
  expansion?: number;
  /** explicit branch width and output channels (override planes/baseWidth/expansion) */
  width?: number;
  outChannels?: number;
  /** legacy SENet (Caffe/Cadene) SE-ResNet puts the stride on conv1; timm/torchvision on conv2 */
  strideOnConv1?: boolean;
}

/**
 * Bottleneck: 1x1 -> BN -> ReLU -> 3x3 (grouped) -> BN -> ReLU -> 1x1 -> BN.
 * width = floor(planes * baseWidth / 64) * groups, out = planes * expansion.
 */
export class Bottleneck extends ResidualBlock {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly width: number;

  constructor(inChannels: number, planes: number, o: BottleneckOptions = {}, defaults = { groups: 1, baseWidth: 64 }) {
    const op = new.target.name;
    positiveInt(op, 'inChannels', inChannels, 1);
    positiveInt(op, 'planes', planes, 1);
    const stride = positiveInt(op, 'stride', o.stride, 1);
    const groups = positiveInt(op, 'groups', o.groups, defaults.groups);
    const baseWidth = positiveInt(op, 'baseWidth', o.baseWidth, defaults.baseWidth);
    const expansion = positiveInt(op, 'expansion', o.expansion, 4);
    const width = o.width ?? Math.floor((planes * baseWidth) / 64) * groups;
    if (width < groups || width % groups !== 0)
      fail('SENET_ARG', op, 'baseWidth', 'a width of at least one channel per group (planes*baseWidth/64 >= 1)', String(baseWidth));
    const out = positiveInt(op, 'outChannels', o.outChannels, planes * expansion);
    super(inChannels, out, stride, o, { standard: out, pre: inChannels });
    this.width = width;
    const s1 = o.strideOnConv1 ? stride : 1, s2 = o.strideOnConv1 ? 1 : stride;
    const sd = (k: number) => (o.seed === undefined ? undefined : o.seed + k);
    const bias = o.convBias ?? false;
    this.conv1 = this.registerModule('conv1', new Conv2d(inChannels, width, 1, { stride: s1, bias, seed: sd(1) }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(width));
    const act1 = this.registerModule('act1', new ReLU());
    this.conv2 = this.registerModule('conv2', new Conv2d(width, width, 3, { stride: s2, padding: 1, groups, bias, seed: sd(2) }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(width));
    const act2 = this.registerModule('act2', new ReLU());
    this.conv3 = this.registerModule('conv3', new Conv2d(width, out, 1, { bias, seed: sd(3) }));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(out, { zeroInit: o.zeroInitLastBn }));
    this.branch = [this.conv1, this.bn1, act1, this.conv2, this.bn2, act2, this.conv3, this.bn3];
    this.finish();
  }
}

/**
 * The SE-ResNeXt bottleneck (Hu et al., Fig. 3, Table 1): a Bottleneck with
 * cardinality 32, width 4 per group and SE (r = 16) by default.
 */
export class SEResNeXtBottleneck extends Bottleneck {
  constructor(inChannels: number, planes: number, o: BottleneckOptions = {}) {
    super(inChannels, planes, { se: {}, ...o }, { groups: 32, baseWidth: 4 });
  }
}
