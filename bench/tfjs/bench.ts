/**
 * npm run bench:tfjs — the same TensorFlow.js programs on the backends
 * senet (this package), wasm (tfjs-backend-wasm) and cpu (tfjs-backend-cpu),
 * side by side in one run, next to the same workloads on senet's own API
 * (and PyTorch CPU when SENET_BENCH_PYTHON names a Python with torch):
 *
 *   se_fwd           SE block forward, NHWC [32,56,56,256], D=16, residual + ReLU
 *   se_fwdbwd        the same, forward + backward (all six gradients)
 *   seresnet_train   small SE-ResNet training step (3 stages [16,32,64] x 3
 *                    basic SE blocks, r=16), batch 128 of 28x28x1, SGD momentum
 *   resnet50_infer   ResNet-50-shaped tf.layers model, inference, batch 16 of 224x224x3
 *
 *   npm run bench:tfjs                       # everything (tfjs-cpu: one run each, minutes)
 *   npm run bench:tfjs -- --skip-cpu         # without tfjs-backend-cpu (its results of the last full run in
 *                                            # bench/results/tfjs.json are carried over, marked with their date)
 *   npm run bench:tfjs -- --only seresnet_train,resnet50_infer --impl tfjs-senet,senet
 *   npm run bench:tfjs -- --wait-idle 20     # wait up to 20 s for an idle machine before each measurement
 *   npm run bench:tfjs -- --no-write         # do not write bench/results/tfjs.json
 *
 * Each run ends when its results are computed (tfjs-cpu and -wasm compute
 * inside the op calls; tfjs on senet and senet's API wait for the queued
 * native work; the training steps read their loss). For tfjs on senet the report also breaks one training step
 * down: kernel calls (native / tfjs-backend-cpu fallbacks), the time the
 * JavaScript thread needs to issue the step, and the native time per kernel.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import '../../lib/tfjs/index.js';
import { nativeKernelNames, senetBackend } from '../../lib/tfjs/index.js';
import * as senet from '../../lib/index.js';
import { addon } from '../../lib/native.js';
import { createModel } from '../../models/index.js';
import { BENCH_DIR, RESULTS_DIR, errorMessage, hostInfo, measure, median, waitForIdle, type Policy, type RunFn, type Timing } from '../lib.js';
import { resnet50, smallSeResNet } from './models.js';

// ---------------------------------------------------------------- setup

const WORKLOADS = {
  se_fwd: { images: 32, spec: 'SE block forward, NHWC [32,56,56,256], D=16 (r=16), avg squeeze, sigmoid gate, residual + ReLU' },
  se_fwdbwd: { images: 32, spec: 'SE block forward + backward (du, dshortcut, dW1, db1, dW2, db2), same shapes' },
  seresnet_train: {
    images: 128,
    spec: 'small SE-ResNet training step: stem 3x3 conv 16 + 3 stages [16,32,64] x 3 basic SE blocks (r=16, projection shortcuts), batch 128 of 28x28x1, softmax cross-entropy, SGD momentum 0.9',
  },
  resnet50_infer: { images: 16, spec: 'ResNet-50-shaped network (bottlenecks 3-4-6-3, BN), inference, batch 16 of 224x224x3' },
} as const;
type Workload = keyof typeof WORKLOADS;
const IMPLS = ['tfjs-senet', 'tfjs-wasm', 'tfjs-cpu', 'senet', 'torch'] as const;
type Impl = (typeof IMPLS)[number];

const HELP = `usage: npm run bench:tfjs -- [--only w1,w2] [--impl i1,i2] [--skip-cpu] [--quick] [--wait-idle S] [--no-write]
workloads: ${Object.keys(WORKLOADS).join(', ')}
impls: ${IMPLS.join(', ')} (torch only with SENET_BENCH_PYTHON=/path/to/python)`;

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(HELP);
  process.exit(0);
}
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const only = (argValue('--only')?.split(',') ?? Object.keys(WORKLOADS)) as Workload[];
for (const w of only) if (!(w in WORKLOADS)) throw new Error(`unknown workload ${w}\n${HELP}`);
const python = process.env['SENET_BENCH_PYTHON'];
let impls = (argValue('--impl')?.split(',') ?? IMPLS.filter((i) => i !== 'torch' || python)) as Impl[];
if (args.includes('--skip-cpu')) impls = impls.filter((i) => i !== 'tfjs-cpu');
const quick = args.includes('--quick');
const waitIdle = Number(argValue('--wait-idle') ?? 0);

const POLICY: Policy = quick
  ? { warmupMin: 1, warmupMax: 3, warmupSec: 0.3, minRuns: 3, maxRuns: 10, targetSec: 1.5, waitIdleSec: waitIdle, retries: 1 }
  : { warmupMin: 2, warmupMax: 5, warmupSec: 1, minRuns: 5, maxRuns: 30, targetSec: 4, waitIdleSec: waitIdle, retries: 2 };
/** tfjs-cpu: one run (minutes for the training step), no warm-up. */
const ONCE: Policy = { warmupMin: 0, warmupMax: 0, warmupSec: 0, minRuns: 1, maxRuns: 1, targetSec: 0, waitIdleSec: waitIdle, retries: 0 };

