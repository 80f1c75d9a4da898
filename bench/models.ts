/**
 * Model benchmarks: the SENet paper's ImageNet models on senet's own API
 * against the same networks in PyTorch/timm (CPU), side by side in one run.
 *
 *   npm run bench:models                                    senet only
 *   SENET_BENCH_PYTHON=/opt/venv/bin/python npm run bench:models      ... and PyTorch/timm
 *   npm run bench:models -- --only se_resnet50_train --impl senet,torch --runs 3
 *
 * Workloads (NHWC for senet, batch 16 of 224x224x3, 1000 classes, float32):
 *   <arch>_train   one training step: forward, softmax cross-entropy,
 *                  backward, SGD step (lr 0.01, momentum 0.9, weight decay
 *                  1e-4), zero grads; the loss is read
 *   <arch>_infer   eval-mode forward (PyTorch: under torch.no_grad())
 * for senet se_resnext50_32x4d / timm seresnext50_32x4d and senet
 * se_resnet50 / timm seresnet50. senet builds timm's variant of each
 * (lib/io/timm.ts, what `senet import-timm` loads timm's weights into), so
 * both sides run the same network.
 *
 * PyTorch runs in child processes (bench/torch_models.py), one per
 * architecture and memory format: `torch` = channels_last (NHWC in memory,
 * as senet), `torch-nchw` = PyTorch's default contiguous layout. The report
 * also takes apart one extra senet training step (the native stream's time
 * per op) and gives each side's peak memory. Prints a table and writes
 * bench/results/models-cpu.json.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import * as senet from '../lib/index.js';
import { mapTimmArch } from '../lib/io/timm.js';
import { addon } from '../lib/native.js';
import { createModel } from '../models/index.js';
import {
  BENCH_DIR,
  BUSY_THRESHOLD,
  DEFINITIONS,
  errorMessage,
  fmtMs,
  hostInfo,
  measure,
  median,
  progress,
  textTable,
  writeResults,
  type Policy,
  type RunFn,
  type Timing,
} from './lib.js';

// ---------------------------------------------------------------- workloads

/** Table order; senet's runs go smallest model first (see runSenetArch). */
const ARCHS = [
  { senet: 'se_resnext50_32x4d', timm: 'seresnext50_32x4d', title: 'SE-ResNeXt-50 (32x4d)' },
  { senet: 'se_resnet50', timm: 'seresnet50', title: 'SE-ResNet-50' },
] as const;
type Arch = (typeof ARCHS)[number];
const MODES = ['train', 'infer'] as const;
type Mode = (typeof MODES)[number];
const WORKLOADS = ARCHS.flatMap((a) => MODES.map((m) => `${a.senet}_${m}`));
const IMPLS = ['senet', 'torch', 'torch-nchw'] as const;
type Impl = (typeof IMPLS)[number];
const SIZE = 224;
const CLASSES = 1000;
const SGD_OPTS = { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 };

const DEFAULTS = { batch: 16, runs: 5, warmup: 1 };

