import test from 'ava';
import { spawnSync } from 'node:child_process';
import {
  Tensor, tensor, zeros, ones, full, randn, randu, tidy, keep, dispose, memory, sync, syncSync, setSeed, conv2d,
  softmaxCrossEntropy, emptyCache, SenetError, info, relu, add, type SenetErrorCode,
} from '../lib/index.js';
import { addon } from '../lib/native.js';
import { DEVICES, perDevice } from './helpers/devices.js';

const bad = (t: import('ava').ExecutionContext, fn: () => unknown, code: SenetErrorCode, re: RegExp) => {
  const e = t.throws(fn, { instanceOf: SenetError });
  t.is(e?.code, code);
  t.regex(e?.message ?? '', re);
};

perDevice('tensor() from TypedArrays, flat and nested arrays', (t, device) => {
  const a = tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3], { device });
  t.deepEqual([...a.shape], [2, 3]);
  t.is(a.dtype, 'float32');
  t.is(a.device, device);
  t.is(a.size, 6);
  t.is(a.rank, 2);
  t.deepEqual([...a.toArraySync()], [1, 2, 3, 4, 5, 6]);
  const b = tensor([[1, 2, 3], [4, 5, 6]], undefined, { device });
  t.deepEqual([...b.shape], [2, 3]);
  t.deepEqual(b.toNested(), [[1, 2, 3], [4, 5, 6]]);
  const c = tensor([7, 8], [2], { dtype: 'int32', device });
  t.true(c.toArraySync() instanceof Int32Array);
  t.deepEqual([...c.toArraySync()], [7, 8]);
  const d = tensor(new Int32Array([3, 4]), [2], { device });
  t.is(d.dtype as string, 'int32', 'an Int32Array gives an int32 tensor');
  const s = tensor([2.5], [], { device });
  t.deepEqual([...s.shape], []);
  t.is(s.item(), 2.5);
  for (const x of [a, b, c, d, s]) x.dispose();
});

perDevice('zeros, ones, full, randn, randu', (t, device) => {
  t.deepEqual([...zeros([2, 2], { device }).toArraySync()], [0, 0, 0, 0]);
  t.deepEqual([...ones([3], { device }).toArraySync()], [1, 1, 1]);
  t.deepEqual([...full([2], -1.5, { device }).toArraySync()], [-1.5, -1.5]);
  t.deepEqual([...full([2], 7, { dtype: 'int32', device }).toArraySync()], [7, 7]);
  t.is(zeros([0, 3], { device }).size, 0);
  // randn: seeded, the same numbers for the same seed, statistics of N(mean, std)
  const n = 1 << 20;
  const x = randn([n], { seed: 42, mean: 1, std: 2, device }).toArraySync();
  const y = randn([n], { seed: 42, mean: 1, std: 2, device }).toArraySync();
  t.deepEqual(x.slice(0, 100), y.slice(0, 100));
  t.notDeepEqual(x.slice(0, 100), randn([100], { seed: 43, device }).toArraySync());
  let s = 0, s2 = 0;
  for (const v of x) {
    s += v;
    s2 += (v - 1) ** 2;
  }
  // mean of 2^20 samples with std 2: standard error 2/1024 ~ 0.002; 5 sigma
  t.true(Math.abs(s / n - 1) < 0.01, `mean ${s / n}`);
  // sample variance: relative standard error sqrt(2/n) ~ 0.0014; 5 sigma
  t.true(Math.abs(s2 / n / 4 - 1) < 0.007, `var ${s2 / n}`);
  const u = randu([n], { seed: 1, low: -2, high: 3, device }).toArraySync();
  t.true(u.every((v) => v >= -2 && v < 3));
  t.true(Math.abs(u.reduce((a, b) => a + b, 0) / n - 0.5) < 0.01);
  // the global seed sequence
  setSeed(7);
  const a1 = randn([5], { device }).toArraySync();
  setSeed(7);
  t.deepEqual(randn([5], { device }).toArraySync(), a1);
});

perDevice('toArray() resolves without blocking the event loop', async (t, device) => {
  const x = randn([16, 56, 56, 64], { device }), w = randn([64, 3, 3, 64], { device });
  syncSync();
  const y = conv2d(x, w, null, { padding: 1 }); // ~100 ms of queued work
  let ticked = false;
  setImmediate(() => (ticked = true));
  const p = y.toArray();
  t.true(p instanceof Promise);
  const data = await p;
  t.true(ticked, 'the event loop ran while the data was being computed');
  t.is(data.length, y.size);
  await sync();
  for (const v of [x, w, y]) v.dispose();
});

