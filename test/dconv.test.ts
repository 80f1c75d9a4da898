/**
 * The direct dense convolution forward (native/cpu/dconv_avx2.cc) and its
 * Winograd F(2x2, 3x3) and F(4x4, 3x3) forwards against
 * the float64 reference, forced on (_gconvConfig({dense: 'on'}), with the
 * grouped kernels off so they cannot take the dense 16-32 channel cases)
 * under ISA avx2, over tile remainders, paddings, strides, kernel shapes and
 * a last block of 8 output channels; the dispatcher must take it exactly
 * where it covers the case, the automatic rule must pick it for 3x3 layers
 * of >= 64 channels only, and results must be bit-identical at 1, 2 and 3
 * threads. The same for Winograd (forced on with _gconvConfig({winograd:
 * 'on'})), whose error is bounded through winogradMag (the computation in
 * absolute values); it must take 3x3 stride-1 dense cases only, and the
 * automatic rule those of >= 16 channels in and out, on F(4x4). Backward data of
 * stride-1 dense convolutions run as the forward of the flipped filter
 * (bwdAsFwd) against the reference's dx, on the direct and Winograd kernels;
 * the Winograd weight gradient against the reference's dw (its own bound).
 */
import test from 'ava';
import { conv2d, conv2dBackwardData, getNumThreads, info, setIsa, setNumThreads, type Tensor } from '../lib/index.js';
import { addon } from '../lib/native.js';
import { conv2dBackwardRef, conv2dRef, type ConvCase, convP as P, winogradMag, winogradWgradMag } from './reference/conv.js';
import { DEVICES, ISAS } from './helpers/devices.js';
import { T, read } from './helpers/tensors.js';
import { abs, assertClose } from './helpers/compare.js';
import { backwardFilterTaken, convOpts, convSetup } from './helpers/conv.js';

const CASES: ConvCase[] = [
  { name: '3x3 pad 1, W=9 (tiles 5+4), O=16, bias', xs: [2, 6, 9, 24], ws: [16, 3, 3, 24], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: true },
  { name: '3x3 pad 1, O=24 (last block of 8), N=1, odd H', xs: [1, 7, 13, 17], ws: [24, 3, 3, 17], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: true },
  { name: '3x3 stride 2, asymmetric pad [1,0,2,1]', xs: [2, 9, 8, 32], ws: [32, 3, 3, 32], p: P([2, 2], [1, 0, 2, 1], [1, 1], 1), bias: false },
  { name: '1x1 stride 2, no pad (no copy of the input)', xs: [2, 7, 7, 40], ws: [48, 1, 1, 40], p: P([2, 2], [0, 0, 0, 0], [1, 1], 1), bias: true },
  { name: '5x3 kernel, stride [2,1], pad [2,2,1,1], O=8', xs: [1, 9, 6, 12], ws: [8, 5, 3, 12], p: P([2, 1], [2, 2, 1, 1], [1, 1], 1), bias: true },
  { name: '7x7 stem, stride 2, pad 3, C=3', xs: [1, 15, 15, 3], ws: [16, 7, 7, 3], p: P([2, 2], [3, 3, 3, 3], [1, 1], 1), bias: false },
  { name: '2x2 stride 3 (stride > kernel), pad [1,0,0,1]', xs: [2, 8, 7, 16], ws: [16, 2, 2, 16], p: P([3, 3], [1, 0, 0, 1], [1, 1], 1), bias: true },
  { name: 'W=1 output (single-pixel tiles), 3x3 pad 1', xs: [3, 4, 1, 64], ws: [64, 3, 3, 64], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: true },
  { name: 'W=25 (tiles of 5), 64 channels, 3x3 pad 1 (the automatic choice)', xs: [1, 3, 25, 64], ws: [32, 3, 3, 64], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: false },
];

