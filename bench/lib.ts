/**
 * Shared pieces of the op benchmarks: the workloads (shapes, FLOP and byte
 * counts), the timing policy and loop, the result records, the table and
 * the JSON writer. Every implementation (senet, PyTorch, tfjs) is timed with
 * the same policy and scored with the same FLOP/byte counts, so the numbers
 * in one table are comparable.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuTimes } from '../lib/cli/cpu_load.js';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const RESULTS_DIR = join(BENCH_DIR, 'results');

// ---------------------------------------------------------------- workloads

export const WORKLOAD_NAMES = ['se_fwd', 'se_fwdbwd', 'conv3x3_g32', 'conv1x1'] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

export const IMPL_NAMES = ['senet', 'torch', 'tfjs-wasm', 'tfjs-cpu'] as const;
export type ImplName = (typeof IMPL_NAMES)[number];

/** Squeeze-excite with residual + ReLU: y = relu(U * s + shortcut), U and shortcut NHWC [n,h,w,c]. */
export interface SeSpec {
  kind: 'se';
  name: WorkloadName;
  backward: boolean;
  n: number;
  h: number;
  w: number;
  c: number;
  /** hidden size D = C / r */
  d: number;
}

/** Forward 2-D convolution, NHWC input, no bias. */
export interface ConvSpec {
  kind: 'conv';
  name: WorkloadName;
  n: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  kh: number;
  kw: number;
  stride: number;
  pad: number;
  groups: number;
}

export type Spec = SeSpec | ConvSpec;

export const WORKLOADS: Record<WorkloadName, Spec> = {
  se_fwd: { kind: 'se', name: 'se_fwd', backward: false, n: 32, h: 56, w: 56, c: 256, d: 16 },
  se_fwdbwd: { kind: 'se', name: 'se_fwdbwd', backward: true, n: 32, h: 56, w: 56, c: 256, d: 16 },
  conv3x3_g32: {
    kind: 'conv', name: 'conv3x3_g32', n: 32, h: 56, w: 56, cin: 128, cout: 128, kh: 3, kw: 3, stride: 1, pad: 1, groups: 32,
  },
  conv1x1: {
    kind: 'conv', name: 'conv1x1', n: 32, h: 56, w: 56, cin: 256, cout: 128, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1,
  },
};

export function convOutHW(s: ConvSpec): [number, number] {
  return [Math.floor((s.h + 2 * s.pad - s.kh) / s.stride) + 1, Math.floor((s.w + 2 * s.pad - s.kw) / s.stride) + 1];
}

/** One run's work: FLOPs for convs, minimum DRAM bytes for SE. */
export function work(s: Spec): { unit: 'GFLOP/s' | 'GB/s'; amount: number } {
  if (s.kind === 'conv') {
    const [ho, wo] = convOutHW(s);
    return { unit: 'GFLOP/s', amount: 2 * s.n * ho * wo * s.cout * ((s.kh * s.kw * s.cin) / s.groups) };
  }
  const t = s.n * s.h * s.w * s.c * 4;
  return { unit: 'GB/s', amount: (s.backward ? 7 : 3) * t };
}

export function describeSpec(s: Spec): string {
  if (s.kind === 'se')
    return `SE ${s.backward ? 'fwd+bwd' : 'fwd'} NHWC [${s.n},${s.h},${s.w},${s.c}] D=${s.d} (r=${s.c / s.d}), avg squeeze, sigmoid gate, residual+ReLU`;
  const [ho, wo] = convOutHW(s);
  return (
    `conv ${s.kh}x${s.kw} NHWC [${s.n},${s.h},${s.w},${s.cin}] -> [${s.n},${ho},${wo},${s.cout}]` +
    ` groups=${s.groups} stride=${s.stride} pad=${s.pad} no bias, fwd`
  );
}

