import test from 'ava';
import {
  conv2d, conv2dBackwardData, conv2dBackwardFilter, randn, tensor, zeros, SenetError, type SenetErrorCode,
} from '../lib/index.js';
import { conv2dBackwardRef, conv2dRef, conv2dShape, type ConvCase, convP } from './reference/conv.js';
import { perDevice } from './helpers/devices.js';
import { Rng } from './helpers/rng.js';
import { T, numel, read } from './helpers/tensors.js';
import { abs, assertClose, assertNear } from './helpers/compare.js';
import { FD_ATOL, FD_RTOL, dot, numericalGrad, sampleIndices } from './helpers/fd.js';
import { badInput } from './helpers/errors.js';
import { convOpts, convSetup } from './helpers/conv.js';

type Case = ConvCase;
const P = convP;

const CASES: Case[] = [
  { name: '3x3 pad 1, N=1, odd sizes, C=3', xs: [1, 5, 7, 3], ws: [5, 3, 3, 3], p: P([1, 1], [1, 1, 1, 1], [1, 1], 1), bias: true },
  { name: 'grouped g=4, stride 2, asymmetric pad, dilation 2', xs: [2, 9, 8, 12], ws: [8, 3, 3, 3], p: P([2, 2], [1, 0, 2, 1], [2, 2], 4), bias: true },
  { name: 'cardinality 32 (4 ch/group), stride 2', xs: [2, 7, 7, 128], ws: [128, 3, 3, 4], p: P([2, 2], [1, 1, 1, 1], [1, 1], 32), bias: false },
  { name: 'depthwise 9 channels, stride [1,2]', xs: [3, 6, 5, 9], ws: [9, 3, 3, 1], p: P([1, 2], [1, 1, 1, 1], [1, 1], 9), bias: true },
  { name: '1x1 stride 2, C=13 -> 11', xs: [2, 5, 6, 13], ws: [11, 1, 1, 13], p: P([2, 2], [0, 0, 0, 0], [1, 1], 1), bias: false },
  { name: '7x7 stride 2 pad 3 stem, N=1', xs: [1, 11, 11, 3], ws: [6, 7, 7, 3], p: P([2, 2], [3, 3, 3, 3], [1, 1], 1), bias: false },
];

const setup = convSetup;
const opts = convOpts;

for (const [i, c] of CASES.entries()) {
  perDevice(`conv2d forward: ${c.name}`, (t, device) => {
    const { x, w, b } = setup(c, 10 + i);
    const want = conv2dRef(x, c.xs, w, c.ws, b, c.p);
    // Each output sums K = KH*KW*Ci/g products (+ bias): |err| <= (K+1) u sum|terms|.
    const mag = conv2dRef(abs(x), c.xs, abs(w), c.ws, b && abs(b), c.p);
    const K = c.ws[1] * c.ws[2] * c.ws[3] + 1;
    const y = conv2d(T(x, c.xs, device), T(w, c.ws, device), b && T(b, [c.ws[0]], device), opts(c.p));
    t.deepEqual([...y.shape], conv2dShape(c.xs, c.ws, c.p));
    assertClose(t, read(y), want, { mag, k: K + 1, name: 'y' });
  });

  perDevice(`conv2d backward: ${c.name}`, (t, device) => {
    const { x, w, ys, dy } = setup(c, 20 + i);
    const want = conv2dBackwardRef(dy, x, c.xs, w, c.ws, c.p);
    const mag = conv2dBackwardRef(abs(dy), abs(x), c.xs, abs(w), c.ws, c.p);
    const [xT, wT, dyT] = [T(x, c.xs, device), T(w, c.ws, device), T(dy, ys, device)];
    const dx = conv2dBackwardData(dyT, wT, c.xs, opts(c.p));
    const { dw, db } = conv2dBackwardFilter(dyT, xT, c.ws, { ...opts(c.p), withBias: c.bias });
    // dx sums at most KH*KW*Co/g terms; dw and db sum N*Ho*Wo terms.
    assertClose(t, read(dx), want.dx, { mag: mag.dx, k: c.ws[1] * c.ws[2] * (c.ws[0] / c.p.groups) + 1, name: 'dx' });
    const K = numel(ys) / c.ws[0];
    assertClose(t, read(dw), want.dw, { mag: mag.dw, k: K + 1, name: 'dw' });
    if (c.bias) assertClose(t, read(db!), want.db, { mag: mag.db, k: K + 1, name: 'db' });
    else t.is(db, null);
  });
}

