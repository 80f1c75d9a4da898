/**
 * PyTorch CPU, run in a child process (bench/torch_ops.py) with the Python
 * named by SENET_BENCH_PYTHON. PyTorch is never a dependency of senet; this
 * is only a reference point. The child gets the workload specs, the thread
 * count and the timing policy, and answers with JSON lines on stdout; its
 * stderr and any other stdout lines (ONEDNN_VERBOSE=1 output) go to stderr.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BENCH_DIR, WORKLOADS, progressResult, waitBudget, type Policy, type RawResult, type WorkloadName } from './lib.js';

export interface TorchInfo {
  torch: string;
  python: string;
  threads: number;
  mkldnn_available: boolean;
  mkldnn_enabled: boolean;
  onednn_version: string | null;
  cpu_capability: string;
}

export async function runTorch(
  python: string,
  workloads: WorkloadName[],
  threads: number,
  policy: Policy,
): Promise<{ info: TorchInfo | null; results: RawResult[]; error?: string }> {
  const script = join(BENCH_DIR, 'torch_ops.py');
  const args = [
    script,
    '--threads', String(threads),
    '--spec', JSON.stringify(workloads.map((w) => WORKLOADS[w])),
    '--policy', JSON.stringify(policy),
  ];
  if (Number.isFinite(waitBudget.left)) args.push('--wait-budget', String(Math.max(0, waitBudget.left)));
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
  const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.on('error', (error) => resolve({ code: null, error }));
    child.on('close', (code) => resolve({ code }));
  });

  let info: TorchInfo | null = null;
  const results: RawResult[] = [];
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    let msg: Record<string, unknown> | null = null;
    if (line.startsWith('{'))
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        // not ours
      }
    if (!msg) {
      // anything else a library printed (ONEDNN_VERBOSE=1 lines): pass it on
      process.stderr.write(line + '\n');
      continue;
    }
    if (msg.type === 'info') {
      const { type: _type, ...rest } = msg;
      info = rest as unknown as TorchInfo;
    }
    else if (msg.type === 'result') {
      const r: RawResult = {
        workload: msg.workload as WorkloadName,
        impl: 'torch',
        threads: msg.threads as number,
        times_ms: msg.times_ms as number[],
        warmup: msg.warmup as number,
        version: info ? `torch ${info.torch}` : undefined,
      };
      if (typeof msg.other_load === 'number') r.other_load = msg.other_load;
      if (typeof msg.waited_s === 'number') {
        r.waited_s = msg.waited_s;
        waitBudget.left -= msg.waited_s; // the child spent it
      }
      if (typeof msg.attempts === 'number') r.attempts = msg.attempts;
      if (typeof msg.variant === 'string') r.variant = msg.variant;
      if (typeof msg.error === 'string') r.error = msg.error;
      progressResult(r);
      results.push(r);
    }
  }
  const { code, error } = await exited;
  if (error || code !== 0) {
    const why = error ? `could not run ${python}: ${error.message}` : `${python} ${script} exited with code ${code}`;
    // workloads the child did not get to
    for (const w of workloads)
      if (!results.some((r) => r.workload === w))
        results.push({ workload: w, impl: 'torch', threads, times_ms: [], warmup: 0, error: why });
    return { info, results, error: why };
  }
  return { info, results };
}
