/**
 * GPU benchmarks: senet's CUDA backend side by side with PyTorch on the same
 * GPU, in one command (npm run bench:gpu; on the device kit's machine:
 * bash .device/on-device.sh npm run bench:gpu).
 *
 *   1. The fused SE op (residual + ReLU, avg squeeze, sigmoid gate), forward
 *      and forward+backward, on [128,56,56,256] and [128,7,7,2048], float32
 *      and bfloat16: senet vs PyTorch eager and torch.compile. Effective GB/s
 *      = minimum DRAM traffic / time (forward 3T: read U and the shortcut,
 *      write y; forward+backward 7T: + read dy and U, write dU and
 *      dshortcut; T = N*H*W*C*bytes), and as % of the device's measured
 *      copy bandwidth (device-to-device memcpy, read + written).
 *   2. A training step of SE-ResNeXt-50 32x4d at 224x224, batch 128 and 256,
 *      float32 and bfloat16: senet vs PyTorch (channels_last,
 *      cudnn.benchmark; bf16 = AMP autocast; fp32 with TF32 off on both).
 *   3. What SE costs: senet's SE-ResNeXt-50 vs its plain ResNeXt-50 twin
 *      (createModel('se_resnext50_32x4d') / 'resnext50_32x4d'), batch 128.
 *
 * Prints tables and writes bench/results/gpu.json.
 *
 *   --quick          fewer iterations, batch 128 only
 *   --only LIST      sections: se,train,overhead (default all)
 *   --no-torch       senet only
 *   --name NAME      results file bench/results/NAME.json (default gpu)
 * environment: SENET_ADDON (the CUDA build; the npm script sets
 * build-cuda/Release/senet.node), SENET_BENCH_PYTHON (a Python with CUDA
 * torch; default /opt/torch/.venv/bin/python3, else python3).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as senet from '../../lib/index.js';
import { addon } from '../../lib/native.js';
import { createModel } from '../../models/index.js';
import type { Module } from '../../lib/nn/module.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const RESULTS = join(HERE, '..', 'results');
const DEVICE: senet.Device = 'cuda:0';

type Dtype = 'fp32' | 'bf16';
interface Rec {
  section: 'se' | 'train' | 'overhead';
  name: string;
  impl: string;
  dtype: Dtype;
  ms?: number;
  times_ms?: number[];
  gbps?: number;
  pct_copy?: number;
  img_per_s?: number;
  peak_bytes?: number;
  vs_senet?: number;
  error?: string;
}

const { values: opt } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'no-torch': { type: 'boolean', default: false },
    name: { type: 'string', default: 'gpu' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  console.log('usage: npm run bench:gpu -- [--quick] [--only se,train,overhead] [--no-torch] [--name NAME]');
  process.exit(0);
}
const sections = new Set((opt.only ?? 'se,train,overhead').split(','));
const quick = opt.quick;
const ITER = quick ? { warmup: 3, iters: 10, reps: 2 } : { warmup: 5, iters: 30, reps: 3 };
const STEP = quick ? { warmup: 3, iters: 4, reps: 2 } : { warmup: 4, iters: 8, reps: 3 };
const BATCHES = quick ? [128] : [128, 256];

const SE_SHAPES: Array<[number, number, number, number, number]> = [
  [128, 56, 56, 256, 16],
  [128, 7, 7, 2048, 128],
];

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
const msg = (e: unknown) => (e instanceof Error ? e.message.split('\n')[0]!.slice(0, 300) : String(e));

/** ms per call of fn (which enqueues and frees its outputs): host clock around `iters` calls and a sync. */
function timeIters(fn: () => void, p: { warmup: number; iters: number; reps: number }): number[] {
  for (let i = 0; i < p.warmup; i++) fn();
  senet.syncSync();
  const out: number[] = [];
  for (let r = 0; r < p.reps; r++) {
    const t0 = performance.now();
    for (let i = 0; i < p.iters; i++) fn();
    senet.syncSync();
    out.push((performance.now() - t0) / p.iters);
  }
  return out;
}