interface Result extends Partial<Timing> {
  workload: Workload;
  impl: Impl;
  threads: number;
  ms?: number;
  img_per_s?: number;
  note?: string;
  error?: string;
  /** carried over from an earlier run (--skip-cpu): that run's date */
  carried_from?: string;
}
const results: Result[] = [];

function record(workload: Workload, impl: Impl, threads: number, f: () => Timing, note?: string): void {
  let r: Result;
  try {
    const t = f();
    const ms = median(t.times_ms);
    r = { workload, impl, threads, ms, img_per_s: WORKLOADS[workload].images / (ms / 1000), ...t, ...(note ? { note } : {}) };
  } catch (e) {
    r = { workload, impl, threads, error: errorMessage(e) };
  }
  results.push(r);
  const load = r.other_load == null ? '' : `, other load ${r.other_load.toFixed(2)}`;
  console.error(`  ${workload} ${impl}: ${r.error ? `error: ${r.error}` : `${fmtMs(r.ms!)} ms (${r.img_per_s!.toFixed(1)} img/s, n=${r.times_ms!.length}${load})`}`);
}

function fmtMs(x: number): string {
  return x >= 1000 ? x.toFixed(0) : x >= 100 ? x.toFixed(1) : x.toFixed(2);
}

// ---------------------------------------------------------------- tfjs programs

/** The SE block as a tfjs program: z = mean_HW(u); a = relu(z W1 + b1); s = sigmoid(a W2 + b2); y = relu(u*s + r). */
function seBlock(u: tf.Tensor, r: tf.Tensor, w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor, b2: tf.Tensor): tf.Tensor {
  const [n, , , c] = u.shape as number[];
  const z = tf.mean(u, [1, 2]);
  const a = tf.relu(tf.add(tf.matMul(z, w1), b1));
  const s = tf.sigmoid(tf.add(tf.matMul(a, w2), b2));
  return tf.relu(tf.add(tf.mul(u, tf.reshape(s, [n!, 1, 1, c!])), r));
}

/**
 * The run is over when its outputs are computed: tfjs-backend-cpu and -wasm
 * compute inside each op call; senet queues the work on its stream, so wait
 * for it (the backend's sync: what dataSync() waits for, without reading
 * 100 MB back into JavaScript).
 */
function settle(ts: tf.Tensor[]): void {
  if (tf.getBackend() === 'senet') {
    // (outputs the backend described but did not compute yet are computed now: provenance.ts)
    senetBackend().compute(ts);
    senetBackend().syncSync();
  }
  else for (const t of ts) if (t.isDisposed) throw new Error('disposed output');
}

