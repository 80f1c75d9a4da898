/**
 * The only door to the native addon. Loads build/Release/senet.node or a
 * prebuild through node-gyp-build and declares the addon's raw interface.
 * Nothing else in senet imports the .node file; everything above uses the
 * typed wrappers in tensor.ts and ops/.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A tensor as the addon sees it (an opaque, type-tagged object). */
export interface NativeHandle {
  readonly shape: number[];
  readonly dtype: string;
  readonly device: string;
  readonly released: boolean;
  readonly storageId: number;
  release(): void;
  toArraySync(): Float32Array | Int32Array | Uint8Array | Uint16Array;
  toArray(): Promise<Float32Array | Int32Array | Uint8Array | Uint16Array>;
}

type H = NativeHandle;
type Opts = Record<string, unknown>;

export interface NativeMemoryDevice {
  tensors: number;
  bytes: number;
  storages: number;
  allocatedBytes: number;
  peakAllocatedBytes: number;
  cachedBytes?: number;
  cacheHits?: number;
  cacheMisses?: number;
  /** CUDA: the caching allocator (device 0, and every device in perDevice) */
  reservedBytes?: number;
  inUseBytes?: number;
  peakReservedBytes?: number;
  deviceFreeBytes?: number;
  deviceTotalBytes?: number;
  perDevice?: Record<string, Record<string, number>>;
}

export interface NativeInfo {
  version: string;
  isa: string;
  bestIsa: string;
  isas: string[];
  threads: number;
  cpuSync: boolean;
  dnnl: string;
  l2Bytes: number;
  l3Bytes: number;
  cuda: boolean;
  devices: string[];
  /** CUDA builds: the GPUs found at run time, the library versions, and why there is none */
  cudaDevices?: string[];
  cudaLibraries?: string;
  cudaUnavailable?: string;
}

export interface NativeAddon {
  fromData(data: ArrayBufferView, shape: number[], dtype: string, device: string): H;
  full(shape: number[], value: number, dtype: string, device: string): H;
  randn(shape: number[], seed: number, mean: number, std: number, device: string): H;
  randu(shape: number[], seed: number, low: number, high: number, device: string): H;
  reshape(x: H, shape: number[]): H;
  clone(x: H): H;
  fill_(x: H, value: number): void;
  addScaled_(y: H, x: H, alpha: number): void;

  sync(): Promise<void>;
  syncSync(): void;
  memory(): { cpu: NativeMemoryDevice; cuda?: NativeMemoryDevice };
  emptyCache(): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  setIsa(isa: string): void;
  info(): NativeInfo;
  _copyBandwidth(bytes: number, reps: number): number;
  _seConfig(o: { blockBytes?: number; nt?: 'auto' | 'off' | 'on' }): void;
  _streamStores(o: { mode?: 'auto' | 'off' | 'on' }): 'auto' | 'off' | 'on';
  /** {on: true} starts timing the CPU stream's tasks; {on: false} stops and reports */
  _streamProfile(o: { on: boolean }): { ops: Array<{ op: string; calls: number; ms: number }>; busyMs: number; idleMs: number } | undefined;
  _gconvConfig(o: {
    mode?: 'auto' | 'on' | 'off';
    dense?: 'auto' | 'on' | 'off';
    winograd?: 'auto' | 'on' | 'off';
    bwdAsFwd?: 'auto' | 'on' | 'off';
    /** the Winograd forward's and weight gradient's tile: F(2x2, 3x3) or F(4x4, 3x3) */
    winogradTile?: 'auto' | 2 | 4;
    /** the 1x1 convolutions' weight gradient on senet's own matrix product (cpu/pwgrad.h) */
    pointwise?: 'auto' | 'on' | 'off';
  }): {
    mode: 'auto' | 'on' | 'off';
    calls: number;
    dense: 'auto' | 'on' | 'off';
    denseCalls: number;
    winograd: 'auto' | 'on' | 'off';
    winogradCalls: number;
    winogradTile: 'auto' | 2 | 4;
    winograd4Calls: number;
    bwdAsFwd: 'auto' | 'on' | 'off';
    bwdAsFwdCalls: number;
    pointwise: 'auto' | 'on' | 'off';
    pointwiseCalls: number;
  };
  /** float32 <-> bfloat16 (CUDA tensors; a CPU tensor only to its own dtype) */
  cast(x: H, dtype: string): H;
  _cudaCopyBandwidth(bytes: number, reps: number, device?: number): number;
  _cudaHostChecks(): Array<{ name: string; ok: boolean; detail: string }>;
  _cudaHostPhilox(seed: number, n: number, kind: 'normal' | 'uniform', a: number, b: number): Float32Array;
  _cudaHostSeMask(v: Float32Array, n: number, hw: number, c: number): Uint8Array;

