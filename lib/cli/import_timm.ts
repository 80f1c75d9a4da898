import { SenetError } from '../errors.js';
import { readSafetensors } from '../io/safetensors.js';
import { convertTimmState, mapTimmArch, timmArchs } from '../io/timm.js';
import { saveCheckpoint } from '../train/checkpoint.js';
import { createModel, type ModelOptions } from '../../models/index.js';
import { parse, str } from './args.js';

const USAGE = `
senet import-timm <state_dict.safetensors> --arch <timm name> -o <out.safetensors>

Converts a timm (or Cadene/legacy) ResNet-family state dict into a senet
checkpoint that eval, predict and train --init accept: names mapped
(layer0.* / se_module / last_linear for legacy models), conv weights
OIHW -> OHWI, SE 1x1 conv weights -> dense. Save a state dict with
safetensors.torch.save_file(model.state_dict(), "x.safetensors").
Archs: ${timmArchs().join(', ')}
`;

export function importTimm(argv: string[]): void {
  const { values, positionals } = parse(argv, { arch: { type: 'string' }, output: { type: 'string', short: 'o' } }, USAGE);
  if (positionals.length !== 1) throw new SenetError('SENET_ARG', `import-timm: expected one state dict file, got ${positionals.length}\n${USAGE.trim()}`);
  const arch = str(values, 'arch');
  const out = str(values, 'output');
  if (!arch) throw new SenetError('SENET_ARG', `import-timm: expected --arch <timm name>\n${USAGE.trim()}`);
  if (!out) throw new SenetError('SENET_ARG', 'import-timm: expected -o <out.safetensors>');
  const map = mapTimmArch(arch);
  const file = positionals[0]!;
  const conv = convertTimmState(readSafetensors(file), file);
  const options: ModelOptions = { ...(map.options as ModelOptions), numClasses: conv.numClasses, inChannels: conv.inChannels };
  const model = createModel(map.arch, options);
  try {
    try {
      model.loadStateDict(conv.tensors);
    } catch (e) {
      throw new SenetError('SENET_SHAPE', `import-timm: ${file} does not fit ${arch} (senet ${map.arch}): ${(e as Error).message.replace(/^loadStateDict: /, '')}`);
    }
    saveCheckpoint(out, model, { arch: map.arch, modelOptions: options as Record<string, unknown>, epoch: -1, step: 0, metrics: { importedFrom: file, timmArch: arch } });
  } finally {
    for (const t of conv.tensors.values()) t.dispose();
    model.dispose();
  }
  process.stdout.write(JSON.stringify({ output: out, arch: map.arch, timmArch: arch, numClasses: conv.numClasses, skipped: conv.skipped.length }) + '\n');
}
