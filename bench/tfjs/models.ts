/**
 * The tf.layers programs of the tfjs benchmarks and tests, written against
 * whatever tfjs namespace is passed in (so the same code runs on every
 * backend): the SE-ResNet of the benchmark, the seeds' Keras SE block and
 * composable mini SE-ResNet, and a ResNet-50-shaped network.
 */
import type * as tfType from '@tensorflow/tfjs';

type TF = typeof tfType;
type SymbolicTensor = tfType.SymbolicTensor;

export interface SeOptions {
  ratio: number;
  /** the seeds' block: bias-free excitation dense layers */
  useBias?: boolean;
  seed?: number;
}

/** Deterministic initialisers: every layer gets its own seed from a counter. */
export class Seeds {
  private n: number;
  constructor(seed: number) {
    this.n = seed * 1000;
  }
  he(tf: TF) {
    return tf.initializers.heNormal({ seed: this.n++ });
  }
  glorot(tf: TF) {
    return tf.initializers.glorotUniform({ seed: this.n++ });
  }
}

/** Squeeze-and-excitation as in the seeds: GAP -> Dense(C/r, relu) -> Dense(C, sigmoid) -> reshape -> multiply. */
export function seBlock(tf: TF, x: SymbolicTensor, ratio: number, s: Seeds, useBias = false): SymbolicTensor {
  const c = x.shape[x.shape.length - 1] as number;
  let se = tf.layers.globalAveragePooling2d({}).apply(x) as SymbolicTensor;
  se = tf.layers.reshape({ targetShape: [1, 1, c] }).apply(se) as SymbolicTensor;
  se = tf.layers.dense({ units: Math.max(1, Math.floor(c / ratio)), activation: 'relu', kernelInitializer: s.he(tf), useBias }).apply(se) as SymbolicTensor;
  se = tf.layers.dense({ units: c, activation: 'sigmoid', kernelInitializer: s.he(tf), useBias }).apply(se) as SymbolicTensor;
  return tf.layers.multiply().apply([x, se]) as SymbolicTensor;
}

function convBn(tf: TF, x: SymbolicTensor, filters: number, k: number, stride: number, s: Seeds, relu: boolean, momentum = 0.99): SymbolicTensor {
  let y = tf.layers.conv2d({ filters, kernelSize: k, strides: stride, padding: 'same', useBias: false, kernelInitializer: s.he(tf) }).apply(x) as SymbolicTensor;
  y = tf.layers.batchNormalization({ axis: -1, momentum }).apply(y) as SymbolicTensor;
  if (relu) y = tf.layers.reLU().apply(y) as SymbolicTensor;
  return y;
}

/** A basic SE residual block (3x3, 3x3, SE, add, ReLU); a 1x1 projection when the shape changes. */
function basicSeBlock(tf: TF, x: SymbolicTensor, filters: number, stride: number, ratio: number, s: Seeds): SymbolicTensor {
  const cin = x.shape[3] as number;
  let y = convBn(tf, x, filters, 3, stride, s, true);
  y = convBn(tf, y, filters, 3, 1, s, false);
  y = seBlock(tf, y, ratio, s, true);
  const shortcut = stride !== 1 || cin !== filters ? convBn(tf, x, filters, 1, stride, s, false) : x;
  y = tf.layers.add().apply([y, shortcut]) as SymbolicTensor;
  return tf.layers.reLU().apply(y) as SymbolicTensor;
}

/**
 * The benchmark's small SE-ResNet: stem 3x3 conv(16)-BN-ReLU, three stages
 * of `blocks` basic SE blocks with [16, 32, 64] filters (stride 2 at the
 * second and third), global average pooling, dense softmax (or logits). 28x28x1 input.
 */
