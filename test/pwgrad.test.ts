/**
 * The 1x1 convolutions' weight gradient on senet's own packed matrix
 * product (native/cpu/pwgrad_avx2.cc), forced on with
 * _gconvConfig({pointwise: 'on'}) under ISA avx2, against the float64
 * reference: register-tile edges in both directions (rows of dw not a
 * multiple of 6, columns not a multiple of 16), strides, several blocks of
 * 256 output pixels with a partial last one, two row blocks, both ways of
 * splitting the work over threads, the bias gradient; results must be
 * bit-identical at 1, 2 and 3 threads. It must take dense unpadded 1x1
 * cases only, and the automatic rule those where 2*O*I/(O+I) >= 256.
 */
import test from 'ava';
import { SenetError, conv2dBackwardFilter, getNumThreads, info, setIsa, setNumThreads } from '../lib/index.js';
import { addon } from '../lib/native.js';
import { conv2dBackwardRef, type ConvCase, convP as P } from './reference/conv.js';
import { DEVICES, ISAS } from './helpers/devices.js';
import { T } from './helpers/tensors.js';
import { abs, assertClose } from './helpers/compare.js';
import { backwardFilterTaken, convSetup } from './helpers/conv.js';

const ONE = P([1, 1], [0, 0, 0, 0], [1, 1], 1);
const CASES: ConvCase[] = [
  // 13 rows: tiles of 6, 6 (the 8-float copy would read past the row: the
  // element-wise copy) and 1; 37 columns: panels of 16, 16 and 5
  { name: 'pw: O=13, I=37, one block', xs: [2, 5, 5, 37], ws: [13, 1, 1, 37], p: ONE, bias: false },
  { name: 'pw: stride 2 on an odd map, I=24 (a panel of 8), bias', xs: [3, 9, 7, 24], ws: [32, 1, 1, 24], p: P([2, 2], [0, 0, 0, 0], [1, 1], 1), bias: true },
  // 390 pixels: blocks of 256 and 134; 100 rows: at 1 thread two row
  // blocks (96 + 4); O > I: threads split the rows
  { name: 'pw: 2 blocks, 100 rows (row blocks 96 + 4), bias', xs: [2, 15, 13, 40], ws: [100, 1, 1, 40], p: ONE, bias: true },
  // I > O: threads split the columns
  { name: 'pw: I=64 > O=16 (threads split the columns), bias', xs: [1, 18, 18, 64], ws: [16, 1, 1, 64], p: ONE, bias: true },
  { name: 'pw: stride [1, 3]', xs: [2, 4, 10, 16], ws: [24, 1, 1, 16], p: P([1, 3], [0, 0, 0, 0], [1, 1], 1), bias: false },
  // fewer column panels (1) or row tiles (1) than threads: the grid leaves
  // threads idle, and the bias gradient is still summed (it was zeros)
  { name: 'pw: one panel of columns, 2 row tiles, bias', xs: [2, 4, 4, 16], ws: [8, 1, 1, 16], p: ONE, bias: true },
  { name: 'pw: one row tile, 2 panels, bias', xs: [2, 3, 3, 32], ws: [4, 1, 1, 32], p: ONE, bias: true },
];

const UNCOVERED: ConvCase[] = [
  { name: 'pw: 3x3', xs: [1, 6, 6, 16], ws: [16, 3, 3, 16], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: false },
  { name: 'pw: 1x1 with padding', xs: [1, 6, 6, 16], ws: [16, 1, 1, 16], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: false },
  { name: 'pw: grouped 1x1', xs: [1, 6, 6, 32], ws: [32, 1, 1, 16], p: P([1, 1], [0, 0, 0, 0], [1, 1], 2), bias: false },
];

const pwCalls = () => addon._gconvConfig({}).pointwiseCalls;
const hasAvx2 = ISAS.includes('avx2');

const backwardFilter = (c: ConvCase, d: ReturnType<typeof convSetup>, withBias = c.bias) => backwardFilterTaken(c, d, pwCalls, withBias);

function restore(threads: number): void {
  addon._gconvConfig({ pointwise: 'auto' });
  setNumThreads(threads);
  setIsa(info().bestIsa as 'avx2');
}