perDevice('reshape is a view, clone is a copy', (t, device) => {
  const a = tensor([1, 2, 3, 4], [4], { device });
  const v = a.reshape([2, 2]);
  t.is(v._h!.storageId, a._h!.storageId);
  const c = a.clone();
  t.not(c._h!.storageId, a._h!.storageId);
  a.dispose();
  t.deepEqual([...v.toArraySync()], [1, 2, 3, 4], 'a view keeps the memory alive');
  bad(t, () => v.reshape([3]), 'SENET_SHAPE', /reshape: expected shape a shape with 4 elements \(x is \[2,2\]\), got \[3\]/);
  v.dispose();
  c.dispose();
});

test('dispose, tidy, keep and memory() return to baseline', (t) => {
  const base = memory();
  const a = randn([10, 10]);
  t.is(memory().tensors, base.tensors + 1);
  t.is(memory().bytes, base.bytes + 400);
  a.dispose();
  a.dispose(); // idempotent
  t.true(a.disposed);
  t.is(memory().tensors, base.tensors);
  let kept: Tensor | null = null;
  const out = tidy(() => {
    const x = randn([4]);
    randn([4]);
    kept = keep(randn([2]));
    const inner = tidy(() => {
      randn([8]);
      return { r: [x, randn([3])] };
    });
    t.false(inner.r[0]!.disposed);
    return inner.r[1]!;
  });
  t.false(out.disposed);
  t.false(kept!.disposed);
  t.is(memory().tensors, base.tensors + 2);
  dispose([out, kept]);
  t.is(memory().tensors, base.tensors);
  t.is(memory().bytes, base.bytes);
  bad(t, () => tidy((() => Promise.resolve()) as never), 'SENET_ARG', /tidy: expected fn a synchronous function/);
  // storage of queued work is released when the work is done
  syncSync();
  t.is(memory().devices['cpu']!.storages, base.devices['cpu']!.storages);
  emptyCache();
  t.is(memory().devices['cpu']!.cachedBytes, 0);
});

test('the FinalizationRegistry frees tensors that were never disposed', async (t) => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return t.fail('run with --expose-gc (ava.config.js sets it)');
  const leakedBefore = memory().leaked;
  // Keep the native handles (not the tensors): the tensors become garbage.
  const handles = (() => {
    const hs = [];
    for (let i = 0; i < 50; i++) hs.push(randn([256])._h!);
    return hs;
  })();
  t.true(handles.every((h) => !h.released));
  for (let i = 0; i < 50 && !handles.every((h) => h.released); i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  t.true(handles.every((h) => h.released), 'every unreachable tensor was released');
  t.true(memory().leaked - leakedBefore >= 50);
});

perDevice('creation rejects bad input with SENET_* errors', (t, device) => {
  bad(t, () => zeros([2, -1], { device }), 'SENET_SHAPE', /^full: expected shape\[1\] a non-negative integer dimension, got number -1/);
  bad(t, () => zeros([2, NaN], { device }), 'SENET_SHAPE', /shape\[1\] a non-negative integer dimension, got number NaN/);
  bad(t, () => zeros([2, Infinity], { device }), 'SENET_SHAPE', /shape\[1\]/);
  bad(t, () => zeros([1.5], { device }), 'SENET_SHAPE', /shape\[0\]/);
  bad(t, () => zeros('3' as never, { device }), 'SENET_SHAPE', /expected shape an array of dimensions, got string '3'/);
  bad(t, () => zeros([2 ** 20, 2 ** 20], { device }), 'SENET_OOM', /^full: out of memory on (cpu|cuda:\d+): requested 4398046511104 bytes/);
  bad(t, () => randn([2 ** 30, 2 ** 30], { device }), 'SENET_SHAPE', /expected shape at most 2\^50 elements/);
  bad(t, () => zeros([2], { dtype: 'float64' as never, device }), 'SENET_DTYPE', /expected dtype one of float32\|int32\|uint8\|bfloat16, got string 'float64'/);
  bad(t, () => full([2], NaN, { dtype: 'int32', device }), 'SENET_ARG', /^full: expected value an integer in the int32 range for an int32 tensor, got number NaN/);
  bad(t, () => full([2], 300, { dtype: 'uint8', device }), 'SENET_ARG', /expected value an integer in \[0, 255\] for a uint8 tensor/);
  bad(t, () => tensor([1, 2, 3], [2, 2], { device }), 'SENET_SHAPE', /^tensor: expected data 4 elements for shape \[2,2\], got 3/);
  bad(t, () => tensor([1, 'a' as never], [2], { device }), 'SENET_ARG', /expected data\[1\] a number, got string 'a'/);
  bad(t, () => tensor(42 as never), 'SENET_ARG', /expected data a TypedArray or an array of numbers, got number 42/);
  bad(t, () => zeros([2], { device: 'tpu' as never }), 'SENET_DEVICE', /expected device 'cpu' or 'cuda:N', got 'tpu'/);
  if (!info().cuda) bad(t, () => zeros([2], { device: 'cuda:0' }), 'SENET_DEVICE', /this build of senet has no CUDA/);
  bad(t, () => randn([2], { seed: -1, device }), 'SENET_ARG', /randn: expected seed a non-negative integer/);
  bad(t, () => randn([2], { std: -1, device }), 'SENET_ARG', /randn: expected std a finite number >= 0/);
  const x = randn([2], { device });
  x.dispose();
  bad(t, () => x.toArraySync(), 'SENET_DISPOSED', /^toArraySync: expected tensor a live tensor, got a disposed tensor of shape \[2\]/);
  bad(t, () => x.reshape([2]), 'SENET_DISPOSED', /^reshape: expected x a live tensor/);
  bad(t, () => randn([2, 3], { device }).item(), 'SENET_SHAPE', /^item: expected tensor one element, got shape \[2,3\]/);
  // the process lives on
  t.is(randn([3], { device }).size, 3);
});

