import test from 'ava';
import { matmul, randn, reduce, tensor, SenetError, type SenetErrorCode, type Device } from '../lib/index.js';
import { matmulBackwardRef, matmulRef, type MatmulDims } from './reference/matmul.js';
import { perDevice } from './helpers/devices.js';
import { Rng } from './helpers/rng.js';
import { T, read } from './helpers/tensors.js';
import { abs, assertClose, assertNear } from './helpers/compare.js';
import { FD_ATOL, FD_RTOL, dot, numericalGrad, sampleIndices } from './helpers/fd.js';
import type { ExecutionContext } from 'ava';
import { badInput } from './helpers/errors.js';

function cpuOnly(t: ExecutionContext, device: Device, fn: () => unknown): boolean {
  if (device === 'cpu') return false;
  const e = t.throws(fn, { instanceOf: SenetError });
  t.is(e?.code, 'SENET_DEVICE');
  return true;
}

const shapeA = (d: MatmulDims, rank3: boolean) => [...(rank3 ? [d.ba] : []), ...(d.ta ? [d.k, d.m] : [d.m, d.k])];
const shapeB = (d: MatmulDims, rank3: boolean) => [...(rank3 ? [d.bb] : []), ...(d.tb ? [d.n, d.k] : [d.k, d.n])];

const CASES: Array<[string, MatmulDims, boolean]> = [
  ['2-D', { ba: 1, bb: 1, m: 5, k: 7, n: 3, ta: false, tb: false }, false],
  ['2-D, a transposed', { ba: 1, bb: 1, m: 5, k: 7, n: 3, ta: true, tb: false }, false],
  ['2-D, b transposed', { ba: 1, bb: 1, m: 33, k: 257, n: 129, ta: false, tb: true }, false],
  ['2-D, both transposed', { ba: 1, bb: 1, m: 6, k: 1, n: 4, ta: true, tb: true }, false],
  ['batched', { ba: 4, bb: 4, m: 3, k: 8, n: 5, ta: false, tb: false }, true],
  ['batched, a broadcast', { ba: 1, bb: 6, m: 3, k: 8, n: 5, ta: true, tb: false }, true],
  ['batched, b broadcast', { ba: 6, bb: 1, m: 3, k: 8, n: 5, ta: false, tb: true }, true],
  ['SE excitation 128 x 64 -> 4', { ba: 1, bb: 1, m: 128, k: 64, n: 4, ta: false, tb: false }, false],
  ['K = 0 (zeros + bias)', { ba: 1, bb: 1, m: 3, k: 0, n: 2, ta: false, tb: false }, false],
];

for (const [name, d, rank3] of CASES) {
  perDevice(`matmul ${name}: forward (with and without bias) and gradients`, (t, device) => {
    const r = new Rng(name.length * 13);
    const a = r.array(d.ba * d.m * d.k), b = r.array(d.bb * d.k * d.n, 1 / Math.sqrt(Math.max(1, d.k))), bias = r.array(d.n);
    const ta = () => T(a, shapeA(d, rank3), device), tb = () => T(b, shapeB(d, rank3), device);
    if (cpuOnly(t, device, () => matmul(ta(), tb(), { transposeA: d.ta, transposeB: d.tb }))) return;
    for (const withBias of [false, true]) {
      const y = matmul(ta(), tb(), { transposeA: d.ta, transposeB: d.tb, bias: withBias ? T(bias, [d.n], device) : null });
      const outShape = rank3 ? [Math.max(d.ba, d.bb), d.m, d.n] : [d.m, d.n];
      t.deepEqual([...y.shape], outShape);
      const mag = matmulRef(abs(a), abs(b), withBias ? abs(bias) : null, d);
      assertClose(t, read(y), matmulRef(a, b, withBias ? bias : null, d), { mag, k: d.k + 2, name: `y${withBias ? ' + bias' : ''}` });
    }
    if (d.k === 0) return;
    // The gradients as tfjs's BatchMatMul gradient computes them: matmuls with transposes (+ a sum over a broadcast batch).
    const dy = r.array(Math.max(d.ba, d.bb) * d.m * d.n);
    const ys = rank3 ? [Math.max(d.ba, d.bb), d.m, d.n] : [d.m, d.n];
    const want = matmulBackwardRef(dy, a, b, d);
    const mag = matmulBackwardRef(abs(dy), abs(a), abs(b), d);
    // da (stored layout): ta ? b op(dy^T) : dy op(b)^T
    let da = d.ta ? matmul(tb(), T(dy, ys, device), { transposeA: d.tb, transposeB: true }) : matmul(T(dy, ys, device), tb(), { transposeB: !d.tb });
    let db = d.tb ? matmul(T(dy, ys, device), ta(), { transposeA: true, transposeB: d.ta }) : matmul(ta(), T(dy, ys, device), { transposeA: !d.ta });
    if (rank3 && d.ba === 1) da = reduce(da, [0], 'sum', { keepDims: true });
    if (rank3 && d.bb === 1) db = reduce(db, [0], 'sum', { keepDims: true });
    const batch = Math.max(d.ba, d.bb);
    assertClose(t, read(da), want.da, { mag: mag.da, k: d.n * batch + 2, name: 'da' });
    assertClose(t, read(db), want.db, { mag: mag.db, k: d.m * batch + 2, name: 'db' });
  });
}

