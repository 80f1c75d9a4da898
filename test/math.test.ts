import test from 'ava';
import {
  addN, binary, clip, randn, reduce, tensor, unary, SenetError, UNARY_OPS, type BinaryOp, type SenetErrorCode, type Device,
} from '../lib/index.js';
import {
  addNRef, binaryBackwardRef, binaryRef, broadcastShapeRef, clipRef, numelOf, unaryFn, unaryRef,
} from './reference/math.js';
import { perDevice } from './helpers/devices.js';
import { Rng } from './helpers/rng.js';
import { T, read } from './helpers/tensors.js';
import { abs, assertClose, assertNear } from './helpers/compare.js';
import { FD_ATOL, FD_RTOL, dot, numericalGrad, sampleIndices } from './helpers/fd.js';
import type { ExecutionContext } from 'ava';
import { badInput } from './helpers/errors.js';

/** Non-finite values must match exactly (NaN where NaN, the same infinity); finite ones within k u |want| (+ atol). */
function closeFinite(t: ExecutionContext, got: ArrayLike<number>, want: ArrayLike<number>, k: number, name: string, atol = 0): void {
  const bad: string[] = [];
  const g: number[] = [], w: number[] = [];
  for (let i = 0; i < want.length; i++) {
    if (Number.isFinite(want[i]!)) {
      g.push(got[i]!);
      w.push(want[i]!);
    } else if (!Object.is(got[i], want[i]) && !(Number.isNaN(got[i]!) && Number.isNaN(want[i]!))) {
      if (bad.length < 10) bad.push(`  [${i}] got ${got[i]}, want ${want[i]}`);
    }
  }
  if (bad.length) t.fail(`${name}: non-finite values differ\n${bad.join('\n')}`);
  assertClose(t, g, w, { k, atol, name });
}

/** The CPU-only families: on another device every call is a SENET_DEVICE error. */
function cpuOnly(t: ExecutionContext, device: Device, fn: () => unknown): boolean {
  if (device === 'cpu') return false;
  const e = t.throws(fn, { instanceOf: SenetError });
  t.is(e?.code, 'SENET_DEVICE');
  return true;
}

// Error bounds in units of u |want| for libm's float functions (<= 1-2 ulp each) and the few roundings around them.
const UNARY_K: Record<string, number> = {
  neg: 0, abs: 0, square: 1, sqrt: 1, rsqrt: 2, reciprocal: 1, exp: 4, expm1: 4, log: 4, log1p: 4, sigmoid: 8, tanh: 4,
  softplus: 8, relu: 0, relu6: 0, elu: 4, selu: 6, leakyRelu: 1, step: 0,
};
const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 1e-30, -1e-30, 88, -88, 100, -100];

for (const op of UNARY_OPS) {
  perDevice(`unary ${op}: values, NaN and infinities as tfjs`, (t, device) => {
    const r = new Rng(op.length * 7 + 1);
    const positive = ['sqrt', 'rsqrt', 'log'].includes(op);
    for (const shape of [[5], [3, 4, 7], [70001]]) {
      const x = positive ? r.uniform(numelOf(shape), 0.01, 20) : r.array(numelOf(shape), 3);
      if (shape[0] === 5) x.set(SPECIAL.slice(0, 5).map(Math.fround));
      const alpha = op === 'leakyRelu' ? 0.2 : op === 'step' ? -0.5 : 0;
      if (cpuOnly(t, device, () => unary(T(x, shape, device), op, { alpha }))) return;
      const y = unary(T(x, shape, device), op, { alpha });
      t.deepEqual([...y.shape], shape);
      closeFinite(t, read(y), unaryRef(x, op, Math.fround(alpha)).map(Math.fround), UNARY_K[op]!, `${op} [${shape}]`, 1e-37);
    }
    // Special values one by one (NaN in, NaN out; limits at the infinities).
    const sx = Float64Array.from(SPECIAL, Math.fround);
    if (!positive) closeFinite(t, read(unary(T(sx, [sx.length], device), op, { alpha: 0.1 })), unaryRef(sx, op, Math.fround(0.1)).map(Math.fround), UNARY_K[op]!, `${op} special`, 1e-37);
  });
}

const BROADCASTS: Array<[number[], number[]]> = [
  [[3, 5], [3, 5]], [[2, 5, 7, 13], [13]], [[2, 5, 7, 13], [2, 1, 1, 13]], [[4, 1, 6], [1, 5, 1]], [[7], []], [[], []],
  [[1, 1, 3], [2, 4, 1]], [[6], [3, 1]], [[8, 28, 28, 16], [8, 1, 1, 16]], [[70001], [70001]], [[1], [40000, 3]],
];
const BINARY_K: Record<string, number> = { add: 1, sub: 1, mul: 1, div: 1, maximum: 0, minimum: 0, squaredDifference: 3, prelu: 1, eluGrad: 2, reluGrad: 0, squareGrad: 1, addRelu: 1 };