export function smallSeResNet(
  tf: TF,
  o: { widths?: number[]; blocks?: number; ratio?: number; seed?: number; inputShape?: number[]; classes?: number; logits?: boolean } = {},
) {
  const s = new Seeds(o.seed ?? 1);
  const widths = o.widths ?? [16, 32, 64];
  const input = tf.input({ shape: o.inputShape ?? [28, 28, 1] });
  let x = convBn(tf, input, widths[0]!, 3, 1, s, true);
  widths.forEach((w, i) => {
    for (let b = 0; b < (o.blocks ?? 3); b++) x = basicSeBlock(tf, x, w, i > 0 && b === 0 ? 2 : 1, o.ratio ?? 16, s);
  });
  x = tf.layers.globalAveragePooling2d({}).apply(x) as SymbolicTensor;
  const out = tf.layers.dense({ units: o.classes ?? 10, activation: o.logits ? 'linear' : 'softmax', kernelInitializer: s.glorot(tf) }).apply(x) as SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/**
 * Seed 002 (the Keras SE block notebook), "SE-Residual Block" model:
 * conv 3x3 (32, relu) -> SE (ratio 2, bias-free dense) -> add the conv
 * output -> conv 1x1 (1, relu) -> flatten -> dense softmax (the notebook
 * builds `predictions` and then mistakenly outputs x; we output predictions).
 */
export function seedKerasSeBlock(tf: TF, o: { seed?: number; filters?: number } = {}) {
  const s = new Seeds(o.seed ?? 2);
  const input = tf.input({ shape: [28, 28, 1] });
  const x = tf.layers.conv2d({ filters: o.filters ?? 32, kernelSize: 3, padding: 'same', strides: 1, activation: 'relu', kernelInitializer: s.glorot(tf) }).apply(input) as SymbolicTensor;
  let y = seBlock(tf, x, 2, s, false);
  y = tf.layers.add().apply([y, x]) as SymbolicTensor;
  y = tf.layers.conv2d({ filters: 1, kernelSize: 1, padding: 'same', strides: 1, activation: 'relu', kernelInitializer: s.glorot(tf) }).apply(y) as SymbolicTensor;
  y = tf.layers.flatten().apply(y) as SymbolicTensor;
  const out = tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: s.glorot(tf) }).apply(y) as SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** Seed 001's SE-ResNet bottleneck blocks (1x1, 3x3, 1x1 x4, BN, SE, add, ReLU). */
function seedIdentityBlock(tf: TF, x: SymbolicTensor, n: number, ratio: number, s: Seeds, m: number): SymbolicTensor {
  const shortcut = x;
  let y = convBn(tf, x, n, 1, 1, s, true, m);
  y = convBn(tf, y, n, 3, 1, s, true, m);
  y = convBn(tf, y, n * 4, 1, 1, s, false, m);
  y = seBlock(tf, y, ratio, s, false);
  y = tf.layers.add().apply([shortcut, y]) as SymbolicTensor;
  return tf.layers.reLU().apply(y) as SymbolicTensor;
}

function seedProjectionBlock(tf: TF, x: SymbolicTensor, n: number, stride: number, ratio: number, s: Seeds, m: number): SymbolicTensor {
  const shortcut = convBn(tf, x, 4 * n, 1, stride, s, false, m);
  let y = convBn(tf, x, n, 1, stride, s, true, m);
  y = convBn(tf, y, n, 3, 1, s, true, m);
  y = convBn(tf, y, 4 * n, 1, 1, s, false, m);
  y = seBlock(tf, y, ratio, s, false);
  y = tf.layers.add().apply([shortcut, y]) as SymbolicTensor;
  return tf.layers.reLU().apply(y) as SymbolicTensor;
}

/**
 * Seed 001's composable mini SE-ResNet ("Make a mini-SE-ResNet for
 * CIFAR-10"): stem conv 3x3 (relu), SEResNet.group(n_blocks=2), a
 * projection block and an identity block, flatten, dense softmax. The seed
 * uses 32/128/256 filters on 32x32x3; `width` scales them (stem width,
 * bottleneck widths width*4 and width*8) for a 28x28x1 Fashion-MNIST subset.
 * `bnMomentum` (Keras: 0.99) sets how fast BN's moving statistics, which
 * inference uses, follow the batches (a short run needs a faster one).
 */