const OPTIONS = {
  only: { type: 'string' },
  impl: { type: 'string' },
  batch: { type: 'string' },
  runs: { type: 'string' },
  warmup: { type: 'string' },
  'no-write': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const HELP = `usage: npm run bench:models -- [options]

  --only LIST     workloads, comma-separated (default: all):
                  ${WORKLOADS.join(', ')}
  --impl LIST     ${IMPLS.join(', ')} (default: all; the torch ones only when
                  SENET_BENCH_PYTHON is set). torch = channels_last, torch-nchw = contiguous NCHW
  --batch N       images per run (default ${DEFAULTS.batch})
  --runs N        timed runs per measurement (default ${DEFAULTS.runs})
  --warmup N      untimed runs before them (default ${DEFAULTS.warmup}, at least 1)
  --no-write      print only (otherwise bench/results/models-cpu.json, or
                  models-cpu.tmp.json (git-ignored) when an option narrows the run)
  -h, --help

environment: SENET_BENCH_PYTHON=/path/to/python (with torch and timm) adds PyTorch/timm CPU.`;

function describe(a: Arch, mode: Mode, batch: number): string {
  const what =
    mode === 'train'
      ? `training step (forward, softmax cross-entropy, backward, SGD lr ${SGD_OPTS.lr} momentum ${SGD_OPTS.momentum} weight decay ${SGD_OPTS.weightDecay}, zero grads)`
      : 'inference (eval mode)';
  return `${a.title} ${what}, batch ${batch} of ${SIZE}x${SIZE}x3, ${CLASSES} classes, float32`;
}

/** The senet model that is timm's network (import-timm's mapping), e.g. se_resnet50 with timm's stride on the 3x3. */
function senetVariant(a: Arch): { name: string; options: Record<string, unknown> } {
  const m = mapTimmArch(a.timm);
  if (m.arch !== a.senet) throw new Error(`timm ${a.timm} maps to senet ${m.arch}, not ${a.senet}`);
  return { name: m.arch, options: m.options };
}

// ---------------------------------------------------------------- results

interface Result extends Partial<Timing> {
  workload: string;
  arch: string;
  timm: string;
  mode: Mode;
  impl: Impl;
  threads: number;
  batch: number;
  /** median of the timed runs, ms */
  ms?: number;
  min_ms?: number;
  img_per_s?: number;
  /** this impl's median / senet's (> 1: senet is faster) */
  ratio_vs_senet?: number | null;
  /** the untimed warm-up runs, ms (the first pays for page faults and setup) */
  warmup_ms?: number[];
  /** senet: memory().devices.cpu.peakAllocatedBytes after the workload */
  peak_alloc_bytes?: number;
  /** the process's max RSS after the workload */
  max_rss_bytes?: number;
  /** false: the workload did not raise the peak (the number was reached before it: an upper bound) */
  peak_alloc_own?: boolean;
  max_rss_own?: boolean;
  variant: string;
  error?: string;
}

/** One profiled training step: senet's native stream, per op (addon._streamProfile). */
interface StreamProfile {
  step_ms: number;
  busy_ms: number;
  idle_ms: number;
  ops: Array<{ op: string; calls: number; ms: number }>;
}

function finish(r: Result, t: Timing & { warmup_ms: number[] }): void {
  Object.assign(r, t);
  r.ms = median(t.times_ms);
  r.min_ms = Math.min(...t.times_ms);
  r.img_per_s = r.batch / (r.ms / 1000);
}

function gb(bytes: number | undefined, own: boolean | undefined): string {
  return bytes === undefined ? '-' : `${own === false ? '<=' : ''}${(bytes / 1e9).toFixed(2)} GB`;
}

function logResult(r: Result): void {
  if (r.error) progress(`  ${r.workload} ${r.impl}: error: ${r.error}`);
  else
    progress(
      `  ${r.workload} ${r.impl}: ${fmtMs(r.ms)} ms (${r.img_per_s!.toFixed(1)} img/s, n=${r.times_ms!.length}, ` +
        `warm-up ${r.warmup_ms!.map(fmtMs).join('/')} ms, other load ${r.other_load?.toFixed(2) ?? '-'})`,
    );
}

/** measure() that also keeps the warm-up runs' times. */
function timed(run: RunFn, policy: Policy): Timing & { warmup_ms: number[] } {
  const calls: number[] = [];
  const t = measure(() => {
    const t0 = performance.now();
    const cleanup = run();
    calls.push(performance.now() - t0);
    return cleanup;
  }, policy);
  return { ...t, warmup_ms: calls.slice(0, t.warmup) };
}

// ---------------------------------------------------------------- senet

const peakAlloc = () => senet.memory().devices['cpu']!.peakAllocatedBytes;
const maxRss = () => process.resourceUsage().maxRSS * 1024;

/**
 * senet's workloads of one architecture: inference, then training (the
 * peaks only grow: inference first keeps the training peak its own). The
 * model is timm's variant with senet's random initialisation (fixed seed).
 */
function runSenetArch(a: Arch, modes: Mode[], policy: Policy, batch: number): { results: Result[]; profile?: StreamProfile; leaked?: string } {
  const results: Result[] = [];
  let profile: StreamProfile | undefined;
  const tensors0 = senet.memory().tensors;
  const v = senetVariant(a);
  const model = createModel(v.name, { ...v.options, seed: 1 });
  const opt = new senet.SGD(model.parameters(), SGD_OPTS);
  const x = senet.randn([batch, SIZE, SIZE, 3], { seed: 2 });
  const labels = senet.tensor(Int32Array.from({ length: batch }, (_, i) => (i * 7) % CLASSES), [batch], { dtype: 'int32' });
  const runs: Record<Mode, RunFn> = {
    infer: () => {
      const y = senet.tidy(() => model.forward(x));
      senet.syncSync();
      return () => y.dispose();
    },
    train: () => {
      const loss = senet.tidy(() => {
        const { loss, dlogits } = senet.softmaxCrossEntropy(model.forward(x), labels);
        model.backward(dlogits);
        opt.step();
        opt.zeroGrad();
        return loss;
      });
      loss.item(); // a training loop reads its loss
      senet.syncSync(); // and the step's update is done too
      return () => loss.dispose();
    },
  };
  const variant = `createModel('${v.name}', ${JSON.stringify(v.options)}) (timm's ${a.timm}), NHWC`;
  try {
    for (const mode of (['infer', 'train'] as const).filter((m) => modes.includes(m))) {
      const r: Result = { workload: `${a.senet}_${mode}`, arch: a.senet, timm: a.timm, mode, impl: 'senet', threads: senet.getNumThreads(), batch, variant };
      const peak0 = peakAlloc(), rss0 = maxRss();
      try {
        model.train(mode === 'train');
        finish(r, timed(runs[mode], policy));
        if (mode === 'train') profile = streamProfile(runs.train);
      } catch (e) {
        r.error = errorMessage(e);
      }
      Object.assign(r, { peak_alloc_bytes: peakAlloc(), peak_alloc_own: peakAlloc() > peak0, max_rss_bytes: maxRss(), max_rss_own: maxRss() > rss0 });
      logResult(r);
      results.push(r);
    }
  } finally {
    model.dispose();
    opt.dispose();
    x.dispose();
    labels.dispose();
    senet.emptyCache(); // the freed blocks go back to the system before PyTorch runs
  }
  const left = senet.memory().tensors - tensors0;
  return { results, profile, leaked: left > 0 ? `senet ${a.senet}: ${left} tensors left alive after the model, its data and optimizer were disposed` : undefined };
}

/** One more run with senet's stream timing every task (unsynchronised: what each native op costs). */
function streamProfile(run: RunFn): StreamProfile {
  addon._streamProfile({ on: true });
  let p: ReturnType<typeof addon._streamProfile>;
  const t0 = performance.now();
  try {
    run()?.();
  } finally {
    p = addon._streamProfile({ on: false });
  }
  const step_ms = performance.now() - t0;
  if (!p) throw new Error('_streamProfile returned nothing');
  return { step_ms, busy_ms: p.busyMs, idle_ms: p.idleMs, ops: [...p.ops].sort((q, r) => r.ms - q.ms) };
}

// ---------------------------------------------------------------- PyTorch

type TorchInfo = Record<string, unknown> & { torch?: string; timm?: string; threads?: number };

/** One bench/torch_models.py process: one architecture, one memory format, its workloads (infer first). */
async function runTorchArch(
  python: string,
  a: Arch,
  impl: Impl,
  modes: Mode[],
  threads: number,
  policy: Policy,
  batch: number,
): Promise<{ info: TorchInfo | null; results: Result[] }> {
  const format = impl === 'torch' ? 'channels_last' : 'contiguous';
  const order = (['infer', 'train'] as const).filter((m) => modes.includes(m));
  const script = join(BENCH_DIR, 'torch_models.py');
  const args = [script, '--arch', a.timm, '--workloads', order.join(','), '--threads', String(threads), '--batch', String(batch)];
  args.push('--size', String(SIZE), '--classes', String(CLASSES), '--format', format, '--policy', JSON.stringify(policy));
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
  const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
  const exited = new Promise<string | null>((resolve) => {
    child.on('error', (e) => resolve(`could not run ${python}: ${e.message}`));
    child.on('close', (code) => resolve(code === 0 ? null : `${python} ${script} exited with code ${code}`));
  });
  const variant = `timm.create_model('${a.timm}'), ${format === 'channels_last' ? 'model and input channels_last (NHWC in memory)' : 'contiguous NCHW'}`;
  const base = (mode: Mode): Result => ({ workload: `${a.senet}_${mode}`, arch: a.senet, timm: a.timm, mode, impl, threads, batch, variant });
  let info: TorchInfo | null = null;
  const results: Result[] = [];
  for await (const line of createInterface({ input: child.stdout })) {
    let msg: Record<string, unknown> | null = null;
    try {
      msg = line.startsWith('{') ? (JSON.parse(line) as Record<string, unknown>) : null;
    } catch {
      // not ours
    }
    if (!msg) process.stderr.write(line + '\n'); // what a library printed
    else if (msg.type === 'info') info = msg;
    else if (msg.type === 'result') {
      const r = base(msg.workload as Mode);
      r.threads = msg.threads as number;
      if (typeof msg.error === 'string') r.error = msg.error;
      else
        finish(r, {
          times_ms: msg.times_ms as number[],
          warmup: msg.warmup as number,
          warmup_ms: msg.warmup_ms as number[],
          other_load: msg.other_load as number | null,
        });
      Object.assign(r, { max_rss_bytes: msg.max_rss_bytes, max_rss_own: msg.max_rss_own });
      logResult(r);
      results.push(r);
    }
  }
  const why = await exited;
  if (why)
    for (const m of order)
      if (!results.some((r) => r.mode === m)) {
        results.push({ ...base(m), error: why });
        progress(`  ${a.senet}_${m} ${impl}: error: ${why}`);
      }
  return { info, results };
}

// ---------------------------------------------------------------- report

function table(results: Result[]): string {
  const head = ['workload', 'impl', 'thr', 'warm', 'n', 'median ms', 'min ms', 'img/s', 'impl/senet', '1st run ms', 'peak alloc', 'max RSS', 'other load'];
  return textTable(
    head,
    results.map((r) => [
      r.workload,
      r.impl,
      String(r.threads),
      String(r.warmup ?? '-'),
      String(r.times_ms?.length ?? 0),
      r.error ? 'error' : fmtMs(r.ms),
      fmtMs(r.min_ms),
      r.img_per_s === undefined ? '-' : r.img_per_s.toFixed(2),
      r.impl === 'senet' ? '1.00x' : r.ratio_vs_senet ? `${r.ratio_vs_senet.toFixed(2)}x` : '-',
      fmtMs(r.warmup_ms?.[0]),
      r.mode === 'train' ? gb(r.peak_alloc_bytes, r.peak_alloc_own) : '',
      gb(r.max_rss_bytes, r.max_rss_own),
      r.other_load == null ? '-' : r.other_load.toFixed(2),
    ]),
  );
}

const MODEL_DEFINITIONS: Record<string, string> = {
  ms:
    'median wall time of the timed runs, ms; each run ends when its work is done (senet: syncSync(), the training step after reading its loss; ' +
    'PyTorch eager returns when done, its training step reads loss.item())',
  warmup:
    "untimed runs before the timed ones (at least 1): senet's first training step page-faults its working set (~6.5 GB for SE-ResNeXt-50 at batch 16; " +
    'the host cache keeps it afterwards) and takes 2-4x longer; "1st run ms" / warmup_ms is that first run',
  img_per_s: 'batch / median time',
  ratio: 'impl/senet = impl median / senet median (> 1: senet is faster)',
  peak_alloc:
    "senet only: memory().devices.cpu.peakAllocatedBytes after the workload: the most bytes of tensor storage senet had allocated at once since the process started (not RSS); " +
    "'<=' where the workload did not raise it (the peak was reached before it: an upper bound)",
  max_rss:
    'max resident set (getrusage) of the process that ran the workload, after it: senet = the node process (every senet workload of the run, in one process), ' +
    "PyTorch = its Python process (one per architecture and memory format, inference before training); '<=' as above " +
    '(for PyTorch also where importing torch/timm and building the model took more). ' +
    'A different measure from peak alloc: it counts the runtime, libraries, weights and allocator caches too',
  stream_profile:
    "one extra senet training step after the timed runs with the native stream timing each task (addon._streamProfile): busy/idle ms and ms per op; " +
    'unsynchronised, so the op times are what the ops cost, not the wall clock',
  other_load: DEFINITIONS.other_load!,
};

// ---------------------------------------------------------------- main

function pick<T extends string>(arg: string | undefined, all: readonly T[], what: string): T[] {
  if (arg === undefined) return [...all];
  const want = new Set(arg.split(',').map((s) => s.trim()).filter(Boolean));
  const bad = [...want].filter((w) => !(all as readonly string[]).includes(w));
  if (bad.length) throw new Error(`unknown ${what} ${bad.map((b) => `'${b}'`).join(', ')} (one of: ${all.join(', ')})`);
  return all.filter((x) => want.has(x));
}

function count(arg: string | undefined, name: string, dflt: number, min: number): number {
  if (arg === undefined) return dflt;
  const n = Number(arg);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer >= ${min}, got '${arg}'`);
  return n;
}

async function main(): Promise<number> {
  const started = performance.now();
  const { values } = parseArgs({ options: OPTIONS, strict: true });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const workloads = pick(values.only, WORKLOADS, 'workload');
  let impls = pick(values.impl, IMPLS, 'impl');
  const batch = count(values.batch, 'batch', DEFAULTS.batch, 1);
  const runs = count(values.runs, 'runs', DEFAULTS.runs, 1);
  const warmup = count(values.warmup, 'warmup', DEFAULTS.warmup, 1);
  const python = process.env.SENET_BENCH_PYTHON || null;
  const notes: string[] = [];
  if (!python && impls.some((i) => i !== 'senet')) {
    notes.push('PyTorch skipped: set SENET_BENCH_PYTHON=/path/to/python (with torch and timm) to include it');
    impls = impls.filter((i) => i === 'senet');
  }
  if (!impls.length) throw new Error(`nothing to run: ${notes[0]}`);
  const narrowed = values.only !== undefined || values.impl !== undefined || batch !== DEFAULTS.batch || runs !== DEFAULTS.runs || warmup !== DEFAULTS.warmup;
  const policy: Policy = { warmupMin: warmup, warmupMax: warmup, warmupSec: 0, minRuns: runs, maxRuns: runs, targetSec: 0, waitIdleSec: 0, retries: 0 };
  const threads = senet.getNumThreads();
  const machine: Record<string, unknown> = { ...hostInfo(), senet: { ...senet.info(), threads } };
  progress(`bench:models on ${machine.cpu}, ${machine.cores} cores, ${threads} threads; impls ${impls.join(', ')}; batch ${batch}, ${warmup} warm-up + ${runs} timed runs`);

  // Arch by arch, every impl in turn (this VM's speed drifts from minute to
  // minute: a model's numbers are taken close together). The smaller model
  // first: senet's peak only grows within the process.
  const results: Result[] = [];
  const profiles: Record<string, StreamProfile> = {};
  for (const a of [...ARCHS].reverse()) {
    const modes = MODES.filter((m) => workloads.includes(`${a.senet}_${m}`));
    if (!modes.length) continue;
    for (const impl of impls) {
      progress(`${a.senet} ${impl} ...`);
      if (impl === 'senet') {
        const r = runSenetArch(a, modes, policy, batch);
        results.push(...r.results);
        if (r.profile) profiles[a.senet] = r.profile;
        if (r.leaked) notes.push(r.leaked);
      } else {
        const r = await runTorchArch(python!, a, impl, modes, threads, policy, batch);
        results.push(...r.results);
        if (r.info && !machine.torch) machine.torch = r.info;
        if (r.info && r.info.threads !== threads) notes.push(`torch ran with ${r.info.threads} threads, senet with ${threads}`);
      }
    }
  }
  const senetMs = new Map(results.filter((r) => r.impl === 'senet' && r.ms).map((r) => [r.workload, r.ms!]));
  for (const r of results) {
    const base = senetMs.get(r.workload);
    r.ratio_vs_senet = r.ms && base ? r.ms / base : null;
  }
  const rank = (r: Result) => WORKLOADS.indexOf(r.workload) * 10 + IMPLS.indexOf(r.impl);
  results.sort((p, q) => rank(p) - rank(q));

  const date = new Date().toISOString();
  const si = senet.info();
  const out: string[] = ['', `senet model benchmarks  ${date}`];
  out.push(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memGB} GB, ${machine.platform}; node ${machine.node}`);
  const versions = [`senet ${si.version} (isa ${si.isa}, oneDNN ${si.dnnl}, ${threads} threads)`];
  const ti = machine.torch as TorchInfo | undefined;
  if (ti) versions.push(`torch ${ti.torch} + timm ${ti.timm} (${ti.threads} threads, python ${ti.python}, cpu capability ${ti.cpu_capability})`);
  out.push(`versions: ${versions.join('; ')}`);
  out.push('workloads:');
  const specs: Record<string, string> = {};
  for (const a of ARCHS)
    for (const m of MODES) {
      const w = `${a.senet}_${m}`;
      if (!workloads.includes(w)) continue;
      specs[w] = describe(a, m, batch);
      out.push(`  ${w.padEnd(25)} ${specs[w]}`);
    }
  out.push('models: senet builds timm\'s variant of each (what `senet import-timm` loads timm weights into):');
  for (const a of ARCHS.filter((x) => workloads.some((w) => w.startsWith(`${x.senet}_`))))
    out.push(`  ${a.senet} ${JSON.stringify(senetVariant(a).options)} = timm ${a.timm}`);
  out.push('', table(results));

  const ratios = ARCHS.flatMap((a) => MODES.map((m) => `${a.senet}_${m}`))
    .map((w) => [w, results.filter((r) => r.workload === w && r.impl !== 'senet' && r.ratio_vs_senet)] as const)
    .filter(([, rs]) => rs.length)
    .map(([w, rs]) => `  ${w.padEnd(25)} ${rs.map((r) => `${r.impl}/senet = ${r.ratio_vs_senet!.toFixed(2)}x`).join(', ')}`);
  if (ratios.length) out.push('', 'time ratios (impl median / senet median; > 1 means senet is faster):', ...ratios);

  const profilesInOrder = Object.fromEntries(ARCHS.filter((a) => profiles[a.senet]).map((a) => [a.senet, profiles[a.senet]!]));
  for (const [arch, p] of Object.entries(profilesInOrder)) {
    out.push('', `one more senet training step of ${arch}, its native stream (unsynchronised): step ${fmtMs(p.step_ms)} ms, stream busy ${fmtMs(p.busy_ms)} ms, idle ${fmtMs(p.idle_ms)} ms; top ops by time:`);
    const total = p.ops.reduce((s, o) => s + o.ms, 0);
    for (const o of p.ops.slice(0, 12))
      out.push(`  ${o.op.padEnd(28)} ${fmtMs(o.ms).padStart(8)} ms  ${((100 * o.ms) / (total || 1)).toFixed(1).padStart(5)}%  ${String(o.calls).padStart(5)} calls`);
  }

  out.push('', 'definitions:');
  for (const [k, d] of Object.entries(MODEL_DEFINITIONS)) out.push(`  ${k.padEnd(14)} ${d}`);
  out.push('how each impl runs the workloads:');
  out.push(...[...new Set(results.map((r) => `  ${r.impl} ${r.arch}: ${r.variant}`))]);
  for (const r of results) if (r.error) notes.push(`${r.impl} ${r.workload}: ${r.error}`);
  const busy = results.filter((r) => (r.other_load ?? 0) > BUSY_THRESHOLD).length;
  if (busy)
    notes.push(`WARNING: other processes kept more than ${BUSY_THRESHOLD} cores busy during ${busy} of ${results.length} measurements ('other load'): their times are not trustworthy; rerun on an idle machine`);
  if (notes.length) out.push('notes:', ...[...new Set(notes)].map((n) => `  ${n}`));
  if (!values['no-write']) {
    const file = writeResults(narrowed ? 'models-cpu.tmp' : 'models-cpu', {
      date,
      machine,
      config: { batch, runs, warmup, size: SIZE, classes: CLASSES, sgd: SGD_OPTS },
      workloads: specs,
      definitions: MODEL_DEFINITIONS,
      results,
      stream_profile: profilesInOrder,
      notes,
    });
    out.push(`results: ${file}`);
  }
  out.push(`total time: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  console.log(out.join('\n'));
  return results.some((r) => r.error) ? 1 : 0;
}

try {
  process.exit(await main());
} catch (e) {
  console.error(`bench:models: ${errorMessage(e)}`);
  process.exit(2);
}