// Not covered: the dispatcher must leave these to oneDNN / the grouped kernels.
const UNCOVERED: ConvCase[] = [
  { name: 'O=12 (not a multiple of 8)', xs: [1, 5, 5, 16], ws: [12, 3, 3, 16], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: false },
  { name: 'dilation 2', xs: [1, 7, 7, 16], ws: [16, 3, 3, 16], p: P([1, 1], [2, 2, 2, 2], [2, 2], 1), bias: false },
  { name: 'grouped', xs: [1, 5, 5, 32], ws: [32, 3, 3, 16], p: P([1, 1], [1, 1, 1, 1], [1, 1], 2), bias: false },
];

// Winograd (both tiles): partial tiles at the bottom/right, channel tails
// (C % 8), a last block of 8 output channels, pads 0..2 and asymmetric, a
// single-output map, several tile blocks and items.
const WINO_CASES: ConvCase[] = [
  { name: 'wino: pad 1, odd W (partial tiles), O=16, bias', xs: [2, 6, 9, 24], ws: [16, 3, 3, 24], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: true },
  { name: 'wino: C=17 (channel tail), O=24 (block of 8), N=1, odd H', xs: [1, 7, 13, 17], ws: [24, 3, 3, 17], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: true },
  { name: 'wino: no pad, C=5', xs: [2, 8, 7, 5], ws: [16, 3, 3, 5], p: P([1, 1], [0, 0, 0, 0], [1, 1], 1), bias: false },
  { name: 'wino: asymmetric pad [1,0,2,1]', xs: [2, 9, 8, 32], ws: [32, 3, 3, 32], p: P([1, 1], [1, 0, 2, 1], [1, 1], 1), bias: false },
  { name: 'wino: pad 2 (output larger than input)', xs: [1, 4, 5, 8], ws: [8, 3, 3, 8], p: P([1, 1], [2, 2, 2, 2], [1, 1], 1), bias: true },
  { name: 'wino: 1x1 output', xs: [1, 3, 3, 8], ws: [8, 3, 3, 8], p: P([1, 1], [0, 0, 0, 0], [1, 1], 1), bias: true },
  // F(4x4): 49 tiles, 200 >= 4 x 49 output channels: the weight-stationary
  // schedule (dconv_avx2.cc: weight_stationary), two tile blocks, a last
  // block of 8 output channels.
  { name: 'wino: wide layer on small maps (weight-stationary for F(4x4))', xs: [49, 3, 3, 8], ws: [200, 3, 3, 8], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: true },
  { name: 'wino: 64 channels, 147 tiles (several blocks; the automatic choice)', xs: [3, 14, 14, 64], ws: [64, 3, 3, 64], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: true },
];

const WINO_UNCOVERED: ConvCase[] = [
  { name: 'wino: stride 2', xs: [1, 8, 8, 16], ws: [16, 3, 3, 16], p: P([2, 2], [1, 1, 1, 1], [1, 1], 1), bias: false },
  { name: 'wino: 5x5', xs: [1, 8, 8, 16], ws: [16, 5, 5, 16], p: P([1, 1], [2, 2, 2, 2], [1, 1], 1), bias: false },
  { name: 'wino: 1x1', xs: [1, 8, 8, 16], ws: [16, 1, 1, 16], p: P([1, 1], [0, 0, 0, 0], [1, 1], 1), bias: false },
  ...UNCOVERED,
];

const denseCalls = () => addon._gconvConfig({}).denseCalls;
const winoCalls = () => addon._gconvConfig({}).winogradCalls;
const hasAvx2 = ISAS.includes('avx2');

function forward(c: ConvCase, d: ReturnType<typeof convSetup>, calls = denseCalls): { y: Float64Array; taken: number } {
  const xT = T(d.x, c.xs, 'cpu'), wT = T(d.w, c.ws, 'cpu');
  const bT = d.b && T(d.b, [c.ws[0]], 'cpu');
  const n0 = calls();
  const y = conv2d(xT, wT, bT, convOpts(c.p));
  const taken = calls() - n0;
  const out = read(y);
  for (const v of [xT, wT, bT, y] as Array<Tensor | null>) v?.dispose();
  return { y: out, taken };
}

