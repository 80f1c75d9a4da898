/**
 * Models by name. Architecture and options are separate (timm's practice):
 * a name gives a ResNetConfig, ModelOptions adjust it (classes, input
 * channels and size, the SE ablation switches), and a checkpoint records
 * both so the same network can be rebuilt.
 */
import { SenetError, fail } from '../lib/errors.js';
import type { SeGate, SeSqueeze } from '../lib/ops/se.js';
import type { SePlacement } from '../lib/nn/residual.js';
import { ResNet, type ResNetConfig, type StemConfig } from './resnet.js';

export interface ModelOptions {
  numClasses?: number;
  inChannels?: number;
  /** input [H, W]; needed by models with a flatten head */
  inputSize?: [number, number];
  /** false: the plain (no-SE) twin */
  se?: boolean;
  reduction?: number;
  squeeze?: SeSqueeze;
  gate?: SeGate;
  placement?: SePlacement;
  /** SE on/off per stage */
  seStages?: boolean[];
  /**
   * ImageNet models: 'cifar' replaces the 7x7/2 stem and max pooling by a
   * 3x3/1 conv (small images); 'legacy' pools as the Caffe/Cadene SENets
   * (3x3/2 max pooling without padding, ceil mode)
   */
  stem?: 'default' | 'cifar' | 'legacy';
  strideOnConv1?: boolean;
  hiddenDivisor?: number;
  zeroInitLastBn?: boolean;
  seed?: number;
}

export interface ModelInfo {
  name: string;
  description: string;
  /** what the name means in the literature */
  paper?: string;
  inputSize: [number, number, number];
  numClasses: number;
  hasSe: boolean;
}

interface Entry extends ModelInfo {
  config: (o: ModelOptions) => ResNetConfig;
}

const registry = new Map<string, Entry>();

export function registerModel(e: Entry): void {
  if (registry.has(e.name)) throw new SenetError('SENET_INTERNAL', `registerModel: ${e.name} is already registered`);
  registry.set(e.name, e);
}

export function listModels(): ModelInfo[] {
  return [...registry.values()].map(({ config: _c, ...info }) => info);
}

export function modelInfo(name: string): ModelInfo {
  const e = registry.get(name);
  if (!e) fail('SENET_ARG', 'createModel', 'name', `one of ${[...registry.keys()].join(', ')}`, `'${name}'`);
  const { config: _c, ...info } = e;
  return info;
}

/** The config a name and options resolve to (what a checkpoint rebuilds from). */
export function modelConfig(name: string, o: ModelOptions = {}): ResNetConfig {
  const e = registry.get(name);
  if (!e) fail('SENET_ARG', 'createModel', 'name', `one of ${[...registry.keys()].join(', ')}`, `'${name}'`);
  const c = e.config(o);
  if (c.se && o.seStages && o.seStages.length !== c.layers.length)
    fail('SENET_ARG', 'createModel', 'seStages', `${c.layers.length} booleans (one per stage)`, `${o.seStages.length}`);
  return c;
}

export function createModel(name: string, o: ModelOptions = {}): ResNet {
  return new ResNet(modelConfig(name, o));
}

// ------------------------------------------------------------ configs

const IMAGENET_STEM: StemConfig = { kernel: 7, stride: 2, width: 64, pool: 'max' };
const CIFAR_STEM = (width: number): StemConfig => ({ kernel: 3, stride: 1, width });

function seConfig(o: ModelOptions, defaultReduction: number, withSe: boolean, extra: Partial<import('./resnet.js').SeConfig> = {}) {
  if (!(o.se ?? withSe)) return null;
  return {
    reduction: o.reduction ?? defaultReduction,
    squeeze: o.squeeze ?? 'avg',
    gate: o.gate ?? 'sigmoid',
    placement: o.placement ?? 'standard',
    stages: o.seStages,
    hiddenDivisor: o.hiddenDivisor,
    ...extra,
  };
}

function common(o: ModelOptions, defaults: { numClasses: number; inChannels: number }) {
  return {
    numClasses: o.numClasses ?? defaults.numClasses,
    inChannels: o.inChannels ?? defaults.inChannels,
    zeroInitLastBn: o.zeroInitLastBn,
    seed: o.seed,
  };
}

function imagenetStem(o: ModelOptions): StemConfig {
  if (o.stem === 'cifar') return CIFAR_STEM(64);
  if (o.stem === 'legacy') return { ...IMAGENET_STEM, pool: 'max-ceil' };
  return IMAGENET_STEM;
}

const DEPTHS: Record<number, { block: 'basic' | 'bottleneck'; layers: number[] }> = {
  18: { block: 'basic', layers: [2, 2, 2, 2] },
  26: { block: 'bottleneck', layers: [2, 2, 2, 2] },
  34: { block: 'basic', layers: [3, 4, 6, 3] },
  50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
  152: { block: 'bottleneck', layers: [3, 8, 36, 3] },
};

