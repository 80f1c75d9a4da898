export { ResNet, type ResNetConfig, type StemConfig, type SeConfig } from './resnet.js';
export { createModel, modelConfig, modelInfo, listModels, registerModel, type ModelOptions, type ModelInfo } from './registry.js';