export function seedMiniSeResNet(tf: TF, o: { width?: number; ratio?: number; seed?: number; bnMomentum?: number } = {}) {
  const s = new Seeds(o.seed ?? 3);
  const w = o.width ?? 32;
  const ratio = o.ratio ?? 16;
  const m = o.bnMomentum ?? 0.99;
  const input = tf.input({ shape: [28, 28, 1] });
  let x = tf.layers.conv2d({ filters: w, kernelSize: 3, strides: 1, padding: 'same', activation: 'relu', kernelInitializer: s.glorot(tf) }).apply(input) as SymbolicTensor;
  // group(x, n_blocks=2, n_filters=4w): projection (strides 2) + identity
  x = seedProjectionBlock(tf, x, w * 4 / 4, 2, ratio, s, m);
  x = seedIdentityBlock(tf, x, w * 4 / 4, ratio, s, m);
  x = seedProjectionBlock(tf, x, w * 8 / 4, 2, ratio, s, m);
  x = seedIdentityBlock(tf, x, w * 8 / 4, ratio, s, m);
  x = tf.layers.flatten().apply(x) as SymbolicTensor;
  const out = tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: s.glorot(tf) }).apply(x) as SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** A ResNet-50-shaped tf.layers model (Keras' layout: bottlenecks 3-4-6-3, BN, biases), 224x224x3, 1000 classes. */
export function resnet50(tf: TF, o: { seed?: number } = {}) {
  const s = new Seeds(o.seed ?? 4);
  const input = tf.input({ shape: [224, 224, 3] });
  let x = tf.layers.zeroPadding2d({ padding: 3 }).apply(input) as SymbolicTensor;
  x = tf.layers.conv2d({ filters: 64, kernelSize: 7, strides: 2, kernelInitializer: s.he(tf) }).apply(x) as SymbolicTensor;
  x = tf.layers.batchNormalization({ axis: -1, epsilon: 1.001e-5 }).apply(x) as SymbolicTensor;
  x = tf.layers.activation({ activation: 'relu' }).apply(x) as SymbolicTensor;
  x = tf.layers.zeroPadding2d({ padding: 1 }).apply(x) as SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }).apply(x) as SymbolicTensor;
  const stage = (y: SymbolicTensor, f: number, blocks: number, stride: number) => {
    for (let b = 0; b < blocks; b++) {
      const st = b === 0 ? stride : 1;
      let shortcut = y;
      if (b === 0) {
        shortcut = tf.layers.conv2d({ filters: 4 * f, kernelSize: 1, strides: st, kernelInitializer: s.he(tf) }).apply(y) as SymbolicTensor;
        shortcut = tf.layers.batchNormalization({ axis: -1, epsilon: 1.001e-5 }).apply(shortcut) as SymbolicTensor;
      }
      let z = tf.layers.conv2d({ filters: f, kernelSize: 1, strides: st, kernelInitializer: s.he(tf) }).apply(y) as SymbolicTensor;
      z = tf.layers.batchNormalization({ axis: -1, epsilon: 1.001e-5 }).apply(z) as SymbolicTensor;
      z = tf.layers.activation({ activation: 'relu' }).apply(z) as SymbolicTensor;
      z = tf.layers.conv2d({ filters: f, kernelSize: 3, padding: 'same', kernelInitializer: s.he(tf) }).apply(z) as SymbolicTensor;
      z = tf.layers.batchNormalization({ axis: -1, epsilon: 1.001e-5 }).apply(z) as SymbolicTensor;
      z = tf.layers.activation({ activation: 'relu' }).apply(z) as SymbolicTensor;
      z = tf.layers.conv2d({ filters: 4 * f, kernelSize: 1, kernelInitializer: s.he(tf) }).apply(z) as SymbolicTensor;
      z = tf.layers.batchNormalization({ axis: -1, epsilon: 1.001e-5 }).apply(z) as SymbolicTensor;
      y = tf.layers.add().apply([shortcut, z]) as SymbolicTensor;
      y = tf.layers.activation({ activation: 'relu' }).apply(y) as SymbolicTensor;
    }
    return y;
  };
  x = stage(x, 64, 3, 1);
  x = stage(x, 128, 4, 2);
  x = stage(x, 256, 6, 2);
  x = stage(x, 512, 3, 2);
  x = tf.layers.globalAveragePooling2d({}).apply(x) as SymbolicTensor;
  const out = tf.layers.dense({ units: 1000, activation: 'softmax', kernelInitializer: s.glorot(tf) }).apply(x) as SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}
