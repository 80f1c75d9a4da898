/**
 * A/B of the direct grouped-convolution kernels against oneDNN, in one
 * process: for each ResNeXt-50 (32x4d) grouped 3x3 shape and direction the
 * two modes (_gconvConfig off / on) run interleaved, rep by rep, and the
 * medians are printed with the load average around them.
 *
 *   node --import tsx bench/gconv.ts [--threads 2] [--reps 15] [--only fwd,bwdData,bwdWeights] [--shapes 0,1]
 *                                    [--torch /opt/venv/bin/python]
 *
 * --set cifar times SE-ResNet-20's dense 3x3 shapes (groups 1) instead.
 * --torch adds PyTorch's forward (nn.Conv2d, channels_last, no_grad, the
 * same thread count; median of --reps runs after warm-up), run right after
 * senet's forward A/B of each shape.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import {
  conv2d, conv2dBackwardData, conv2dBackwardFilter, getNumThreads, info, randn, setNumThreads, syncSync,
} from '../lib/index.js';
import { addon } from '../lib/native.js';

const { values } = parseArgs({
  options: {
    threads: { type: 'string' },
    reps: { type: 'string', default: '15' },
    only: { type: 'string', default: 'fwd,bwdData,bwdWeights' },
    shapes: { type: 'string' },
    set: { type: 'string', default: 'resnext' },
    torch: { type: 'string' },
  },
});
if (values.threads) setNumThreads(Number(values.threads));
const reps = Number(values.reps);
const dirs = values.only!.split(',');

interface Shape { name: string; xs: [number, number, number, number]; stride: number; groups?: number; co?: number }
const RESNEXT: Shape[] = [
  { name: 'stage1 [32,56,56,128] s1', xs: [32, 56, 56, 128], stride: 1 },
  { name: 'stage2 [32,28,28,256] s1', xs: [32, 28, 28, 256], stride: 1 },
  { name: 'stage3 [32,14,14,512] s1', xs: [32, 14, 14, 512], stride: 1 },
  { name: 'stage4 [32,7,7,1024] s1', xs: [32, 7, 7, 1024], stride: 1 },
  { name: 'stage2 first [32,56,56,256] s2', xs: [32, 56, 56, 256], stride: 2 },
  { name: 'stage3 first [32,28,28,512] s2', xs: [32, 28, 28, 512], stride: 2 },
  { name: 'stage4 first [32,14,14,1024] s2', xs: [32, 14, 14, 1024], stride: 2 },
];
// --set cifar: the dense (groups 1) 3x3 convolutions of SE-ResNet-20 on 28x28 inputs at batch 128.
const CIFAR: Shape[] = [
  { name: 'stem [128,28,28,1]->16', xs: [128, 28, 28, 1], stride: 1, groups: 1, co: 16 },
  { name: 'stage1 [128,28,28,16]', xs: [128, 28, 28, 16], stride: 1, groups: 1 },
  { name: 'stage2 first [128,28,28,16]->32 s2', xs: [128, 28, 28, 16], stride: 2, groups: 1, co: 32 },
  { name: 'stage2 [128,14,14,32]', xs: [128, 14, 14, 32], stride: 1, groups: 1 },
  { name: 'stage3 first [128,14,14,32]->64 s2', xs: [128, 14, 14, 32], stride: 2, groups: 1, co: 64 },
];
const SHAPES = values.set === 'cifar' ? CIFAR : RESNEXT;
const picked = values.shapes ? values.shapes.split(',').map((s) => SHAPES[Number(s)]!) : SHAPES;

const TORCH = `
import json, statistics, sys, time, torch
n, h, w, c, stride, threads, reps = (int(v) for v in sys.argv[1:8])
torch.set_num_threads(threads)
conv = torch.nn.Conv2d(c, c, 3, stride=stride, padding=1, groups=32, bias=False).to(memory_format=torch.channels_last)
x = torch.randn(n, c, h, w).to(memory_format=torch.channels_last)
ts = []
with torch.no_grad():
    for _ in range(3): conv(x)
    for _ in range(reps):
        t0 = time.perf_counter(); conv(x); ts.append((time.perf_counter() - t0) * 1e3)
print(json.dumps({"median": statistics.median(ts), "version": torch.__version__}))
`;

function torchForward(s: Shape): { median: number; version: string } {
  const [N, H, Wd, C] = s.xs;
  const out = execFileSync(values.torch!, ['-c', TORCH, ...[N, H, Wd, C, s.stride, getNumThreads(), reps].map(String)]);
  return JSON.parse(out.toString()) as { median: number; version: string };
}

const median = (a: number[]) => {
  const s = [...a].sort((p, q) => p - q);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

console.log(`senet ${info().isa}, threads ${getNumThreads()}, ${os.cpus()[0]?.model}, loadavg ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
console.log('shape | dir | oneDNN ms (median) | direct ms (median) | speed-up | loadavg(1m) during');
for (const s of picked) {
  const [N, H, Wd, C] = s.xs;
  const G = s.groups ?? 32, Cg = C / G, Co = s.co ?? C;
  const opts = { stride: s.stride, padding: 1, groups: G };
  const x = randn(s.xs), w = randn([Co, 3, 3, Cg]);
  const y0 = conv2d(x, w, null, opts);
  const dy = randn([...y0.shape]);
  for (const dir of dirs) {
    const f = dir === 'fwd' ? () => conv2d(x, w, null, opts).dispose()
      : dir === 'bwdData' ? () => conv2dBackwardData(dy, w, [N, H, Wd, C], opts).dispose()
        : () => conv2dBackwardFilter(dy, x, [Co, 3, 3, Cg], { ...opts, withBias: false }).dw.dispose();
    const t: Record<'off' | 'on', number[]> = { off: [], on: [] };
    const load: number[] = [];
    for (const mode of ['off', 'on'] as const) { // warm-up (primitive creation, scratch growth)
      addon._gconvConfig({ mode });
      for (let i = 0; i < 2; i++) { f(); syncSync(); }
    }
    for (let r = 0; r < reps; r++)
      for (const mode of (r % 2 ? ['on', 'off'] : ['off', 'on']) as Array<'off' | 'on'>) {
        addon._gconvConfig({ mode });
        const t0 = performance.now();
        f();
        syncSync();
        t[mode].push(performance.now() - t0);
        load.push(os.loadavg()[0]!);
      }
    const a = median(t.off), b = median(t.on);
    console.log(`${s.name} | ${dir} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(a / b).toFixed(2)}x | ${Math.min(...load).toFixed(2)}-${Math.max(...load).toFixed(2)}`);
    if (dir === 'fwd' && values.torch && G === 32 && Co === C) {
      const r = torchForward(s);
      console.log(`${s.name} | fwd PyTorch ${r.version} | ${r.median.toFixed(1)} | | direct ${(r.median / b).toFixed(2)}x faster | ${os.loadavg()[0]!.toFixed(2)}`);
    }
  }
  for (const v of [x, w, y0, dy]) v.dispose();
}
addon._gconvConfig({ mode: 'auto' });
