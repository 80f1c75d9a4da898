import test from 'ava';
import { pad, randn, reduce, slice, tensor, tile, transpose, SenetError, type SenetErrorCode, type Device } from '../lib/index.js';
import { numelOf } from './reference/math.js';
import { padRef, sliceRef, tileBackwardRef, tileRef, transposeRef } from './reference/layout.js';
import { perDevice } from './helpers/devices.js';
import { Rng } from './helpers/rng.js';
import { T, read } from './helpers/tensors.js';
import { abs, assertClose, assertNear } from './helpers/compare.js';
import { FD_ATOL, FD_RTOL, dot, numericalGrad } from './helpers/fd.js';
import type { ExecutionContext } from 'ava';
import { badInput } from './helpers/errors.js';

function cpuOnly(t: ExecutionContext, device: Device, fn: () => unknown): boolean {
  if (device === 'cpu') return false;
  const e = t.throws(fn, { instanceOf: SenetError });
  t.is(e?.code, 'SENET_DEVICE');
  return true;
}

// Identity, 2-D (HWIO -> OHWI is [fh*fw*ci, co] -> [co, ...]), batched, size-1 dims, rank 6, large.
const PERMS: Array<[number[], number[]]> = [
  [[3, 4], [0, 1]], [[3, 4], [1, 0]], [[3, 3, 16, 32], [3, 0, 1, 2]], [[32, 3, 3, 16], [1, 2, 3, 0]], [[2, 5, 7], [0, 2, 1]],
  [[2, 1, 7, 1], [3, 2, 1, 0]], [[2, 3, 4, 5, 2, 3], [5, 3, 1, 0, 2, 4]], [[257, 513], [1, 0]], [[64, 9, 9, 16], [0, 3, 1, 2]], [[5], [0]], [[], []],
];

for (const [i, [shape, perm]] of PERMS.entries()) {
  perDevice(`transpose [${shape}] by [${perm}] (and back: its own gradient)`, (t, device) => {
    const x = new Rng(10 + i).array(numelOf(shape));
    if (cpuOnly(t, device, () => transpose(T(x, shape, device), perm))) return;
    const y = transpose(T(x, shape, device), perm);
    const want = transposeRef(x, shape, perm);
    t.deepEqual([...y.shape], want.shape);
    assertClose(t, read(y), want.y, { k: 0, name: 'y' });
    const inv = perm.map((_, k) => perm.indexOf(k));
    assertClose(t, read(transpose(y, inv)), x, { k: 0, name: 'back' });
  });
}

for (const [i, [shape, reps]] of ([[[3], [4]], [[2, 3], [1, 5]], [[1, 1, 1, 16], [8, 28, 28, 1]], [[2, 1, 3], [3, 4, 2]], [[4, 2], [0, 3]], [[], []]] as Array<[number[], number[]]>).entries()) {
  perDevice(`tile [${shape}] by [${reps}]; its gradient is a sum over the copies`, (t, device) => {
    const r = new Rng(30 + i);
    const x = r.array(numelOf(shape));
    if (cpuOnly(t, device, () => tile(T(x, shape, device), reps))) return;
    const y = tile(T(x, shape, device), reps);
    const want = tileRef(x, shape, reps);
    t.deepEqual([...y.shape], want.shape);
    assertClose(t, read(y), want.y, { k: 0, name: 'y' });
    // tfjs's Tile gradient as the backend runs it: sums of dy over the copies, by reshape + reduce.
    if (shape.length && numelOf(want.shape) > 0) {
      const dy = r.array(numelOf(want.shape));
      const split = shape.flatMap((d, k) => [reps[k]!, d]);
      const axes = shape.map((_, k) => 2 * k);
      const dx = reduce(T(dy, split, device), axes, 'sum').reshape(shape);
      const mag = tileBackwardRef(abs(dy), shape, reps);
      assertClose(t, read(dx), tileBackwardRef(dy, shape, reps), { mag, k: 2, name: 'dx' });
    }
  });
}

test('tile reference backward matches finite differences', (t) => {
  const r = new Rng(40);
  const shape = [2, 3], reps = [3, 2];
  const x = r.array(6), dy = r.array(36);
  const num = numericalGrad((v) => dot(tileRef(v, shape, reps).y, dy), Float64Array.from(x));
  assertNear(t, [...tileBackwardRef(dy, shape, reps)], [...num.values()], FD_RTOL, FD_ATOL, 'tile dx');
});