function restore(threads: number): void {
  addon._gconvConfig({ mode: 'auto', dense: 'auto', winograd: 'auto' });
  setNumThreads(threads);
  setIsa(info().bestIsa as 'avx2');
}

test('dense direct conv forward matches the reference where it covers the case; bit-identical across thread counts', (t) => {
  if (!DEVICES.includes('cpu') || !hasAvx2) return t.pass();
  const threads = getNumThreads();
  try {
    setIsa('avx2');
    addon._gconvConfig({ mode: 'off', dense: 'on', winograd: 'off' });
    for (const [i, c] of CASES.entries()) {
      const d = convSetup(c, 900 + i);
      // Each output sums K = KH*KW*C products plus the bias: |err| <= (K+1) u sum|terms| (fp32 FMA chain).
      const want = conv2dRef(d.x, c.xs, d.w, c.ws, d.b, c.p);
      const mag = conv2dRef(abs(d.x), c.xs, abs(d.w), c.ws, d.b && abs(d.b), c.p);
      const K = c.ws[1] * c.ws[2] * c.ws[3] + 1;
      let first: Float64Array | null = null;
      for (const n of [1, 2, 3]) {
        setNumThreads(n);
        const o = forward(c, d);
        t.is(o.taken, 1, `${c.name}: the dense kernel ran (threads ${n})`);
        assertClose(t, o.y, want, { mag, k: K + 1, name: `${c.name} threads=${n}` });
        if (first) t.deepEqual(o.y, first, `${c.name}: same bits at ${n} threads as at 1`);
        else first = o.y;
      }
    }
    for (const [i, c] of UNCOVERED.entries()) t.is(forward(c, convSetup(c, 950 + i)).taken, 0, `${c.name}: not taken`);
  } finally {
    restore(threads);
  }
});

test('dense direct conv: the automatic rule takes >= 64-channel spatial kernels on AVX2 only', (t) => {
  if (!DEVICES.includes('cpu') || !hasAvx2) return t.pass();
  const threads = getNumThreads();
  try {
    const c64 = CASES.at(-1)!, c1x1: ConvCase = { ...CASES[3]!, xs: [1, 4, 4, 64], ws: [64, 1, 1, 64] };
    const c24 = CASES[0]!;
    addon._gconvConfig({ mode: 'auto', dense: 'auto', winograd: 'off' });
    setIsa('avx2');
    t.is(forward(c64, convSetup(c64, 1)).taken, 1, '3x3 of 64 channels: ours');
    t.is(forward(c1x1, convSetup(c1x1, 2)).taken, 0, '1x1: oneDNN');
    t.is(forward(c24, convSetup(c24, 3)).taken, 0, '24 channels: not ours');
    for (const isa of ISAS.filter((i) => i !== 'avx2')) {
      setIsa(isa);
      t.is(forward(c64, convSetup(c64, 1)).taken, 0, `${isa}: not ours (AVX2 code)`);
    }
    addon._gconvConfig({ dense: 'off' });
    setIsa('avx2');
    t.is(forward(c64, convSetup(c64, 1)).taken, 0, 'off: never');
    t.is(addon._gconvConfig({}).dense, 'off');
    t.throws(() => addon._gconvConfig({ dense: 'always' as never }), { message: /_gconvConfig: expected dense one of auto\|on\|off/ });
  } finally {
    restore(threads);
  }
});