function tfjsRun(w: Workload, live: Array<tf.Tensor | { dispose(): void }>): RunFn {
  const seed = (k: number) => 1000 + k;
  if (w === 'se_fwd' || w === 'se_fwdbwd') {
    const shape = [32, 56, 56, 256];
    const u = tf.randomNormal(shape, 0, 1, 'float32', seed(1)), r = tf.randomNormal(shape, 0, 1, 'float32', seed(2));
    const w1 = tf.randomNormal([256, 16], 0, 1 / 16, 'float32', seed(3)), b1 = tf.randomNormal([16], 0, 0.1, 'float32', seed(4));
    const w2 = tf.randomNormal([16, 256], 0, 0.25, 'float32', seed(5)), b2 = tf.randomNormal([256], 0, 0.1, 'float32', seed(6));
    live.push(u, r, w1, b1, w2, b2);
    if (w === 'se_fwd')
      return () => {
        const y = tf.tidy(() => seBlock(u, r, w1, b1, w2, b2));
        settle([y]);
        return () => y.dispose();
      };
    const dy = tf.randomNormal(shape, 0, 1, 'float32', seed(7));
    live.push(dy);
    const f = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor, e: tf.Tensor, g: tf.Tensor) => seBlock(a, b, c, d, e, g));
    return () => {
      const out = tf.tidy(() => {
        const { value, grads } = f([u, r, w1, b1, w2, b2], dy);
        return [value, ...grads];
      });
      settle(out);
      return () => tf.dispose(out);
    };
  }
  if (w === 'seresnet_train') {
    const model = smallSeResNet(tf, { seed: 7, logits: true });
    const opt = tf.train.momentum(0.05, 0.9);
    const x = tf.randomNormal([128, 28, 28, 1], 0, 1, 'float32', seed(8));
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: 128 }, (_, i) => (i * 7) % 10), 'int32'), 10));
    live.push(x, y, model, opt);
    return () => {
      const loss = opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true)!;
      loss.dataSync(); // a training loop reads its loss
      return () => loss.dispose();
    };
  }
  const model = resnet50(tf, { seed: 9 });
  const x = tf.randomNormal([16, 224, 224, 3], 0, 1, 'float32', seed(10));
  live.push(x, model);
  return () => {
    const y = tf.tidy(() => model.apply(x, { training: false }) as tf.Tensor);
    settle([y]);
    return () => y.dispose();
  };
}

let wasmReady = false;
async function useBackend(impl: Impl): Promise<number> {
  const name = impl.slice('tfjs-'.length);
  if (name === 'wasm' && !wasmReady) {
    const require = createRequire(import.meta.url);
    setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/');
    wasmReady = true;
  }
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') failed`);
  await tf.ready();
  // tfjs-cpu: JavaScript on the main thread. tfjs-backend-wasm in Node: no
  // worker threads (its multi-threaded build needs a browser's
  // SharedArrayBuffer workers), so one thread whatever the core count.
  return name === 'wasm' ? getThreadsCount() : name === 'cpu' ? 1 : senet.getNumThreads();
}

async function runTfjs(impl: Impl): Promise<void> {
  let threads = 1;
  try {
    threads = await useBackend(impl);
  } catch (e) {
    for (const w of only) results.push({ workload: w, impl, threads, error: errorMessage(e) });
    return;
  }
  for (const w of only) {
    const live: Array<tf.Tensor | { dispose(): void }> = [];
    const before = tf.memory().numTensors;
    record(w, impl, threads, () => measure(tfjsRun(w, live), impl === 'tfjs-cpu' ? ONCE : POLICY),
      impl === 'tfjs-wasm' ? `tfjs-backend-wasm threads: ${threads} (Node: no worker threads)` : undefined);
    for (const t of live) t.dispose();
    // (tfjs's own optimizers leave one tensor behind; an error mid-step leaves the step's)
    if (tf.memory().numTensors - before > 1) tf.disposeVariables();
  }
}

// ---------------------------------------------------------------- senet's own API