for (const withSe of [true, false]) {
  const pre = withSe ? 'se_' : '';
  for (const depth of [18, 34, 50, 101, 152]) {
    const d = DEPTHS[depth]!;
    registerModel({
      name: `${pre}resnet${depth}`,
      description: `${withSe ? 'SE-' : ''}ResNet-${depth} (ImageNet, 224x224)${d.block === 'bottleneck' ? ', stride on the first 1x1 as in the SENet paper' : ''}`,
      paper: withSe ? 'Hu et al. 2018, Table 1' : 'He et al. 2016',
      inputSize: [224, 224, 3],
      numClasses: 1000,
      hasSe: withSe,
      config: (o) => ({
        block: d.block,
        layers: d.layers,
        planes: [64, 128, 256, 512],
        stem: imagenetStem(o),
        // The paper's (Caffe) SE-ResNets stride the first 1x1; timm strides the 3x3.
        strideOnConv1: d.block === 'bottleneck' ? o.strideOnConv1 ?? true : false,
        se: seConfig(o, 16, withSe),
        ...common(o, { numClasses: 1000, inChannels: 3 }),
      }),
    });
  }
  for (const depth of [26, 50, 101]) {
    registerModel({
      name: `${pre}resnext${depth}_32x4d`,
      description: `${withSe ? 'SE-' : ''}ResNeXt-${depth} (32x4d, ImageNet, 224x224)`,
      paper: withSe ? 'Hu et al. 2018, Table 1' : 'Xie et al. 2017',
      inputSize: [224, 224, 3],
      numClasses: 1000,
      hasSe: withSe,
      config: (o) => ({
        block: 'bottleneck',
        layers: DEPTHS[depth]!.layers,
        planes: [64, 128, 256, 512],
        groups: 32,
        baseWidth: 4,
        stem: imagenetStem(o),
        strideOnConv1: o.strideOnConv1 ?? false,
        se: seConfig(o, 16, withSe),
        ...common(o, { numClasses: 1000, inChannels: 3 }),
      }),
    });
  }
  // CIFAR-style ResNets (He et al. 2016, sec. 4.2): 3 stages of 16/32/64 channels, n basic blocks each.
  for (const depth of [20, 32, 56]) {
    const n = (depth - 2) / 6;
    registerModel({
      name: `${pre}resnet${depth}`,
      description: `${withSe ? 'SE-' : ''}ResNet-${depth} for small images (CIFAR-style: 3x3 stem, 3 stages [16,32,64] of ${n} basic blocks)`,
      paper: 'He et al. 2016 (CIFAR), with SE blocks',
      inputSize: [32, 32, 3],
      numClasses: 10,
      hasSe: withSe,
      config: (o) => ({
        block: 'basic',
        layers: [n, n, n],
        planes: [16, 32, 64],
        stem: CIFAR_STEM(16),
        shortcut: 'projection',
        se: seConfig(o, 16, withSe),
        ...common(o, { numClasses: 10, inChannels: 3 }),
      }),
    });
  }
}

// The seed's composable mini SE-ResNet (seeds/001): a 3x3 conv (32, bias,
// ReLU), an SE-ResNet group of 2 bottlenecks (128 filters, strided), a
// projection block and an identity block of 256 filters (strided), flatten
// and a dense classifier. SE FCs without biases (Keras use_bias=False).
registerModel({
  name: 'se_resnet_mini',
  description: "the seeds' composable mini SE-ResNet (bottlenecks 128/256 x4, flatten head) for 28x28 or 32x32 inputs",
  paper: 'seeds/001 (composable example)',
  inputSize: [32, 32, 3],
  numClasses: 10,
  hasSe: true,
  config: (o) => {
    const [h, w] = o.inputSize ?? [32, 32];
    const down = (x: number) => Math.ceil(Math.ceil(x / 2) / 2);
    return {
      block: 'bottleneck',
      layers: [2, 2],
      planes: [128, 256],
      strides: [2, 2],
      strideOnConv1: true,
      stem: { kernel: 3, stride: 1, width: 32, bias: true, bn: false },
      se: seConfig(o, 16, true, { bias: false }),
      head: 'flatten',
      flattenFeatures: down(h) * down(w) * 1024,
      ...common(o, { numClasses: 10, inChannels: 3 }),
    };
  },
});

// The seed's SEResNeXt for small images (seeds/000, "SENet_keras_custom"):
// ResNeXt-29 8x64d with SE (ratio 4): 3x3 stem (64, bias, BN, ReLU), stages
// of 3 blocks with outputs 64/128/256, 8 branches of width 64 (one grouped
// conv), convolutions with biases, and zero-padded shortcuts (2x2 average
// pooling + channel zeros) where the channels double.
registerModel({
  name: 'se_resnext29_8x64d',
  description: "the seeds' SEResNeXt for small images: depth 64 x 8 splits, SE ratio 4, 3 blocks per stage, zero-padded shortcut",
  paper: 'seeds/000 (SEResNeXt, Keras)',
  inputSize: [32, 32, 3],
  numClasses: 10,
  hasSe: true,
  config: (o) => ({
    block: 'bottleneck',
    layers: [3, 3, 3],
    planes: [16, 32, 64],
    widths: [512, 512, 512],
    outs: [64, 128, 256],
    groups: 8,
    stem: { kernel: 3, stride: 1, width: 64, bias: true },
    convBias: true,
    shortcut: 'zeropad',
    zeropadKernel: 2,
    se: seConfig(o, 4, true),
    ...common(o, { numClasses: 10, inChannels: 3 }),
  }),
});