test('winograd F(2x2,3x3) and F(4x4,3x3) forward match the reference within their error bounds; bit-identical across thread counts', (t) => {
  if (!DEVICES.includes('cpu') || !hasAvx2) return t.pass();
  const threads = getNumThreads();
  try {
    setIsa('avx2');
    addon._gconvConfig({ mode: 'off', dense: 'off', winograd: 'on' });
    for (const m of [2, 4] as const) {
      addon._gconvConfig({ winogradTile: m });
      for (const [i, c] of WINO_CASES.entries()) {
        const d = convSetup(c, 1200 + i);
        const want = conv2dRef(d.x, c.xs, d.w, c.ws, d.b, c.p);
        // Roundings along a path: F(2x2) input transform 2, weight transform
        // 4, the C-term FMA chain, output transform 4, bias 1; F(4x4) input 4,
        // weights 8 (its coefficients round too), output 6 (dconv_avx2.cc).
        const mag = winogradMag(d.x, c.xs, d.w, c.ws, d.b, c.p, m);
        const k = c.xs[3] + (m === 2 ? 11 : 19);
        let first: Float64Array | null = null;
        for (const n of [1, 2, 3]) {
          setNumThreads(n);
          const f4 = addon._gconvConfig({}).winograd4Calls;
          const o = forward(c, d, winoCalls);
          t.is(o.taken, 1, `${c.name} F${m}: winograd ran (threads ${n})`);
          t.is(addon._gconvConfig({}).winograd4Calls - f4, m === 4 ? 1 : 0, `${c.name}: on the F(${m}x${m}) tile`);
          assertClose(t, o.y, want, { mag, k, name: `${c.name} F${m} threads=${n}` });
          if (first) t.deepEqual(o.y, first, `${c.name} F${m}: same bits at ${n} threads as at 1`);
          else first = o.y;
        }
      }
    }
    for (const [i, c] of WINO_UNCOVERED.entries()) t.is(forward(c, convSetup(c, 1250 + i), winoCalls).taken, 0, `${c.name}: not taken`);
  } finally {
    addon._gconvConfig({ winogradTile: 'auto' });
    restore(threads);
  }
});

test('winograd: the automatic rule takes 3x3 stride-1 layers of >= 16 channels in and out on AVX2 only', (t) => {
  if (!DEVICES.includes('cpu') || !hasAvx2) return t.pass();
  const threads = getNumThreads();
  try {
    const c64 = WINO_CASES.at(-1)!;
    const o8: ConvCase = { ...c64, ws: [8, 3, 3, 64] };
    const c16: ConvCase = { ...c64, xs: [2, 5, 6, 16], ws: [16, 3, 3, 16] };
    const s2: ConvCase = { ...c64, p: P([2, 2], [1, 1, 1, 1], [1, 1], 1) };
    addon._gconvConfig({ mode: 'auto', dense: 'auto', winograd: 'auto' });
    setIsa('avx2');
    const f4 = addon._gconvConfig({}).winograd4Calls;
    t.is(forward(c64, convSetup(c64, 1), winoCalls).taken, 1, '64 -> 64: winograd');
    t.is(forward(c16, convSetup(c16, 4), winoCalls).taken, 1, '16 -> 16: winograd (before the grouped kernels)');
    t.is(addon._gconvConfig({}).winograd4Calls - f4, 2, 'both on the F(4x4, 3x3) tile');
    t.is(addon._gconvConfig({}).winogradTile, 'auto');
    t.is(forward(o8, convSetup(o8, 2), winoCalls).taken, 0, '64 -> 8: not winograd');
    t.is(forward(s2, convSetup(s2, 3), winoCalls).taken, 0, 'stride 2: not winograd');
    for (const isa of ISAS.filter((i) => i !== 'avx2')) {
      setIsa(isa);
      t.is(forward(c64, convSetup(c64, 1), winoCalls).taken, 0, `${isa}: not winograd (AVX2 code)`);
    }
    setIsa('avx2');
    addon._gconvConfig({ winograd: 'off' });
    t.is(forward(c64, convSetup(c64, 1), winoCalls).taken, 0, 'off: never');
    t.is(addon._gconvConfig({}).winograd, 'off');
    t.throws(() => addon._gconvConfig({ winograd: 'yes' as never }), { message: /_gconvConfig: expected winograd one of auto\|on\|off/ });
    t.throws(() => addon._gconvConfig({ winogradTile: 3 as never }), { message: /_gconvConfig: expected winogradTile one of 'auto', 2, 4, got number 3/ });
  } finally {
    restore(threads);
  }
});