function senetRun(w: Workload, live: Array<{ dispose(): void }>): { run: RunFn; note: string } {
  if (w === 'se_fwd' || w === 'se_fwdbwd') {
    const u = senet.randn([32, 56, 56, 256], { seed: 1 }), r = senet.randn([32, 56, 56, 256], { seed: 2 });
    const wts = {
      w1: senet.randn([16, 256], { seed: 3, std: 1 / 16 }),
      b1: senet.randn([16], { seed: 4, std: 0.1 }),
      w2: senet.randn([256, 16], { seed: 5, std: 0.25 }),
      b2: senet.randn([256], { seed: 6, std: 0.1 }),
    };
    live.push(u, r, ...Object.values(wts));
    if (w === 'se_fwd')
      return {
        note: 'squeezeExcite (the fused op)',
        run: () => {
          const { y } = senet.squeezeExcite(u, wts, { shortcut: r }, false);
          senet.syncSync();
          return () => y.dispose();
        },
      };
    const dy = senet.randn([32, 56, 56, 256], { seed: 7 });
    live.push(dy);
    return {
      note: 'squeezeExcite + squeezeExciteBackward (fused)',
      run: () => {
        const out = senet.tidy(() => {
          const { y, saved } = senet.squeezeExcite(u, wts, { shortcut: r });
          const g = senet.squeezeExciteBackward(dy, saved!, wts);
          return [y, ...Object.values(g)];
        });
        senet.syncSync();
        return () => senet.dispose(out);
      },
    };
  }
  if (w === 'seresnet_train') {
    const model = createModel('se_resnet20', { inChannels: 1, seed: 7 });
    const opt = new senet.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
    const x = senet.randn([128, 28, 28, 1], { seed: 8 });
    const labels = Int32Array.from({ length: 128 }, (_, i) => (i * 7) % 10);
    live.push(x, { dispose: () => model.parameters().forEach((p) => p.value.dispose()) });
    return {
      note: "models/createModel('se_resnet20', {inChannels: 1}): forward, softmaxCrossEntropy, backward, SGD step",
      run: () => {
        senet.tidy(() => {
          const logits = model.forward(x);
          const { loss, dlogits } = senet.softmaxCrossEntropy(logits, labels);
          model.backward(dlogits);
          opt.step();
          opt.zeroGrad();
          return loss;
        }).item();
        return undefined;
      },
    };
  }
  const model = createModel('resnet50', { seed: 9 }).eval();
  const x = senet.randn([16, 224, 224, 3], { seed: 10 });
  live.push(x);
  return {
    note: "models/createModel('resnet50') in eval mode (no SE: the plain ResNet-50 twin)",
    run: () => {
      const y = model.forward(x);
      senet.syncSync();
      return () => y.dispose();
    },
  };
}

function runSenet(): void {
  for (const w of only) {
    const live: Array<{ dispose(): void }> = [];
    let note = '';
    record(w, 'senet', senet.getNumThreads(), () => {
      const s = senetRun(w, live);
      note = s.note;
      return measure(s.run, POLICY);
    });
    const last = results[results.length - 1]!;
    if (note) last.note = note;
    for (const t of live) t.dispose();
  }
}

// ---------------------------------------------------------------- PyTorch

async function runTorch(): Promise<Record<string, unknown> | null> {
  const ws = only.filter((w) => w === 'seresnet_train' || w === 'resnet50_infer');
  if (!python || ws.length === 0) return null;
  const threads = senet.getNumThreads();
  if (waitIdle > 0) waitForIdle(waitIdle);
  const child = spawn(python, [join(BENCH_DIR, 'tfjs', 'torch_models.py'), '--threads', String(threads), '--policy', JSON.stringify(POLICY), '--only', ws.join(',')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, OMP_NUM_THREADS: String(threads) },
  });
  let info: Record<string, unknown> | null = null;
  for await (const line of createInterface({ input: child.stdout })) {
    if (!line.startsWith('{')) continue;
    const m = JSON.parse(line) as Record<string, unknown>;
    if (m['type'] === 'info') info = m;
    else {
      const times = m['times_ms'] as number[];
      record(m['workload'] as Workload, 'torch', threads, () => ({ times_ms: times, warmup: m['warmup'] as number }),
        m['workload'] === 'seresnet_train' ? 'the same network in PyTorch (nn.Module), channels_last, SGD momentum' : 'torchvision resnet50, channels_last, no_grad');
    }
  }
  return info;
}

