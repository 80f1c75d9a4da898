/**
 * senet's side of the op benchmarks. senet queues ops on its native worker
 * thread and returns at once, so every timed run ends with syncSync().
 */
import * as senet from '../lib/index.js';
import { addon } from '../lib/native.js';
import {
  WORKLOADS,
  errorMessage,
  measure,
  progressResult,
  type ConvSpec,
  type Policy,
  type RawResult,
  type RunFn,
  type SeSpec,
  type WorkloadName,
} from './lib.js';

const VERSION = `senet ${senet.info().version}`;

/** The machine's copy bandwidth in GB/s (bytes read + bytes written), with senet's threads. */
export function copyBandwidth(bytes = 512 * 1024 * 1024, reps = 5): number {
  return addon._copyBandwidth(bytes, reps);
}

function seRun(s: SeSpec, live: senet.Tensor[]): RunFn {
  const shape = [s.n, s.h, s.w, s.c];
  const u = senet.randn(shape, { seed: 1 });
  const r = senet.randn(shape, { seed: 2 });
  const w = {
    w1: senet.randn([s.d, s.c], { seed: 3, std: 1 / Math.sqrt(s.c) }),
    b1: senet.randn([s.d], { seed: 4, std: 0.1 }),
    w2: senet.randn([s.c, s.d], { seed: 5, std: 1 / Math.sqrt(s.d) }),
    b2: senet.randn([s.c], { seed: 6, std: 0.1 }),
  };
  live.push(u, r, w.w1, w.b1, w.w2, w.b2);
  const opts = { shortcut: r, squeeze: 'avg', gate: 'sigmoid' } as const;
  if (!s.backward)
    return () => {
      const { y } = senet.squeezeExcite(u, w, opts, false);
      senet.syncSync();
      return () => y.dispose();
    };
  const dy = senet.randn(shape, { seed: 7 });
  live.push(dy);
  return () => {
    const { y, saved } = senet.squeezeExcite(u, w, opts, true);
    const g = senet.squeezeExciteBackward(dy, saved!, w);
    senet.syncSync();
    return () => {
      y.dispose();
      senet.disposeSeSaved(saved!);
      senet.dispose([g.du, g.dshortcut, g.dw1, g.db1, g.dw2, g.db2]);
    };
  };
}

function convRun(s: ConvSpec, live: senet.Tensor[]): RunFn {
  const x = senet.randn([s.n, s.h, s.w, s.cin], { seed: 1 });
  // OHWI
  const w = senet.randn([s.cout, s.kh, s.kw, s.cin / s.groups], { seed: 2, std: 1 / Math.sqrt((s.kh * s.kw * s.cin) / s.groups) });
  live.push(x, w);
  const opts = { stride: s.stride, padding: s.pad, groups: s.groups };
  return () => {
    const y = senet.conv2d(x, w, null, opts);
    senet.syncSync();
    return () => y.dispose();
  };
}

export function runSenet(workloads: WorkloadName[], policy: Policy): RawResult[] {
  const threads = senet.getNumThreads();
  const out: RawResult[] = [];
  for (const name of workloads) {
    const spec = WORKLOADS[name];
    const live: senet.Tensor[] = [];
    let res: RawResult;
    try {
      const run = spec.kind === 'se' ? seRun(spec, live) : convRun(spec, live);
      senet.syncSync();
      res = { workload: name, impl: 'senet', threads, version: VERSION, ...measure(run, policy) };
    } catch (e) {
      res = { workload: name, impl: 'senet', threads, version: VERSION, times_ms: [], warmup: 0, error: errorMessage(e) };
    } finally {
      senet.dispose(live);
      senet.syncSync();
    }
    progressResult(res);
    out.push(res);
  }
  senet.emptyCache();
  return out;
}