function toDevice(model: Module): void {
  const sd = new Map<string, senet.Tensor<'float32'>>();
  for (const [k, v] of model.stateDict()) sd.set(k, senet.tensor(v.toArraySync() as Float32Array, v.shape, { device: DEVICE }));
  model.loadStateDict(sd);
  for (const v of sd.values()) v.dispose();
}

function asDtype(t: senet.Tensor, d: Dtype): senet.Tensor {
  if (d === 'fp32') return t;
  const b = senet.nn.cast(t, 'bfloat16');
  t.dispose();
  return b;
}

// ---------------------------------------------------------------- senet: SE op

function senetSe(n: number, h: number, w: number, c: number, d: number, backward: boolean, dt: Dtype): Rec {
  const name = `SE ${backward ? 'fwd+bwd' : 'fwd'} [${n},${h},${w},${c}]`;
  const live: senet.Tensor[] = [];
  try {
    const shape = [n, h, w, c];
    const u = asDtype(senet.randn(shape, { seed: 1, device: DEVICE }), dt);
    const r = asDtype(senet.randn(shape, { seed: 2, device: DEVICE }), dt);
    const dy = asDtype(senet.randn(shape, { seed: 7, device: DEVICE }), dt);
    const wt = {
      w1: senet.randn([d, c], { seed: 3, std: 1 / Math.sqrt(c), device: DEVICE }),
      b1: senet.randn([d], { seed: 4, std: 0.1, device: DEVICE }),
      w2: senet.randn([c, d], { seed: 5, std: 1 / Math.sqrt(d), device: DEVICE }),
      b2: senet.randn([c], { seed: 6, std: 0.1, device: DEVICE }),
    };
    live.push(u, r, dy, ...Object.values(wt));
    const o = { shortcut: r, squeeze: 'avg', gate: 'sigmoid' } as const;
    const fn = backward
      ? () => {
        const { y, saved } = senet.squeezeExcite(u, wt, o, true);
        const g = senet.squeezeExciteBackward(dy, saved!, wt);
        y.dispose();
        senet.disposeSeSaved(saved!);
        senet.dispose([g.du, g.dshortcut, g.dw1, g.db1, g.dw2, g.db2]);
      }
      : () => senet.squeezeExcite(u, wt, o, false).y.dispose();
    const times = timeIters(fn, ITER);
    return { section: 'se', name, impl: 'senet', dtype: dt, ms: median(times), times_ms: times };
  } catch (e) {
    return { section: 'se', name, impl: 'senet', dtype: dt, error: msg(e) };
  } finally {
    senet.dispose(live);
  }
}

// ---------------------------------------------------------------- senet: training step

function senetTrain(arch: string, batch: number, dt: Dtype, section: Rec['section']): Rec {
  const name = `${arch} step, batch ${batch}, 224x224`;
  let model: Module | null = null;
  const live: senet.Tensor[] = [];
  try {
    model = createModel(arch, { seed: 1 });
    toDevice(model);
    model.setPrecision(dt);
    const x = senet.randn([batch, 224, 224, 3], { seed: 9, device: DEVICE });
    const labels = senet.tensor(Int32Array.from({ length: batch }, (_, i) => (i * 37) % 1000), [batch], { dtype: 'int32', device: DEVICE });
    live.push(x, labels);
    const params = model.parameters();
    const bufs = params.map((p) => senet.zeros(p.value.shape, { device: DEVICE }));
    live.push(...bufs);
    let first = true;
    const m = model;
    const step = () => {
      const logits = m.forward(x);
      const { loss, dlogits } = senet.softmaxCrossEntropy(logits, labels);
      logits.dispose();
      m.backward(dlogits).dispose();
      dlogits.dispose();
      senet.sgdStep(params.map((p) => p.value), params.map((p) => p.grad!), bufs, { lr: 0.1, momentum: 0.9, weightDecay: 1e-4, firstStep: first });
      first = false;
      m.zeroGrad();
      loss.dispose();
    };
    const times = timeIters(step, STEP);
    const ms = median(times);
    const peak = senet.memory().devices['cuda']?.peakReservedBytes;
    return { section, name, impl: 'senet', dtype: dt, ms, times_ms: times, img_per_s: batch / (ms / 1000), peak_bytes: peak };
  } catch (e) {
    return { section, name, impl: 'senet', dtype: dt, error: msg(e) };
  } finally {
    senet.dispose(live);
    model?.dispose();
    try {
      senet.syncSync();
    } catch {
      // an error already recorded
    }
    senet.emptyCache();
  }
}

