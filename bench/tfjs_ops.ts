/**
 * TensorFlow.js's side of the op benchmarks: the same workloads written with
 * tf ops in NHWC, on the pure-JS 'cpu' backend and on the WebAssembly
 * backend (XNNPACK; single-threaded in Node). Both backends run kernels
 * eagerly and synchronously, so a run is over when its ops have returned.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import {
  WORKLOADS,
  errorMessage,
  measure,
  progressResult,
  type ConvSpec,
  type ImplName,
  type Policy,
  type RawResult,
  type RunFn,
  type SeSpec,
  type WorkloadName,
} from './lib.js';

export const TFJS_VERSION: string = tf.version.tfjs;

let wasmPathsSet = false;
function pointWasmAtPackage(): void {
  if (wasmPathsSet) return;
  const require = createRequire(import.meta.url);
  const dist = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  setWasmPaths(dist + '/');
  wasmPathsSet = true;
}

export type TfjsBackend = 'cpu' | 'wasm';

/** The SE block: z = mean_HW(u); a = relu(z W1^T + b1); s = sigmoid(a W2^T + b2); y = relu(u*s + r). */
function seBlock(u: tf.Tensor, r: tf.Tensor, w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor, b2: tf.Tensor): tf.Tensor {
  const [n, , , c] = u.shape as [number, number, number, number];
  const z = tf.mean(u, [1, 2]); // [N, C]
  const a = tf.relu(tf.add(tf.matMul(z, w1, false, true), b1)); // [N, D]
  const s = tf.sigmoid(tf.add(tf.matMul(a, w2, false, true), b2)); // [N, C]
  return tf.relu(tf.add(tf.mul(u, tf.reshape(s, [n, 1, 1, c])), r));
}

function seRun(s: SeSpec, live: tf.Tensor[]): RunFn {
  const shape = [s.n, s.h, s.w, s.c];
  const u = tf.randomNormal(shape, 0, 1, 'float32', 1);
  const r = tf.randomNormal(shape, 0, 1, 'float32', 2);
  const w1 = tf.randomNormal([s.d, s.c], 0, 1 / Math.sqrt(s.c), 'float32', 3);
  const b1 = tf.randomNormal([s.d], 0, 0.1, 'float32', 4);
  const w2 = tf.randomNormal([s.c, s.d], 0, 1 / Math.sqrt(s.d), 'float32', 5);
  const b2 = tf.randomNormal([s.c], 0, 0.1, 'float32', 6);
  live.push(u, r, w1, b1, w2, b2);
  if (!s.backward)
    return () => {
      const y = tf.tidy(() => seBlock(u, r, w1, b1, w2, b2));
      return () => y.dispose();
    };
  const dy = tf.randomNormal(shape, 0, 1, 'float32', 7);
  live.push(dy);
  // gradients with respect to u, r, w1, b1, w2, b2
  const fwdBwd = tf.valueAndGrads((u_: tf.Tensor, r_: tf.Tensor, w1_: tf.Tensor, b1_: tf.Tensor, w2_: tf.Tensor, b2_: tf.Tensor) =>
    seBlock(u_, r_, w1_, b1_, w2_, b2_),
  );
  return () => {
    const out = tf.tidy(() => {
      const { value, grads } = fwdBwd([u, r, w1, b1, w2, b2], dy);
      return [value, ...grads];
    });
    return () => tf.dispose(out);
  };
}

function convRun(s: ConvSpec, live: tf.Tensor[]): { run: RunFn; variant?: string } {
  const x = tf.randomNormal([s.n, s.h, s.w, s.cin], 0, 1, 'float32', 1) as tf.Tensor4D;
  const ci = s.cin / s.groups; // input channels per group
  const m = s.cout / s.groups; // output channels per group
  // OHWI weights, as senet has them
  const wOhwi = tf.randomNormal([s.cout, s.kh, s.kw, ci], 0, 1 / Math.sqrt(s.kh * s.kw * ci), 'float32', 2);
  const pad: [[number, number], [number, number], [number, number], [number, number]] = [
    [0, 0],
    [s.pad, s.pad],
    [s.pad, s.pad],
    [0, 0],
  ];
  live.push(x, wOhwi);
  if (s.groups === 1) {
    const f = tf.transpose(wOhwi, [1, 2, 3, 0]) as tf.Tensor4D; // HWIO
    live.push(f);
    return {
      run: () => {
        const y = tf.conv2d(x, f, s.stride, pad);
        return () => y.dispose();
      },
    };
  }
  // tfjs has no grouped conv2d. A grouped conv is a depthwise conv with
  // channel multiplier m (every input channel against the m filters of its
  // group) followed by a sum over the ci input channels of each group; this
  // does exactly the grouped conv's FLOPs (plus a small reduction) and was
  // 4x (wasm) / 1.5x (cpu) faster here than split -> 32 conv2d -> concat.
  const f = tf.tidy(() =>
    tf.reshape(tf.transpose(tf.reshape(wOhwi, [s.groups, m, s.kh, s.kw, ci]), [2, 3, 0, 4, 1]), [s.kh, s.kw, s.cin, m]),
  ) as tf.Tensor4D;
  live.push(f);
  return {
    variant: `depthwiseConv2d(channelMultiplier=${m}) + sum over the ${ci} inputs of each group (tfjs has no grouped conv2d)`,
    run: () => {
      const y = tf.tidy(() => {
        const d = tf.depthwiseConv2d(x, f, s.stride, pad); // [N, Ho, Wo, cin*m]
        const [n, ho, wo] = d.shape;
        return tf.reshape(tf.sum(tf.reshape(d, [n, ho, wo, s.groups, ci, m]), 4), [n, ho, wo, s.cout]);
      });
      return () => y.dispose();
    },
  };
}

export async function runTfjs(backend: TfjsBackend, workloads: WorkloadName[], policy: Policy): Promise<RawResult[]> {
  const impl: ImplName = backend === 'cpu' ? 'tfjs-cpu' : 'tfjs-wasm';
  const version = `@tensorflow/tfjs ${TFJS_VERSION}` + (backend === 'wasm' ? ' + tfjs-backend-wasm' : '');
  if (backend === 'wasm') pointWasmAtPackage();
  const fail = (e: unknown) =>
    workloads.map((w): RawResult => ({ workload: w, impl, threads: 1, version, times_ms: [], warmup: 0, error: errorMessage(e) }));
  try {
    if (!(await tf.setBackend(backend))) return fail(new Error(`tf.setBackend('${backend}') failed`));
    await tf.ready();
  } catch (e) {
    return fail(e);
  }
  // tfjs-cpu is plain JavaScript on the main thread; the wasm backend in
  // Node has no worker threads (WASM_HAS_MULTITHREAD_SUPPORT is false).
  const threads = backend === 'wasm' ? getThreadsCount() : 1;
  const out: RawResult[] = [];
  for (const name of workloads) {
    const spec = WORKLOADS[name];
    const live: tf.Tensor[] = [];
    let res: RawResult;
    try {
      const { run, variant } = spec.kind === 'se' ? { run: seRun(spec, live), variant: undefined } : convRun(spec, live);
      res = { workload: name, impl, threads, version, ...measure(run, policy) };
      if (variant) res.variant = variant;
    } catch (e) {
      res = { workload: name, impl, threads, version, times_ms: [], warmup: 0, error: errorMessage(e) };
    } finally {
      tf.dispose(live);
    }
    progressResult(res);
    out.push(res);
  }
  return out;
}
