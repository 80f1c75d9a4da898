/**
 * The direct grouped-convolution kernels (native/cpu/gconv_*): forward,
 * backward data and backward weights (+ bias) against the float64
 * reference, forced on (_gconvConfig({mode: 'on'})) so a wrong kernel fails
 * even where the automatic choice would take oneDNN, under every ISA the
 * CPU supports; the tests also check that the dispatcher really took the
 * direct path wherever the kernels cover the case, and that results are
 * bit-identical for a repeated call at 1, 2 and 3 threads. Winograd and the
 * flipped backward data (test/dconv.test.ts), which come before these
 * kernels for dense 3x3 stride-1 cases, are off here.
 */
import test, { type ExecutionContext } from 'ava';
import {
  conv2d, conv2dBackwardData, conv2dBackwardFilter, getNumThreads, info, setIsa, setNumThreads, type Tensor,
} from '../lib/index.js';
import { addon } from '../lib/native.js';
import { conv2dBackwardRef, conv2dRef, type ConvCase, convP } from './reference/conv.js';
import { DEVICES, ISAS } from './helpers/devices.js';
import { T, numel, read } from './helpers/tensors.js';
import { abs, assertClose } from './helpers/compare.js';
import { convOpts, convSetup } from './helpers/conv.js';

type Isa = 'scalar' | 'avx2' | 'avx512';

type Case = ConvCase;
const P = convP;

