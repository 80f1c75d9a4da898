import test from 'ava';
import { linear, linearBackward, randn, tensor, zeros, SenetError, type SenetErrorCode } from '../lib/index.js';
import { linearBackwardRef, linearRef } from './reference/linear.js';
import { perDevice } from './helpers/devices.js';
import { Rng } from './helpers/rng.js';
import { T, read } from './helpers/tensors.js';
import { abs, assertClose, assertNear } from './helpers/compare.js';
import { FD_ATOL, FD_RTOL, dot, numericalGrad, sampleIndices } from './helpers/fd.js';
import { badInput } from './helpers/errors.js';

interface Case {
  name: string;
  N: number;
  I: number;
  O: number;
  bias: boolean;
  needDx: boolean;
}

const CASES: Case[] = [
  { name: 'N=1, 7 -> 5', N: 1, I: 7, O: 5, bias: true, needDx: true },
  { name: '3 x 13 -> 11, no bias', N: 3, I: 13, O: 11, bias: false, needDx: true },
  { name: 'SE squeeze 64 -> 4, N=16', N: 16, I: 64, O: 4, bias: true, needDx: true },
  { name: 'SE excite 4 -> 64, N=16, no dx', N: 16, I: 4, O: 64, bias: true, needDx: false },
  { name: 'classifier 300 -> 17, N=5', N: 5, I: 300, O: 17, bias: true, needDx: true },
  { name: '33 x 257 -> 129, no bias', N: 33, I: 257, O: 129, bias: false, needDx: true },
  { name: 'N=2, 2048 -> 10', N: 2, I: 2048, O: 10, bias: true, needDx: true },
];

function setup(c: Case, seed: number) {
  const r = new Rng(seed);
  const x = r.array(c.N * c.I);
  const w = r.array(c.O * c.I, 1 / Math.sqrt(c.I));
  const b = c.bias ? r.array(c.O) : null;
  const dy = r.array(c.N * c.O);
  return { x, w, b, dy };
}

for (const [i, c] of CASES.entries()) {
  perDevice(`linear forward: ${c.name}`, (t, device) => {
    const { x, w, b } = setup(c, 10 + i);
    const y = linear(T(x, [c.N, c.I], device), T(w, [c.O, c.I], device), b && T(b, [c.O], device));
    t.deepEqual([...y.shape], [c.N, c.O]);
    // Each output sums `in` products and the bias: |err| <= (in+1) u sum|terms|; +1 for the product roundings.
    const mag = linearRef(abs(x), c.N, c.I, abs(w), c.O, b && abs(b));
    assertClose(t, read(y), linearRef(x, c.N, c.I, w, c.O, b), { mag, k: c.I + 2, name: 'y' });
  });

  perDevice(`linear backward: ${c.name}`, (t, device) => {
    const { x, w, dy } = setup(c, 20 + i);
    const want = linearBackwardRef(dy, x, c.N, c.I, w, c.O);
    const mag = linearBackwardRef(abs(dy), abs(x), c.N, c.I, abs(w), c.O);
    const { dx, dw, db } = linearBackward(T(dy, [c.N, c.O], device), T(x, [c.N, c.I], device), T(w, [c.O, c.I], device),
      { needDx: c.needDx, withBias: c.bias });
    // dx sums `out` products; dw and db sum N terms.
    if (c.needDx) assertClose(t, read(dx!), want.dx, { mag: mag.dx, k: c.O + 1, name: 'dx' });
    else t.is(dx, null);
    t.deepEqual([...dw.shape], [c.O, c.I]);
    assertClose(t, read(dw), want.dw, { mag: mag.dw, k: c.N + 1, name: 'dw' });
    if (c.bias) assertClose(t, read(db!), want.db, { mag: mag.db, k: c.N + 1, name: 'db' });
    else t.is(db, null);
  });
}

perDevice('linearBackward defaults: needDx and withBias true', (t, device) => {
  const c = CASES[0]!;
  const { x, w, dy } = setup(c, 30);
  const { dx, dw, db } = linearBackward(T(dy, [c.N, c.O], device), T(x, [c.N, c.I], device), T(w, [c.O, c.I], device));
  t.truthy(dx);
  t.truthy(db);
  t.deepEqual([...dx!.shape], [c.N, c.I]);
  t.deepEqual([...db!.shape], [c.O]);
  t.deepEqual([...dw.shape], [c.O, c.I]);
});

