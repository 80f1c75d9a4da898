import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { serializeSafetensors, readSafetensors, entryToFloat32 } from '../lib/io/safetensors.js';
import { Rng } from './helpers/rng.js';
import { cpuTimes } from '../lib/cli/cpu_load.js';

const ROOT = join(import.meta.dirname, '..');
const senet = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'lib/cli/main.ts'), ...args], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, SENET_NUM_THREADS: '1' }, timeout: 180_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

/** MNIST-format files: a learnable pattern (class k: a bright k-th row band). */
function writeIdx(dir: string, split: 'train' | 't10k', n: number, seed: number): void {
  const rng = new Rng(seed);
  const img = Buffer.alloc(16 + n * 28 * 28);
  img.writeUInt32BE(0x803, 0); img.writeUInt32BE(n, 4); img.writeUInt32BE(28, 8); img.writeUInt32BE(28, 12);
  const lab = Buffer.alloc(8 + n);
  lab.writeUInt32BE(0x801, 0); lab.writeUInt32BE(n, 4);
  for (let i = 0; i < n; i++) {
    const k = i % 10;
    lab[8 + i] = k;
    for (let p = 0; p < 28 * 28; p++) img[16 + i * 784 + p] = Math.floor(rng.next() * 60) + (Math.floor(p / 28 / 2.8) === k ? 190 : 0);
  }
  writeFileSync(join(dir, `${split}-images-idx3-ubyte.gz`), gzipSync(img));
  writeFileSync(join(dir, `${split}-labels-idx1-ubyte.gz`), gzipSync(lab));
}

let dir = '';
test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'senet-cli-'));
  writeIdx(dir, 'train', 200, 1);
  writeIdx(dir, 't10k', 40, 2);
});

test('every command has --help; unknown commands and options fail with a message', (t) => {
  for (const cmd of ['train', 'eval', 'predict', 'info', 'import-timm']) {
    const r = senet(cmd, '--help');
    t.is(r.code, 0, cmd);
    t.regex(r.out, new RegExp(`^senet ${cmd}`), cmd);
  }
  t.regex(senet('--help').out, /train .*eval .*predict .*info .*import-timm/s);
  const bad = senet('fly');
  t.is(bad.code, 1);
  t.regex(bad.err, /senet: senet: expected a command \(train, eval, predict, info, import-timm\), got 'fly'/);
  const opt = senet('info', 'se_resnet50', '--colour');
  t.is(opt.code, 1);
  t.regex(opt.err, /Unknown option '--colour'/);
});

test('info: the paper numbers for SE-ResNet-50 and the layer table', (t) => {
  const r = senet('info', 'se_resnet50', '--summary');
  t.is(r.code, 0, r.err);
  t.regex(r.out, /se_resnet50: 28\.09M parameters, 3\.87 GFLOPs \(multiply-adds\) at 224x224x3/);
  const table = senet('info', 'se_resnet20', '--input', '28,28,1');
  t.regex(table.out, /layer1\.0\.se +SqueezeExcite +\[28,28,16\]/);
  t.regex(senet('info', '--list').out, /se_resnext50_32x4d +SE-ResNeXt-50/);
});