// Serial: the deferred error is per stream, so a concurrent test's wait could take it.
test.serial('an error found by a kernel after enqueue surfaces at the next wait, once', async (t) => {
  const logits = randn([4, 5]);
  const labels = tensor([0, 1, 9, 2], [4], { dtype: 'int32' });
  const { loss, dlogits } = softmaxCrossEntropy(logits, labels);
  const e = await t.throwsAsync(() => loss.toArray(), { instanceOf: SenetError });
  t.is(e?.code, 'SENET_KERNEL');
  t.regex(e!.message, /softmaxCrossEntropy: expected labels in \[0, 5\), got 9 at index 2/);
  // reported once; the engine goes on
  await sync();
  t.is(softmaxCrossEntropy(logits, [0, 1, 2, 3]).loss.size, 1);
  dispose([logits, labels, loss, dlogits]);
});

// Mixed devices need two devices: registered where a GPU is present.
if (info().devices.includes('cuda:0'))
  test('mixed devices are refused', (t) => {
    const a = randn([2, 5, 5, 8]), w = randn([4, 3, 3, 8], { device: 'cuda:0' });
    bad(t, () => conv2d(a, w), 'SENET_DEVICE', /conv2d: expected w to be on cpu like x, got cuda:0/);
  });

perDevice('to(device) copies a tensor; modules move with their parameters and buffers', (t, device) => {
  const a = tensor([1, 2, 3], [3], { device });
  const b = a.to(device);
  t.not(b._h!.storageId, a._h!.storageId, 'a copy, not a view');
  t.deepEqual([...b.toArraySync()], [1, 2, 3]);
  t.is(b.device, device);
  if (!info().devices.includes('cuda:0'))
    bad(t, () => a.to('cuda:0'), 'SENET_DEVICE', /^tensor: expected device cpu \(this build of senet has no CUDA\)|cuda/);
  dispose([a, b]);
});

test.serial('_streamProfile: times the tasks the CPU stream runs, per op, and reports when stopped', (t) => {
  if (!DEVICES.includes('cpu')) return t.pass();
  addon._streamProfile({ on: true });
  const x = randn([64, 64], { seed: 1 });
  const ys = [relu(x), relu(x), add(x, x)];
  const p = addon._streamProfile({ on: false })!;
  const find = (op: string) => p.ops.find((o) => o.op === op);
  t.true((find('relu')?.calls ?? 0) >= 2, 'relu counted');
  t.true((find('add')?.calls ?? 0) >= 1, 'add counted');
  t.true(p.ops.every((o) => o.ms >= 0 && o.calls >= 1) && p.busyMs >= 0 && p.idleMs >= 0);
  t.true(Math.abs(p.ops.reduce((a, o) => a + o.ms, 0) - p.busyMs) < 1e-6, 'busy is the sum of the ops');
  for (let i = 1; i < p.ops.length; i++) t.true(p.ops[i - 1]!.ms >= p.ops[i]!.ms, 'largest first');
  // stopped: nothing more is recorded
  const z = relu(x);
  const q = addon._streamProfile({ on: false })!;
  t.deepEqual(q.ops, []);
  for (const v of [x, ...ys, z]) v.dispose();
});

