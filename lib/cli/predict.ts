import { SenetError } from '../errors.js';
import { tensor } from '../tensor.js';
import { loadImage } from '../data/index.js';
import { readSafetensors, entryToFloat32, serializeSafetensors, writeFileAtomic } from '../io/safetensors.js';
import { parse, str } from './args.js';
import { modelFromCheckpoint } from './checkpoint_model.js';

const USAGE = `
senet predict <checkpoint> <image...>
senet predict <checkpoint> --input-tensor x.safetensors [--layout nchw|nhwc] -o y.safetensors

Images: prints the top-5 classes of each (decoded and resized with sharp,
normalised as in training). Tensors: runs the network in eval mode on the
float32 tensor named "input" ([N,H,W,C], or [N,C,H,W] with --layout nchw)
and writes the tensor "logits" -- to compare senet with any framework on
the same numbers.
`;

export async function predict(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { 'input-tensor': { type: 'string' }, layout: { type: 'string' }, output: { type: 'string', short: 'o' } }, USAGE);
  if (positionals.length < 1) throw new SenetError('SENET_ARG', `predict: expected a checkpoint, got nothing\n${USAGE.trim()}`);
  const { model, meta } = modelFromCheckpoint(positionals[0]!);
  try {
    const inputFile = str(values, 'input-tensor');
    if (inputFile) {
      const out = str(values, 'output');
      if (!out) throw new SenetError('SENET_ARG', 'predict: expected -o <file> with --input-tensor');
      const layout = str(values, 'layout') ?? 'nhwc';
      if (layout !== 'nhwc' && layout !== 'nchw') throw new SenetError('SENET_ARG', `--layout: expected nchw or nhwc, got '${layout}'`);
      const f = readSafetensors(inputFile);
      const e = f.tensors.get('input');
      if (!e) throw new SenetError('SENET_IO', `predict: ${inputFile}: expected a tensor named "input", got ${[...f.tensors.keys()].join(', ') || 'none'}`);
      if (e.shape.length !== 4) throw new SenetError('SENET_SHAPE', `predict: expected input a rank-4 tensor, got shape [${e.shape}]`);
      let data = entryToFloat32(e);
      let shape = [...e.shape];
      if (layout === 'nchw') {
        const [N, C, H, W] = shape as [number, number, number, number];
        const t = new Float32Array(data.length);
        for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++)
          t[((n * H + h) * W + w) * C + c] = data[((n * C + c) * H + h) * W + w]!;
        data = t;
        shape = [N, H, W, C];
      }
      const x = tensor(data, shape);
      const y = model.forward(x);
      const logits = await y.toArray();
      writeFileAtomic(out, serializeSafetensors({ logits: { dtype: 'F32', shape: y.shape, data: logits } }, { arch: meta.arch }));
      x.dispose();
      y.dispose();
      process.stdout.write(JSON.stringify({ output: out, shape: y.shape }) + '\n');
      return;
    }
    const images = positionals.slice(1);
    if (!images.length) throw new SenetError('SENET_ARG', `predict: expected images or --input-tensor\n${USAGE.trim()}`);
    const input = meta.input;
    if (!input) throw new SenetError('SENET_IO', 'predict: the checkpoint does not record its input size and normalisation (use --input-tensor)');
    const [h, w, c] = input.size;
    const names = meta.classNames ?? [];
    for (const file of images) {
      const px = await loadImage(file, { size: [h, w], channels: c as 1 | 3 });
      if (input.mean && input.std) for (let i = 0; i < px.length; i++) px[i] = (px[i]! - input.mean[i % c]!) / input.std[i % c]!;
      const x = tensor(px, [1, h, w, c]);
      const y = model.forward(x);
      const logits = await y.toArray();
      x.dispose();
      y.dispose();
      const max = Math.max(...logits);
      const e = Array.from(logits, (v) => Math.exp(v - max));
      const sum = e.reduce((a, b) => a + b, 0);
      const top = e.map((p, k) => ({ k, p: p / sum })).sort((a, b) => b.p - a.p).slice(0, 5);
      process.stdout.write(`${file}\n${top.map(({ k, p }) => `  ${(100 * p).toFixed(2).padStart(6)}%  ${names[k] ?? `class ${k}`}`).join('\n')}\n`);
    }
  } finally {
    model.dispose();
  }
}
