/**
 * Op benchmarks: senet against PyTorch CPU, tfjs (cpu backend) and
 * tfjs-backend-wasm on the same shapes, in one process run.
 *
 *   npm run bench                                   all workloads, senet + tfjs-wasm + tfjs-cpu
 *   SENET_BENCH_PYTHON=/opt/venv/bin/python npm run bench        ... and PyTorch
 *   npm run bench -- --only se_fwd,conv1x1 --impl senet,torch
 *   SENET_BENCH_QUICK=1 npm run bench               (or --quick) fewer runs, no tfjs-cpu
 *
 * Prints a table and writes bench/results/<name>.json (an array of records).
 */
import { parseArgs } from 'node:util';
import * as senet from '../lib/index.js';
import {
  BUSY_THRESHOLD,
  DEFAULT_POLICY,
  DEFINITIONS,
  IMPL_NAMES,
  QUICK_POLICY,
  SLOW_POLICY,
  WORKLOAD_NAMES,
  WORKLOADS,
  describeSpec,
  cpuSnapshot,
  errorMessage,
  hostInfo,
  otherLoad,
  progress,
  renderRatios,
  renderTable,
  toRecords,
  waitBudget,
  waitForIdle,
  writeResults,
  type ImplName,
  type MachineInfo,
  type Policy,
  type RawResult,
  type WorkloadName,
} from './lib.js';
import { copyBandwidth, runSenet } from './senet_ops.js';

const HELP = `usage: npm run bench -- [options]

  --only LIST     workloads, comma-separated: ${WORKLOAD_NAMES.join(', ')} (default: all)
  --impl LIST     implementations: ${IMPL_NAMES.join(', ')}
                  (default: all; torch only when SENET_BENCH_PYTHON is set; tfjs-cpu not with --quick)
  --threads N     senet's threads (default: its own default, getNumThreads()); PyTorch gets the same
  --name NAME     results file bench/results/NAME.json (default: ops-cpu for a full run,
                  ops-cpu.tmp (git-ignored) when --only, --impl or --quick narrows it)
  --quick         fewer timed runs and no tfjs-cpu (also SENET_BENCH_QUICK=1)
  --wait-idle S   before each measurement wait up to S seconds for other processes to leave
                  the CPUs idle, and measure again (twice at most; not tfjs-cpu) when they
                  disturbed it; 5*S seconds of waiting in all (also SENET_BENCH_WAIT_IDLE=S;
                  default 0: don't wait)
  --no-write      print only
  -h, --help

environment: SENET_BENCH_PYTHON=/path/to/python (with torch) adds PyTorch CPU.`;

function list<T extends string>(arg: string | undefined, all: readonly T[], what: string): T[] | null {
  if (arg === undefined) return null;
  const items = arg.split(',').map((s) => s.trim()).filter(Boolean);
  for (const it of items)
    if (!(all as readonly string[]).includes(it)) throw new Error(`unknown ${what} '${it}' (one of: ${all.join(', ')})`);
  return all.filter((x) => items.includes(x)); // canonical order
}