test('pointwise weight gradient matches the reference dw and db; bit-identical across thread counts', (t) => {
  if (!DEVICES.includes('cpu') || !hasAvx2) return t.pass();
  const threads = getNumThreads();
  try {
    setIsa('avx2');
    addon._gconvConfig({ pointwise: 'on' });
    for (const [i, c] of CASES.entries()) {
      const d = convSetup(c, 2100 + i);
      const want = conv2dBackwardRef(d.dy, d.x, c.xs, d.w, c.ws, c.p);
      const mag = conv2dBackwardRef(abs(d.dy), abs(d.x), c.xs, d.w, c.ws, c.p);
      // Roundings along a path: a block's FMA chain (<= 256 pixels), then
      // one addition per block into dw; db sums all pixels in order.
      const pixels = d.ys[0]! * d.ys[1]! * d.ys[2]!;
      const k = Math.min(pixels, 256) + Math.ceil(pixels / 256);
      let first: { dw: Float64Array; db: Float64Array | null } | null = null;
      for (const n of [1, 2, 3]) {
        setNumThreads(n);
        const o = backwardFilter(c, d);
        t.is(o.taken, 1, `${c.name}: the pointwise kernel ran (threads ${n})`);
        assertClose(t, o.dw, want.dw, { mag: mag.dw, k, name: `${c.name} dw threads=${n}` });
        if (c.bias) assertClose(t, o.db!, want.db, { mag: mag.db, k: pixels, name: `${c.name} db threads=${n}` });
        if (first) t.deepEqual({ dw: o.dw, db: o.db }, first, `${c.name}: same bits at ${n} threads as at 1`);
        else first = { dw: o.dw, db: o.db };
      }
    }
  } finally {
    restore(threads);
  }
});

test('pointwise weight gradient: taken for dense unpadded 1x1 only; the automatic rule; bad input', (t) => {
  if (!DEVICES.includes('cpu') || !hasAvx2) return t.pass();
  const threads = getNumThreads();
  try {
    setIsa('avx2');
    addon._gconvConfig({ pointwise: 'on' });
    for (const c of UNCOVERED) t.is(backwardFilter(c, convSetup(c, 7)).taken, 0, `${c.name}: not taken`);
    // a dy of the wrong shape is refused before any kernel is chosen
    const x = T(new Float32Array(2 * 4 * 4 * 8), [2, 4, 4, 8], 'cpu'), dy = T(new Float32Array(2 * 4 * 4 * 6), [2, 4, 4, 6], 'cpu');
    const e = t.throws(() => conv2dBackwardFilter(dy, x, [5, 1, 1, 8]), { instanceOf: SenetError });
    t.is(e?.code, 'SENET_SHAPE');
    t.regex(e?.message ?? '', /conv2dBackwardFilter: expected dy .*\[2,4,4,5\].*\[2,4,4,6\]/);
    x.dispose();
    dy.dispose();
    addon._gconvConfig({ pointwise: 'auto' });
    // 2*O*I/(O+I): 256 at 256 -> 256, 170.7 at 256 -> 128
    const wide: ConvCase = { name: '256 -> 256', xs: [1, 3, 3, 256], ws: [256, 1, 1, 256], p: ONE, bias: false };
    const narrow: ConvCase = { ...wide, name: '256 -> 128', ws: [128, 1, 1, 256] };
    t.is(backwardFilter(wide, convSetup(wide, 8)).taken, 1, 'auto: 256 -> 256 taken');
    t.is(backwardFilter(narrow, convSetup(narrow, 9)).taken, 0, 'auto: 256 -> 128 not taken');
    setIsa('scalar');
    t.is(backwardFilter(wide, convSetup(wide, 8)).taken, 0, 'auto: not on the scalar ISA (AVX2 code)');
    setIsa('avx2');
    addon._gconvConfig({ pointwise: 'off' });
    t.is(backwardFilter(wide, convSetup(wide, 8)).taken, 0, 'off: never');
    t.throws(() => addon._gconvConfig({ pointwise: 'yes' as never }), { message: /_gconvConfig: expected pointwise one of auto\|on\|off/ });
  } finally {
    restore(threads);
  }
});