// Backward data as the forward of the flipped filter: pads 0..KH-1 and
// asymmetric, non-square kernels, 1x1, channel counts the forward kernels do
// not cover (C = 17: oneDNN's forward), N = 1.
const FLIP_CASES: ConvCase[] = [
  { name: 'flip: 3x3 pad 1, C=24 O=16, odd W', xs: [2, 6, 9, 24], ws: [16, 3, 3, 24], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: false },
  { name: 'flip: 3x3 asymmetric pad [1,0,2,1]', xs: [2, 7, 8, 16], ws: [32, 3, 3, 16], p: P([1, 1], [1, 0, 2, 1], [1, 1], 1), bias: false },
  { name: 'flip: 5x3 pad [2,2,1,1], N=1', xs: [1, 9, 6, 8], ws: [16, 5, 3, 8], p: P([1, 1], [2, 2, 1, 1], [1, 1], 1), bias: false },
  { name: 'flip: 3x3 no pad, pad 2', xs: [2, 6, 7, 16], ws: [8, 3, 3, 16], p: P([1, 1], [0, 2, 2, 0], [1, 1], 1), bias: false },
  { name: 'flip: 1x1', xs: [2, 5, 5, 40], ws: [24, 1, 1, 40], p: P([1, 1], [0, 0, 0, 0], [1, 1], 1), bias: false },
  { name: 'flip: C=17 (the forward on oneDNN)', xs: [1, 5, 6, 17], ws: [16, 3, 3, 17], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: false },
];

const FLIP_UNCOVERED: ConvCase[] = [
  { name: 'flip: stride 2', xs: [1, 8, 8, 16], ws: [16, 3, 3, 16], p: P([2, 2], [1, 1, 1, 1], [1, 1], 1), bias: false },
  { name: 'flip: dilation 2', xs: [1, 7, 7, 16], ws: [16, 3, 3, 16], p: P([1, 1], [2, 2, 2, 2], [2, 2], 1), bias: false },
  { name: 'flip: grouped', xs: [1, 5, 5, 32], ws: [32, 3, 3, 16], p: P([1, 1], [1, 1, 1, 1], [1, 1], 2), bias: false },
  { name: 'flip: pad 3 > KH-1', xs: [1, 5, 5, 16], ws: [16, 3, 3, 16], p: P([1, 1], [3, 3, 3, 3], [1, 1], 1), bias: false },
];

const flipCalls = () => addon._gconvConfig({}).bwdAsFwdCalls;

function backwardData(c: ConvCase, d: ReturnType<typeof convSetup>): { dx: Float64Array; taken: number } {
  const dyT = T(d.dy, d.ys, 'cpu'), wT = T(d.w, c.ws, 'cpu');
  const n0 = flipCalls();
  const dx = conv2dBackwardData(dyT, wT, c.xs, convOpts(c.p));
  const taken = flipCalls() - n0;
  const out = read(dx);
  for (const v of [dyT, wT, dx]) v.dispose();
  return { dx: out, taken };
}

/** The flipped problem: dy as input, OHWI [C,KH,KW,O] filter (flipped in space), pads KH-1-p. */
function flipped(c: ConvCase, d: ReturnType<typeof convSetup>) {
  const [O, KH, KW, C] = c.ws;
  const wf = new Float64Array(d.w.length);
  for (let o = 0; o < O; o++)
    for (let kh = 0; kh < KH; kh++)
      for (let kw = 0; kw < KW; kw++)
        for (let ci = 0; ci < C; ci++) wf[((ci * KH + kh) * KW + kw) * O + o] = d.w[((o * KH + KH - 1 - kh) * KW + KW - 1 - kw) * C + ci]!;
  const [t, b, l, r] = c.p.padding;
  return { wf, ws: [C, KH, KW, O], p: P([1, 1], [KH - 1 - t, KH - 1 - b, KW - 1 - l, KW - 1 - r], [1, 1], 1) };
}

