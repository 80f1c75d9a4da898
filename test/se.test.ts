import test from 'ava';
import {
  memory, randn, setIsa, setNumThreads, getNumThreads, squeezeExcite, squeezeExciteBackward, disposeSeSaved, tensor, zeros,
  SenetError, info, type Device, type SeGate, type SeSqueeze, type SenetErrorCode,
} from '../lib/index.js';
import { addon } from '../lib/native.js';
import {
  seBackwardK, seBackwardRef, seForwardBound, seForwardRef, type SeDims, type SeOpts, type SeParams,
} from './reference/se.js';
import { DEVICES, ISAS, perDevice } from './helpers/devices.js';
import { Rng } from './helpers/rng.js';
import { T, read } from './helpers/tensors.js';
import { U32, assertClose, assertNear } from './helpers/compare.js';
import { FD_ATOL, FD_RTOL, dot, numericalGrad, sampleIndices } from './helpers/fd.js';
import { badInput } from './helpers/errors.js';

const MARGIN = 1e-3;

interface Case {
  u: Float64Array;
  r: Float64Array | null;
  w: SeParams;
  dy: Float64Array;
}

/**
 * Random inputs, then nudged so that no ReLU/gate pre-activation lies within
 * max(MARGIN, 4 x its fp32 error bound) of 0 and every max squeeze has a
 * unique maximum by MARGIN: fp32 rounding then cannot flip a mask, and the
 * float64 finite differences do not cross a kink.
 */
function makeCase(d: SeDims, o: SeOpts, seed: number): Case {
  const { N, P, C, D } = d;
  const rng = new Rng(seed);
  const u = rng.array(N * P * C);
  const r = o.residual ? rng.array(N * P * C) : null;
  const w: SeParams = {
    w1: rng.array(D * C, 1 / Math.sqrt(C)),
    b1: rng.array(D, 0.5),
    w2: rng.array(C * D, 1 / Math.sqrt(D)),
    b2: rng.array(C, 0.5),
  };
  const dy = rng.array(N * P * C);
  const push = (x: number) => Math.fround(x + (x >= 0 ? 1 : -1) * (4 * MARGIN + 0.01 * Math.abs(x)));
  if (o.squeeze === 'max') {
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++) {
        let b = -1, best = -Infinity, second = -Infinity;
        for (let p = 0; p < P; p++) {
          const x = u[(n * P + p) * C + c]!;
          if (x > best) [second, best, b] = [best, x, p];
          else if (x > second) second = x;
        }
        if (best - second < MARGIN) u[(n * P + b) * C + c] = Math.fround(best + 4 * MARGIN);
      }
  }
  for (let iter = 0; iter < 100; iter++) {
    const f = seForwardRef(d, u, w, r, o);
    const fb = seForwardBound(d, u, w, r, o, f);
    const thr = (bound: number) => Math.max(MARGIN, 4 * bound);
    let changed = false;
    for (let n = 0; n < N; n++)
      for (let j = 0; j < D; j++)
        if (Math.abs(f.h[n * D + j]!) < thr(fb.h[n * D + j]!)) {
          w.b1[j] = push(w.b1[j]!);
          changed = true;
        }
    if (o.gate === 'relu')
      for (let i = 0; i < N * C; i++)
        if (Math.abs(f.pre[i]!) < thr(fb.s[i]!)) {
          w.b2[i % C] = push(w.b2[i % C]!);
          changed = true;
        }
    if (r)
      for (let i = 0; i < r.length; i++)
        if (Math.abs(f.v[i]!) < thr(fb.y[i]!)) {
          r[i] = push(r[i]!);
          changed = true;
        }
    if (!changed) return { u, r, w, dy };
  }
  throw new Error('makeCase: could not move pre-activations away from 0');
}

const SHAPES: Array<[string, SeDims, [number, number, number, number]]> = [
  ['N=2 5x7 C=24 D=3', { N: 2, P: 35, C: 24, D: 3 }, [2, 5, 7, 24]],
  ['N=1 4x4 C=64 D=4', { N: 1, P: 16, C: 64, D: 4 }, [1, 4, 4, 64]],
  ['N=3 3x3 C=37 D=5 (vector tail)', { N: 3, P: 9, C: 37, D: 5 }, [3, 3, 3, 37]],
  ['N=4 14x14 C=128 D=8', { N: 4, P: 196, C: 128, D: 8 }, [4, 14, 14, 128]],
];

const VARIANTS: SeOpts[] = [];
for (const squeeze of ['avg', 'max'] as SeSqueeze[])
  for (const gate of ['sigmoid', 'tanh', 'relu'] as SeGate[])
    for (const residual of [true, false]) VARIANTS.push({ squeeze, gate, residual });