// Cg = Ci/groups, Og = Co/groups in the names.
const CASES: Case[] = [
  { name: 'Cg=Og=4 g=32 (ResNeXt stage 1), 3x3 pad 1, odd W, bias', xs: [2, 6, 9, 128], ws: [128, 3, 3, 4], p: P([1, 1], [1, 1, 1, 1], [1, 1], 32), bias: true },
  { name: 'Cg=Og=4 g=32, stride 2 (first block), N=1', xs: [1, 9, 8, 128], ws: [128, 3, 3, 4], p: P([2, 2], [1, 1, 1, 1], [1, 1], 32), bias: false },
  { name: 'Cg=Og=8 g=8, stride 2, asymmetric pad, bias', xs: [2, 8, 7, 64], ws: [64, 3, 3, 8], p: P([2, 2], [1, 0, 2, 1], [1, 1], 8), bias: true },
  { name: 'Cg=Og=16 g=4, 3x3 pad 1, N=1, odd H', xs: [1, 7, 6, 64], ws: [64, 3, 3, 16], p: P([1, 1], [1, 1, 1, 1], [1, 1], 4), bias: true },
  { name: 'Cg=Og=32 g=2, dilation [1,2], pad [0,1,1,0]', xs: [2, 5, 6, 64], ws: [64, 3, 3, 32], p: P([1, 1], [0, 1, 1, 0], [1, 2], 2), bias: false },
  { name: 'Cg=Og=1 g=16 (depthwise), stride 2, asymmetric pad, bias', xs: [1, 7, 6, 16], ws: [16, 3, 3, 1], p: P([2, 2], [1, 0, 2, 1], [1, 1], 16), bias: true },
  { name: 'Cg=Og=2 g=64, dilation 2, pad 2', xs: [1, 9, 7, 128], ws: [128, 3, 3, 2], p: P([1, 1], [2, 2, 2, 2], [2, 2], 64), bias: false },
  { name: 'Cg=Og=4 g=3 (partial last vector), stride 2, pad [1,1,0,2], bias', xs: [2, 6, 5, 12], ws: [12, 3, 3, 4], p: P([2, 2], [1, 1, 0, 2], [1, 1], 3), bias: true },
  { name: 'Cg=4 Og=8 g=8 (channel multiplier 2), 3x3 pad 1', xs: [1, 6, 6, 32], ws: [64, 3, 3, 4], p: P([1, 1], [1, 1, 1, 1], [1, 1], 8), bias: true },
  { name: 'Cg=8 Og=4 g=4, stride [1,2]', xs: [2, 5, 7, 32], ws: [16, 3, 3, 8], p: P([1, 2], [1, 1, 1, 1], [1, 1], 4), bias: false },
  { name: 'Cg=Og=8 g=4, 1x1 stride 2 (dx pixels without taps)', xs: [2, 5, 5, 32], ws: [32, 1, 1, 8], p: P([2, 2], [0, 0, 0, 0], [1, 1], 4), bias: true },
  { name: 'Cg=Og=4 g=8, 5x3 kernel, stride [2,1], pad [2,2,1,1]', xs: [1, 9, 6, 32], ws: [32, 5, 3, 4], p: P([2, 1], [2, 2, 1, 1], [1, 1], 8), bias: true },
  // dense (groups 1): SE-ResNet-20's shapes, chosen automatically on AVX2
  { name: 'dense Cg=Og=16 g=1, 3x3 pad 1, odd W, bias', xs: [2, 6, 7, 16], ws: [16, 3, 3, 16], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: true },
  { name: 'dense Cg=16 Og=32 g=1, stride 2', xs: [2, 7, 6, 16], ws: [32, 3, 3, 16], p: P([2, 2], [1, 1, 1, 1], [1, 1], 1), bias: false },
  { name: 'dense Cg=Og=32 g=1, N=1, asymmetric pad', xs: [1, 5, 6, 32], ws: [32, 3, 3, 32], p: P([1, 1], [1, 0, 2, 1], [1, 1], 1), bias: true },
  { name: 'dense Cg=Og=4 g=1 (one partial vector)', xs: [2, 5, 5, 4], ws: [4, 3, 3, 4], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: true },
  { name: 'Cg=Og=4 g=4, 2x2 kernel stride 3 (stride > kernel), pad [1,0,0,1]', xs: [2, 8, 7, 16], ws: [16, 2, 2, 4], p: P([3, 3], [1, 0, 0, 1], [1, 1], 4), bias: false },
  { name: 'Cg=4 Og=12 g=3 (output quads, partial last vector), stride 2', xs: [2, 7, 6, 12], ws: [36, 3, 3, 4], p: P([2, 2], [1, 1, 1, 1], [1, 1], 3), bias: true },
  { name: 'Cg=12 Og=4 g=3, 3x3 pad [0,2,1,1]', xs: [1, 6, 7, 36], ws: [12, 3, 3, 12], p: P([1, 1], [0, 2, 1, 1], [1, 1], 3), bias: false },
  { name: 'Cg=Og=3 g=5, 3x3 pad 1', xs: [1, 5, 5, 15], ws: [15, 3, 3, 3], p: P([1, 1], [1, 1, 1, 1], [1, 1], 5), bias: true },
  // rows of 512 channels: an image spans several row tiles (tiles are cut by the L2 size)
  { name: 'Cg=Og=4 g=128, 40x9 pixels of 512 channels (several row tiles), bias', xs: [1, 40, 9, 512], ws: [512, 3, 3, 4], p: P([1, 1], [1, 1, 1, 1], [1, 1], 128), bias: true },
  { name: 'Cg=Og=8 g=64, 41x7 pixels of 512 channels, stride 2 (several row tiles)', xs: [1, 41, 7, 512], ws: [512, 3, 3, 8], p: P([2, 2], [1, 1, 1, 1], [1, 1], 64), bias: false },
  { name: 'Cg=Og=8 g=32 (ResNeXt stage 2), input smaller than the padded kernel span', xs: [1, 2, 3, 256], ws: [256, 3, 3, 8], p: P([1, 1], [1, 1, 1, 1], [1, 1], 32), bias: false },
];

// The 'scalar' kernels are portable 16-lane code mirroring the AVX-512 ones.
type Dir = 'fwd' | 'bwdData' | 'bwdWeights';

const WIDTH: Record<Isa, number> = { scalar: 16, avx2: 8, avx512: 16 };

/** The coverage rule of native/cpu/gconv.h (Layout) for a pass writing OCg channels per group from ICg. */
function covers(icg: number, ocg: number, w: number, reduce: boolean): boolean {
  if (icg < 1 || ocg < 1 || icg > 32 || ocg > 32) return false;
  return ocg % w === 0 || (reduce && icg === 4 && ocg % 4 === 0 && w % 4 === 0) || (ocg < w && w % ocg === 0 && icg === ocg);
}
function covered(c: Case, isa: Isa, dir: Dir): boolean {
  const g = c.p.groups, cg = c.ws[3], og = c.ws[0] / g;
  if (g < 1 || c.ws[1] * c.ws[2] > 256) return false;
  return dir === 'bwdData' ? covers(og, cg, WIDTH[isa], true) : covers(cg, og, WIDTH[isa], dir === 'fwd');
}