// The reference backward against finite differences of the reference forward.
test('linear reference backward matches finite differences', (t) => {
  for (const [i, c] of CASES.slice(0, 5).entries()) {
    const { x, w, b, dy } = setup(c, 40 + i);
    const g = linearBackwardRef(dy, x, c.N, c.I, w, c.O);
    const L = (xx: Float64Array, ww: Float64Array, bb: Float64Array | null) => dot(linearRef(xx, c.N, c.I, ww, c.O, bb), dy);
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

perDevice('linear rejects bad input with SENET_* errors naming op and argument', (t, device) => {
  const x = randn([3, 7], { device }), w = randn([5, 7], { device }), b = randn([5], { device }), dy = randn([3, 5], { device });
  const bad = badInput(t);
  bad(() => linear(randn([3, 7, 1], { device }), w), 'SENET_SHAPE', /^linear: expected x a rank-2 \[N, in\] tensor, got shape \[3,7,1\]/);
  bad(() => linear(x, randn([35], { device })), 'SENET_SHAPE', /^linear: expected w a rank-2 \[out, in\] tensor, got shape \[35\]/);
  bad(() => linear(x, randn([5, 6], { device })), 'SENET_SHAPE', /^linear: expected w \[out, 7\] to match x's 7 features, got shape \[5,6\]/);
  bad(() => linear(x, w, randn([4], { device })), 'SENET_SHAPE', /^linear: expected b shape \[5\], got \[4\]/);
  bad(() => linear(x, w, randn([1, 5], { device })), 'SENET_SHAPE', /^linear: expected b a rank-1 tensor, got shape \[1,5\]/);
  bad(() => linear(x, 'w' as never), 'SENET_ARG', /^linear: expected w a Tensor, got string 'w'/);
  bad(() => linear(x, tensor(new Int32Array(35), [5, 7], { dtype: 'int32', device })), 'SENET_DTYPE', /^linear: expected w dtype float32, got int32/);
  bad(() => linear(zeros([0, 7], { device }), w), 'SENET_SHAPE', /^linear: expected x all dimensions > 0, got shape \[0,7\]/);
  bad(() => linear(x, zeros([0, 7], { device })), 'SENET_SHAPE', /^linear: expected w all dimensions > 0, got shape \[0,7\]/);
  bad(() => linear(zeros([3, 0], { device }), zeros([5, 0], { device })), 'SENET_SHAPE', /^linear: expected x all dimensions > 0, got shape \[3,0\]/);
  bad(() => linearBackward(randn([3, 4], { device }), x, w), 'SENET_SHAPE', /^linearBackward: expected dy shape \[3,5\], got \[3,4\]/);
  bad(() => linearBackward(randn([15], { device }), x, w), 'SENET_SHAPE', /^linearBackward: expected dy a rank-2 \[N, out\] tensor, got shape \[15\]/);
  bad(() => linearBackward(dy, x, randn([5, 8], { device })), 'SENET_SHAPE', /^linearBackward: expected w \[out, 7\] to match x's 7 features, got shape \[5,8\]/);
  bad(() => linearBackward(dy, x, w, { needDx: 1 as never }), 'SENET_ARG', /^linearBackward: expected needDx a boolean, got number 1/);
  const dead = randn([5], { device });
  dead.dispose();
  bad(() => linear(x, w, dead), 'SENET_DISPOSED', /^linear: expected b a live tensor, got a disposed tensor of shape \[5\]/);
  const deadX = randn([3, 7], { device });
  deadX.dispose();
  bad(() => linearBackward(dy, deadX, w), 'SENET_DISPOSED', /^linearBackward: expected x a live tensor/);
  // The engine still works.
  t.deepEqual([...linear(x, w, b).shape], [3, 5]);
});

test('the native linear bindings re-check what the TypeScript layer checks', async (t) => {
  const { addon } = await import('../lib/native.js');
  const hx = randn([3, 7]).handle('t', 'x'), hw = randn([5, 6]).handle('t', 'w');
  const e1 = t.throws(() => addon.linear(hx, hw, null));
  t.is((e1 as { code?: string }).code, 'SENET_SHAPE');
  t.regex(e1!.message, /linear: expected w \[out, 7\] to match x's 7 features, got shape \[5,6\]/);
  const e2 = t.throws(() => addon.linear(hx, hx, { shape: [7] } as never));
  t.regex(e2!.message, /linear: expected b a Tensor, got an object/);
  const e3 = t.throws(() => addon.linearBackward(hx, hx, hx, {}));
  t.regex(e3!.message, /linearBackward: expected dy shape \[3,3\], got \[3,7\]/);
});