for (const [i, [as, bs]] of BROADCASTS.entries()) {
  perDevice(`binary ops with broadcasting: [${as}] op [${bs}]`, (t, device) => {
    const r = new Rng(100 + i);
    const a = r.array(numelOf(as), 2), b = r.array(numelOf(bs), 2, 0.5);
    for (const op of Object.keys(BINARY_K) as BinaryOp[]) {
      if (cpuOnly(t, device, () => binary(T(a, as, device), T(b, bs, device), op))) return;
      const y = binary(T(a, as, device), T(b, bs, device), op);
      const want = binaryRef(a, as, b, bs, op);
      t.deepEqual([...y.shape], want.shape, op);
      closeFinite(t, read(y), want.y, BINARY_K[op]!, `${op} [${as}] [${bs}]`, 1e-37);
    }
  });
}

perDevice('binary: NaN propagates through maximum, minimum, reluGrad; the order of the arguments is kept', (t, device) => {
  const a = Float64Array.from([NaN, 1, 2, NaN, -3, Infinity]), b = Float64Array.from([1, NaN, 3, NaN, -Infinity, 1]);
  if (cpuOnly(t, device, () => binary(T(a, [6], device), T(b, [6], device), 'maximum'))) return;
  for (const op of ['maximum', 'minimum', 'reluGrad', 'sub', 'div', 'prelu', 'addRelu'] as const)
    closeFinite(t, read(binary(T(a, [6], device), T(b, [6], device), op)), binaryRef(a, [6], b, [6], op).y, 1, op);
});

// The gradients of broadcasting ops as the tfjs backend computes them (a
// binary op, then a sum over the broadcast axes), against the reference.
for (const [i, [as, bs]] of BROADCASTS.slice(0, 9).entries()) {
  perDevice(`gradients of broadcasting add/sub/mul/div/squaredDifference: [${as}] op [${bs}]`, (t, device) => {
    const r = new Rng(200 + i);
    const a = r.array(numelOf(as)), b = r.array(numelOf(bs), 1, 3);
    const out = broadcastShapeRef(as, bs);
    const dy = r.array(numelOf(out));
    if (cpuOnly(t, device, () => binary(T(a, as, device), T(b, bs, device), 'mul'))) return;
    const axesOf = (s: number[]) => out.map((d, k) => k).filter((k) => k < out.length - s.length || (s[k - (out.length - s.length)] === 1 && out[k] !== 1));
    const sumTo = (g: ReturnType<typeof T>, s: number[]) => {
      const axes = axesOf(s);
      return axes.length ? reduce(g, axes, 'sum').reshape(s) : g;
    };
    const tdy = T(dy, out, device), ta = T(a, as, device), tb = T(b, bs, device);
    // mul: da = sum(dy * b), db = sum(dy * a)
    const want = binaryBackwardRef(dy, a, as, b, bs, 'mul');
    const mag = binaryBackwardRef(abs(dy), abs(a), as, abs(b), bs, 'mul');
    const kOf = (s: number[]) => 2 + numelOf(out) / Math.max(1, numelOf(s));
    assertClose(t, read(sumTo(binary(tdy, tb, 'mul'), as)), want.da, { mag: mag.da, k: kOf(as), name: 'mul da' });
    assertClose(t, read(sumTo(binary(tdy, ta, 'mul'), bs)), want.db, { mag: mag.db, k: kOf(bs), name: 'mul db' });
    // add: the sums of dy
    const wantAdd = binaryBackwardRef(dy, a, as, b, bs, 'add');
    const magAdd = binaryBackwardRef(abs(dy), a, as, b, bs, 'add');
    assertClose(t, read(sumTo(tdy, bs)), wantAdd.db, { mag: magAdd.db, k: kOf(bs), name: 'add db' });
  });
}

test('binary reference gradients match finite differences', (t) => {
  for (const [i, [as, bs]] of [[[3, 5], [5]], [[2, 1, 4], [3, 1]], [[4], []]].entries() as IterableIterator<[number, number[][]]>) {
    const r = new Rng(300 + i);
    const a = r.array(numelOf(as!)), b = r.array(numelOf(bs!), 1, 3);
    const dy = r.array(numelOf(broadcastShapeRef(as!, bs!)));
    for (const op of ['add', 'sub', 'mul', 'div', 'squaredDifference', 'addRelu']) {
      const g = binaryBackwardRef(dy, a, as!, b, bs!, op);
      const na = numericalGrad((v) => dot(binaryRef(v, as!, b, bs!, op).y, dy), a);
      const nb = numericalGrad((v) => dot(binaryRef(a, as!, v, bs!, op).y, dy), b);
      assertNear(t, [...g.da], [...na.values()], FD_RTOL, FD_ATOL, `${op} da`);
      assertNear(t, [...g.db], [...nb.values()], FD_RTOL, FD_ATOL, `${op} db`);
    }
  }
});