// ---------------------------------------------------------------- where the time goes (tfjs on senet)

interface Breakdown {
  kernel_calls: number;
  native_calls: number;
  fallback_calls: number;
  fallback_kernels: Record<string, number>;
  uploads: number;
  host_reads: number;
  host_copies: number;
  step_ms: number;
  issue_ms: number;
  native_kernel_ms: number;
  per_kernel_ms: Record<string, { calls: number; ms: number }>;
  /** senet's stream over 3 steps, per step, unsynchronised (_streamProfile): busy / idle ms and per native op */
  stream: { busy_ms: number; idle_ms: number; ops: Record<string, { calls: number; ms: number }> };
  /** the same for the senet API's training step of the same network */
  stream_api: { busy_ms: number; idle_ms: number; ops: Record<string, { calls: number; ms: number }> };
}

/** Per-step stream profile of `k` calls of `run` (after the work already queued). */
function streamProfile(run: () => void, k = 3): Breakdown['stream'] {
  addon._streamProfile({ on: true });
  for (let i = 0; i < k; i++) run();
  const p = addon._streamProfile({ on: false })!;
  const r1 = (v: number) => Math.round((v / k) * 10) / 10;
  return { busy_ms: r1(p.busyMs), idle_ms: r1(p.idleMs), ops: Object.fromEntries(p.ops.map((o) => [o.op, { calls: o.calls / k, ms: r1(o.ms) }])) };
}

/**
 * One more training step of the tfjs program on senet, taken apart: the
 * kernel calls, the time the JavaScript thread takes to issue the step (tfjs's
 * engine, tape, our kernel wrappers; native work runs on senet's stream
 * meanwhile), senet's stream profiled over 3 steps (what each native op
 * costs, unsynchronised, and whether the stream waited for the JavaScript
 * thread), the same for the senet API's step of the same network, and, in a
 * separate step, each kernel's native time (synchronised after every
 * kernel, so it adds wake-up latency).
 */
async function breakdown(): Promise<Breakdown | null> {
  if (!only.includes('seresnet_train') || !impls.includes('tfjs-senet')) return null;
  await useBackend('tfjs-senet');
  const b = senetBackend();
  const live: Array<tf.Tensor | { dispose(): void }> = [];
  const model = smallSeResNet(tf, { seed: 7, logits: true });
  const opt = tf.train.momentum(0.05, 0.9);
  const x = tf.randomNormal([128, 28, 28, 1], 0, 1, 'float32', 1008);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: 128 }, (_, i) => (i * 7) % 10), 'int32'), 10));
  live.push(x, y, model, opt);
  const step = () => opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true)!;
  for (let i = 0; i < 3; i++) step().dataSync();
  b.resetStats();
  if (waitIdle > 0) waitForIdle(waitIdle);
  const t0 = performance.now();
  const loss = step();
  const t1 = performance.now();
  loss.dataSync();
  const t2 = performance.now();
  loss.dispose();
  const stats = { native: new Map(b.stats.native), fallback: new Map(b.stats.fallback), uploads: b.stats.uploads, hostReads: b.stats.hostReads, hostCopies: b.stats.hostCopies };
  const stream = streamProfile(() => step().dataSync());
  const api = senetRun('seresnet_train', live);
  api.run();
  const streamApi = streamProfile(() => api.run());
  // Per-kernel native time: wrap every senet kernel with a sync before and after.
  const per = new Map<string, { calls: number; ms: number }>();
  const configs = tf.getKernelsForBackend('senet');
  const originals = configs.map((c) => c.kernelFunc);
  configs.forEach((c, i) => {
    const f = originals[i]!;
    (c as { kernelFunc: unknown }).kernelFunc = (a: unknown) => {
      b.syncSync();
      const s = performance.now();
      const r = f(a as never);
      b.syncSync();
      const e = per.get(c.kernelName) ?? { calls: 0, ms: 0 };
      e.calls++;
      e.ms += performance.now() - s;
      per.set(c.kernelName, e);
      return r;
    };
  });
  try {
    step().dataSync();
    per.clear();
    const l = step();
    l.dataSync();
    l.dispose();
  } finally {
    configs.forEach((c, i) => ((c as { kernelFunc: unknown }).kernelFunc = originals[i]));
  }
  for (const t of live) t.dispose();
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, v) => a + v, 0);
  const nativeMs = [...per.entries()].filter(([k]) => stats.native.has(k)).reduce((a, [, v]) => a + v.ms, 0);
  return {
    kernel_calls: sum(stats.native) + sum(stats.fallback),
    native_calls: sum(stats.native),
    fallback_calls: sum(stats.fallback),
    fallback_kernels: Object.fromEntries([...stats.fallback].sort((p, q) => q[1] - p[1])),
    uploads: stats.uploads,
    host_reads: stats.hostReads,
    host_copies: stats.hostCopies,
    step_ms: t2 - t0,
    issue_ms: t1 - t0,
    native_kernel_ms: nativeMs,
    per_kernel_ms: Object.fromEntries([...per].sort((p, q) => q[1].ms - p[1].ms).map(([k, v]) => [k, { calls: v.calls, ms: Math.round(v.ms * 10) / 10 }])),
    stream,
    stream_api: streamApi,
  };
}