test('matmul reference backward matches finite differences', (t) => {
  for (const [name, d] of CASES.slice(0, 7).map(([n, dd]) => [n, dd] as const)) {
    const r = new Rng(99);
    const a = r.array(d.ba * d.m * d.k), b = r.array(d.bb * d.k * d.n);
    const dy = r.array(Math.max(d.ba, d.bb) * d.m * d.n);
    const g = matmulBackwardRef(dy, a, b, d);
    const ia = sampleIndices(a.length, 30), ib = sampleIndices(b.length, 30);
    const na = numericalGrad((v) => dot(matmulRef(v, b, null, d), dy), a, ia);
    const nb = numericalGrad((v) => dot(matmulRef(a, v, null, d), dy), b, ib);
    assertNear(t, ia.map((k) => g.da[k]!), ia.map((k) => na.get(k)!), FD_RTOL, FD_ATOL, `${name} da`);
    assertNear(t, ib.map((k) => g.db[k]!), ib.map((k) => nb.get(k)!), FD_RTOL, FD_ATOL, `${name} db`);
  }
});

perDevice('matmul rejects bad input with SENET_* errors naming op and argument', (t, device) => {
  if (device !== 'cpu') {
    t.pass();
    return;
  }
  const bad = badInput(t);
  const a = randn([3, 4]), b = randn([4, 5]);
  bad(() => matmul(a, randn([5, 4])), 'SENET_SHAPE', /^matmul: expected b an inner dimension of 4 to match a \[3,4\], got shape \[5,4\]/);
  bad(() => matmul(randn([3]), b), 'SENET_SHAPE', /^matmul: expected a a rank-2 \[M, K\] or rank-3 \[batch, M, K\] tensor, got shape \[3\]/);
  bad(() => matmul(randn([2, 3, 4]), randn([3, 4, 5])), 'SENET_SHAPE', /^matmul: expected b a batch of 2 \(a's\) or 1, got shape \[3,4,5\]/);
  bad(() => matmul(a, b, { bias: randn([4]) }), 'SENET_SHAPE', /^matmul: expected bias shape \[5\], got \[4\]/);
  bad(() => matmul(a, b, { transposeA: 1 as never }), 'SENET_ARG', /^matmul: expected transposeA a boolean, got number 1/);
  bad(() => matmul(a, tensor(new Int32Array(20), [4, 5], { dtype: 'int32' })), 'SENET_DTYPE', /^matmul: expected b dtype float32, got int32/);
  return import('../lib/native.js').then(({ addon }) => {
    t.regex(t.throws(() => addon.matmul(a.handle('t', 'a'), a.handle('t', 'b'), null, {}))!.message, /matmul: expected b an inner dimension of 4 to match a \[3,4\], got shape \[3,4\]/);
    t.regex(t.throws(() => addon.matmul(a.handle('t', 'a'), b.handle('t', 'b'), a.handle('t', 'c'), {}))!.message, /matmul: expected bias shape \[5\], got \[3,4\]/);
    t.deepEqual([...matmul(a, b).shape], [3, 5]);
  });
});
