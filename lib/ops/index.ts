export * from './conv.js';
export * from './batchnorm.js';
export * from './pool.js';
export * from './linear.js';
export * from './eltwise.js';
export * from './loss.js';
export * from './sgd.js';
export * from './se.js';
export { type Padding } from './check.js';