for (const [i, [shape, pads, value]] of ([[[3, 4], [[1, 2], [0, 3]], 0], [[2, 5, 5, 3], [[0, 0], [3, 3], [3, 3], [0, 0]], -1.5], [[4], [[0, 0]], 7], [[2, 0], [[1, 1], [2, 0]], 2], [[16, 224, 224, 3], [[0, 0], [3, 3], [3, 3], [0, 0]], 0], [[3, 2, 4, 5], [[1, 2], [0, 0], [0, 0], [0, 0]], 0.5], [[2, 3, 4, 5], [[0, 0], [1, 0], [0, 0], [2, 1]], 3]] as Array<[number[], Array<[number, number]>, number]>).entries()) {
  perDevice(`pad [${shape}] by [${pads.map((p) => `[${p}]`)}] with ${value}`, (t, device) => {
    const x = new Rng(50 + i).array(numelOf(shape));
    if (cpuOnly(t, device, () => pad(T(x, shape, device), pads, value))) return;
    const y = pad(T(x, shape, device), pads, value);
    const want = padRef(x, shape, pads, value);
    t.deepEqual([...y.shape], want.shape);
    assertClose(t, read(y), want.y, { k: 0, name: 'y' });
  });
}

for (const [i, [shape, begin, size, strides]] of ([[[5, 7], [1, 2], [3, 4], [1, 1]], [[2, 8, 8, 5], [0, 0, 0, 0], [2, 4, 8, 5], [1, 2, 1, 1]],
  [[2, 9, 9, 3], [0, 1, 0, 0], [2, 4, 3, 3], [1, 2, 3, 1]], [[10], [3], [0], [1]], [[4, 1], [3, 0], [1, 1], [5, 1]]] as Array<number[][]>).entries()) {
  perDevice(`slice [${shape}] from [${begin}] size [${size}] strides [${strides}]`, (t, device) => {
    const x = new Rng(60 + i).array(numelOf(shape));
    if (cpuOnly(t, device, () => slice(T(x, shape, device), begin!, size!, strides))) return;
    const y = slice(T(x, shape!, device), begin!, size!, strides);
    t.deepEqual([...y.shape], size);
    assertClose(t, read(y), sliceRef(x, shape!, begin!, size!, strides!), { k: 0, name: 'y' });
  });
}

perDevice('layout ops reject bad input with SENET_* errors naming op and argument', (t, device) => {
  if (device !== 'cpu') {
    t.pass();
    return;
  }
  const bad = badInput(t);
  const x = randn([3, 4]);
  bad(() => transpose(x, [0]), 'SENET_ARG', /^transpose: expected perm an array of 2 integers \(one per dimension of x\), got an array of length 1/);
  bad(() => transpose(x, [1, 1]), 'SENET_ARG', /^transpose: expected perm a permutation of 0..1, got \[1,1\]/);
  bad(() => tile(x, [1, -1]), 'SENET_ARG', /^tile: expected reps\[1\] an integer >= 0, got number -1/);
  bad(() => pad(x, [[0, 0]]), 'SENET_ARG', /^pad: expected paddings an array of 2 \[before, after\] pairs/);
  bad(() => pad(x, [[0, 0], [1, -2]]), 'SENET_ARG', /^pad: expected paddings\[1\]\[1\] an integer >= 0, got number -2/);
  bad(() => transpose(tensor(new Int32Array(2), [2], { dtype: 'int32' }), [0]), 'SENET_DTYPE', /^transpose: expected x dtype float32, got int32/);
  bad(() => slice(x, [0, 2], [3, 2], [1, 2]), 'SENET_SHAPE', /^slice: expected size a slice inside x \[3,4\] \(axis 1: begin 2, stride 2\), got 2 elements along axis 1/);
  bad(() => slice(x, [0, 0], [1, 1], [1, 0]), 'SENET_ARG', /^slice: expected strides\[1\] an integer >= 1, got number 0/);
  return import('../lib/native.js').then(({ addon }) => {
    const h = x.handle('t', 'x');
    t.regex(t.throws(() => addon.transpose(h, [0, 0]))!.message, /transpose: expected perm a permutation of 0..1, got axis 0 twice/);
    t.regex(t.throws(() => addon.tile(h, [1e9, 1e9]))!.message, /tile: expected reps at most 2\^50 elements/);
    t.regex(t.throws(() => addon.pad(h, [0], [0], 0))!.message, /pad: expected before an array of 2 integers/);
    t.regex(t.throws(() => addon.slice(h, [0, 3], [1, 2], [1, 1]))!.message, /slice: expected size a slice inside x \[3,4\]/);
    t.deepEqual([...transpose(x, [1, 0]).shape], [4, 3]);
  });
});
