/**
 * The seeds-on-tfjs experiment shared by seeds.test.ts and
 * make-seed-fixtures.ts: the seeds' models (bench/tfjs/models.ts) trained
 * with model.fit on a Fashion-MNIST subset, everything seeded and unshuffled
 * so a backend's run is a deterministic function of its arithmetic.
 */
import { existsSync } from 'node:fs';
import type * as tfType from '@tensorflow/tfjs';
import { loadIdxDataset } from '../../lib/data/index.js';
import { seedKerasSeBlock, seedMiniSeResNet } from '../../bench/tfjs/models.js';

type TF = typeof tfType;

export const DATA_DIR = process.env['SENET_FASHION_MNIST'] ?? '/usr/share/datasets/fashion-mnist';
export const haveData = (): boolean => existsSync(DATA_DIR);

export const CONFIG = { nTrain: 512, nTest: 256, epochs: 3, batchSize: 32, optimizer: 'adam(1e-3)', loss: 'sparseCategoricalCrossentropy' };

export const MODELS: Record<string, { description: string; build: (tf: TF) => tfType.LayersModel }> = {
  seed002_keras_se_block: {
    description: "seed 002's Keras SE block model: conv 3x3 (32, relu), SE (ratio 2, bias-free), residual add, conv 1x1, flatten, dense",
    build: (tf) => seedKerasSeBlock(tf),
  },
  seed001_mini_se_resnet: {
    description:
      "seed 001's composable mini SE-ResNet (2 projection + 2 identity SE bottlenecks, flatten, dense) at width 8, SE ratio 4, BN momentum 0.9 (48 steps: Keras' 0.99 leaves inference's moving statistics near their initial values)",
    build: (tf) => seedMiniSeResNet(tf, { width: 8, ratio: 4, bnMomentum: 0.9 }),
  },
};

export interface Data {
  train: { x: Float32Array; y: Float32Array };
  test: { x: Float32Array; y: Float32Array };
}

function subset(split: 'train' | 'test', n: number) {
  const ds = loadIdxDataset(DATA_DIR, split);
  const x = new Float32Array(n * 784);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    void ds.get(i, x, i * 784);
    y[i] = ds.labels[i]!;
  }
  return { x, y };
}

export function loadData(): Data {
  return { train: subset('train', CONFIG.nTrain), test: subset('test', CONFIG.nTest) };
}

export interface Run {
  loss: number[];
  acc: number[];
  testLoss: number;
  testAcc: number;
  seconds: number;
}

/** Trains a fresh model on `backend`; checks that no tensor outlives the run. */
export async function train(tf: TF, backend: string, model: string, data: Data): Promise<Run> {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} is not available`);
  const before = tf.memory().numTensors;
  const t0 = performance.now();
  const m = MODELS[model]!.build(tf);
  m.compile({ optimizer: tf.train.adam(1e-3), loss: CONFIG.loss, metrics: ['acc'] });
  const n = CONFIG.nTrain, k = CONFIG.nTest;
  const xs = tf.tensor4d(data.train.x, [n, 28, 28, 1]), ys = tf.tensor1d(data.train.y);
  const tx = tf.tensor4d(data.test.x, [k, 28, 28, 1]), ty = tf.tensor1d(data.test.y);
  const h = await m.fit(xs, ys, { epochs: CONFIG.epochs, batchSize: CONFIG.batchSize, shuffle: false, verbose: 0 });
  const [tl, ta] = m.evaluate(tx, ty, { batchSize: 128 }) as tfType.Scalar[];
  const run: Run = {
    loss: h.history['loss'] as number[],
    acc: h.history['acc'] as number[],
    testLoss: (await tl!.data())[0]!,
    testAcc: (await ta!.data())[0]!,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
  tf.dispose([xs, ys, tx, ty, tl!, ta!]);
  (m.optimizer as tfType.Optimizer).dispose();
  m.dispose();
  const left = tf.memory().numTensors - before;
  if (left !== 0) throw new Error(`${backend}/${model}: ${left} tensors outlived the run`);
  return run;
}