function tensors(c: Case, shape: number[], d: SeDims, device: Device) {
  return {
    u: T(c.u, shape, device),
    r: c.r ? T(c.r, shape, device) : null,
    w: { w1: T(c.w.w1, [d.D, d.C], device), b1: T(c.w.b1, [d.D], device), w2: T(c.w.w2, [d.C, d.D], device), b2: T(c.w.b2, [d.C], device) },
    dy: T(c.dy, shape, device),
  };
}

/** Runs forward + backward on the engine and checks every output against the reference. */
function checkAll(t: import('ava').ExecutionContext, d: SeDims, shape: number[], o: SeOpts, c: Case, device: Device, label: string) {
  const ref = seForwardRef(d, c.u, c.w, c.r, o);
  const fb = seForwardBound(d, c.u, c.w, c.r, o, ref);
  // The margins must dominate the rounding bounds, or a mask could flip (makeCase ensures it).
  if (o.residual) t.true(ref.v.every((v, i) => Math.abs(v) > 2 * fb.y[i]!), `${label}: an output within its error bound of 0`);
  t.true(ref.h.every((h, i) => Math.abs(h) > 2 * fb.h[i]!), `${label}: a hidden unit within its error bound of 0`);
  const x = tensors(c, shape, d, device);
  const { y, saved } = squeezeExcite(x.u, x.w, { squeeze: o.squeeze, gate: o.gate, shortcut: x.r });
  assertClose(t, read(y), ref.y, { mag: fb.y, k: 1 / U32, name: `${label} y` });
  assertClose(t, read(saved!.s), ref.s, { mag: fb.s, k: 1 / U32, name: `${label} s` });
  assertClose(t, read(saved!.z), ref.z, { mag: fb.z, k: 1 / U32, name: `${label} z` });
  assertClose(t, read(saved!.a), ref.a, { mag: fb.h, k: 1 / U32, name: `${label} a` });
  if (o.squeeze === 'max') t.deepEqual([...(saved!.argmax!.toArraySync() as Int32Array)], [...ref.argmax], `${label} argmax`);
  else t.is(saved!.argmax, null);
  t.is(saved!.mask === null, !o.residual);

  const g = seBackwardRef(d, c.dy, c.u, c.w, ref, o);
  const mag = seBackwardRef(d, c.dy, c.u, c.w, ref, o, true);
  const k = seBackwardK(d);
  const e = squeezeExciteBackward(x.dy, saved!, x.w);
  assertClose(t, read(e.du), g.du, { mag: mag.du, k, name: `${label} du` });
  if (o.residual) assertClose(t, read(e.dshortcut!), g.dr, { mag: mag.dr, k, name: `${label} dshortcut` });
  else t.is(e.dshortcut, null);
  assertClose(t, read(e.dw1), g.dw1, { mag: mag.dw1, k, name: `${label} dw1` });
  assertClose(t, read(e.db1), g.db1, { mag: mag.db1, k, name: `${label} db1` });
  assertClose(t, read(e.dw2), g.dw2, { mag: mag.dw2, k, name: `${label} dw2` });
  assertClose(t, read(e.db2), g.db2, { mag: mag.db2, k, name: `${label} db2` });
  disposeSeSaved(saved!);
  for (const v of [y, e.du, e.dshortcut, e.dw1, e.db1, e.dw2, e.db2, x.u, x.r, x.dy, ...Object.values(x.w)]) v?.dispose();
}

for (const [si, [name, d, shape]] of SHAPES.entries()) {
  perDevice(`squeezeExcite fwd+bwd, every squeeze/gate/residual variant and ISA: ${name}`, (t, device) => {
    for (const isa of device === 'cpu' ? ISAS : [null]) {
      if (isa) setIsa(isa);
      for (const [vi, o] of VARIANTS.entries()) {
        const c = makeCase(d, o, 1000 * si + vi);
        checkAll(t, d, shape, o, c, device, `${isa ?? device} ${o.squeeze}/${o.gate}/${o.residual ? 'res' : 'plain'}`);
      }
    }
    if (device === 'cpu') setIsa(info().bestIsa as 'avx2');
  });
}