// ---------------------------------------------------------------- PyTorch

interface TorchJob {
  kind: 'se' | 'train';
  [k: string]: unknown;
}

function pythonPath(): string {
  if (process.env['SENET_BENCH_PYTHON']) return process.env['SENET_BENCH_PYTHON'];
  if (existsSync('/opt/torch/.venv/bin/python3')) return '/opt/torch/.venv/bin/python3';
  return 'python3';
}

async function runTorch(jobs: TorchJob[]): Promise<{ info: Record<string, unknown> | null; results: Array<Record<string, unknown>> }> {
  const args = [join(HERE, 'torch_gpu.py'), '--spec', JSON.stringify(jobs), '--warmup', String(ITER.warmup), '--iters', String(ITER.iters), '--reps', String(ITER.reps)];
  const child = spawn(pythonPath(), args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let info: Record<string, unknown> | null = null;
  const results: Array<Record<string, unknown>> = [];
  const done = new Promise<void>((resolve) => {
    child.on('error', (e) => {
      info = { error: `cannot run ${pythonPath()}: ${e.message}` };
      resolve();
    });
    child.on('close', () => resolve());
  });
  for await (const line of createInterface({ input: child.stdout })) {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line);
    } catch {
      process.stderr.write(line + '\n');
      continue;
    }
    if (o['type'] === 'info') info = o;
    else if (o['type'] === 'result') {
      results.push(o);
      const j = o['job'] as TorchJob;
      process.stderr.write(`  torch ${j.kind} ${JSON.stringify(j)}: ${o['error'] ?? `${(o['ms'] as number).toFixed(3)} ms`}\n`);
    }
  }
  await done;
  return { info, results };
}

// ---------------------------------------------------------------- tables

function fmt(v: number | undefined, d = 2): string {
  return v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d);
}

