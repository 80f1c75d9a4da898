import test from 'ava';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { data, Trainer, DivergedError, loadCheckpoint, SenetError, memory, type TrainerOptions } from '../lib/index.js';
import { createModel, type ModelOptions } from '../models/index.js';
import { Rng } from './helpers/rng.js';
import { read } from './helpers/tensors.js';

/** A learnable synthetic dataset: class k has a bright k-th column band. */
function synthetic(n: number, seed: number, corrupt = false): data.Dataset {
  const h = 8, w = 8, classes = 4;
  const rng = new Rng(seed);
  const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
  const pix = new Float32Array(n * h * w);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) pix[i * h * w + y * w + x] = 0.3 * rng.next() + (Math.floor(x / 2) === labels[i] ? 0.7 : 0);
  if (corrupt) pix[5] = NaN;
  return {
    name: 'bands', length: n, sampleShape: [h, w, 1], numClasses: classes, classNames: ['a', 'b', 'c', 'd'], labels,
    get(i, out, off) {
      out.set(pix.subarray(i * h * w, (i + 1) * h * w), off);
    },
  };
}

const ARCH = 'se_resnet20';
const MO: ModelOptions = { inChannels: 1, numClasses: 4, inputSize: [8, 8], seed: 5 };

function options(outDir: string | null, o: Partial<TrainerOptions> = {}): TrainerOptions {
  const ds = synthetic(192, 1);
  return {
    model: createModel(ARCH, MO), arch: ARCH, modelOptions: MO as Record<string, unknown>,
    // (no flips: they would swap the classes' bands)
    train: new data.DataLoader(ds, { batchSize: 16, seed: 3, dropLast: true, augment: [{ kind: 'padCrop', pad: 1 }, { kind: 'normalize', mean: [0.5], std: [0.3] }] }),
    val: new data.DataLoader(synthetic(32, 2), { batchSize: 16, shuffle: false, augment: [{ kind: 'normalize', mean: [0.5], std: [0.3] }] }),
    numClasses: 4, epochs: 3,
    optimizer: { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4, filterDecay: true },
    schedule: { kind: 'cosine', lr: 0.1, warmupEpochs: 1 }, labelSmoothing: 0.1,
    outDir, progress: 'none', log: () => {}, classNames: ds.classNames, ...o,
  };
}

test.serial('training learns, writes metrics.jsonl and a checkpoint per epoch (atomically)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'senet-train-'));
  const base = memory().tensors;
  const o = options(dir);
  const tr = new Trainer(o);
  const h = await tr.fit();
  t.is(h.length, 3);
  t.true(h[2]!.trainLoss < h[0]!.trainLoss, 'the loss falls');
  t.true(h[2]!.valTop1! >= 0.9, `val top-1 ${h[2]!.valTop1}`);
  const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  t.deepEqual(lines.map((l) => l.epoch), [1, 2, 3]);
  t.true(['trainLoss', 'trainTop1', 'valTop1', 'valTop5', 'valLoss', 'lr', 'imgPerSec'].every((k) => k in lines[0]));
  const files = readdirSync(dir).sort();
  t.deepEqual(files.filter((f) => f.endsWith('.safetensors')), ['epoch-001.safetensors', 'epoch-002.safetensors', 'epoch-003.safetensors']);
  t.false(files.some((f) => f.endsWith('.tmp')), 'no temporary files left');
  const ck = loadCheckpoint(join(dir, 'epoch-003.safetensors'));
  t.is(ck.meta.arch, ARCH);
  t.deepEqual(ck.meta.modelOptions, MO as Record<string, unknown>);
  t.is(ck.meta.epoch, 2);
  t.deepEqual(ck.meta.classNames, ['a', 'b', 'c', 'd']);
  t.true(ck.optim.size > 0, 'momentum buffers saved');
  t.deepEqual(JSON.parse(readFileSync(join(dir, 'epoch-003.safetensors.json'), 'utf8')).arch, ARCH);
  ck.dispose();
  tr.dispose();
  o.model.dispose();
  t.is(memory().tensors, base);
});

