import { SenetError } from '../errors.js';
import { evaluate } from '../train/trainer.js';
import { num, parse, str } from './args.js';
import { modelFromCheckpoint } from './checkpoint_model.js';
import { checkDatasetName, evalLoader, loadData, DATASETS } from './datasets.js';

const USAGE = `
senet eval <checkpoint | run folder> [options]

Top-1/top-5 accuracy and loss of a checkpoint on the test split.
  --dataset NAME      ${DATASETS.join(' | ')} (default: the one it was trained on)
  --data DIR          dataset folder
  --batch-size N      (default 256)
`;

export async function evalCmd(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { dataset: { type: 'string' }, data: { type: 'string' }, 'batch-size': { type: 'string' } }, USAGE);
  if (positionals.length !== 1) throw new SenetError('SENET_ARG', `eval: expected one checkpoint, got ${positionals.length}\n${USAGE.trim()}`);
  const { model, meta, file } = modelFromCheckpoint(positionals[0]!);
  const run = meta.run ?? {};
  const name = checkDatasetName(str(values, 'dataset') ?? (run['dataset'] as string | undefined) ?? 'fashion-mnist');
  const data = await loadData(name, str(values, 'data') ?? (run['data'] as string | undefined));
  const classes = data.test.numClasses;
  if (classes !== (model.fc.outFeatures))
    throw new SenetError('SENET_SHAPE', `eval: the checkpoint has ${model.fc.outFeatures} classes, ${name} has ${classes}`);
  const r = await evaluate(model, evalLoader(data.test, data.spec, num(values, 'batch-size', 256, { min: 1, int: true })), classes);
  model.dispose();
  process.stdout.write(JSON.stringify({ checkpoint: file, dataset: name, n: r.n, top1: r.top1, top5: r.top5, loss: r.loss }) + '\n');
}