test('backward data as the flipped forward matches the reference dx (direct and Winograd kernels); not taken where it does not apply', (t) => {
  if (!DEVICES.includes('cpu') || !hasAvx2) return t.pass();
  const threads = getNumThreads();
  try {
    setIsa('avx2');
    addon._gconvConfig({ bwdAsFwd: 'on', winograd: 'off' });
    for (const [i, c] of FLIP_CASES.entries()) {
      const d = convSetup(c, 1300 + i);
      const want = conv2dBackwardRef(d.dy, d.x, c.xs, d.w, c.ws, c.p);
      const mag = conv2dBackwardRef(abs(d.dy), abs(d.x), c.xs, abs(d.w), c.ws, c.p);
      const o = backwardData(c, d);
      t.is(o.taken, 1, `${c.name}: taken`);
      // dx sums KH*KW*O products.
      assertClose(t, o.dx, want.dx, { mag: mag.dx, k: c.ws[1] * c.ws[2] * c.ws[0] + 1, name: c.name });
    }
    // 64 channels in and out, 3x3: the flipped forward on Winograd (its bound, on the flipped problem).
    const cw: ConvCase = { name: 'flip: winograd 64 -> 64', xs: [1, 6, 7, 64], ws: [64, 3, 3, 64], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: false };
    addon._gconvConfig({ winograd: 'on' });
    const d = convSetup(cw, 1350);
    const w0 = winoCalls();
    const o = backwardData(cw, d);
    t.is(winoCalls() - w0, 1, 'flip: winograd ran');
    const f = flipped(cw, d);
    // (the automatic tile: F(4x4, 3x3))
    const mag = winogradMag(d.dy, [...d.ys], f.wf, f.ws, null, f.p, 4);
    assertClose(t, o.dx, conv2dBackwardRef(d.dy, d.x, cw.xs, d.w, cw.ws, cw.p).dx, { mag, k: cw.ws[0] + 19, name: cw.name });
    for (const [i, c] of FLIP_UNCOVERED.entries()) {
      const d = convSetup(c, 1360 + i);
      const o = backwardData(c, d);
      t.is(o.taken, 0, `${c.name}: not taken`);
      const want = conv2dBackwardRef(d.dy, d.x, c.xs, d.w, c.ws, c.p);
      const mag = conv2dBackwardRef(abs(d.dy), abs(d.x), c.xs, abs(d.w), c.ws, c.p);
      assertClose(t, o.dx, want.dx, { mag: mag.dx, k: c.ws[1] * c.ws[2] * (c.ws[0] / c.p.groups) + 1, name: c.name });
    }
    addon._gconvConfig({ bwdAsFwd: 'auto', winograd: 'auto' });
    const auto = (c: ConvCase) => backwardData(c, convSetup(c, 1)).taken;
    t.is(auto(cw), 1, 'auto: 3x3 64 -> 64 channels taken');
    t.is(auto(FLIP_CASES[0]!), 1, 'auto: 3x3 24 -> 16 channels taken');
    t.is(auto(FLIP_CASES[3]!), 0, 'auto: 3x3 16 -> 8 channels not taken');
    t.is(auto(FLIP_CASES[2]!), 0, 'auto: 5x3 not taken');
    t.is(auto(FLIP_CASES[5]!), 0, 'auto: C=17 not taken');
    setIsa('scalar');
    t.is(backwardData(cw, convSetup(cw, 1)).taken, 0, 'auto: not on the scalar ISA');
    addon._gconvConfig({ bwdAsFwd: 'off' });
    setIsa('avx2');
    t.is(backwardData(cw, convSetup(cw, 1)).taken, 0, 'off: never');
    t.throws(() => addon._gconvConfig({ bwdAsFwd: 'sometimes' as never }), { message: /_gconvConfig: expected bwdAsFwd one of auto\|on\|off/ });
  } finally {
    addon._gconvConfig({ bwdAsFwd: 'auto' });
    restore(threads);
  }
});

const backwardFilter = (c: ConvCase, d: ReturnType<typeof convSetup>, withBias = false) => backwardFilterTaken(c, d, winoCalls, withBias);