function table(title: string, cols: string[], rows: string[][]): string {
  const w = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((x, i) => (i < 2 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join('  ');
  return [`\n${title}`, line(cols), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const inf = senet.info();
  if (!inf.cuda || !inf.devices.includes(DEVICE)) {
    console.error(`bench:gpu: needs the CUDA build and a GPU (devices: ${inf.devices.join(', ')}; ${inf.cudaUnavailable ?? (inf.cuda ? '' : 'not a CUDA build: set SENET_ADDON')})`);
    process.exit(1);
  }
  console.error(`bench:gpu: senet ${inf.version} on ${inf.cudaDevices?.[0]} (${inf.cudaLibraries})`);
  const copyGBps = addon._cudaCopyBandwidth(1 << 30, quick ? 5 : 20, 0);
  console.error(`bench:gpu: device copy bandwidth ${copyGBps.toFixed(0)} GB/s (read + written)`);
  const recs: Rec[] = [];
  const torchJobs: TorchJob[] = [];

  if (sections.has('se')) {
    for (const [n, h, w, c, d] of SE_SHAPES)
      for (const backward of [false, true])
        for (const dt of ['fp32', 'bf16'] as const) {
          const r = senetSe(n, h, w, c, d, backward, dt);
          const T = n * h * w * c * (dt === 'fp32' ? 4 : 2);
          if (r.ms) {
            r.gbps = ((backward ? 7 : 3) * T) / (r.ms / 1000) / 1e9;
            r.pct_copy = (100 * r.gbps) / copyGBps;
          }
          recs.push(r);
          console.error(`  senet ${r.name} ${dt}: ${r.error ?? `${fmt(r.ms, 3)} ms, ${fmt(r.gbps, 0)} GB/s`}`);
          for (const impl of ['eager', 'compile']) torchJobs.push({ kind: 'se', n, h, w, c, d, backward, dtype: dt, impl });
        }
  }
  if (sections.has('train'))
    for (const batch of BATCHES)
      for (const dt of ['fp32', 'bf16'] as const) {
        const r = senetTrain('se_resnext50_32x4d', batch, dt, 'train');
        recs.push(r);
        console.error(`  senet ${r.name} ${dt}: ${r.error ?? `${fmt(r.ms, 1)} ms, ${fmt(r.img_per_s, 0)} img/s`}`);
        torchJobs.push({ kind: 'train', model: 'se_resnext50_32x4d', batch, size: 224, precision: dt });
      }
  if (sections.has('overhead'))
    for (const dt of ['fp32', 'bf16'] as const) {
      const r = senetTrain('resnext50_32x4d', 128, dt, 'overhead');
      recs.push(r);
      console.error(`  senet ${r.name} ${dt}: ${r.error ?? `${fmt(r.ms, 1)} ms, ${fmt(r.img_per_s, 0)} img/s`}`);
      if (!sections.has('train')) {
        const s = senetTrain('se_resnext50_32x4d', 128, dt, 'overhead');
        recs.push(s);
        torchJobs.push({ kind: 'train', model: 'se_resnext50_32x4d', batch: 128, size: 224, precision: dt });
      }
      torchJobs.push({ kind: 'train', model: 'resnext50_32x4d', batch: 128, size: 224, precision: dt });
    }

  let torchInfo: Record<string, unknown> | null = null;
  if (!opt['no-torch'] && torchJobs.length) {
    console.error(`bench:gpu: PyTorch (${pythonPath()}) ...`);
    const t = await runTorch(torchJobs);
    torchInfo = t.info;
    if (t.info?.['error']) console.error(`bench:gpu: PyTorch unavailable: ${t.info['error']}`);
    for (const o of t.results) {
      const j = o['job'] as Record<string, unknown>;
      const dt = (j['dtype'] ?? j['precision']) as Dtype;
      if (j['kind'] === 'se') {
        const n = j['n'] as number, h = j['h'] as number, w = j['w'] as number, c = j['c'] as number;
        const name = `SE ${j['backward'] ? 'fwd+bwd' : 'fwd'} [${n},${h},${w},${c}]`;
        const r: Rec = { section: 'se', name, impl: `torch ${j['impl']}`, dtype: dt, ms: o['ms'] as number | undefined, times_ms: o['times_ms'] as number[] | undefined, error: o['error'] as string | undefined };
        if (r.ms) {
          const T = n * h * w * c * (dt === 'fp32' ? 4 : 2);
          r.gbps = ((j['backward'] ? 7 : 3) * T) / (r.ms / 1000) / 1e9;
          r.pct_copy = (100 * r.gbps) / copyGBps;
        }
        recs.push(r);
      } else {
        const arch = j['model'] as string;
        const name = `${arch} step, batch ${j['batch']}, 224x224`;
        const section = arch === 'resnext50_32x4d' ? 'overhead' : 'train';
        recs.push({ section, name, impl: dt === 'bf16' ? 'torch AMP' : 'torch fp32', dtype: dt, ms: o['ms'] as number | undefined, times_ms: o['times_ms'] as number[] | undefined, img_per_s: o['img_per_s'] as number | undefined, peak_bytes: o['peak_bytes'] as number | undefined, error: o['error'] as string | undefined });
      }
    }
  }
  // ratios: other impl's time / senet's time for the same row (> 1: senet faster)
  for (const r of recs) {
    if (r.impl === 'senet' || !r.ms) continue;
    const s = recs.find((x) => x.impl === 'senet' && x.name === r.name && x.dtype === r.dtype && x.ms);
    if (s) r.vs_senet = r.ms / s.ms!;
  }

  const out: string[] = [];
  const seRows = recs.filter((r) => r.section === 'se');
  if (seRows.length)
    out.push(table(`SE op (residual + ReLU), ${inf.cudaDevices?.[0]}; copy bandwidth ${copyGBps.toFixed(0)} GB/s`,
      ['workload', 'impl', 'dtype', 'ms', 'GB/s', '% copy', 'time / senet'],
      seRows.map((r) => [r.name, r.impl, r.dtype, r.error ? `error: ${r.error.slice(0, 60)}` : fmt(r.ms, 3), fmt(r.gbps, 0), fmt(r.pct_copy, 0), fmt(r.vs_senet)])));
  const trRows = recs.filter((r) => r.section !== 'se');
  if (trRows.length)
    out.push(table('Training step (forward, loss, backward, SGD)',
      ['model / batch', 'impl', 'dtype', 'ms', 'img/s', 'peak GiB', 'time / senet'],
      trRows.map((r) => [r.name, r.impl, r.dtype, r.error ? `error: ${r.error.slice(0, 60)}` : fmt(r.ms, 1), fmt(r.img_per_s, 0), fmt(r.peak_bytes === undefined ? undefined : r.peak_bytes / 2 ** 30, 1), fmt(r.vs_senet)])));
  const overhead: string[][] = [];
  for (const dt of ['fp32', 'bf16'] as const) {
    const se = recs.find((r) => r.impl === 'senet' && r.name.startsWith('se_resnext50_32x4d step, batch 128') && r.dtype === dt && r.ms);
    const plain = recs.find((r) => r.impl === 'senet' && r.name.startsWith('resnext50_32x4d step, batch 128') && r.dtype === dt && r.ms);
    const tse = recs.find((r) => r.impl.startsWith('torch') && r.name.startsWith('se_resnext50_32x4d step, batch 128') && r.dtype === dt && r.ms);
    const tplain = recs.find((r) => r.impl.startsWith('torch') && r.name.startsWith('resnext50_32x4d step, batch 128') && r.dtype === dt && r.ms);
    if (se && plain)
      overhead.push([dt, fmt(plain.ms, 1), fmt(se.ms, 1), `${fmt((100 * (se.ms! - plain.ms!)) / plain.ms!, 1)}%`,
        tse && tplain ? `${fmt((100 * (tse.ms! - tplain.ms!)) / tplain.ms!, 1)}%` : '-']);
  }
  if (overhead.length)
    out.push(table('What SE costs in a training step (batch 128): SE-ResNeXt-50 vs ResNeXt-50',
      ['dtype', 'senet plain ms', 'senet SE ms', 'senet SE overhead', 'torch SE overhead'], overhead));
  console.log(out.join('\n'));

  if (!existsSync(RESULTS)) mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, `${opt.name}.json`);
  writeFileSync(file, JSON.stringify({
    date: new Date().toISOString(),
    machine: { gpu: inf.cudaDevices?.[0], libraries: inf.cudaLibraries, copy_gbps: copyGBps, senet: inf.version, torch: torchInfo },
    definitions: {
      ms: 'median over repetitions of (wall time of `iters` back-to-back calls + one sync) / iters (senet: host clock; PyTorch: CUDA events)',
      gbps: 'SE effective bandwidth = minimum DRAM traffic / time; T = N*H*W*C*bytes per element; forward 3T, forward+backward 7T',
      pct_copy: 'effective bandwidth as % of the device-to-device copy bandwidth (bytes read + written, 1 GiB buffer)',
      time_vs_senet: 'impl time / senet time for the same row (> 1: senet is faster)',
      fp32: 'true float32 on both sides (senet: FMA math in cuDNN; PyTorch: allow_tf32 False)',
      bf16: 'senet: Module.setPrecision(\'bf16\'): bfloat16 activations, float32 weights/statistics; PyTorch: torch.autocast(bfloat16), channels_last',
    },
    quick,
    records: recs,
  }, null, 2) + '\n');
  console.error(`bench:gpu: wrote ${file}`);
}

await main();
