/**
 * The only door to the native addon. Loads build/Release/senet.node or a
 * prebuild through node-gyp-build and declares the addon's raw interface.
 * Nothing else in senet imports the .node file; everything above uses the
 * typed wrappers in tensor.ts and ops/.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

  conv2d(x: H, w: H, b: H | null, o: Opts): H;
  conv2dBackwardData(dy: H, w: H, xShape: number[], o: Opts): H;
  conv2dBackwardFilter(dy: H, x: H, wShape: number[], withBias: boolean, o: Opts): [H, H | null];
  batchNormTrain(x: H, g: H, b: H, rm: H | null, rv: H | null, o: Opts): [H, H, H];
  batchNormInference(x: H, g: H, b: H, m: H, v: H, o: Opts): H;
  batchNormBackward(dy: H, x: H, g: H, m: H, v: H, o: Opts): [H, H, H];
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
  relu(x: H): H;
  reluBackward(dy: H, y: H): H;
  add(a: H, b: H): H;
  softmaxCrossEntropy(logits: H, labels: H, o: Opts): [H, H];
  sgdStep(params: H[], grads: H[], buffers: H[] | null, o: Opts): void;
  squeezeExcite(u: H, w1: H, b1: H, w2: H, b2: H, shortcut: H | null, o: Opts): [H, H, H, H, H | null, H | null];
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

function load(): NativeAddon {
  const require = createRequire(import.meta.url);
  const root = packageRoot();
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