// ---------------------------------------------------------------- report

function ratio(a: number | undefined, b: number | undefined): number | null {
  return a !== undefined && b !== undefined && b > 0 ? a / b : null;
}

function table(): string {
  const head = ['workload', 'impl', 'thr', 'n', 'median ms', 'img/s', 'vs tfjs-senet', 'other load'];
  const rows: string[][] = [head];
  for (const w of only) {
    const base = results.find((r) => r.workload === w && r.impl === 'tfjs-senet')?.ms;
    for (const r of results.filter((x) => x.workload === w)) {
      const q = ratio(r.ms, base);
      rows.push([w, r.impl + (r.carried_from ? '*' : ''), String(r.threads), String(r.times_ms?.length ?? 0), r.error ? 'error' : fmtMs(r.ms!), r.img_per_s ? r.img_per_s.toFixed(1) : '-',
        q === null ? '-' : r.impl === 'tfjs-senet' ? '1' : q >= 1 ? `${q.toFixed(q >= 100 ? 0 : 2)}x slower` : `${(1 / q).toFixed(2)}x faster`,
        r.other_load == null ? '-' : r.other_load.toFixed(2)]);
    }
    rows.push([]);
  }
  const width = head.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const carried = results.find((r) => r.carried_from)?.carried_from;
  const body = rows.map((r) => (r.length ? r.map((c, i) => (i < 2 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join('  ') : '')).join('\n');
  return carried ? `${body}\n* from the run of ${carried} (--skip-cpu)` : body;
}

// ---------------------------------------------------------------- tfjs on senet vs the API, interleaved

interface Paired {
  tfjs_senet_ms: number;
  senet_ms: number;
  ratio: number;
  rounds: number;
}

/**
 * tfjs on senet against senet's own API, workload by workload, in
 * alternating blocks of three runs, the first of each block untimed (what
 * one side leaves running, such as the garbage collector's threads after
 * tfjs, falls on it): this VM's speed drifts by 20-30% from minute to
 * minute, and the table measures the two minutes apart, so the tfjs/API
 * ratios come from these (the same minutes).
 */
async function paired(): Promise<Record<string, Paired>> {
  const out: Record<string, Paired> = {};
  if (!impls.includes('tfjs-senet') || !impls.includes('senet')) return out;
  await useBackend('tfjs-senet');
  const once = (f: RunFn) => {
    const t0 = performance.now();
    const done = f();
    const ms = performance.now() - t0;
    if (done) done();
    return ms;
  };
  const med = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1]!;
  for (const w of only) {
    const live: Array<{ dispose(): void }> = [];
    try {
      const a = tfjsRun(w, live), b = senetRun(w, live).run;
      const rounds = quick ? 2 : w === 'resnet50_infer' ? 5 : 8;
      const ta: number[] = [], tb: number[] = [];
      for (let i = 0; i < rounds; i++)
        for (const [f, t] of [[a, ta], [b, tb]] as const) {
          once(f);
          t.push(once(f), once(f));
        }
      out[w] = { tfjs_senet_ms: med(ta), senet_ms: med(tb), ratio: med(ta) / med(tb), rounds };
      console.error(`  ${w} interleaved: tfjs-senet ${med(ta).toFixed(1)} ms, senet ${med(tb).toFixed(1)} ms (${rounds} rounds of 2 timed runs each)`);
    } finally {
      for (const t of live) t.dispose();
    }
  }
  return out;
}

const targets = (): Record<string, unknown> => {
  const get = (w: Workload, i: Impl) => results.find((r) => r.workload === w && r.impl === i && !r.error)?.ms;
  const train = { senet: get('seresnet_train', 'tfjs-senet'), cpu: get('seresnet_train', 'tfjs-cpu'), own: get('seresnet_train', 'senet'), torch: get('seresnet_train', 'torch') };
  const infer = { senet: get('resnet50_infer', 'tfjs-senet'), wasm: get('resnet50_infer', 'tfjs-wasm'), own: get('resnet50_infer', 'senet') };
  return {
    'training: tfjs-senet speed-up over tfjs-cpu (target >= 500x)': ratio(train.cpu, train.senet),
    'training: tfjs-senet img/s (target >= PyTorch CPU img/s)': train.senet ? 128000 / train.senet : null,
    'training: PyTorch CPU img/s (this run)': train.torch ? 128000 / train.torch : null,
    'inference: tfjs-senet speed-up over tfjs-wasm (target >= 8x)': ratio(infer.wasm, infer.senet),
    'training: tfjs-senet time / senet API time, interleaved (target <= 1.5)': pairs['seresnet_train']?.ratio ?? null,
    'inference: tfjs-senet time / senet API time, interleaved (target <= 1.5)': pairs['resnet50_infer']?.ratio ?? null,
    'se_fwd: tfjs-senet time / senet fused op time, interleaved (target <= 1.5)': pairs['se_fwd']?.ratio ?? null,
    'se_fwdbwd: tfjs-senet time / senet fused op time, interleaved (target <= 1.5)': pairs['se_fwdbwd']?.ratio ?? null,
    'the same four from the table (measured minutes apart)': [train.senet, infer.senet, get('se_fwd', 'tfjs-senet'), get('se_fwdbwd', 'tfjs-senet')]
      .map((v, i) => ratio(v, [train.own, infer.own, get('se_fwd', 'senet'), get('se_fwdbwd', 'senet')][i]))
      .map((v) => (v === null ? '-' : v.toFixed(2))).join(' / '),
  };
};

// ---------------------------------------------------------------- main

const date = new Date().toISOString();
const machine = {
  ...hostInfo(),
  tfjs: tf.version.tfjs,
  senet: senet.info(),
};
console.error(`bench:tfjs on ${machine.cpu}, ${machine.cores} cores; tfjs ${machine.tfjs}; impls ${impls.join(', ')}; workloads ${only.join(', ')}`);
for (const impl of impls) {
  if (impl === 'senet') runSenet();
  else if (impl === 'torch') (machine as Record<string, unknown>)['torch'] = await runTorch();
  else await runTfjs(impl);
}
const pairs = await paired();
const bd = await breakdown();
// --skip-cpu: tfjs-cpu's results (one run each, about half an hour in all) come from the last run that had them.
const resultsFile = join(RESULTS_DIR, 'tfjs.json');
if (args.includes('--skip-cpu') && existsSync(resultsFile)) {
  try {
    const prev = JSON.parse(readFileSync(resultsFile, 'utf8')) as { date: string; results: Result[] };
    for (const r of prev.results)
      if (r.impl === 'tfjs-cpu' && only.includes(r.workload) && !r.error) results.push({ ...r, carried_from: r.carried_from ?? prev.date });
  } catch {
    // no usable earlier results
  }
}
const order = (r: Result) => only.indexOf(r.workload) * 10 + IMPLS.indexOf(r.impl);
results.sort((a, b) => order(a) - order(b));

console.log(`\n${table()}`);
const tg = targets();
console.log('targets (reported, not asserted):');
for (const [k, v] of Object.entries(tg)) console.log(`  ${k}: ${typeof v === 'number' ? v.toFixed(2) : typeof v === 'string' ? v : '-'}`);
if (bd) {
  console.log(`\none tfjs training step on senet (batch 128), taken apart:`);
  console.log(`  ${bd.kernel_calls} kernel calls: ${bd.native_calls} native, ${bd.fallback_calls} tfjs-backend-cpu (${Object.entries(bd.fallback_kernels).map(([k, v]) => `${k} ${v}`).join(', ')}; no data access)`);
  console.log(`  ${bd.uploads} host->native copies (tfjs-made scalars), ${bd.host_reads} native tensors lent to cpu kernels, ${bd.host_copies} native->JavaScript copies (the loss)`);
  console.log(`  step ${bd.step_ms.toFixed(1)} ms; the JavaScript thread issues it in ${bd.issue_ms.toFixed(1)} ms (tfjs engine + tape + kernel wrappers) while senet's stream computes`);
  const top = (ops: Breakdown['stream']['ops'], n: number) => Object.entries(ops).slice(0, n).map(([k, v]) => `${k} ${v.ms} ms/${v.calls}`).join(', ');
  console.log(`  senet's stream per step (3 steps, unsynchronised): busy ${bd.stream.busy_ms} ms, waiting for work ${bd.stream.idle_ms} ms; ${top(bd.stream.ops, 10)}`);
  console.log(`  the senet API's step of the same network: busy ${bd.stream_api.busy_ms} ms, waiting ${bd.stream_api.idle_ms} ms; ${top(bd.stream_api.ops, 10)}`);
  console.log(`  native kernels, timed one by one (synchronised): ${bd.native_kernel_ms.toFixed(1)} ms; top: ${Object.entries(bd.per_kernel_ms).slice(0, 8).map(([k, v]) => `${k} ${v.ms} ms/${v.calls}`).join(', ')}`);
}
if (!args.includes('--no-write')) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = resultsFile;
  const round = (_k: string, v: unknown) => (typeof v === 'number' && Number.isFinite(v) && !Number.isInteger(v) ? Number(v.toPrecision(4)) : v);
  writeFileSync(file, JSON.stringify({
    date, machine, workloads: Object.fromEntries(only.map((w) => [w, WORKLOADS[w].spec])), native_kernels: nativeKernelNames(),
    definitions: {
      ms: 'median wall time of the timed runs after warm-up; a run ends when its outputs are computed (tfjs-cpu/-wasm: when the ops return; tfjs on senet and senet: after waiting for the queued native work; training steps: after reading the loss)',
      img_per_s: 'images of the workload (batch) / median time',
      other_load: 'CPU cores other processes kept busy during the timed runs (from /proc/stat); above ~0.1 on this 2-core machine the times are not reliable',
      tfjs_cpu: 'one run, no warm-up (minutes per run)',
      paired: 'tfjs on senet and the senet API in alternating blocks of 3 runs, the first of each untimed (the same minutes): the median of each and their ratio (the tfjs/API targets)',
    },
    results, paired: pairs, targets: tg, breakdown: bd,
  }, round, 2) + '\n');
  console.log(`\nwrote ${file}`);
}
process.exit(0);
