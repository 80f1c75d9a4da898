import { join } from 'node:path';
import { SenetError } from '../errors.js';
import { setNumThreads, getNumThreads, setSeed, type Device } from '../tensor.js';
import { info } from '../runtime.js';
import { createModel, modelInfo, type ModelOptions } from '../../models/index.js';
import { loadCheckpoint, resolveCheckpoint } from '../train/checkpoint.js';
import { parseSchedule } from '../train/schedule.js';
import { Trainer } from '../train/trainer.js';
import { num, parse, str } from './args.js';
import { checkDatasetName, evalLoader, loadData, trainLoader, DATASETS } from './datasets.js';
import { modelOptionsFrom, MODEL_OPTIONS, MODEL_USAGE } from './model_options.js';

const USAGE = `
senet train [options]

Trains a model (default: se_resnet20 on Fashion-MNIST from ${'/usr/share/datasets/fashion-mnist'}),
with a progress bar, evaluation on the test split after every epoch,
metrics.jsonl and a checkpoint per epoch in the run folder.

Data:
  --dataset NAME        ${DATASETS.join(' | ')} (default fashion-mnist)
  --data DIR            dataset folder (default for fashion-mnist: /usr/share/datasets/fashion-mnist)
  --input-size H,W      image folders: resize to this size (default 224,224)
  --no-augment          no random crops/flips
  --balanced            class-balanced sampling (the paper's data balancing)
Model:
  --model NAME          a registered model (default se_resnet20; \`senet info --list\`)
${MODEL_USAGE}
  --init FILE           start from a senet checkpoint (e.g. imported timm weights)
Optimisation:
  --epochs N            (default 4)
  --batch-size N        (default 128)
  --lr X                peak learning rate (default 0.1 * batch/128)
  --momentum X          (default 0.9)   --no-nesterov   plain momentum
  --wd X                weight decay (default 5e-4, not on BN/biases)
  --schedule S          cosine[:warmup_epochs[:min_lr]] (default cosine:0.3) | step[:every[:gamma]]
                        (the paper: step:30:0.1) | plateau[:patience[:factor[:min_lr]]] | constant
  --label-smoothing X   (default 0.1)
Run:
  --out DIR             run folder (default runs/<timestamp>)
  --resume PATH         continue a run from a checkpoint or a run folder (its newest epoch)
  --seed N              (default 0)
  --threads N           engine threads (default: all cores)
  --device D            cpu (default) or cuda:0 (a CUDA build with a GPU)
  --precision P         fp32 (default) or bf16 (CUDA: bfloat16 activations, float32 weights)
  --time-limit SEC      stop after the epoch during which SEC seconds have passed
  --progress MODE       auto | bar | lines | none (default auto: a bar on a terminal)
`;

