import test from 'ava';
import { hostView, memory, randn, relu, tensor, SenetError } from '../lib/index.js';
import { DEVICES } from './helpers/devices.js';

test('hostView: the tensor memory itself, after the queued work, alive after dispose', (t) => {
  const x = tensor([1, -2, 3, -4], [2, 2]);
  const y = relu(x); // queued
  const v = hostView(y);
  t.true(v instanceof Float32Array);
  t.deepEqual([...v], [1, 0, 3, 0]);
  // No copy: the view and the tensor share memory.
  v[0] = 42;
  t.is(y.toArraySync()[0], 42);
  // A reshape shares the storage, and so its view.
  const r = y.reshape([4]);
  t.is(hostView(r)[0], 42);
  const before = memory().devices['cpu']!.storages;
  y.dispose();
  r.dispose();
  // The view holds the storage: still readable.
  t.is(v[2], 3);
  t.is(memory().devices['cpu']!.storages, before);
  // int32 tensors get an Int32Array; empty tensors an empty view.
  t.true(hostView(tensor(new Int32Array([1, 2]), [2], { dtype: 'int32' })) instanceof Int32Array);
  t.is(hostView(tensor([], [0])).length, 0);
});

test('hostView rejects disposed tensors and non-tensors', (t) => {
  const x = randn([2]);
  x.dispose();
  t.is(t.throws(() => hostView(x), { instanceOf: SenetError })?.code, 'SENET_DISPOSED');
  t.is(t.throws(() => hostView({} as never), { instanceOf: SenetError })?.code, 'SENET_ARG');
  if (DEVICES.some((d) => d !== 'cpu')) {
    const g = randn([2], { device: DEVICES.find((d) => d !== 'cpu')! });
    t.is(t.throws(() => hostView(g), { instanceOf: SenetError })?.code, 'SENET_DEVICE');
  }
});