// reluGrad, eluGrad and squareGrad are the backward of relu, elu and square (tfjs's gradients): against finite differences of the reference.
perDevice('reluGrad(dy, x), eluGrad(dy, elu(x)) and squareGrad(dy, x) are the gradients of relu, elu and square', (t, device) => {
  const r = new Rng(400);
  const n = 3000;
  const x = r.array(n, 2).map((v) => (Math.abs(v) < 1e-3 ? 0.5 : v)); // away from the kink
  const dy = r.array(n);
  const idx = sampleIndices(n, 60);
  for (const op of ['relu', 'elu', 'square'] as const) {
    const f = unaryFn(op);
    const num = numericalGrad((v) => dot(Float64Array.from(v, f), dy), Float64Array.from(x), idx);
    if (cpuOnly(t, device, () => unary(T(x, [n], device), op))) return;
    const g = op === 'relu'
      ? binary(T(dy, [n], device), T(x, [n], device), 'reluGrad')
      : op === 'square'
        ? binary(T(dy, [n], device), T(x, [n], device), 'squareGrad')
        : binary(T(dy, [n], device), unary(T(x, [n], device), 'elu'), 'eluGrad');
    const got = read(g);
    // float32 results (elu's output carries its rounding into y + 1): compare at float32 accuracy.
    assertNear(t, idx.map((k) => got[k]!), idx.map((k) => num.get(k)!), op === 'relu' ? FD_RTOL : 1e-5, op === 'relu' ? FD_ATOL : 1e-6, `${op} gradient`);
  }
});

perDevice('addN sums any number of same-shape tensors; clip clamps and keeps NaN', (t, device) => {
  const r = new Rng(500);
  const s = [5, 9001];
  const xs = [1, 2, 3, 7].map(() => r.array(numelOf(s)));
  if (cpuOnly(t, device, () => addN([T(xs[0]!, s, device)]))) return;
  for (const k of [1, 2, 3, 4]) {
    const y = addN(xs.slice(0, k).map((x) => T(x, s, device)));
    const mag = addNRef(xs.slice(0, k).map(abs));
    assertClose(t, read(y), addNRef(xs.slice(0, k)), { mag, k: k, name: `addN of ${k}` });
  }
  const x = r.array(1000, 3);
  x[3] = NaN;
  closeFinite(t, read(clip(T(x, [1000], device), -1, 2.5)), clipRef(x, -1, 2.5), 0, 'clip');
});

perDevice('math ops reject bad input with SENET_* errors naming op and argument', (t, device) => {
  if (device !== 'cpu') {
    t.pass();
    return;
  }
  const bad = badInput(t);
  const x = randn([3, 4]);
  bad(() => unary(x, 'cube' as never), 'SENET_ARG', /^unary: expected op one of neg\|abs/);
  bad(() => unary(x, 'leakyRelu', { alpha: NaN }), 'SENET_ARG', /^unary: expected alpha a finite number, got number NaN/);
  bad(() => unary('x' as never, 'neg'), 'SENET_ARG', /^unary: expected x a Tensor, got string 'x'/);
  bad(() => unary(tensor(new Int32Array(4), [4], { dtype: 'int32' }), 'neg'), 'SENET_DTYPE', /^unary: expected x dtype float32, got int32/);
  bad(() => binary(x, randn([5]), 'add'), 'SENET_SHAPE', /^binary: expected b a shape that broadcasts with a's \[3,4\], got \[5\]/);
  bad(() => binary(x, x, 'pow' as never), 'SENET_ARG', /^binary: expected op one of add\|sub/);
  bad(() => addN([]), 'SENET_ARG', /^addN: expected xs a non-empty array of tensors/);
  bad(() => addN([x, randn([4, 3])]), 'SENET_SHAPE', /^addN: expected xs\[1\] shape \[3,4\] like xs\[0\], got \[4,3\]/);
  bad(() => clip(x, 2, 1), 'SENET_ARG', /^clip: expected max a number >= min, got number 1/);
  bad(() => clip(x, -Infinity, 1), 'SENET_ARG', /^clip: expected min a finite float32 number/);
  const dead = randn([3, 4]);
  dead.dispose();
  bad(() => binary(x, dead, 'mul'), 'SENET_DISPOSED', /^binary: expected b a live tensor/);
  // The native bindings re-check.
  return import('../lib/native.js').then(({ addon }) => {
    const h = x.handle('t', 'x');
    const e1 = t.throws(() => addon.binary(h, randn([5]).handle('t', 'b'), 'add'));
    t.regex(e1!.message, /binary: expected b a shape that broadcasts with a's \[3,4\], got \[5\]/);
    const e2 = t.throws(() => addon.unary(h, 'nope', {}));
    t.regex(e2!.message, /unary: expected op one of/);
    const e3 = t.throws(() => addon.addN([h, 3 as never]));
    t.regex(e3!.message, /addN: expected xs\[1\] a Tensor, got number 3/);
    const e4 = t.throws(() => addon.clip(h, { min: 1, max: 0 }));
    t.regex(e4!.message, /clip: expected max a number >= min/);
    t.deepEqual([...binary(x, x, 'add').shape], [3, 4]);
  });
});