export async function train(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    dataset: { type: 'string' }, data: { type: 'string' }, 'input-size': { type: 'string' },
    'no-augment': { type: 'boolean' }, balanced: { type: 'boolean' },
    model: { type: 'string' }, ...MODEL_OPTIONS, init: { type: 'string' },
    epochs: { type: 'string' }, 'batch-size': { type: 'string' }, lr: { type: 'string' }, momentum: { type: 'string' },
    'no-nesterov': { type: 'boolean' }, wd: { type: 'string' }, schedule: { type: 'string' }, 'label-smoothing': { type: 'string' },
    out: { type: 'string' }, resume: { type: 'string' }, seed: { type: 'string' }, threads: { type: 'string' },
    'time-limit': { type: 'string' }, progress: { type: 'string' }, device: { type: 'string' }, precision: { type: 'string' },
  }, USAGE);

  if (values['threads'] !== undefined) setNumThreads(num(values, 'threads', 1, { min: 1, int: true }));
  const resume = str(values, 'resume');
  const ck = resume ? loadCheckpoint(resolveCheckpoint(resume)) : null;
  // A resumed run takes its saved options; flags given now (e.g. more --epochs) override them.
  const v = { ...(ck?.meta.run ?? {}), ...values } as Record<string, string | boolean | undefined>;

  const seed = num(v, 'seed', 0, { min: 0, int: true });
  setSeed(seed);
  const datasetName = checkDatasetName(str(v, 'dataset') ?? 'fashion-mnist');
  const size = str(v, 'input-size')?.split(',').map(Number) as [number, number] | undefined;
  const data = await loadData(datasetName, str(v, 'data'), { size, seed });
  const [h, w, c] = data.train.sampleShape;

  const arch = ck?.meta.arch ?? str(v, 'model') ?? 'se_resnet20';
  const modelOptions: ModelOptions = ck
    ? (ck.meta.modelOptions as ModelOptions)
    : { ...modelOptionsFrom(v), numClasses: data.train.numClasses, inChannels: c, inputSize: [h, w], seed };
  modelInfo(arch); // unknown names fail here, listing the known ones
  const model = createModel(arch, modelOptions);
  const device = (str(v, 'device') ?? 'cpu') as Device;
  if (device !== 'cpu') model.to(device);
  const precision = str(v, 'precision') ?? 'fp32';
  if (precision !== 'fp32' && precision !== 'bf16') throw new SenetError('SENET_ARG', `--precision: expected fp32 or bf16, got '${precision}'`);

  const batchSize = num(v, 'batch-size', 128, { min: 1, int: true });
  const epochs = num(v, 'epochs', 4, { min: 1, int: true });
  const lr = num(v, 'lr', (0.1 * batchSize) / 128, { min: 0 });
  const train = trainLoader(data.train, data.spec, { batchSize, seed, augment: !v['no-augment'], balanced: !!v['balanced'] });
  const test = evalLoader(data.test, data.spec, 256);
  const out = ck && resume ? (resume.endsWith('.safetensors') ? join(resume, '..') : resume) : str(v, 'out') ?? join('runs', new Date().toISOString().replace(/[:.]/g, '-'));

  const trainer = new Trainer({
    model, arch, modelOptions: modelOptions as Record<string, unknown>, train, val: test,
    numClasses: data.train.numClasses, epochs,
    optimizer: {
      lr, momentum: num(v, 'momentum', 0.9, { min: 0 }), nesterov: !v['no-nesterov'], weightDecay: num(v, 'wd', 5e-4, { min: 0 }),
      filterDecay: true,
    },
    schedule: parseSchedule(str(v, 'schedule') ?? 'cosine:0.3', lr),
    labelSmoothing: num(v, 'label-smoothing', 0.1, { min: 0 }),
    outDir: out,
    classNames: data.train.classNames,
    input: { size: [h, w, c], mean: data.spec.mean, std: data.spec.std },
    progress: (str(v, 'progress') ?? 'auto') as 'auto',
    timeLimit: v['time-limit'] !== undefined ? num(v, 'time-limit', 0, { min: 0 }) : undefined,
    // what a resume needs to rebuild the same run
    runArgs: Object.fromEntries(Object.entries(v).filter(([k]) => !['resume', 'out', 'threads', 'progress', 'time-limit'].includes(k))),
    precision,
  });
  if (ck) {
    trainer.restore(ck);
    ck.dispose();
    process.stderr.write(`resuming ${arch} from epoch ${trainer.epoch} (step ${trainer.step}) in ${out}\n`);
  } else if (str(v, 'init')) {
    const init = loadCheckpoint(resolveCheckpoint(str(v, 'init')!));
    model.loadStateDict(init.model);
    init.dispose();
  }
  const i = info();
  const params = model.numParameters();
  process.stderr.write(`senet ${i.version} | ${arch} (${(params / 1e6).toFixed(2)}M parameters) | ${datasetName} ${data.train.length}/${data.test.length} | ` +
    `batch ${batchSize} | ${getNumThreads()} threads ${i.isa}${process.env['GOMP_SPINCOUNT'] ? ` spin ${process.env['GOMP_SPINCOUNT']}` : ''} | run ${out}\n`);
  const history = await trainer.fit();
  trainer.dispose();
  model.dispose();
  const last = history[history.length - 1];
  if (!last) throw new SenetError('SENET_ARG', 'train: no epoch ran (is --epochs lower than the resumed epoch?)');
  process.stdout.write(JSON.stringify({ run: out, epochs: last.epoch, testTop1: last.valTop1, testTop5: last.valTop5, seconds: history.reduce((s, m) => s + m.seconds, 0) }) + '\n');
}