// The reference backward against finite differences of the reference forward.
test('conv2d reference backward matches finite differences', (t) => {
  for (const [i, c] of CASES.slice(0, 4).entries()) {
    const { x, w, b, dy } = setup(c, 30 + i);
    const g = conv2dBackwardRef(dy, x, c.xs, w, c.ws, c.p);
    const L = (xx: Float64Array, ww: Float64Array, bb: Float64Array | null) => dot(conv2dRef(xx, c.xs, ww, c.ws, bb, c.p), dy);
    const ix = sampleIndices(x.length, 40), iw = sampleIndices(w.length, 40);
    const nx = numericalGrad((v) => L(v, w, b), x, ix);
    const nw = numericalGrad((v) => L(x, v, b), w, iw);
    assertNear(t, ix.map((k) => g.dx[k]!), ix.map((k) => nx.get(k)!), FD_RTOL, FD_ATOL, `${c.name} dx`);
    assertNear(t, iw.map((k) => g.dw[k]!), iw.map((k) => nw.get(k)!), FD_RTOL, FD_ATOL, `${c.name} dw`);
    if (b) {
      const nb = numericalGrad((v) => L(x, w, v), Float64Array.from(b));
      assertNear(t, [...g.db], [...nb.values()], FD_RTOL, FD_ATOL, `${c.name} db`);
    }
  }
});

perDevice("conv2d padding 'same' follows TensorFlow (odd pixel at the end)", (t, device) => {
  const xs = [1, 6, 7, 2], ws = [3, 3, 3, 2];
  const r = new Rng(5);
  const x = r.array(numel(xs)), w = r.array(numel(ws));
  // stride 2: out = ceil(6/2)=3, ceil(7/2)=4; total pad = max((3-1)*2+3-6, 0)=1 -> [0,1]; (4-1)*2+3-7=2 -> [1,1]
  const p = P([2, 2], [0, 1, 1, 1], [1, 1], 1);
  const y = conv2d(T(x, xs, device), T(w, ws, device), null, { stride: 2, padding: 'same' });
  t.deepEqual([...y.shape], [1, 3, 4, 3]);
  assertClose(t, read(y), conv2dRef(x, xs, w, ws, null, p), { mag: conv2dRef(abs(x), xs, abs(w), ws, null, p), k: 30 });
});