const setup = convSetup;
const opts = convOpts;
const calls = () => addon._gconvConfig({}).calls;

interface Out { y: Float64Array; dx: Float64Array; dw: Float64Array; db: Float64Array | null }

/**
 * Runs fwd, bwd data, bwd weights; checks that each took the direct path exactly when `direct(dir)`
 * (default: forced on, so whenever the kernels cover the case).
 */
function run(t: ExecutionContext, c: Case, d: ReturnType<typeof setup>, isa: Isa, label: string,
  direct: (dir: Dir) => boolean = (dir) => covered(c, isa, dir)): Out {
  const [xT, wT, dyT] = [T(d.x, c.xs, 'cpu'), T(d.w, c.ws, 'cpu'), T(d.dy, d.ys, 'cpu')];
  const bT = d.b && T(d.b, [c.ws[0]], 'cpu');
  const n0 = calls();
  const y = conv2d(xT, wT, bT, opts(c.p));
  const n1 = calls();
  const dx = conv2dBackwardData(dyT, wT, c.xs, opts(c.p));
  const n2 = calls();
  const g = conv2dBackwardFilter(dyT, xT, c.ws, { ...opts(c.p), withBias: c.bias });
  const n3 = calls();
  t.is(n1 - n0, direct('fwd') ? 1 : 0, `${label}: direct forward taken as expected`);
  t.is(n2 - n1, direct('bwdData') ? 1 : 0, `${label}: direct backward data taken as expected`);
  t.is(n3 - n2, direct('bwdWeights') ? 1 : 0, `${label}: direct backward weights taken as expected`);
  const out: Out = { y: read(y), dx: read(dx), dw: read(g.dw), db: g.db ? read(g.db) : null };
  for (const v of [xT, wT, dyT, bT, y, dx, g.dw, g.db] as Array<Tensor | null>) v?.dispose();
  return out;
}

function check(t: ExecutionContext, c: Case, d: ReturnType<typeof setup>, o: Out, label: string): void {
  // Each output sums K = KH*KW*Cg products (+ bias): |err| <= (K+1) u sum|terms| (as test/conv.test.ts).
  const want = conv2dRef(d.x, c.xs, d.w, c.ws, d.b, c.p);
  const mag = conv2dRef(abs(d.x), c.xs, abs(d.w), c.ws, d.b && abs(d.b), c.p);
  const K = c.ws[1] * c.ws[2] * c.ws[3] + 1;
  assertClose(t, o.y, want, { mag, k: K + 1, name: `${label} y` });
  const g = conv2dBackwardRef(d.dy, d.x, c.xs, d.w, c.ws, c.p);
  const gm = conv2dBackwardRef(abs(d.dy), abs(d.x), c.xs, abs(d.w), c.ws, c.p);
  // dx sums at most KH*KW*Og terms; dw and db sum N*Ho*Wo terms (plus the per-thread partial sums: <= threads more).
  assertClose(t, o.dx, g.dx, { mag: gm.dx, k: c.ws[1] * c.ws[2] * (c.ws[0] / c.p.groups) + 1, name: `${label} dx` });
  const Kw = numel(d.ys) / c.ws[0] + 4;
  assertClose(t, o.dw, g.dw, { mag: gm.dw, k: Kw, name: `${label} dw` });
  if (c.bias) assertClose(t, o.db!, g.db, { mag: gm.db, k: Kw, name: `${label} db` });
  else t.is(o.db, null);
}

// Winograd takes dense 3x3 stride-1 cases of >= 16 channels before these kernels.
const WINO_OFF = { winograd: 'off', bwdAsFwd: 'off' } as const;

function restore(threads: number): void {
  addon._gconvConfig({ mode: 'auto', winograd: 'auto', bwdAsFwd: 'auto' });
  setNumThreads(threads);
  setIsa(info().bestIsa as Isa);
}

const cpu = DEVICES.includes('cpu');

for (const [i, c] of CASES.entries()) {
  test(`direct grouped conv vs reference, forced on, every ISA: ${c.name}`, (t) => {
    if (!cpu) return t.pass();
    const threads = getNumThreads();
    try {
      addon._gconvConfig({ mode: 'on', ...WINO_OFF });
      const d = setup(c, 100 + i);
      for (const isa of ISAS) {
        setIsa(isa);
        check(t, c, d, run(t, c, d, isa, isa), isa);
      }
    } finally {
      restore(threads);
    }
  });
}

