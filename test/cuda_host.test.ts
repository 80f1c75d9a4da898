/**
 * The CUDA kernels' index arithmetic, checked on the host (every build, so
 * also on machines without a GPU): native/cuda/index.h and size_class.h are
 * plain C++ compiled into the addon, and _cudaHostChecks() walks them over
 * grids of shapes (native/cuda/host_checks.cc). The data checks compare what
 * the CUDA kernels would write -- computed with the kernels' own index code --
 * with what the CPU kernels do write: the Philox streams of randn/randu and
 * the SE mask bits.
 */
import test from 'ava';
import { info, nn, randn, randu, squeezeExcite, tensor, zeros, SenetError, disposeSeSaved } from '../lib/index.js';
import { addon } from '../lib/native.js';
import { Rng } from './helpers/rng.js';

for (const c of addon._cudaHostChecks())
  test(`cuda host check: ${c.name}`, (t) => {
    t.true(c.ok, c.detail);
  });

test('cuda host: the CUDA fills draw the CPU Philox streams (bit for bit)', (t) => {
  for (const [seed, n] of [[0, 1], [42, 1003], [2 ** 40 + 7, 4096]] as const) {
    const cpu = randn([n], { seed, mean: 0.5, std: 2 }).toArraySync();
    const dev = addon._cudaHostPhilox(seed, n, 'normal', 0.5, 2);
    t.deepEqual(Array.from(dev), Array.from(cpu), `randn seed ${seed} n ${n}`);
    const cu = randu([n], { seed, low: -1, high: 3 }).toArraySync();
    t.deepEqual(Array.from(addon._cudaHostPhilox(seed, n, 'uniform', -1, 3)), Array.from(cu), `randu seed ${seed} n ${n}`);
  }
});

test('cuda host: the SE kernel writes the CPU kernel\'s mask bits and byte layout', (t) => {
  for (const [N, H, W, C] of [[2, 3, 5, 24], [1, 4, 4, 37], [3, 2, 2, 64], [1, 1, 3, 9]] as const) {
    const r = new Rng(N * 1000 + C);
    const D = Math.max(1, C >> 2);
    const mk = (n: number, shape: number[]) => tensor(Float32Array.from(r.array(n)), shape);
    const u = mk(N * H * W * C, [N, H, W, C]), sc = mk(N * H * W * C, [N, H, W, C]);
    const w = { w1: mk(D * C, [D, C]), b1: mk(D, [D]), w2: mk(C * D, [C, D]), b2: mk(C, [C]) };
    const { y, saved } = squeezeExcite(u, w, { shortcut: sc });
    // bit = [v > 0] with y = relu(v): the same as [y > 0]
    const want = saved!.mask!.toArraySync() as Uint8Array;
    const got = addon._cudaHostSeMask(y.toArraySync() as Float32Array, N, H * W, C);
    t.is(got.length, want.length, `[${N},${H},${W},${C}] mask bytes`);
    t.deepEqual(Array.from(got), Array.from(want), `[${N},${H},${W},${C}] mask`);
    disposeSeSaved(saved!);
    for (const x of [y, u, sc, ...Object.values(w)]) x.dispose();
  }
});

test('cuda host: without a GPU, asking for cuda fails loudly; cast is CUDA-only for bfloat16', (t) => {
  const i = info();
  if (i.devices.some((d) => d.startsWith('cuda'))) {
    t.pass('a GPU is present: the GPU suite covers it (npm run test:gpu)');
    return;
  }
  const e = t.throws(() => zeros([2], { device: 'cuda:0' }), { instanceOf: SenetError });
  t.is(e?.code, 'SENET_DEVICE');
  t.regex(e?.message ?? '', i.cuda ? /this machine has none|CUDA device/ : /this build of senet has no CUDA/);
  const x = tensor([1, 2, 3], [3]);
  const same = addon.cast(x.handle('t', 'x'), 'float32');
  t.deepEqual(Array.from(same.toArraySync()), [1, 2, 3]);
  same.release();
  const e2 = t.throws(() => addon.cast(x.handle('t', 'x'), 'bfloat16'));
  t.is((e2 as { code?: string }).code, 'SENET_DTYPE');
  x.dispose();
});

test('cuda host: the precision switch is checked, and bfloat16 on the CPU is a clear SENET_DTYPE error', (t) => {
  const conv = new nn.Conv2d(3, 4, 3, { padding: 1, seed: 1 });
  const seq = new nn.Sequential(conv, new nn.ReLU());
  t.is(seq.precision, 'fp32');
  t.is(seq.setPrecision('bf16'), seq);
  t.is(conv.precision, 'bf16', 'children follow');
  const e = t.throws(() => seq.setPrecision('fp16' as never), { instanceOf: SenetError });
  t.is(e?.code, 'SENET_ARG');
  t.regex(e?.message ?? '', /setPrecision: expected precision 'fp32' or 'bf16', got string 'fp16'/);
  const x = zeros([1, 5, 5, 3]);
  const e2 = t.throws(() => seq.forward(x), { instanceOf: SenetError });
  t.is(e2?.code, 'SENET_DTYPE');
  t.regex(e2?.message ?? '', /^cast: expected x a cuda tensor \(bfloat16 compute is CUDA-only/);
  seq.setPrecision('fp32');
  const y = seq.forward(x);
  t.deepEqual([...y.shape], [1, 5, 5, 4]);
  y.dispose();
  x.dispose();
  seq.dispose();
});