test('winograd weight gradient matches the reference dw within its error bound; bit-identical across thread counts; bias-free only', (t) => {
  if (!DEVICES.includes('cpu') || !hasAvx2) return t.pass();
  const threads = getNumThreads();
  try {
    setIsa('avx2');
    addon._gconvConfig({ winograd: 'on' });
    // WINO_CASES (small dU: the fixed-slot schedule; under F(2x2) the last
    // one, 147 tiles in blocks of 48, spreads over 4 slots; under F(4x4) the
    // wide case's 49 tiles over 2) plus ones with a large dU.
    const cases: ConvCase[] = [
      ...WINO_CASES,
      // dU of 128 x 160 (10.5 MB in 8 slots): the shared-block schedule; 72
      // tiles in blocks of 56 (2 x L2 / 18 KiB per tile at 512 KiB of L2)
      { name: 'wino wgrad: 128 -> 160 (shared blocks, two of them)', xs: [2, 12, 12, 128], ws: [160, 3, 3, 128], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: false },
      // F(4x4): 72 tiles, 41 KiB each: two shared blocks of 48 (F(2x2): 288 tiles in six of 56)
      { name: 'wino wgrad: 128 -> 160, batch 8 (two F(4x4) shared blocks)', xs: [8, 12, 12, 128], ws: [160, 3, 3, 128], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: false },
    ];
    for (const m of [2, 4] as const) {
      addon._gconvConfig({ winogradTile: m });
      for (const [i, c] of cases.entries()) {
        const d = convSetup(c, 1400 + i);
        const want = conv2dBackwardRef(d.dy, d.x, c.xs, d.w, c.ws, c.p).dw;
        const mag = winogradWgradMag(d.x, c.xs, d.dy, c.ws, c.p, m);
        // Roundings along a path: F(2x2) input transform 2, gradient transform
        // 2, the sum over tiles (one FMA chain), weight transform 4; F(4x4)
        // input 4, gradient 4, weights 10 (its 1/6 and 1/24 round too).
        const tiles = c.xs[0] * Math.ceil(d.ys[1]! / m) * Math.ceil(d.ys[2]! / m);
        let first: Float64Array | null = null;
        for (const n of [1, 2, 3]) {
          setNumThreads(n);
          const f4 = addon._gconvConfig({}).winograd4Calls;
          const o = backwardFilter(c, d);
          t.is(o.taken, 1, `${c.name} F${m}: winograd weight gradient ran (threads ${n})`);
          t.is(addon._gconvConfig({}).winograd4Calls - f4, m === 4 ? 1 : 0, `${c.name}: on the F(${m}x${m}) tile`);
          assertClose(t, o.dw, want, { mag, k: tiles + (m === 2 ? 9 : 18), name: `${c.name} F${m} dw threads=${n}` });
          if (first) t.deepEqual(o.dw, first, `${c.name} F${m}: same bits at ${n} threads as at 1`);
          else first = o.dw;
        }
      }
    }
    addon._gconvConfig({ winogradTile: 'auto' });
    t.is(addon._gconvConfig({}).winogradTile, 'auto');
    const c0 = WINO_CASES[0]!;
    t.is(backwardFilter(c0, convSetup(c0, 5), true).taken, 0, 'with a bias gradient: not winograd');
    for (const c of WINO_UNCOVERED) t.is(backwardFilter(c, convSetup(c, 6)).taken, 0, `${c.name}: not taken`);
    addon._gconvConfig({ winograd: 'auto' });
    const c64 = WINO_CASES.at(-1)!, c32: ConvCase = { ...c64, xs: [3, 14, 14, 32], ws: [32, 3, 3, 32] };
    const c16: ConvCase = { ...c64, xs: [3, 14, 14, 16], ws: [16, 3, 3, 16] };
    t.is(backwardFilter(c64, convSetup(c64, 7)).taken, 1, 'auto: 64 -> 64 taken');
    t.is(backwardFilter(c32, convSetup(c32, 8)).taken, 1, 'auto: 32 -> 32 taken');
    t.is(backwardFilter(c16, convSetup(c16, 9)).taken, 0, 'auto: 16 -> 16 not taken');
  } finally {
    addon._gconvConfig({ winogradTile: 'auto' });
    restore(threads);
  }
});
