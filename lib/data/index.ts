/**
 * senet data pipeline: datasets (IDX / MNIST / Fashion-MNIST, CIFAR-10/100
 * binary, image folders), views (subset, split), a seedable Rng, per-sample
 * augmentations and a prefetching, reproducible DataLoader.
 */
export { type Dataset, subset, split } from './dataset.js';
export {
  readIdx, parseIdx, loadIdxDataset, FASHION_MNIST_CLASSES, MNIST_CLASSES,
  type IdxFile, type IdxType, type IdxData,
} from './idx.js';
export { loadCifar, CIFAR10_CLASSES } from './cifar.js';
export { loadImageFolder, loadImage, IMAGE_EXTENSIONS, type ImageOptions, type ImageFolderDataset, type ResizeMode } from './images.js';
export { Rng, deriveSeed } from './rng.js';
export { type Augment, AugmentPipeline, compileAugment, resizeWindow, rrcParams } from './augment.js';
export { DataLoader, type LoaderOptions, type Batch } from './loader.js';