// The CPU kernel cuts the work into blocks of samples and H*W chunks that
// depend on the thread count and cache budget, and streams large outputs
// with non-temporal stores: every cut must give the reference's result, and
// the same cut twice must give bit-identical results.
test('squeezeExcite CPU kernel: thread counts, multi-block and non-temporal paths', (t) => {
  if (!DEVICES.includes('cpu')) return t.pass();
  const d: SeDims = { N: 5, P: 81, C: 64, D: 4 };
  const shape = [5, 9, 9, 64];
  const threads = getNumThreads();
  try {
    for (const isa of ISAS) {
      setIsa(isa);
      for (const o of [VARIANTS[0]!, VARIANTS[6]!]) {
        const c = makeCase(d, o, 77);
        for (const nt of ['off', 'on'] as const)
          for (const blockBytes of [0, 1, 9 * 9 * 64 * 4 * 2])
            for (const n of [1, 2, 3]) {
              setNumThreads(n);
              addon._seConfig({ blockBytes, nt });
              checkAll(t, d, shape, o, c, 'cpu', `${isa} ${o.squeeze} threads=${n} block=${blockBytes} nt=${nt}`);
            }
        // determinism: the same configuration twice
        const x = tensors(c, shape, d, 'cpu');
        const a = squeezeExcite(x.u, x.w, { squeeze: o.squeeze, gate: o.gate, shortcut: x.r });
        const b = squeezeExcite(x.u, x.w, { squeeze: o.squeeze, gate: o.gate, shortcut: x.r });
        t.deepEqual(a.y.toArraySync(), b.y.toArraySync());
        const ga = squeezeExciteBackward(x.dy, a.saved!, x.w), gb = squeezeExciteBackward(x.dy, b.saved!, x.w);
        t.deepEqual(ga.dw1.toArraySync(), gb.dw1.toArraySync());
        t.deepEqual(ga.du.toArraySync(), gb.du.toArraySync());
      }
    }
  } finally {
    addon._seConfig({ blockBytes: 0, nt: 'auto' });
    setNumThreads(threads);
    setIsa(info().bestIsa as 'avx2');
  }
});

perDevice('squeezeExcite keeps NaN through the excitation\'s relu (as torch.relu): a NaN bias makes its unit and the sample\'s output NaN; the cpu NaN flag', (t, device) => {
  const r = new Rng(31);
  const N = 2, C = 12, D = 3, shape = [N, 2, 3, C];
  const b1 = r.array(D);
  b1[1] = NaN;
  const w = { w1: T(r.array(D * C, 0.3), [D, C], device), b1: T(b1, [D], device), w2: T(r.array(C * D, 0.3), [C, D], device), b2: T(r.array(C), [C], device) };
  const u = T(r.array(N * 6 * C), shape, device);
  const { y, saved } = squeezeExcite(u, w, { shortcut: T(r.array(N * 6 * C), shape, device) });
  const a = read(saved!.a);
  for (let n = 0; n < N; n++) t.true(Number.isNaN(a[n * D + 1]!), `a[${n}, 1]`);
  t.true(read(y).every((v) => Number.isNaN(v)), 'relu(u * NaN + r)');
  if (device === 'cpu') t.deepEqual([...read(saved!.nan!)], [1]);
  else t.is(saved!.nan, null);
  disposeSeSaved(saved!);
});

test('squeezeExcite reference backward matches finite differences (every variant)', (t) => {
  const d: SeDims = { N: 2, P: 6, C: 5, D: 3 };
  for (const [vi, o] of VARIANTS.entries()) {
    const c = makeCase(d, o, 500 + vi);
    const f = seForwardRef(d, c.u, c.w, c.r, o);
    const g = seBackwardRef(d, c.dy, c.u, c.w, f, o);
    const L = (u: Float64Array, w: SeParams, r: Float64Array | null) => dot(seForwardRef(d, u, w, r, o).y, c.dy);
    const label = `${o.squeeze}/${o.gate}/${o.residual}`;
    const nu = numericalGrad((v) => L(v, c.w, c.r), c.u);
    assertNear(t, g.du, [...nu.values()], FD_RTOL, FD_ATOL, `${label} du`);
    if (c.r) {
      const nr = numericalGrad((v) => L(c.u, c.w, v), c.r);
      assertNear(t, g.dr, [...nr.values()], FD_RTOL, FD_ATOL, `${label} dr`);
    }
    for (const key of ['w1', 'b1', 'w2', 'b2'] as const) {
      const idx = sampleIndices(c.w[key].length, 12);
      const num = numericalGrad((v) => L(c.u, { ...c.w, [key]: v }, c.r), c.w[key], idx);
      const an = g[`d${key}` as 'dw1'];
      assertNear(t, idx.map((i) => an[i]!), idx.map((i) => num.get(i)!), FD_RTOL, FD_ATOL, `${label} d${key}`);
    }
  }
});