export const DEFINITIONS: Record<string, string> = {
  ms: 'median wall time of the n timed runs (after warm-up), ms; each run ends when the results are computed (senet: after syncSync())',
  se_gbps:
    'SE effective bandwidth = minimum DRAM traffic / time, T = N*H*W*C*4 bytes; forward = 3T (read U, read shortcut, write y); ' +
    'forward+backward = 7T (forward 3T + backward: read dy, read U, write dU, write dshortcut); same byte counts for every impl',
  pct_copy: "SE effective bandwidth as % of the machine's copy bandwidth (senet's threads, bytes read + bytes written, 512 MiB buffer)",
  conv_gflops: 'conv GFLOP/s = 2*N*Ho*Wo*Cout*(KH*KW*Cin/groups) / time',
  se_fwdbwd: 'forward then backward producing dU, dshortcut, dW1, db1, dW2, db2',
  ratio: 'impl/senet = impl median time / senet median time (> 1: senet is faster)',
  other_load:
    'other load = CPU cores other processes (and the hypervisor: steal) kept busy, on average, during the timed runs, from /proc/stat; ' +
    'on this 2-core machine anything above ~0.1 makes the times unreliable',
};

// ---------------------------------------------------------------- timing

export interface Policy {
  /** warm-up runs: at least warmupMin, then more until warmupSec is spent, at most warmupMax */
  warmupMin: number;
  warmupMax: number;
  warmupSec: number;
  /** timed runs: about targetSec worth, clamped to [minRuns, maxRuns] */
  minRuns: number;
  maxRuns: number;
  targetSec: number;
  /** before each measurement, wait up to this long for other processes to leave the CPUs idle (0: don't) */
  waitIdleSec: number;
  /** with waitIdleSec > 0: measure again (at most this many times) when other processes disturbed the timed runs */
  retries: number;
}

/** Other processes' load (cores) above which a measurement counts as disturbed. */
export const BUSY_THRESHOLD = 0.1;

export const DEFAULT_POLICY: Policy = { warmupMin: 2, warmupMax: 10, warmupSec: 0.5, minRuns: 5, maxRuns: 50, targetSec: 3, waitIdleSec: 0, retries: 2 };
/** tfjs-cpu takes seconds to tens of seconds a run on these shapes. */
export const SLOW_POLICY: Policy = { warmupMin: 1, warmupMax: 1, warmupSec: 0, minRuns: 2, maxRuns: 5, targetSec: 12, waitIdleSec: 0, retries: 0 };
export const QUICK_POLICY: Policy = { warmupMin: 2, warmupMax: 5, warmupSec: 0.3, minRuns: 3, maxRuns: 20, targetSec: 1, waitIdleSec: 0, retries: 1 };

/** The number of timed runs for a run that took `sec` (the fastest warm-up). */
export function timedRuns(p: Policy, sec: number): number {
  const n = Math.ceil(p.targetSec / Math.max(sec, 1e-6));
  return Math.min(p.maxRuns, Math.max(p.minRuns, n));
}

/**
 * One run of a workload: does the whole computation (and waits for it),
 * then returns what frees its outputs, which runs after the clock stops.
 */
export type RunFn = () => (() => void) | void;

export interface Timing {
  times_ms: number[];
  warmup: number;
  /** seconds spent waiting for an idle machine (Policy.waitIdleSec) */
  waited_s?: number;
  /** measurements made (Policy.retries); the least disturbed one is kept */
  attempts?: number;
  /** CPU cores that other processes kept busy, on average, while this was measured (Linux only) */
  other_load?: number | null;
}

// ---------------------------------------------------------------- machine load

/**
 * Jiffies the whole machine spent busy (steal included) and jiffies this
 * process and its waited-for children used, from /proc. Their difference
 * over a measurement is what other processes (or the hypervisor) took: a
 * benchmark on a shared 2-core machine is meaningless when that is large.
 */
export interface CpuSnapshot {
  machineBusy: number;
  own: number;
  t: number;
}

