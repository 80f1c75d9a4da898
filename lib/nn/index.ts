export { Module, Parameter, retain } from './module.js';
export { Conv2d, type Conv2dModuleOptions } from './conv.js';
export { BatchNorm2d } from './batchnorm.js';
export { ReLU } from './activation.js';
export { MaxPool2d, AvgPool2d, GlobalAvgPool, Flatten, type PoolModuleOptions } from './pool.js';
export { Linear } from './linear.js';
export { SqueezeExcite, makeDivisible, type SqueezeExciteOptions } from './se.js';
export { Sequential, forwardLayers } from './sequential.js';
export {
  ResidualBlock, BasicBlock, Bottleneck, SEResNeXtBottleneck, ZeroPadShortcut,
  type ResidualOptions, type BottleneckOptions, type SePlacement, type ShortcutKind,
} from './residual.js';
export { kaimingNormal, uniformFanIn, fans } from './init.js';
export { totals, type Profile, type ProfileRow } from './profile.js';
export { cast, type Precision } from './precision.js';