perDevice('squeezeExcite rejects bad input; the process lives on', (t, device) => {
  const u = randn([2, 4, 4, 16], { device });
  const w = { w1: randn([4, 16], { device }), b1: randn([4], { device }), w2: randn([16, 4], { device }), b2: randn([16], { device }) };
  const bad = badInput(t);
  bad(() => squeezeExcite(randn([2, 16], { device }), w), 'SENET_SHAPE', /^squeezeExcite: expected u a rank-4 NHWC tensor, got shape \[2,16\]/);
  bad(() => squeezeExcite(u, { ...w, w1: randn([4, 15], { device }) }), 'SENET_SHAPE', /expected w1 \[hidden >= 1, 16\] \(u has 16 channels\), got shape \[4,15\]/);
  bad(() => squeezeExcite(u, { ...w, w2: randn([16, 5], { device }) }), 'SENET_SHAPE', /expected w2 shape \[16,4\], got \[16,5\]/);
  bad(() => squeezeExcite(u, { ...w, b1: randn([5], { device }) }), 'SENET_SHAPE', /expected b1 shape \[4\]/);
  bad(() => squeezeExcite(u, { ...w, b2: randn([4], { device }) }), 'SENET_SHAPE', /expected b2 shape \[16\]/);
  bad(() => squeezeExcite(u, w, { shortcut: randn([2, 4, 4, 8], { device }) }), 'SENET_SHAPE', /expected shortcut shape \[2,4,4,16\]/);
  bad(() => squeezeExcite(u, w, { squeeze: 'mean' as never }), 'SENET_ARG', /expected squeeze one of avg\|max, got string 'mean'/);
  bad(() => squeezeExcite(u, w, { gate: 'softmax' as never }), 'SENET_ARG', /expected gate one of sigmoid\|tanh\|relu/);
  bad(() => squeezeExcite(zeros([2, 0, 4, 16], { device }), w), 'SENET_SHAPE', /expected u all dimensions > 0/);
  bad(() => squeezeExcite(u, null as never), 'SENET_ARG', /expected weights an object/);
  bad(() => squeezeExcite(tensor([1], [1, 1, 1, 1], { dtype: 'int32', device }), w), 'SENET_DTYPE', /expected u dtype float32, got int32/);
  const { y, saved } = squeezeExcite(u, w, { squeeze: 'max' });
  bad(() => squeezeExciteBackward(randn([2, 4, 4, 8], { device }), saved!, w), 'SENET_SHAPE', /squeezeExciteBackward: expected dy shape \[2,4,4,16\]/);
  bad(() => squeezeExciteBackward(y, {} as never, w), 'SENET_ARG', /expected saved the state squeezeExcite returned/);
  saved!.s.dispose();
  bad(() => squeezeExciteBackward(y, saved!, w), 'SENET_DISPOSED', /expected saved.s a live tensor, got a disposed tensor/);
  w.w1.dispose();
  bad(() => squeezeExcite(u, w), 'SENET_DISPOSED', /^squeezeExcite: expected w1 a live tensor/);
  // direct native calls with the saved state missing or wrong
  const w1 = randn([4, 16], { device });
  const r = squeezeExcite(u, { ...w, w1 }, { shortcut: u });
  const h = (x: { handle: (a: string, b: string) => unknown }) => x.handle('t', 'x') as never;
  const s = r.saved!;
  t.throws(() => addon.squeezeExciteBackward(h(y), h(u), h(w1), h(w.w2), h(s.s), h(s.z), h(s.a), null, null, { residual: true }),
    { message: /expected mask the mask tensor squeezeExcite returned with a shortcut, got null/ });
  t.throws(() => addon.squeezeExciteBackward(h(y), h(u), h(w1), h(w.w2), h(s.s), h(s.z), h(s.a), null, h(s.mask!), { squeeze: 'max', residual: true }),
    { message: /expected argmax the argmax tensor/ });
  t.throws(() => addon.squeezeExciteBackward(h(y), h(u), h(w1), h(w.w2), h(s.s), h(s.z), h(s.a), null, h(s.s), { residual: true }),
    { message: /expected mask dtype uint8, got float32/ });
  // still alive
  const ok = squeezeExcite(u, { ...w, w1 });
  t.deepEqual([...ok.y.shape], [2, 4, 4, 16]);
});

test('squeezeExcite leaves memory at baseline after dispose', (t) => {
  const before = memory();
  const u = randn([2, 4, 4, 16]);
  const w = { w1: randn([4, 16]), b1: randn([4]), w2: randn([16, 4]), b2: randn([16]) };
  for (const o of VARIANTS) {
    const { y, saved } = squeezeExcite(u, w, { squeeze: o.squeeze, gate: o.gate, shortcut: o.residual ? u : null });
    const g = squeezeExciteBackward(y, saved!, w);
    disposeSeSaved(saved!);
    for (const v of Object.values(g)) v?.dispose();
    y.dispose();
    const inference = squeezeExcite(u, w, { squeeze: o.squeeze }, false);
    t.is(inference.saved, null);
    inference.y.dispose();
  }
  u.dispose();
  for (const v of Object.values(w)) v.dispose();
  t.is(memory().tensors, before.tensors);
  t.is(memory().bytes, before.bytes);
});
