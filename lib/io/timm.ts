/**
 * timm / Cadene (pretrainedmodels, timm's legacy_*) state dicts -> senet.
 *
 * Names: timm's ResNet names are senet's (conv1, bn1, layerN.i.convK,
 * .se.fc1/.fc2, downsample.0/1, fc). Legacy names map: layer0.conv1 ->
 * conv1, layer0.bn1 -> bn1, .se_module. -> .se., last_linear -> fc.
 * Layouts: conv weights OIHW -> OHWI; the SE's 1x1 conv weights [D,C,1,1]
 * -> dense [D,C]; num_batches_tracked is dropped.
 * Architectures: timm strides the 3x3 of a bottleneck and rounds the SE
 * hidden size to multiples of 8; legacy SE-ResNets stride the first 1x1
 * and pool with ceil mode and no padding.
 */
import { SenetError } from '../errors.js';
import { tensor, type Tensor } from '../tensor.js';
import { entryToFloat32, type SafeFile } from './safetensors.js';

export interface ArchMapping {
  arch: string;
  options: Record<string, unknown>;
}

const TIMM_ARCHS: Record<string, ArchMapping> = {};
for (const d of [18, 34, 50, 101, 152]) {
  TIMM_ARCHS[`seresnet${d}`] = { arch: `se_resnet${d}`, options: { strideOnConv1: false, hiddenDivisor: 8 } };
  TIMM_ARCHS[`resnet${d}`] = { arch: `resnet${d}`, options: { strideOnConv1: false } };
  TIMM_ARCHS[`legacy_seresnet${d}`] = { arch: `se_resnet${d}`, options: { strideOnConv1: true, stem: 'legacy' } };
}
for (const d of [26, 50, 101]) {
  // timm has no plain-stem (se)resnext26_32x4d, only the legacy one (and deep-stem 26d/26t variants senet does not model)
  if (d !== 26) {
    TIMM_ARCHS[`seresnext${d}_32x4d`] = { arch: `se_resnext${d}_32x4d`, options: { hiddenDivisor: 8 } };
    TIMM_ARCHS[`resnext${d}_32x4d`] = { arch: `resnext${d}_32x4d`, options: {} };
  }
  TIMM_ARCHS[`legacy_seresnext${d}_32x4d`] = { arch: `se_resnext${d}_32x4d`, options: { stem: 'legacy' } };
}

export function timmArchs(): string[] {
  return Object.keys(TIMM_ARCHS);
}

export function mapTimmArch(name: string): ArchMapping {
  const m = TIMM_ARCHS[name];
  if (!m) throw new SenetError('SENET_ARG', `import-timm: expected --arch one of ${timmArchs().join(', ')}, got '${name}'`);
  return m;
}

/** senet's name for a timm or legacy key, or null for keys senet does not keep. */
export function mapTimmKey(key: string): string | null {
  if (key.endsWith('num_batches_tracked')) return null;
  let k = key.replace(/^module\./, '');
  k = k.replace(/^layer0\.conv1\./, 'conv1.').replace(/^layer0\.bn1\./, 'bn1.');
  k = k.replace(/\.se_module\./, '.se.');
  k = k.replace(/^last_linear\./, 'fc.');
  return k;
}

export interface ConvertedWeights {
  tensors: Map<string, Tensor<'float32'>>;
  numClasses: number;
  inChannels: number;
  skipped: string[];
}

/** Converts every tensor of a timm/legacy state dict to senet's names and layouts. */
export function convertTimmState(f: SafeFile, file: string): ConvertedWeights {
  const out = new Map<string, Tensor<'float32'>>();
  const skipped: string[] = [];
  for (const [key, e] of f.tensors) {
    const name = mapTimmKey(key);
    if (name === null) {
      skipped.push(key);
      continue;
    }
    if (out.has(name)) throw new SenetError('SENET_IO', `import-timm: ${file}: two keys map to ${name} (one is ${key})`);
    const data = entryToFloat32(e);
    let shape = [...e.shape];
    let values = data;
    if (shape.length === 4 && name.includes('.se.')) {
      // 1x1 conv [out, in, 1, 1] -> dense [out, in]
      if (shape[2] !== 1 || shape[3] !== 1)
        throw new SenetError('SENET_SHAPE', `import-timm: ${file}: expected ${key} a 1x1 conv [out, in, 1, 1], got [${shape}]`);
      shape = [shape[0]!, shape[1]!];
    } else if (shape.length === 4) {
      const [O, I, H, W] = shape as [number, number, number, number];
      values = new Float32Array(data.length);
      for (let o = 0; o < O; o++)
        for (let i = 0; i < I; i++)
          for (let h = 0; h < H; h++)
            for (let w = 0; w < W; w++) values[((o * H + h) * W + w) * I + i] = data[((o * I + i) * H + h) * W + w]!;
      shape = [O, H, W, I];
    }
    out.set(name, tensor(values, shape));
  }
  const fc = out.get('fc.weight'), c1 = out.get('conv1.weight');
  if (!fc || !c1) {
    for (const t of out.values()) t.dispose();
    throw new SenetError('SENET_IO', `import-timm: ${file}: expected a ResNet-family state dict with conv1/layer0.conv1 and fc/last_linear weights, got keys ${[...f.tensors.keys()].slice(0, 8).join(', ')}${f.tensors.size > 8 ? ', ...' : ''}`);
  }
  return { tensors: out, numClasses: fc.shape[0]!, inChannels: c1.shape[3]!, skipped };
}
