/**
 * senet: Squeeze-and-Excitation networks for Node.js.
 *
 *   import * as senet from 'senet';
 *   const x = senet.randn([8, 32, 32, 64]);               // NHWC
 *   const block = new senet.nn.SEResNeXtBottleneck(64, 16, { groups: 8 });
 *   const y = block.forward(x);
 */
export { SenetError, type SenetErrorCode } from './errors.js';
export {
  Tensor,
  tensor,
  zeros,
  ones,
  full,
  randn,
  randu,
  tidy,
  keep,
  dispose,
  memory,
  emptyCache,
  sync,
  syncSync,
  setSeed,
  nextSeed,
  setNumThreads,
  getNumThreads,
  type DType,
  type Device,
  type Shape,
  type TensorLike,
  type MemoryInfo,
  type DeviceMemory,
} from './tensor.js';
export * from './ops/index.js';
export * as ops from './ops/index.js';
export * as nn from './nn/index.js';
export { SGD, type SgdOptions, type ParamGroup } from './optim/sgd.js';
export * as safetensors from './io/safetensors.js';
export { info, setIsa } from './runtime.js';
export * as data from './data/index.js';
export { Trainer, evaluate, DivergedError, type TrainerOptions, type EpochMetrics, type EvalResult } from './train/trainer.js';
export { Schedule, parseSchedule, type ScheduleConfig } from './train/schedule.js';
export { saveCheckpoint, loadCheckpoint, resolveCheckpoint, type CheckpointMeta } from './train/checkpoint.js';