test.serial('train -> eval -> predict (images and tensors) -> resume, on MNIST-format files', async (t) => {
  const run = join(dir, 'run');
  const r = senet('train', '--dataset', 'mnist', '--data', dir, '--epochs', '1', '--batch-size', '20', '--model', 'se_resnet20',
    '--progress', 'lines', '--out', run, '--lr', '0.05');
  t.is(r.code, 0, r.err);
  t.regex(r.err, /se_resnet20 \(0\.27M parameters\) \| mnist 200\/40 \| batch 20/);
  t.regex(r.err, /epoch 1\/1 \| loss [\d.]+ \| train [\d.]+% \| val [\d.]+% \(top-5/);
  const summary = JSON.parse(r.out.trim());
  t.is(summary.epochs, 1);
  t.true(existsSync(join(run, 'epoch-001.safetensors')) && existsSync(join(run, 'metrics.jsonl')));

  const ev = senet('eval', run);
  t.is(ev.code, 0, ev.err);
  const e = JSON.parse(ev.out.trim());
  t.is(e.n, 40);
  t.true(Math.abs(e.top1 - summary.testTop1) < 1e-9, 'eval reproduces the run\'s test accuracy');

  // an image of class 3's pattern
  const px = Buffer.alloc(28 * 28);
  for (let p = 0; p < 784; p++) px[p] = Math.floor(p / 28 / 2.8) === 3 ? 220 : 20;
  await sharp(px, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(join(dir, 'three.png'));
  const pr = senet('predict', join(run, 'epoch-001.safetensors'), join(dir, 'three.png'));
  t.is(pr.code, 0, pr.err);
  t.regex(pr.out, /three\.png\n( +[\d.]+%  \d+\n){5}/);

  // tensors: NCHW in, logits out; the same numbers as NHWC in
  const rng = new Rng(9);
  const nhwc = Float32Array.from(rng.array(2 * 28 * 28));
  writeFileSync(join(dir, 'x.safetensors'), serializeSafetensors({ input: { dtype: 'F32', shape: [2, 28, 28, 1], data: nhwc } }));
  writeFileSync(join(dir, 'xc.safetensors'), serializeSafetensors({ input: { dtype: 'F32', shape: [2, 1, 28, 28], data: nhwc } }));
  const a = senet('predict', run, '--input-tensor', join(dir, 'x.safetensors'), '-o', join(dir, 'y.safetensors'));
  const b = senet('predict', run, '--input-tensor', join(dir, 'xc.safetensors'), '--layout', 'nchw', '-o', join(dir, 'yc.safetensors'));
  t.is(a.code, 0, a.err);
  t.is(b.code, 0, b.err);
  const ya = readSafetensors(join(dir, 'y.safetensors')).tensors.get('logits')!;
  t.deepEqual(ya.shape, [2, 10]);
  t.deepEqual(entryToFloat32(ya), entryToFloat32(readSafetensors(join(dir, 'yc.safetensors')).tensors.get('logits')!), 'C=1: NCHW and NHWC are the same bytes');

  const re = senet('train', '--resume', run, '--epochs', '2', '--progress', 'none');
  t.is(re.code, 0, re.err);
  t.regex(re.err, /resuming se_resnet20 from epoch 1 \(step 10\)/);
  t.true(existsSync(join(run, 'epoch-002.safetensors')));
  const lines = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n');
  t.is(lines.length, 2);
});

test('missing data says how to get it; bad options name the flag', (t) => {
  const r = senet('train', '--data', join(dir, 'nope'));
  t.is(r.code, 1);
  t.regex(r.err, /Fashion-MNIST not found at .*nope\. Install it with `apt-get install dataset-fashion-mnist`/);
  t.regex(senet('train', '--batch-size', '0', '--data', dir, '--dataset', 'mnist').err, /--batch-size: expected an integer >= 1, got '0'/);
  t.regex(senet('train', '--dataset', 'imagenet').err, /--dataset: expected one of fashion-mnist, mnist, cifar10, cifar100, folder, got 'imagenet'/);
  t.regex(senet('train', '--gate', 'swish', '--data', dir, '--dataset', 'mnist').err, /--gate: expected one of sigmoid\|tanh\|relu, got 'swish'/);
  t.regex(senet('eval', join(dir, 'missing.safetensors')).err, /checkpoint: .*missing\.safetensors does not exist/);
  t.regex(senet('predict', join(dir, 'x.safetensors'), '--input-tensor', 'a', '-o', 'b').err, /has no senet metadata \(not a senet checkpoint; timm weights go through `senet import-timm`\)|does not exist/);
});

test('cpuTimes: /proc/stat read as busy and idle ticks that only grow (the CLI spin choice and the bench load column)', (t) => {
  if (!existsSync('/proc/stat')) return t.pass();
  const a = cpuTimes()!;
  t.truthy(a, 'readable');
  t.true(Number.isFinite(a.busy) && Number.isFinite(a.idle) && a.busy >= 0 && a.idle >= 0);
  let x = 0;
  const end = performance.now() + 60;
  while (performance.now() < end) x += Math.sqrt(x + 1); // burn ~60 ms: at least a few busy ticks
  const b = cpuTimes()!;
  t.true(b.busy >= a.busy && b.idle >= a.idle, 'monotonic');
  t.true(b.busy + b.idle > a.busy + a.idle, `ticks passed (${x > 0})`);
});