async function main(): Promise<number> {
  const started = performance.now();
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      impl: { type: 'string' },
      threads: { type: 'string' },
      name: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'wait-idle': { type: 'string' },
      'no-write': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const quick = values.quick || ['1', 'true', 'yes'].includes(process.env.SENET_BENCH_QUICK ?? '');
  const python = process.env.SENET_BENCH_PYTHON || null;
  const onlyW = list(values.only, WORKLOAD_NAMES, 'workload');
  const onlyI = list(values.impl, IMPL_NAMES, 'impl');
  const workloads: WorkloadName[] = onlyW ?? [...WORKLOAD_NAMES];
  let impls: ImplName[] = onlyI ?? IMPL_NAMES.filter((i) => !(quick && i === 'tfjs-cpu'));
  if (impls.includes('torch') && !python) {
    if (onlyI) progress('note: --impl torch needs SENET_BENCH_PYTHON=/path/to/python (with torch); skipping PyTorch');
    impls = impls.filter((i) => i !== 'torch');
  }
  const narrowed = onlyW !== null || onlyI !== null || quick;
  const name = values.name ?? (narrowed ? 'ops-cpu.tmp' : 'ops-cpu');
  if (values.threads !== undefined) {
    const n = Number(values.threads);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--threads: expected a positive integer, got '${values.threads}'`);
    senet.setNumThreads(n);
  }
  const threads = senet.getNumThreads();
  const waitArg = values['wait-idle'] ?? process.env.SENET_BENCH_WAIT_IDLE ?? '0';
  const waitIdleSec = Number(waitArg);
  if (!(waitIdleSec >= 0)) throw new Error(`--wait-idle: expected seconds >= 0, got '${waitArg}'`);
  const policy: Policy = { ...(quick ? QUICK_POLICY : DEFAULT_POLICY), waitIdleSec };
  const slowPolicy: Policy = { ...SLOW_POLICY, waitIdleSec };
  // a busy machine must not make the run endless: 5x the per-measurement wait in all
  if (waitIdleSec > 0) waitBudget.left = 5 * waitIdleSec;

  const si = senet.info();
  // the copy bandwidth is measured at the start, after senet's runs and at the end; the best is reported
  const measureCopy = (): { gbps: number | null; other_load: number | null } => {
    progress(`measuring copy bandwidth (512 MiB, best of 5, ${threads} threads) ...`);
    waitBudget.left -= waitForIdle(Math.min(waitIdleSec, waitBudget.left));
    const before = cpuSnapshot();
    try {
      const gbps = copyBandwidth();
      const other = otherLoad(before, cpuSnapshot());
      progress(`  ${gbps.toFixed(2)} GB/s (other load ${other === null ? '-' : other.toFixed(2)} cores)`);
      return { gbps, other_load: other };
    } catch (e) {
      progress(`  copy bandwidth failed: ${errorMessage(e)}`);
      return { gbps: null, other_load: null };
    }
  };
  const copyStart = measureCopy();
  const machine: MachineInfo = {
    ...hostInfo(),
    senet: { version: si.version, isa: si.isa, dnnl: si.dnnl, threads, l2Bytes: si.l2Bytes, l3Bytes: si.l3Bytes },
    copy_gbps: copyStart.gbps,
    copy_runs: [copyStart],
  };

  const raw: RawResult[] = [];
  const notes: string[] = [];
  for (const impl of impls) {
    progress(`${impl} ...`);
    try {
      if (impl === 'senet') {
        raw.push(...runSenet(workloads, policy));
        machine.copy_runs.push(measureCopy()); // in the same conditions as senet's runs
      }
      else if (impl === 'torch') {
        const t = await import('./torch.js');
        const res = await t.runTorch(python!, workloads, threads, policy);
        raw.push(...res.results);
        if (res.info) {
          machine.torch = { ...res.info };
          if (res.info.threads !== threads) notes.push(`torch ran with ${res.info.threads} threads, senet with ${threads}`);
        }
        if (res.error) notes.push(`torch: ${res.error}`);
      } else {
        // loaded only when asked for: importing tfjs takes a while
        const t = await import('./tfjs_ops.js');
        machine.tfjs = t.TFJS_VERSION;
        raw.push(...(await t.runTfjs(impl === 'tfjs-cpu' ? 'cpu' : 'wasm', workloads, impl === 'tfjs-cpu' ? slowPolicy : policy)));
      }
    } catch (e) {
      progress(`  ${impl} failed: ${errorMessage(e)}`);
      for (const w of workloads) raw.push({ workload: w, impl, threads: 0, times_ms: [], warmup: 0, error: errorMessage(e) });
    }
  }

  const copyEnd = measureCopy();
  machine.copy_runs.push(copyEnd);
  const copies = machine.copy_runs.map((c) => c.gbps).filter((x): x is number => x !== null);
  const copy = copies.length ? Math.max(...copies) : null;
  machine.copy_gbps = copy;

  const date = new Date().toISOString();
  const order = (r: RawResult) => WORKLOAD_NAMES.indexOf(r.workload) * 10 + IMPL_NAMES.indexOf(r.impl);
  raw.sort((a, b) => order(a) - order(b));
  const records = toRecords(raw, machine, date);

  const out: string[] = [];
  out.push('');
  out.push(`senet op benchmarks  ${date}`);
  out.push(
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memGB} GB, ${machine.platform}; node ${machine.node}; ` +
      `copy bandwidth ${copy === null ? '-' : copy.toFixed(2)} GB/s (read + write, ${threads} threads, best of the start, after senet's runs and the end)`,
  );
  const versions = [`senet ${si.version} (isa ${si.isa}, oneDNN ${si.dnnl}, ${threads} threads)`];
  if (machine.torch) {
    const t = machine.torch as unknown as { torch: string; threads: number; mkldnn_available: boolean; onednn_version: string | null };
    versions.push(`torch ${t.torch} (${t.threads} threads, oneDNN ${t.onednn_version ?? '?'}, mkldnn available: ${t.mkldnn_available})`);
  }
  if (machine.tfjs) versions.push(`@tensorflow/tfjs ${machine.tfjs} (cpu, wasm backends)`);
  out.push(`versions: ${versions.join('; ')}`);
  out.push('workloads:');
  for (const w of workloads) out.push(`  ${w.padEnd(12)} ${describeSpec(WORKLOADS[w])}`);
  out.push('');
  out.push(renderTable(records));
  const ratios = renderRatios(records);
  if (ratios) {
    out.push('');
    out.push('time ratios (impl median / senet median; > 1 means senet is faster):');
    out.push(ratios);
  }
  out.push('');
  out.push('definitions:');
  out.push(`  ms         ${DEFINITIONS.ms}`);
  out.push(`  GB/s       ${DEFINITIONS.se_gbps}`);
  out.push(`  % copy bw  ${DEFINITIONS.pct_copy}`);
  out.push(`  GFLOP/s    ${DEFINITIONS.conv_gflops}`);
  out.push(`  se_fwdbwd  ${DEFINITIONS.se_fwdbwd}`);
  out.push(`  other load ${DEFINITIONS.other_load}`);
  const variants = [...new Set(records.filter((r) => r.variant).map((r) => `  ${r.impl} ${r.workload}: ${r.variant}`))];
  if (variants.length) {
    out.push('how each impl runs a workload (where not one obvious op):');
    out.push(...variants);
  }
  for (const r of records) if (r.error) notes.push(`${r.impl} ${r.workload}: ${r.error}`);
  for (const [i, c] of machine.copy_runs.entries())
    if ((c.other_load ?? 0) > BUSY_THRESHOLD)
      notes.push(`WARNING: other processes kept ${c.other_load!.toFixed(2)} cores busy during copy bandwidth measurement ${i + 1} (${c.gbps?.toFixed(2)} GB/s)`);
  const busy = records.filter((r) => (r.other_load ?? 0) > BUSY_THRESHOLD);
  if (busy.length)
    notes.push(
      `WARNING: other processes kept the CPUs busy during ${busy.map((r) => `${r.impl} ${r.workload} (${r.other_load!.toFixed(2)} cores)`).join(', ')}; ` +
        'those times are not trustworthy: rerun on an idle machine (--wait-idle 120 helps when the load comes and goes)',
    );
  if (!python && !onlyI) notes.push('PyTorch skipped: set SENET_BENCH_PYTHON=/path/to/python (with torch) to include it');
  if (notes.length) {
    out.push('notes:');
    for (const n of [...new Set(notes)]) out.push(`  ${n}`);
  }
  if (!values['no-write']) out.push(`results: ${writeResults(name, records)}`);
  out.push(`total time: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  console.log(out.join('\n'));
  return records.some((r) => r.error) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`bench: ${errorMessage(e)}`);
    process.exit(2);
  },
);