test('direct grouped conv: bit-identical repeats at 1, 2 and 3 threads; fwd and dx independent of the thread count', (t) => {
  if (!cpu) return t.pass();
  const threads = getNumThreads();
  const picks = ['ResNeXt stage 1', 'Cg=Og=8 g=8', 'Cg=Og=4 g=3', 'Cg=Og=16', 'dx pixels without taps', 'several row tiles), bias']
    .map((k) => CASES.find((c) => c.name.includes(k))!);
  try {
    addon._gconvConfig({ mode: 'on', ...WINO_OFF });
    for (const isa of ISAS) {
      setIsa(isa);
      for (const [i, c] of picks.entries()) {
        const d = setup(c, 200 + i);
        let first: Out | null = null;
        for (const n of [1, 2, 3]) {
          setNumThreads(n);
          const a = run(t, c, d, isa, `${isa} threads=${n}`);
          const b = run(t, c, d, isa, `${isa} threads=${n} again`);
          t.deepEqual(b, a, `${isa} ${c.name} threads=${n}: repeat is bit-identical`);
          check(t, c, d, a, `${isa} threads=${n}`);
          if (!first) first = a;
          else {
            t.deepEqual(a.y, first.y, `${isa} ${c.name}: y does not depend on the thread count`);
            t.deepEqual(a.dx, first.dx, `${isa} ${c.name}: dx does not depend on the thread count`);
          }
        }
      }
    }
  } finally {
    restore(threads);
  }
});

test('direct grouped conv: off never; automatic on AVX2 for 4 channels per group and dense 16-32 channels (native/cpu/conv.cc rule)', (t) => {
  if (!cpu) return t.pass();
  const threads = getNumThreads();
  const c = CASES[0]!;
  try {
    const d = setup(c, 300);
    addon._gconvConfig({ mode: 'off', ...WINO_OFF });
    t.is(addon._gconvConfig({}).mode, 'off');
    for (const isa of ISAS) {
      setIsa(isa);
      check(t, c, d, run(t, c, d, isa, `off ${isa}`, () => false), `off ${isa}`);
    }
    t.is(addon._gconvConfig({ mode: 'auto' }).mode, 'auto');
    if (ISAS.includes('avx2')) {
      // max(Cg, Og) = 4 <= 8: every direction takes the direct kernels, whatever oneDNN chose
      setIsa('avx2');
      check(t, c, d, run(t, c, d, 'avx2', 'auto avx2'), 'auto avx2');
    }
    for (const isa of ISAS) { // whatever the choice, automatic mode gives the reference's result
      setIsa(isa);
      const [xT, wT] = [T(d.x, c.xs, 'cpu'), T(d.w, c.ws, 'cpu')];
      const y = conv2d(xT, wT, d.b && T(d.b, [c.ws[0]], 'cpu'), opts(c.p));
      assertClose(t, read(y), conv2dRef(d.x, c.xs, d.w, c.ws, d.b, c.p), {
        mag: conv2dRef(abs(d.x), c.xs, abs(d.w), c.ws, d.b && abs(d.b), c.p), k: c.ws[1] * c.ws[2] * c.ws[3] + 2, name: `auto ${isa} y`,
      });
    }
    if (ISAS.includes('avx2')) {
      // dense (groups 1), AVX2: direct with 16-32 channels in and out, except backward data into fewer channels
      setIsa('avx2');
      const dense = (k: string) => CASES.find((cc) => cc.name.startsWith(`dense ${k}`))!;
      const rules: Array<[string, Record<Dir, boolean>]> = [
        ['Cg=Og=16', { fwd: true, bwdData: true, bwdWeights: true }],
        ['Cg=16 Og=32', { fwd: true, bwdData: false, bwdWeights: true }],
        ['Cg=Og=4', { fwd: false, bwdData: false, bwdWeights: false }],
      ];
      for (const [k, want] of rules) {
        const cc = dense(k);
        const dd = setup(cc, 301);
        check(t, cc, dd, run(t, cc, dd, 'avx2', `auto avx2 dense ${k}`, (dir) => want[dir]), `auto avx2 dense ${k}`);
      }
    }
    t.throws(() => addon._gconvConfig({ mode: 'sometimes' as never }), { message: /_gconvConfig: expected mode one of auto\|on\|off/ });
  } finally {
    restore(threads);
  }
});