  conv2d(x: H, w: H, b: H | null, o: Opts): H;
  conv2dBackwardData(dy: H, w: H, xShape: number[], o: Opts): H;
  conv2dBackwardFilter(dy: H, x: H, wShape: number[], withBias: boolean, o: Opts): [H, H | null];
  batchNormTrain(x: H, g: H, b: H, rm: H | null, rv: H | null, o: Opts): [H, H, H];
  batchNormInference(x: H, g: H, b: H, m: H, v: H, o: Opts): H;
  batchNormBackward(dy: H, x: H, g: H, m: H, v: H, o: Opts, beta?: H): [H, H, H];
  maxPool2d(x: H, o: Opts): [H, H];
  maxPool2dBackward(dy: H, ws: H, xShape: number[], o: Opts): H;
  avgPool2d(x: H, o: Opts): H;
  avgPool2dBackward(dy: H, xShape: number[], o: Opts): H;
  globalAvgPool(x: H): H;
  globalAvgPoolBackward(dy: H, xShape: number[]): H;
  linear(x: H, w: H, b: H | null): H;
  linearBackward(dy: H, x: H, w: H, o: Opts): [H | null, H, H | null];
  padChannels(x: H, o: Opts): H;
  padChannelsBackward(dy: H, o: Opts): H;
  unary(x: H, op: string, o: Opts): H;
  binary(a: H, b: H, op: string): H;
  addN(xs: H[]): H;
  clip(x: H, o: Opts): H;
  reduce(x: H, axes: number[], op: string): H;
  softmax(x: H): H;
  batchNormGradSums(dy: H, x: H, mean: H): [H, H];
  centeredVariance(x: H, mean: H): H;
  transpose(x: H, perm: number[]): H;
  tile(x: H, reps: number[]): H;
  pad(x: H, before: number[], after: number[], value: number): H;
  slice(x: H, begin: number[], size: number[], strides: number[]): H;
  matmul(a: H, b: H, bias: H | null, o: Opts): H;
  hostView(x: H): Float32Array | Int32Array | Uint8Array | Uint16Array;
  hostViewBorrow(x: H): [Float32Array | Int32Array | Uint8Array | Uint16Array, number];
  releaseHostView(view: ArrayBufferView, token: number): void;
  relu(x: H): H;
  reluBackward(dy: H, y: H): H;
  scaleChannels(u: H, s: H, r: H | null, bias: H | null, o: Opts): H;
  reluBackwardChannelDot(dy: H, y: H, u: H, mask?: H | null, nan?: H | null): [H, H];
  scaleChannelsBackward(dy: H, u: H, s: H): [H, H];
  add(a: H, b: H): H;
  softmaxCrossEntropy(logits: H, labels: H, o: Opts): [H, H];
  sgdStep(params: H[], grads: H[], buffers: H[] | null, o: Opts): void;
  /** [y, s, z, a, argmax, mask, nan (cpu: 1 when some y is NaN)] */
  squeezeExcite(u: H, w1: H, b1: H, w2: H, b2: H, shortcut: H | null, o: Opts): [H, H, H, H, H | null, H | null, (H | null)?];
  squeezeExciteBackward(
    dy: H, u: H, w1: H, w2: H, s: H, z: H, a: H, argmax: H | null, mask: H | null, o: Opts,
  ): [H, H | null, H, H, H, H];
}

/** The package root: the nearest folder above this file with senet's package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if (JSON.parse(readFileSync(pj, 'utf8')).name === 'senet') return dir;
      } catch {
        // keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('senet: cannot find the package root (package.json named "senet")');
    dir = up;
  }
}

/**
 * OpenMP waits passively by default in senet. GNU OpenMP's default spins
 * between parallel regions; when another process holds one of the cores, a
 * spinning thread starves the preempted one and ops run 3-20x slower
 * (measured here: the SE forward 140 ms -> 55 ms, 200 small convolutions
 * 190 ms -> 46 ms with a competing process). libgomp reads the variable when
 * it is loaded, i.e. with the addon below; set OMP_WAIT_POLICY or
 * GOMP_SPINCOUNT yourself to choose otherwise.
 */
function configureOpenMP(): void {
  if (process.env['OMP_WAIT_POLICY'] === undefined && process.env['GOMP_SPINCOUNT'] === undefined)
    process.env['OMP_WAIT_POLICY'] = 'passive';
}

function load(): NativeAddon {
  configureOpenMP();
  const require = createRequire(import.meta.url);
  const root = packageRoot();
  // SENET_ADDON=path/to/senet.node loads that build instead (the CUDA build in
  // build-cuda/, next to the CPU one in build/: scripts/test-gpu.sh).
  const explicit = process.env['SENET_ADDON'];
  if (explicit) {
    const path = isAbsolute(explicit) ? explicit : join(root, explicit);
    try {
      return require(path) as NativeAddon;
    } catch (e) {
      throw new Error(`senet: could not load SENET_ADDON=${explicit} (${path}): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
  try {
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeAddon;
    return nodeGypBuild(root);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(
      [
        `senet: could not load the native addon from ${root}`,
        `  ${msg}`,
        'Possible solutions:',
        '  - build it: `npm run build:native` (needs cmake, a C++17 compiler and oneDNN:',
        '    `apt-get install libdnnl-dev` on Debian/Ubuntu), or reinstall: `npm install`;',
        '  - when the build exists but fails to load with "libdnnl.so.2: cannot open shared object file",',
        '    install oneDNN\'s runtime (`apt-get install libdnnl2`);',
        '  - the addon needs an x86-64 CPU with AVX2 and FMA.',
      ].join('\n'),
      { cause: e },
    );
  }
}

export const addon: NativeAddon = load();