test('the host cache keeps what the program has had in use at once, past SENET_CPU_CACHE_MB, and no more', (t) => {
  // In a child process: the limit is read once, at the first allocation.
  const script = `
    import { zeros, dispose, syncSync, memory, emptyCache } from ${JSON.stringify(new URL('../lib/index.js', import.meta.url).href)};
    const cpu = () => { syncSync(); const c = memory().devices.cpu; return { cached: c.cachedBytes, hits: c.cacheHits, misses: c.cacheMisses }; };
    const MB = 1 << 20, out = {};
    const round = () => dispose([zeros([2 * MB]), zeros([2 * MB]), zeros([2 * MB])]); // 8 MiB each, all in use at once
    const start = cpu();
    round(); out.first = cpu();
    round(); out.second = cpu();
    const big = zeros([10 * MB]); out.big = cpu(); dispose(big); out.bigFreed = cpu();
    emptyCache(); out.emptied = cpu();
    dispose(zeros([2 * MB])); out.after = cpu();
    // a hit empties the 16 MiB bin; the next miss evicts past it (to the 8 MiB block)
    emptyCache();
    dispose([zeros([2 * MB]), zeros([4 * MB])]);
    const c16 = zeros([4 * MB]), big2 = zeros([10 * MB]); out.emptyBin = cpu(); dispose([c16, big2]);
    for (const k of Object.keys(out)) { out[k].hits -= start.hits; out[k].misses -= start.misses; }
    console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, SENET_CPU_CACHE_MB: '1', SENET_CPU_SYNC: '1' }, encoding: 'utf8',
  });
  t.is(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, { cached: number; hits: number; misses: number }>;
  const MiB = 1 << 20;
  // 24 MiB were in use at once: their blocks stay cached although the limit is 1 MiB ...
  t.deepEqual(o['first'], { cached: 24 * MiB, hits: 0, misses: 3 });
  // ... so the same step again takes them from the cache instead of the system
  t.deepEqual(o['second'], { cached: 24 * MiB, hits: 3, misses: 3 });
  // a 40 MiB block: in use 40 + cached 24 is past the peak, so the 8 MiB blocks go back to the system
  t.deepEqual(o['big'], { cached: 0, hits: 3, misses: 4 });
  t.deepEqual(o['bigFreed'], { cached: 40 * MiB, hits: 3, misses: 4 });
  // emptyCache gives everything back and forgets the peak
  t.is(o['emptied']!.cached, 0);
  t.deepEqual(o['after'], { cached: 8 * MiB, hits: 3, misses: 5 });
  t.deepEqual(o['emptyBin'], { cached: 0, hits: 4, misses: 8 });
});

test('a queued op takes its output memory when it runs, not at the call: peak memory follows the stream, not the JavaScript thread', (t) => {
  // In a child process (its own peak counter). Ten 1536^3 matrix products (72 GFLOP)
  // keep the stream busy while the JavaScript thread queues a chain of 30
  // adds, each disposing the one before: blocks taken at the call would be
  // all 30 outputs at once (480 MiB); taken when each add runs, two or three.
  const script = `
    import { randn, add, matmul, dispose, syncSync, memory } from ${JSON.stringify(new URL('../lib/index.js', import.meta.url).href)};
    const MiB = 1 << 20;
    const a = randn([4 * MiB]), m = randn([1536, 1536]);
    syncSync();
    const base = memory().devices.cpu.allocatedBytes;
    const slow = [];
    for (let i = 0; i < 10; i++) slow.push(matmul(m, m));
    let h = a;
    for (let i = 0; i < 30; i++) { const n = add(h, h); if (h !== a) h.dispose(); h = n; }
    const queued = memory().devices.cpu.allocatedBytes - base;
    syncSync();
    const peak = memory().devices.cpu.peakAllocatedBytes - base;
    const v = h.toArraySync()[0], want = a.toArraySync()[0] * 2 ** 30;
    dispose([h, a, m, ...slow]);
    console.log(JSON.stringify({ queued, peak, ok: v === want }));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, SENET_CPU_SYNC: '' } });
  t.is(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as { queued: number; peak: number; ok: boolean };
  const MiB = 1 << 20;
  t.true(o.ok, 'the chain computed 2^30 * a');
  // (a product or two may have started meanwhile: 9 MiB each; the eager build took 520 MiB)
  t.true(o.queued < 64 * MiB, `memory taken while the work was only queued: ${o.queued / MiB} MiB`);
  // the products' outputs (10 x 9 MiB) plus at most three 16 MiB links of the chain
  t.true(o.peak <= 90 * MiB + 3 * 16 * MiB, `peak ${o.peak / MiB} MiB above the inputs`);
});