perDevice('conv2d rejects bad input with SENET_* errors naming op and argument', (t, device) => {
  const x = randn([2, 5, 5, 8], { device }), w = randn([4, 3, 3, 8], { device });
  const bad = badInput(t);
  bad(() => conv2d(randn([5, 5, 8], { device }), w), 'SENET_SHAPE', /^conv2d: expected x a rank-4 NHWC tensor, got shape \[5,5,8\]/);
  bad(() => conv2d(x, randn([4, 3, 8], { device })), 'SENET_SHAPE', /conv2d: expected w a rank-4 OHWI tensor/);
  bad(() => conv2d(x, randn([4, 3, 3, 5], { device })), 'SENET_SHAPE', /expected w OHWI with 8 input channels per group/);
  bad(() => conv2d(x, randn([4, 3, 3, 3], { device }), null, { groups: 3 }), 'SENET_SHAPE', /expected groups a divisor of the 8 input channels, got 3/);
  bad(() => conv2d(x, randn([6, 3, 3, 2], { device }), null, { groups: 4 }), 'SENET_SHAPE', /expected groups a divisor of the 6 output channels/);
  bad(() => conv2d(x, w, randn([5], { device })), 'SENET_SHAPE', /expected b shape \[4\], got \[5\]/);
  bad(() => conv2d(x, w, null, { stride: 0 }), 'SENET_ARG', /expected stride an integer >= 1, got number 0/);
  bad(() => conv2d(x, w, null, { padding: -1 }), 'SENET_ARG', /expected padding an integer >= 0/);
  bad(() => conv2d(x, w, null, { padding: 'full' as never }), 'SENET_ARG', /expected padding 'same', 'valid'/);
  bad(() => conv2d(x, w, null, { groups: 1.5 }), 'SENET_ARG', /expected groups an integer >= 1, got number 1.5/);
  bad(() => conv2d(x, randn([4, 9, 9, 8], { device })), 'SENET_SHAPE', /padded input at least as large as the dilated kernel/);
  bad(() => conv2d(x, 'w' as never), 'SENET_ARG', /expected w a Tensor, got string 'w'/);
  bad(() => conv2d(tensor([1, 2], [2], { dtype: 'int32', device }), w), 'SENET_DTYPE', /expected x dtype float32, got int32/);
  bad(() => conv2d(zeros([0, 5, 5, 8], { device }), w), 'SENET_SHAPE', /conv2d: expected x all dimensions > 0/);
  bad(() => conv2dBackwardData(randn([2, 5, 5, 4], { device }), w, [2, 5, -5, 8]), 'SENET_SHAPE', /expected xShape\[2\] a non-negative integer dimension/);
  bad(() => conv2dBackwardData(randn([2, 5, 5, 4], { device }), w, [2, 5, NaN, 8]), 'SENET_SHAPE', /xShape\[2\]/);
  bad(() => conv2dBackwardData(randn([2, 4, 4, 4], { device }), w, [2, 5, 5, 8], { padding: 1 }), 'SENET_SHAPE', /expected dy shape \[2,5,5,4\], got \[2,4,4,4\]/);
  bad(() => conv2dBackwardFilter(randn([2, 3, 3, 4], { device }), x, [4, 3, 3, 7]), 'SENET_SHAPE', /input channels per group/);
  const dead = randn([2, 5, 5, 8], { device });
  dead.dispose();
  bad(() => conv2d(dead, w), 'SENET_DISPOSED', /^conv2d: expected x a live tensor, got a disposed tensor/);
  // An absurd input size (2^41 elements) behind a small dy: refused before any memory is touched.
  bad(() => conv2dBackwardData(randn([2, 16, 16, 4], { device }), randn([4, 1, 1, 8], { device }), [2, 2 ** 20, 2 ** 20, 8], { stride: 2 ** 16 }),
    'SENET_OOM', /conv2dBackwardData: out of memory on cpu: requested 70368744177664 bytes/);
  // The process is alive and the engine still works.
  const y = conv2d(x, w);
  t.deepEqual([...y.shape], [2, 3, 3, 4]);
});

test('the native module re-checks what the TypeScript layer checks (direct calls cannot crash)', async (t) => {
  const { addon } = await import('../lib/native.js');
  const x = randn([2, 5, 5, 8]);
  const hx = x.handle('t', 'x');
  const hw = randn([4, 3, 3, 5]).handle('t', 'w');
  const e1 = t.throws(() => addon.conv2d(hx, hw, null, {}));
  t.is((e1 as { code?: string }).code, 'SENET_SHAPE');
  const e2 = t.throws(() => addon.conv2d(hx, { shape: [4, 3, 3, 8] } as never, null, {}));
  t.regex(e2!.message, /conv2d: expected w a Tensor, got an object/);
  const e3 = t.throws(() => addon.conv2d(hx, hx, null, { stride: [1, 1e9] }));
  t.regex(e3!.message, /expected stride\[1\] an integer in \[1, 65536\]/);
  const e4 = t.throws(() => addon.conv2dBackwardData(hx, hx, [1, 2, 3, 2 ** 52], {}));
  t.is((e4 as { code?: string }).code, 'SENET_SHAPE');
});