test.serial('an interrupted and resumed run ends with bit-identical weights', async (t) => {
  const straightDir = mkdtempSync(join(tmpdir(), 'senet-a-'));
  const a = options(straightDir);
  const ta = new Trainer(a);
  await ta.fit();
  const want = new Map([...a.model.stateDict()].map(([k, v]) => [k, read(v)]));
  const wantMom = ta.optimizer.momentumBuffers().map((b) => b && read(b));

  const dir = mkdtempSync(join(tmpdir(), 'senet-b-'));
  const b1 = options(dir, { stopAfterEpochs: 1 });
  const tb1 = new Trainer(b1);
  await tb1.fit();
  tb1.dispose();
  b1.model.dispose();
  // a new process would start here: fresh model and trainer, state from the checkpoint
  const b2 = options(dir);
  const tb2 = new Trainer(b2);
  const ck = loadCheckpoint(join(dir, 'epoch-001.safetensors'));
  tb2.restore(ck);
  ck.dispose();
  t.is(tb2.epoch, 1);
  await tb2.fit();
  const got = b2.model.stateDict();
  let differing = 0;
  for (const [k, v] of want) if (!read(got.get(k)!).every((x, i) => x === v[i])) differing++;
  t.is(differing, 0, 'every parameter and buffer bit-identical');
  t.deepEqual(tb2.optimizer.momentumBuffers().map((b) => b && read(b)), wantMom, 'momentum buffers bit-identical');
  for (const [tr, o] of [[ta, a], [tb2, b2]] as const) {
    tr.dispose();
    o.model.dispose();
  }
});

test.serial('a non-finite loss stops training with the step and the last finite loss', async (t) => {
  const o = options(null, { train: new data.DataLoader(synthetic(64, 1, true), { batchSize: 16, shuffle: false }) });
  const tr = new Trainer(o);
  const e = await t.throwsAsync(() => tr.fit(), { instanceOf: DivergedError });
  t.regex(e!.message, /^train: the loss became NaN at step 0 \(the first step\)/);
  tr.dispose();
  o.model.dispose();
  const o2 = options(null, { optimizer: { lr: 1e6, momentum: 0.9 }, schedule: { kind: 'constant', lr: 1e6 } });
  const tr2 = new Trainer(o2);
  const e2 = await t.throwsAsync(() => tr2.fit(), { instanceOf: DivergedError });
  t.regex(e2!.message, /the loss became (NaN|Infinity) at step \d+; the last finite loss was \d/);
  tr2.dispose();
  o2.model.dispose();
});

test('bad checkpoint files give clear errors', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'senet-ck-'));
  const m = createModel(ARCH, MO);
  const o = options(dir, { model: m, epochs: 1 });
  const tr = new Trainer(o);
  tr.checkpoint(join(dir, 'c.safetensors'));
  const bytes = readFileSync(join(dir, 'c.safetensors'));
  writeFileSync(join(dir, 'trunc.safetensors'), bytes.subarray(0, bytes.length - 100));
  const e1 = t.throws(() => loadCheckpoint(join(dir, 'trunc.safetensors')), { instanceOf: SenetError });
  t.is(e1!.code, 'SENET_IO');
  t.regex(e1!.message, /trunc\.safetensors at byte \d+: tensor '.*' ends at data byte \d+ but the file has \d+ data bytes \(truncated\)/);
  writeFileSync(join(dir, 'plain.safetensors'), bytes.subarray(0, 8));
  t.throws(() => loadCheckpoint(join(dir, 'plain.safetensors')), { message: /header length \d+ does not fit in the 8-byte file/ });
  t.throws(() => loadCheckpoint(join(dir, 'missing.safetensors')), { message: /cannot read .*missing\.safetensors/ });
  // the wrong architecture: names and shapes listed
  const ck = loadCheckpoint(join(dir, 'c.safetensors'));
  const other = createModel('se_resnet32', MO);
  const e2 = t.throws(() => other.loadStateDict(ck.model), { instanceOf: SenetError });
  t.regex(e2!.message, /missing keys: layer1\.3\.conv1\.weight/);
  const wide = createModel(ARCH, { ...MO, numClasses: 5 });
  t.throws(() => wide.loadStateDict(ck.model), { message: /shape mismatches: fc\.weight: expected \[5,64\], got \[4,64\]/ });
  ck.dispose();
  for (const x of [other, wide, m]) x.dispose();
  tr.dispose();
  t.true(existsSync(join(dir, 'c.safetensors.json')));
});