export function cpuSnapshot(): CpuSnapshot | null {
  const cpu = cpuTimes();
  if (!cpu) return null;
  try {
    const self = readFileSync('/proc/self/stat', 'utf8');
    const f = self.slice(self.lastIndexOf(')') + 2).split(' ').map(Number);
    // fields 14-17 of /proc/self/stat (utime stime cutime cstime), counted from "state" = field 3
    const own = f[11]! + f[12]! + f[13]! + f[14]!;
    return { machineBusy: cpu.busy, own, t: performance.now() };
  } catch {
    return null;
  }
}

/** Average number of cores other processes used between two snapshots. */
export function otherLoad(a: CpuSnapshot | null, b: CpuSnapshot | null): number | null {
  if (!a || !b || b.t <= a.t) return null;
  const hz = 100; // USER_HZ
  const other = b.machineBusy - a.machineBusy - (b.own - a.own);
  return Math.max(0, other / hz / ((b.t - a.t) / 1000));
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Waits (blocking) until other processes used less than `threshold` cores
 * over a 0.5 s window, for at most maxSec. Returns the seconds waited.
 */
export function waitForIdle(maxSec: number, threshold = BUSY_THRESHOLD): number {
  const t0 = performance.now();
  if (maxSec <= 0 || !cpuSnapshot()) return 0;
  for (;;) {
    const a = cpuSnapshot();
    sleepSync(500);
    const load = otherLoad(a, cpuSnapshot());
    const waited = (performance.now() - t0) / 1000;
    if (load === null || load < threshold || waited >= maxSec) return waited;
  }
}

/**
 * What the whole run may still spend waiting for an idle machine, in
 * seconds; once it is spent, measure() neither waits nor retries.
 */
export const waitBudget = { left: Infinity };

/**
 * Warm-up, then the timed runs. With p.waitIdleSec > 0 it first waits for
 * an idle machine, and measures again (p.retries times at most) when other
 * processes disturbed the timed runs, keeping the least disturbed attempt.
 */
export function measure(run: RunFn, p: Policy): Timing {
  let best: Timing | null = null;
  let waited = 0,
    attempt = 0;
  for (; ; attempt++) {
    const w = waitForIdle(Math.min(p.waitIdleSec, waitBudget.left));
    waitBudget.left -= w;
    waited += w;
    const t = measureOnce(run, p);
    if (!best || (t.other_load ?? 0) < (best.other_load ?? 0)) best = t;
    if (p.waitIdleSec <= 0 || waitBudget.left <= 0 || attempt >= p.retries || (best.other_load ?? 0) <= BUSY_THRESHOLD) break;
  }
  if (p.waitIdleSec > 0) Object.assign(best, { waited_s: Math.round(waited * 10) / 10, attempts: attempt + 1 });
  return best;
}

function measureOnce(run: RunFn, p: Policy): Timing {
  const once = (): number => {
    const t0 = performance.now();
    const cleanup = run();
    const dt = performance.now() - t0;
    if (cleanup) cleanup();
    return dt;
  };
  let warmup = 0,
    spent = 0,
    fastest = Infinity;
  while (warmup < p.warmupMin || (warmup < p.warmupMax && spent < p.warmupSec * 1000)) {
    const dt = once();
    fastest = Math.min(fastest, dt);
    spent += dt;
    warmup++;
  }
  const times_ms: number[] = [];
  if (warmup === 0) times_ms.push((fastest = once())); // the estimate below needs one run: it counts as timed
  // the first run pays for first-touch page faults and setup: estimate from the fastest warm-up
  const n = timedRuns(p, fastest / 1000);
  const before = cpuSnapshot();
  while (times_ms.length < n) times_ms.push(once());
  return { times_ms, warmup, other_load: otherLoad(before, cpuSnapshot()) };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// ---------------------------------------------------------------- records

/** What an implementation's runner returns for one workload. */
export interface RawResult extends Timing {
  workload: WorkloadName;
  impl: ImplName;
  threads: number;
  version?: string;
  /** how the workload was written for this impl, when it is not a single op */
  variant?: string;
  error?: string;
}

export interface BenchRecord {
  workload: WorkloadName;
  impl: ImplName;
  /** median, ms */
  ms: number | null;
  /** timed runs */
  n: number;
  threads: number;
  warmup: number;
  min_ms: number | null;
  max_ms: number | null;
  times_ms: number[];
  gflops?: number | null;
  gbps?: number | null;
  pct_copy_bw?: number | null;
  /** cores other processes kept busy, on average, during the timed runs (Linux; null when unknown) */
  other_load?: number | null;
  /** seconds waited for an idle machine before this measurement (--wait-idle) */
  waited_s?: number;
  /** measurements made with --wait-idle (the least disturbed one is reported) */
  attempts?: number;
  /** this impl's median / senet's median (> 1: senet is faster) */
  ratio_vs_senet?: number | null;
  flops?: number;
  bytes?: number;
  spec: string;
  version?: string;
  variant?: string;
  error?: string;
  date: string;
  machine: MachineInfo;
  definitions: Record<string, string>;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memGB: number;
  platform: string;
  node: string;
  senet: Record<string, unknown>;
  /** the best of copy_runs, GB/s */
  copy_gbps: number | null;
  copy_runs: { gbps: number | null; other_load: number | null }[];
  /** os.loadavg() when the run started */
  loadavg_start: number[];
  torch?: Record<string, unknown>;
  tfjs?: string;
}

/** The host as the results files record it (loadavg_start: os.loadavg() now). */
export function hostInfo(): Pick<MachineInfo, 'cpu' | 'cores' | 'memGB' | 'platform' | 'node' | 'loadavg_start'> {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memGB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadavg_start: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export function toRecords(raw: RawResult[], machine: MachineInfo, date: string): BenchRecord[] {
  const senetMs = new Map<WorkloadName, number>();
  for (const r of raw) if (r.impl === 'senet' && !r.error && r.times_ms.length) senetMs.set(r.workload, median(r.times_ms));
  return raw.map((r) => {
    const spec = WORKLOADS[r.workload];
    const ok = !r.error && r.times_ms.length > 0;
    const ms = ok ? median(r.times_ms) : null;
    const w = work(spec);
    const rate = ms ? w.amount / (ms / 1000) / 1e9 : null;
    const base = senetMs.get(r.workload);
    const rec: BenchRecord = {
      workload: r.workload,
      impl: r.impl,
      ms,
      n: r.times_ms.length,
      threads: r.threads,
      warmup: r.warmup,
      min_ms: ok ? Math.min(...r.times_ms) : null,
      max_ms: ok ? Math.max(...r.times_ms) : null,
      times_ms: r.times_ms,
      spec: describeSpec(spec),
      date,
      machine,
      definitions: {},
    };
    if (w.unit === 'GB/s') {
      rec.bytes = w.amount;
      rec.gbps = rate;
      rec.pct_copy_bw = rate !== null && machine.copy_gbps ? (100 * rate) / machine.copy_gbps : null;
      rec.definitions = { ms: DEFINITIONS.ms!, gbps: DEFINITIONS.se_gbps!, pct_copy_bw: DEFINITIONS.pct_copy! };
      if (spec.kind === 'se' && spec.backward) rec.definitions.workload = DEFINITIONS.se_fwdbwd!;
    } else {
      rec.flops = w.amount;
      rec.gflops = rate;
      rec.definitions = { ms: DEFINITIONS.ms!, gflops: DEFINITIONS.conv_gflops! };
    }
    rec.ratio_vs_senet = ms !== null && base ? ms / base : null;
    rec.definitions.ratio_vs_senet = DEFINITIONS.ratio!;
    rec.definitions.other_load = DEFINITIONS.other_load!;
    if (r.other_load !== undefined) rec.other_load = r.other_load === null ? null : Math.round(r.other_load * 100) / 100;
    if (r.waited_s !== undefined) rec.waited_s = r.waited_s;
    if (r.attempts !== undefined) rec.attempts = r.attempts;
    if (r.version) rec.version = r.version;
    if (r.variant) rec.variant = r.variant;
    if (r.error) rec.error = r.error;
    return rec;
  });
}

/** Rounds to 4 significant digits (JSON stays readable; timings are not more precise than that). */
function roundNumbers(_key: string, v: unknown): unknown {
  return typeof v === 'number' && Number.isFinite(v) && !Number.isInteger(v) ? Number(v.toPrecision(4)) : v;
}

/** Writes bench/results/<name>.json: `records` (BenchRecords here; the model benchmarks write their own object). */
export function writeResults(name: string, records: BenchRecord[] | object): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(file, JSON.stringify(records, roundNumbers, 2) + '\n');
  return file;
}

// ---------------------------------------------------------------- table

function fmt(x: number | null | undefined, digits: number): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '-';
  return x.toFixed(digits);
}

export function fmtMs(x: number | null | undefined): string {
  if (x === null || x === undefined) return '-';
  return x >= 1000 ? x.toFixed(0) : x >= 100 ? x.toFixed(1) : x.toFixed(2);
}

export function renderTable(records: BenchRecord[]): string {
  const head = ['workload', 'impl', 'thr', 'warm', 'n', 'median ms', 'min ms', 'GFLOP/s', 'GB/s', '% copy bw', 'impl/senet', 'other load'];
  const rows = records.map((r) => [
    r.workload,
    r.impl,
    String(r.threads),
    String(r.warmup),
    String(r.n),
    r.error ? 'error' : fmtMs(r.ms),
    fmtMs(r.min_ms),
    r.gflops === undefined ? '' : fmt(r.gflops, 1),
    r.gbps === undefined ? '' : fmt(r.gbps, 2),
    r.pct_copy_bw === undefined ? '' : r.pct_copy_bw === null ? '-' : `${r.pct_copy_bw.toFixed(1)}%`,
    r.impl === 'senet' ? '1.00x' : r.ratio_vs_senet ? `${r.ratio_vs_senet.toFixed(2)}x` : '-',
    fmt(r.other_load, 2),
  ]);
  return textTable(head, rows);
}

/**
 * A plain-text table: the first two columns (workload, impl) left-aligned,
 * the others right-aligned, a blank line where the first column changes.
 */
export function textTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const left = new Set([0, 1]);
  const line = (cells: string[]) =>
    cells.map((c, i) => (left.has(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  ')];
  rows.forEach((r, i) => {
    if (i > 0 && r[0] !== rows[i - 1]![0]) out.push('');
    out.push(line(r));
  });
  return out.join('\n');
}

/** "se_fwd: torch/senet = 6.80x, tfjs-wasm/senet = ..." lines. */
export function renderRatios(records: BenchRecord[]): string {
  const out: string[] = [];
  for (const w of WORKLOAD_NAMES) {
    const parts = records
      .filter((r) => r.workload === w && r.impl !== 'senet' && r.ratio_vs_senet)
      .map((r) => `${r.impl}/senet = ${r.ratio_vs_senet!.toFixed(2)}x`);
    if (parts.length) out.push(`  ${w.padEnd(12)} ${parts.join(', ')}`);
  }
  return out.join('\n');
}

// ---------------------------------------------------------------- misc

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Progress goes to stderr so stdout holds the report. */
export function progress(msg: string): void {
  process.stderr.write(msg + '\n');
}

export function progressResult(r: RawResult): void {
  if (r.error) progress(`  ${r.workload.padEnd(12)} ${r.impl.padEnd(10)} error: ${r.error}`);
  else
    progress(
      `  ${r.workload.padEnd(12)} ${r.impl.padEnd(10)} ${fmtMs(median(r.times_ms)).padStart(9)} ms` +
        `  (median of ${r.times_ms.length}, ${r.warmup} warm-up, ${r.threads} thread${r.threads === 1 ? '' : 's'})`,
    );
}
