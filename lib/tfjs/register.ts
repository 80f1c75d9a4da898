/**
 * Registers the `senet` backend and its kernels: every kernel of
 * tfjs-backend-cpu (they read and write through the backend's data store,
 * which hands them host views of native data), with senet's native kernels
 * in front of those we accelerate. A native kernel that declines a call
 * (another dtype, NCHW, an empty tensor...) hands it to the cpu kernel.
 */
import {
  getKernelsForBackend,
  registerBackend,
  registerKernel,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { SenetBackend, type SenetBackendOptions } from './backend.js';
import type { NativeKernel } from './kernels/util.js';
import { elementwiseKernels } from './kernels/elementwise.js';
import { reduceKernels } from './kernels/reduce.js';
import { layoutKernels } from './kernels/layout.js';
import { matmulKernels } from './kernels/matmul.js';
import { convKernels } from './kernels/conv.js';
import { poolKernels } from './kernels/pool.js';
import { batchNormKernels } from './kernels/batchnorm.js';
import { graphKernels } from './kernels/graph.js';
import { installGradients } from './gradients.js';
import { BACKEND_NAME_CONST } from './names.js';

export const BACKEND_NAME = BACKEND_NAME_CONST;
/** Above tfjs-backend-cpu (1) and -wasm / -webgl (2): tf.ready() picks senet once it is imported. */
export const PRIORITY = 3;

export const NATIVE_KERNELS: Record<string, NativeKernel> = {
  ...elementwiseKernels,
  ...reduceKernels,
  ...layoutKernels,
  ...matmulKernels,
  ...convKernels,
  ...poolKernels,
  ...batchNormKernels,
  // in front of the plain Mean, Sum, Sub, Square, Neg, Add, Multiply, Relu (it calls them for what it does not recognise)
  ...graphKernels,
};

/** Calls per kernel over every backend instance of the process (native, fallback). */
export const KERNEL_TOTALS = { native: new Map<string, number>(), fallback: new Map<string, number>() };

function count(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}
function countNative(b: SenetBackend, k: string): void {
  count(b.stats.native, k);
  count(KERNEL_TOTALS.native, k);
}
function countFallback(b: SenetBackend, k: string): void {
  count(b.stats.fallback, k);
  count(KERNEL_TOTALS.fallback, k);
}

function isDeviceError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'SENET_DEVICE';
}

function wrap(name: string, cpu: KernelFunc, nativeKernel: NativeKernel | undefined): KernelFunc {
  if (!nativeKernel) {
    return (args) => {
      countFallback(args.backend as SenetBackend, name);
      return cpu(args);
    };
  }
  return (args) => {
    const b = args.backend as SenetBackend;
    if (b.nativeEnabled) {
      let r: TensorInfo | TensorInfo[] | null = null;
      try {
        r = nativeKernel(args.inputs as never, b, args.attrs as never);
      } catch (e) {
        // An op without an implementation for the backend's device: the cpu kernel runs it.
        if (!isDeviceError(e)) throw e;
      }
      if (r !== null) {
        countNative(b, name);
        return r;
      }
    }
    countFallback(b, name);
    return cpu(args);
  };
}

function deviceFromEnv(): string {
  const d = (typeof process !== 'undefined' && process.env['SENET_TFJS_DEVICE']) || 'cpu';
  return d === 'cuda' ? 'cuda:0' : d;
}

let registered = false;

/** Registers the backend (idempotent). Options apply to backends created from now on. */
export function registerSenetBackend(opts: SenetBackendOptions = {}): void {
  const factory = () => {
    // tfjs registers its gradients when @tensorflow/tfjs is imported, possibly after us: (re)install ours now.
    installGradients();
    return new SenetBackend({
      device: opts.device ?? deviceFromEnv(),
      native: opts.native ?? (typeof process === 'undefined' || process.env['SENET_TFJS_NATIVE'] !== '0'),
    });
  };
  if (registered) return;
  registered = true;
  registerBackend(BACKEND_NAME, factory, PRIORITY);
  installGradients();
  const done = new Set<string>();
  for (const cfg of getKernelsForBackend('cpu')) {
    const k: KernelConfig = { ...cfg, backendName: BACKEND_NAME, kernelFunc: wrap(cfg.kernelName, cfg.kernelFunc, NATIVE_KERNELS[cfg.kernelName]) };
    registerKernel(k);
    done.add(cfg.kernelName);
  }
  for (const [name, fn] of Object.entries(NATIVE_KERNELS)) {
    if (done.has(name)) continue;
    // No cpu kernel to fall back to: a declined call is an error.
    registerKernel({
      kernelName: name,
      backendName: BACKEND_NAME,
      kernelFunc: (args) => {
        const r = fn(args.inputs as never, args.backend as SenetBackend, args.attrs as never);
        if (r === null) throw new Error(`senet tfjs backend: kernel ${name} does not support these inputs`);
        countNative(args.backend as SenetBackend, name);
        return r;
      },
    });
  }
}
