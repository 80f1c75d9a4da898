/**
 * One ResNet family, parameterised by data (timm's practice): block type,
 * blocks and planes per stage, cardinality and width, stem, shortcut kind,
 * and the SE options of the paper's ablations (reduction, squeeze, gate,
 * placement, SE on/off per stage). Module names follow timm (conv1, bn1,
 * layer1.0.conv1, ..., fc) so timm state dicts map one to one.
 */
import {
  nn, type Tensor,
} from '../lib/index.js';
import { fail } from '../lib/errors.js';
import type { SeGate, SeSqueeze } from '../lib/ops/se.js';

const { Module, Conv2d, BatchNorm2d, ReLU, MaxPool2d, GlobalAvgPool, Flatten, Linear, Sequential, BasicBlock, Bottleneck } = nn;

export interface StemConfig {
  /** first convolution: kernel, stride, output channels */
  kernel: number;
  stride: number;
  width: number;
  bias?: boolean;
  /** BN after the first convolution (the seed's mini SE-ResNet has none) */
  bn?: boolean;
  /** 3x3 stride-2 max pooling: 'max' (timm, padding 1), 'max-ceil' (Caffe/legacy: no padding, ceil mode), 'none' */
  pool?: 'max' | 'max-ceil' | 'none';
}

export interface SeConfig {
  reduction: number;
  squeeze: SeSqueeze;
  gate: SeGate;
  placement: nn.SePlacement;
  /** SE in stage i (default all) */
  stages?: boolean[];
  /** biases in the SE FCs (default true) */
  bias?: boolean;
  /** timm rounds the hidden size to multiples of 8 */
  hiddenDivisor?: number;
}

export interface ResNetConfig {
  block: 'basic' | 'bottleneck';
  layers: number[];
  planes: number[];
  /** stride of each stage's first block (default 1, then 2) */
  strides?: number[];
  groups?: number;
  baseWidth?: number;
  expansion?: number;
  /** explicit branch widths / output channels per stage (the seed's SEResNeXt) */
  widths?: number[];
  outs?: number[];
  stem: StemConfig;
  strideOnConv1?: boolean;
  shortcut?: nn.ShortcutKind;
  zeropadKernel?: number;
  convBias?: boolean;
  se: SeConfig | null;
  head?: 'gap' | 'flatten';
  /** flatten head: features of the last stage (needs the input size) */
  flattenFeatures?: number;
  numClasses: number;
  inChannels: number;
  zeroInitLastBn?: boolean;
  seed?: number;
}

export class ResNet extends Module {
  readonly stages: nn.Sequential[] = [];
  readonly fc: nn.Linear;
  private readonly stemLayers: Array<[string, nn.Module]>;
  private readonly headLayers: nn.Module[];

  constructor(readonly config: ResNetConfig) {
    super();
    const c = config;
    const op = 'ResNet';
    if (c.layers.length !== c.planes.length) fail('SENET_ARG', op, 'planes', `${c.layers.length} entries (one per stage)`, String(c.planes.length));
    const seed = c.seed ?? 0;
    const st = c.stem;
    // The first convolution needs no input gradient.
    this.stemLayers = [['conv1', new Conv2d(c.inChannels, st.width, st.kernel, { stride: st.stride, padding: Math.floor(st.kernel / 2), bias: st.bias ?? false, inputGrad: false, seed: seed + 1 })]];
    if (st.bn ?? true) this.stemLayers.push(['bn1', new BatchNorm2d(st.width)]);
    this.stemLayers.push(['act1', new ReLU()]);
    if ((st.pool ?? 'none') !== 'none')
      this.stemLayers.push(['maxpool', new MaxPool2d(st.pool === 'max' ? { kernel: 3, stride: 2, padding: 1 } : { kernel: 3, stride: 2, ceilMode: true })]);
    for (const [n, m] of this.stemLayers) this.registerModule(n, m);

    let inC = st.width;
    c.layers.forEach((count, s) => {
      const stride = c.strides?.[s] ?? (s === 0 ? 1 : 2);
      const se: nn.SqueezeExciteOptions | false = c.se && (c.se.stages?.[s] ?? true)
        ? { reduction: c.se.reduction, squeeze: c.se.squeeze, gate: c.se.gate, bias: c.se.bias, hiddenDivisor: c.se.hiddenDivisor }
        : false;
      const blocks: nn.Module[] = [];
      for (let b = 0; b < count; b++) {
        const o = {
          stride: b === 0 ? stride : 1,
          se,
          sePlacement: c.se?.placement,
          shortcut: c.shortcut,
          zeropadKernel: c.zeropadKernel,
          convBias: c.convBias,
          zeroInitLastBn: c.zeroInitLastBn,
          seed: seed + 1000 * (s + 1) + 10 * b,
        };
        const block = c.block === 'basic'
          ? new BasicBlock(inC, c.planes[s]!, o)
          : new Bottleneck(inC, c.planes[s]!, {
            ...o, groups: c.groups ?? 1, baseWidth: c.baseWidth ?? 64, expansion: c.expansion ?? 4,
            width: c.widths?.[s], outChannels: c.outs?.[s], strideOnConv1: c.strideOnConv1,
          });
        inC = block.outChannels;
        blocks.push(block);
      }
      this.stages.push(this.registerModule(`layer${s + 1}`, new Sequential(...blocks)));
    });
    const features = c.head === 'flatten' ? c.flattenFeatures ?? fail('SENET_ARG', op, 'flattenFeatures', 'the flattened feature count', 'undefined') : inC;
    this.headLayers = [c.head === 'flatten' ? this.registerModule('flatten', new Flatten()) : this.registerModule('global_pool', new GlobalAvgPool())];
    this.fc = this.registerModule('fc', new Linear(features, c.numClasses, { seed: seed + 7 }));
  }

  /** Channels of the last stage (the features the classifier sees). */
  get numFeatures(): number {
    return this.fc.inFeatures;
  }

  forward(x: Tensor): Tensor<'float32'> {
    return nn.forwardLayers([...this.stemLayers.map(([, m]) => m), ...this.stages, ...this.headLayers, this.fc], x) as Tensor<'float32'>;
  }

  backward(dy: Tensor): Tensor<'float32'> {
    const order = [...this.stemLayers.map(([, m]) => m), ...this.stages, ...this.headLayers, this.fc];
    let g: Tensor = dy;
    for (let i = order.length - 1; i >= 0; i--) {
      const next = order[i]!.backward(g);
      if (g !== dy) g.dispose();
      g = next;
    }
    return g as Tensor<'float32'>;
  }

  override profile(s: readonly number[], name = '') {
    const rows: nn.ProfileRow[] = [];
    let shape = [...s];
    const p = (n: string) => (name ? `${name}.${n}` : n);
    for (const [n, m] of this.stemLayers) {
      const r = m.profile(shape, p(n));
      rows.push(...r.rows);
      shape = r.out;
    }
    this.stages.forEach((st, i) => {
      const r = st.profile(shape, p(`layer${i + 1}`));
      rows.push(...r.rows);
      shape = r.out;
    });
    for (const m of this.headLayers) {
      const r = m.profile(shape, p(m instanceof Flatten ? 'flatten' : 'global_pool'));
      rows.push(...r.rows);
      shape = r.out;
    }
    const r = this.fc.profile(shape, p('fc'));
    rows.push(...r.rows);
    return { out: r.out, rows };
  }
}
