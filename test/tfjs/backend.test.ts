/**
 * The `senet` TensorFlow.js backend (lib/tfjs): registration and priority,
 * every native kernel against tfjs-backend-cpu on the same inputs (forward
 * and gradients), zero-copy data flow, fallbacks, lifetime and interop.
 * (tfjs's own kernel suite runs with `npm run test:tfjs`.)
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { BACKEND_NAME, PRIORITY, SenetBackend, fromSenet, nativeKernelNames, senetBackend, toSenet } from '../../lib/tfjs/index.js';
import * as senet from '../../lib/index.js';

test.before(async () => {
  await tf.ready();
});

test('importing senet/tfjs registers a backend above cpu and wasm that tf.ready() picks', (t) => {
  t.is(BACKEND_NAME, 'senet');
  t.true(PRIORITY > 2, 'above tfjs-backend-wasm and -webgl (2) and -cpu (1)');
  t.is(tf.getBackend(), 'senet');
  t.truthy(tf.findBackend('senet'));
  t.truthy(tf.findBackend('cpu'));
  for (const k of ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'FusedConv2D', 'DepthwiseConv2dNative', 'BatchMatMul',
    '_FusedMatMul', 'FusedBatchNorm', 'MaxPool', 'MaxPoolGrad', 'AvgPool', 'AvgPoolGrad', 'Mean', 'Sum', 'Relu', 'Sigmoid', 'Multiply',
    'Add', 'AddN', 'Sub', 'Softmax', 'RealDiv', 'Sqrt', 'Square'])
    t.true(nativeKernelNames().includes(k), k);
  // Every cpu kernel is registered for senet too.
  const mine = new Set(tf.getKernelsForBackend('senet').map((k) => k.kernelName));
  for (const k of tf.getKernelsForBackend('cpu')) t.true(mine.has(k.kernelName), k.kernelName);
});

/** Runs fn on both backends with the same data; compares every output. */
async function same(t: import('ava').ExecutionContext, name: string, fn: () => tf.Tensor | tf.Tensor[], tol = 1e-4) {
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const out = tf.tidy(() => {
      const r = fn();
      return Array.isArray(r) ? r : [r];
    });
    const vals = await Promise.all(out.map((o) => o.data()));
    const shapes = out.map((o) => o.shape);
    tf.dispose(out);
    return { vals, shapes };
  };
  const c = await run('cpu');
  const s = await run('senet');
  t.deepEqual(s.shapes, c.shapes, `${name}: shapes`);
  for (let i = 0; i < c.vals.length; i++) {
    let worst = 0;
    const a = c.vals[i]!, b = s.vals[i]!;
    for (let k = 0; k < a.length; k++) {
      const x = a[k] as number, y = b[k] as number;
      if (Number.isNaN(x) && Number.isNaN(y)) continue;
      worst = Math.max(worst, Math.abs(x - y) / (1 + Math.abs(x)));
    }
    t.true(worst <= tol, `${name} output ${i}: max relative difference ${worst} > ${tol}`);
  }
}

// Inputs are made from a fixed generator (same numbers on both backends).
const rnd = (shape: number[], seed: number, scale = 1) => tf.randomNormal(shape, 0, scale, 'float32', seed);

test.serial('convolutions match tfjs-backend-cpu: forward and gradients, strides, dilations, padding, depthwise, fused', async (t) => {
  const cases: Array<[number[], number[], number | [number, number], 'same' | 'valid' | number, number]> = [
    [[2, 9, 9, 3], [3, 3, 3, 8], 1, 'same', 1],
    [[2, 10, 11, 4], [3, 3, 4, 6], 2, 'same', 1],
    [[1, 9, 9, 2], [3, 3, 2, 3], 1, 'valid', 2],
    [[2, 8, 8, 5], [1, 1, 5, 7], [2, 1], 'valid', 1],
    [[1, 7, 7, 3], [5, 5, 3, 2], 1, 2, 1],
  ];
  for (const [xs, fs, stride, pad, dil] of cases) {
    const f = () => {
      const x = rnd(xs, 1), w = rnd(fs, 2, 0.3);
      const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad, 'NHWC', dil);
      // (tfjs has no conv2d gradient for dilations > 1)
      if (dil > 1) return [y];
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad, 'NHWC', dil), rnd(y.shape, 3))))([x, w]);
      return [y, ...g];
    };
    await same(t, `conv2d ${xs} ${fs} s${stride} ${pad} d${dil}`, f);
  }
  await same(t, 'depthwise conv2d + grads', () => {
    const x = rnd([2, 8, 8, 4], 4), w = rnd([3, 3, 4, 2], 5, 0.3);
    const y = tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same');
    return [y, ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'))))([x, w])];
  });
  for (const activation of ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'] as const)
    await same(t, `fused conv2d + bias + ${activation}`, () => {
      const x = rnd([2, 6, 6, 3], 6), w = rnd([3, 3, 3, 4], 7, 0.3), b = rnd([4], 8);
      return tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: 'same', bias: b, activation, preluActivationWeights: rnd([4], 9), leakyreluAlpha: 0.1 });
    });
});

test.serial('matmul, fused matmul, batch norm, pooling, reductions, softmax match tfjs-backend-cpu', async (t) => {
  await same(t, 'matMul variants', () => [
    tf.matMul(rnd([5, 7], 1), rnd([7, 3], 2)),
    tf.matMul(rnd([7, 5], 1), rnd([3, 7], 2), true, true),
    tf.matMul(rnd([2, 3, 4, 5], 3), rnd([2, 3, 5, 6], 4)),
    tf.matMul(rnd([4, 3, 5], 5), rnd([5, 2], 6)),
    tf.matMul(rnd([1, 3, 5], 5), rnd([4, 5, 2], 6)),
    ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, false, true))))([rnd([6, 4], 7), rnd([3, 4], 8)]),
  ]);
  for (const activation of ['linear', 'relu', 'sigmoid', 'elu', 'prelu', 'leakyrelu'] as const)
    await same(t, `fused matMul + bias + ${activation}`, () =>
      tf.fused.matMul({ a: rnd([8, 16], 1), b: rnd([16, 4], 2), bias: rnd([4], 3), activation, preluActivationWeights: rnd([4], 4), leakyreluAlpha: 0.3 }));
  await same(t, 'batchNorm (rank 2 and 4, default parameters, eps 0) and its gradients', () => {
    const x = rnd([4, 5, 5, 3], 1), m = rnd([3], 2), v = tf.abs(rnd([3], 3)), o = rnd([3], 4), s = rnd([3], 5);
    return [
      tf.batchNorm(x, m, v, o, s, 1e-3),
      tf.batchNorm(rnd([6, 3], 6), m, v),
      tf.batchNorm(x, m, tf.add(v, 0.5), o, s, 0),
      ...tf.grads((a: tf.Tensor, mm: tf.Tensor, vv: tf.Tensor, oo: tf.Tensor, ss: tf.Tensor) => tf.sum(tf.square(tf.batchNorm(a, mm, vv, oo, ss, 1e-3))))([x, m, v, o, s]),
    ];
  });
  await same(t, 'training-mode batch norm as tf.layers computes it (moments + batchNorm) and its gradient', () => {
    const x = rnd([8, 6, 6, 4], 1), g = rnd([4], 2), b = rnd([4], 3);
    const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
      const { mean, variance } = tf.moments(xx, [0, 1, 2]);
      return tf.sum(tf.mul(tf.batchNorm(xx, mean, variance, bb, gg, 1e-3), rnd([8, 6, 6, 4], 9)));
    };
    return tf.grads(f)([x, g, b]);
  });
  await same(t, 'max and average pooling and their gradients', () => {
    const x = rnd([2, 9, 9, 3], 1);
    const out: tf.Tensor[] = [];
    for (const [k, s, p] of [[2, 2, 'valid'], [3, 2, 'same'], [3, 1, 'same']] as const) {
      out.push(tf.maxPool(x as tf.Tensor4D, k, s, p), tf.avgPool(x as tf.Tensor4D, k, s, p));
      out.push(tf.grad((a: tf.Tensor) => tf.sum(tf.square(tf.maxPool(a as tf.Tensor4D, k, s, p))))(x));
      out.push(tf.grad((a: tf.Tensor) => tf.sum(tf.square(tf.avgPool(a as tf.Tensor4D, k, s, p))))(x));
    }
    return out;
  });
  await same(t, 'reductions and softmax', () => {
    const x = rnd([4, 5, 6], 1);
    return [tf.sum(x), tf.mean(x, [0, 2]), tf.max(x, 1, true), tf.min(x, [-1]), tf.softmax(x), tf.logSoftmax(x),
      tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.softmax(a), rnd([4, 5, 6], 2))))(x), tf.grad((a: tf.Tensor) => tf.sum(tf.mean(a, [1, 2])))(x)];
  });
  await same(t, 'elementwise ops with broadcasting and the optimizer math', () => {
    const a = rnd([3, 1, 5], 1), b = rnd([4, 1], 2);
    return [tf.add(a, b), tf.sub(a, b), tf.mul(a, b), tf.div(a, tf.add(tf.abs(b), 1)), tf.maximum(a, b), tf.minimum(a, b),
      tf.squaredDifference(a, b), tf.addN([a, a, a]), tf.relu(a), tf.sigmoid(a), tf.tanh(a), tf.exp(a), tf.log(tf.abs(a)),
      tf.sqrt(tf.abs(a)), tf.rsqrt(tf.abs(a)), tf.square(a), tf.neg(a), tf.elu(a), tf.selu(a), tf.leakyRelu(a, 0.3), tf.relu6(tf.mul(a, 5)),
      tf.softplus(a), tf.step(a, 0.5), tf.clipByValue(a, -0.5, 0.5), tf.prelu(a, rnd([5], 3)), tf.reciprocal(a),
      tf.tile(a, [2, 3, 1]), tf.transpose(a, [2, 0, 1]), tf.pad(a, [[1, 0], [0, 2], [1, 1]], 3), tf.zerosLike(a), tf.onesLike(a), tf.fill([2, 3], 1.5),
      ...tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.relu(tf.mul(x, y)), tf.elu(tf.sub(x, y)))))([a, b])];
  });
  await same(t, 'second-order gradients through the gradients senet replaces (square, relu, mean, batch norm)', () => {
    const x = rnd([2, 3, 3, 4], 1);
    const f = (v: tf.Tensor) => tf.sum(tf.mul(tf.square(tf.relu(v)), tf.mean(tf.square(v), [1, 2], true)));
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    const bn = (v: tf.Tensor) => tf.sum(tf.square(tf.batchNorm(v, mean, variance, rnd([4], 2), rnd([4], 3), 1e-3)));
    return [tf.grad((v: tf.Tensor) => tf.sum(tf.grad(f)(v)))(x), tf.grad((v: tf.Tensor) => tf.sum(tf.square(tf.grad(bn)(v))))(x)];
  });
});

test.serial('batch statistics (tf.moments, then batchNorm): one fused gradient where tfjs carries the statistics back to x, tfjs\'s own elsewhere; values as on cpu', async (t) => {
  const b = senetBackend();
  const g = rnd([4], 2), o = rnd([4], 3), w = rnd([4], 5), shape = [8, 6, 6, 4];
  const bn = (x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor) => tf.sum(tf.mul(tf.batchNorm(x, mean, variance, o, g, 1e-3), rnd(shape, 9)));
  const stats = (v: tf.Tensor) => tf.moments(v, [0, 1, 2]);
  const cases: Array<[string, number, () => tf.Tensor[]]> = [
    ['as tf.layers computes it', 1, () => tf.grads((v: tf.Tensor) => { const s = stats(v); return bn(v, s.mean, s.variance); })([rnd(shape, 1)])],
    ['the statistics also in the loss', 1, () => tf.grads((v: tf.Tensor) => {
      const s = stats(v);
      return tf.addN([bn(v, s.mean, s.variance), tf.sum(tf.mul(s.mean, w)), tf.sum(tf.square(s.variance))]);
    })([rnd(shape, 1)])],
    ['statistics computed before the gradient (constants)', 0, () => {
      const x = rnd(shape, 1), s = stats(x);
      return tf.grads((v: tf.Tensor) => bn(v, s.mean, s.variance))([x]);
    }],
    ['statistics of a copy made before the gradient (same data, no gradient path)', 0, () => {
      const x = rnd(shape, 1), copy = x.clone();
      return tf.grads((v: tf.Tensor) => { const s = stats(copy); return bn(v, s.mean, s.variance); })([x]);
    }],
    ['a variance that is not the statistic', 0, () => tf.grads((v: tf.Tensor) => { const s = stats(v); return bn(v, s.mean, tf.add(s.variance, 0.5)); })([rnd(shape, 1)])],
    ['statistics over other axes', 0, () => tf.grads((v: tf.Tensor) => {
      const s = tf.moments(v, [0, 1, 2, 3]);
      return bn(v, tf.tile(tf.reshape(s.mean, [1]), [4]), tf.tile(tf.reshape(s.variance, [1]), [4]));
    })([rnd(shape, 1)])],
  ];
  for (const [name, fused, f] of cases) {
    b.resetStats();
    await same(t, name, f);
    t.is(b.stats.native.get('SenetBatchNormBackward') ?? 0, fused, `${name}: fused gradients`);
  }
  // x - mean(x) and its square are described, not computed, until something reads them.
  await same(t, 'centered data and its square read directly, by a cpu kernel, reshaped; moments of rank 2, 3 and keepDims', () => {
    const x = rnd([5, 3, 4], 1), m = tf.mean(x, [0, 1]), d = tf.sub(x, m);
    return [d, tf.square(d), tf.mean(tf.square(d), [0, 1]), tf.cumsum(tf.reshape(d, [-1])), tf.reshape(tf.square(tf.sub(x, m)), [15, 4]),
      tf.moments(x, [0, 1], true).variance, tf.moments(rnd([7, 3], 2), 0).variance, tf.moments(x, [0, 1]).variance];
  });
  // Lazy data holds native memory only while its tensor lives.
  await tf.setBackend('senet');
  const before = senet.memory().devices['cpu']!.tensors;
  tf.tidy(() => cases[1]![2]().map((v) => v.dataSync()));
  t.is(senet.memory().devices['cpu']!.tensors, before);
});

test.serial('channel scaling (a squeeze-excite block written with ops): one pass forward and one for Multiply\'s gradients; lazy data read anywhere; values as on cpu', async (t) => {
  const { addon } = await import('../../lib/native.js');
  const b = senetBackend();
  const shape = [3, 5, 6, 8];
  const se = (u: tf.Tensor, r: tf.Tensor, w: tf.Tensor) => {
    const s = tf.sigmoid(tf.matMul(tf.mean(u, [1, 2]), w));
    return tf.relu(tf.add(tf.mul(u, tf.reshape(s, [3, 1, 1, 8])), r));
  };
  const dy = () => rnd(shape, 9);
  b.resetStats();
  addon._streamProfile({ on: true });
  await same(t, 'SE block forward and gradients', () => {
    const u = rnd(shape, 1), r = rnd(shape, 2), w = rnd([8, 8], 3, 0.3);
    const { value, grads } = tf.valueAndGrads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => se(a, c, d))([u, r, w], dy());
    return [value, ...grads];
  });
  const ops = new Set(addon._streamProfile({ on: false })!.ops.map((o) => o.op));
  // (relu's gradient comes first and sums against u in its pass; Multiply's gradient reuses the sums)
  t.true(ops.has('scaleChannels') && ops.has('reluBackwardChannelDot') && !ops.has('scaleChannelsBackward'), [...ops].join(' '));
  t.is(b.stats.native.get('SenetScaleChannelsGrad'), 1);
  await same(t, 'lazy u * s, u * s + r, the factor first, relu twice, gradients of one input, a broadcast gradient read directly', () => {
    const u = rnd(shape, 1), r = rnd(shape, 2), f = rnd([3, 1, 1, 8], 3);
    const p = tf.mul(u, f), q = tf.add(r, tf.mul(f, u));
    return [p, q, tf.relu(q), tf.relu(q), tf.sum(tf.mul(p, 2)), tf.cumsum(tf.reshape(q, [-1])),
      tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.relu(tf.add(tf.mul(v, f), r)), dy())))(u),
      tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.relu(tf.add(tf.mul(u, v), r)), dy())))(f),
      tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.mean(v, [1, 2], true), rnd([3, 1, 1, 8], 4))))(u),
      // u's gradient from the scaling, Mean's broadcast and a third use (u * s + bias, then + another term)
      tf.grad((v: tf.Tensor) => tf.addN([tf.sum(tf.mul(se(v, r, rnd([8, 8], 3, 0.3)), dy())), tf.sum(tf.mul(v, rnd(shape, 5)))]))(u),
      tf.grad((v: tf.Tensor) => tf.addN([tf.sum(tf.mul(v, rnd(shape, 5))), tf.sum(tf.mul(se(v, r, rnd([8, 8], 3, 0.3)), dy()))]))(u)];
  });
  // A residual block's relu(shortcut + z): one pass (no add or relu of its own), the gradient from the output.
  const u = rnd(shape, 1), r = rnd(shape, 2);
  addon._streamProfile({ on: true });
  tf.tidy(() => tf.relu(tf.add(u, r)).dataSync());
  const ops2 = new Set(addon._streamProfile({ on: false })!.ops.map((o) => o.op));
  t.true(!ops2.has('add') && !ops2.has('unary') && !ops2.has('relu'), [...ops2].join(' '));
  await same(t, 'relu(a + b), a + b read directly, a chain of adds, relu twice, gradients', () => {
    const s = tf.add(u, r);
    return [tf.relu(s), s, tf.relu(s), tf.add(tf.add(u, r), u), tf.relu(tf.add(tf.add(u, r), u)),
      ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.relu(tf.add(a, b)), dy())))([u, r])];
  });
  // Edge cases of lazy data: both operands one tensor, empty tensors, rank 9 (senet's kernels stop at 8).
  await same(t, 'x + x of lazy data, relu of it, gradients of x + x, of empty tensors and of rank-9 reductions', () => {
    const s = tf.add(u, r), m = tf.mul(u, rnd([3, 1, 1, 8], 3));
    const r9 = rnd([2, 1, 1, 1, 1, 1, 1, 1, 3], 6);
    return [tf.add(s, s), tf.relu(tf.add(m, m)), tf.relu(tf.add(s, s)),
      tf.grad((v: tf.Tensor) => tf.sum(tf.add(v, v)))(u), tf.grad((v: tf.Tensor) => tf.mean(tf.relu(tf.add(v, v))))(u),
      tf.grad((v: tf.Tensor) => tf.sum(v, 0))(tf.zeros([2, 0])), tf.grad((v: tf.Tensor) => tf.mean(v, [1]))(tf.zeros([2, 0, 3])),
      tf.grad((v: tf.Tensor) => tf.sum(tf.mean(v, [0])))(r9), tf.grad((v: tf.Tensor) => tf.sum(tf.sum(v, [8])))(r9)];
  });
  tf.dispose([u, r]);
});

test.serial('a squeeze-excite block written with ops or tf.layers runs as the fused op; its squeeze, hidden activation and gate read anywhere; values and gradients as on cpu', async (t) => {
  const { addon } = await import('../../lib/native.js');
  const shape = [3, 5, 6, 8];
  const dy = () => rnd(shape, 9);
  // sigmoid(relu(mean(u) W1 + b1) W2 + b2) in the forms tfjs writes it: matMul + add, fused matMul
  // (tf.layers' Dense), fused bias with a separate activation, transposed weights, no biases
  type Form = (z: tf.Tensor) => tf.Tensor;
  const w1 = () => rnd([8, 4], 3, 0.4), b1 = () => rnd([4], 4, 0.2), w2 = () => rnd([4, 8], 5, 0.4), b2 = () => rnd([8], 6, 0.2);
  const forms: Record<string, Form> = {
    ops: (z) => tf.sigmoid(tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(z, w1()), b1())), w2()), b2())),
    fused: (z) => tf.fused.matMul({ a: tf.fused.matMul({ a: z, b: w1(), bias: b1(), activation: 'relu' }), b: w2(), bias: b2(), activation: 'sigmoid' }),
    'fused bias, activation apart': (z) => tf.sigmoid(tf.fused.matMul({ a: tf.relu(tf.fused.matMul({ a: z, b: w1(), bias: b1() })), b: w2(), bias: b2() })),
    'transposed weights, bias first': (z) =>
      tf.sigmoid(tf.add(b2(), tf.matMul(tf.relu(tf.add(b1(), tf.matMul(z, tf.transpose(w1()), false, true))), tf.transpose(w2()), false, true))),
    'no biases': (z) => tf.sigmoid(tf.matMul(tf.relu(tf.matMul(z, w1())), w2())),
  };
  const block = (form: Form, u: tf.Tensor, r: tf.Tensor | null, keepDims = false) => {
    const s = tf.reshape(form(tf.mean(u, [1, 2], keepDims)), [3, 1, 1, 8]);
    const us = tf.mul(u, s);
    return r ? tf.relu(tf.add(us, r)) : us;
  };
  await tf.setBackend('senet');
  const b = senetBackend();
  for (const [name, form] of Object.entries(forms)) {
    const u = rnd(shape, 1), r = rnd(shape, 2);
    addon._streamProfile({ on: true });
    tf.tidy(() => block(form, u, r).dataSync());
    const ops = addon._streamProfile({ on: false })!.ops.map((o) => o.op);
    t.true(ops.includes('squeezeExcite') && !ops.includes('reduce') && !ops.includes('scaleChannels'), `${name}: ${ops.join(' ')}`);
    // relu's gradient reads the fused op's mask (the same values as from y: only the counter tells)
    b.resetStats();
    tf.tidy(() => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(block(form, a, r), dy())))(u).dataSync());
    t.is(b.stats.reluMaskReads, 1, `${name}: relu mask read`);
    tf.dispose([u, r]);
    await same(t, `${name}: forward, residual or not, and every gradient`, () => {
      const u = rnd(shape, 1), r = rnd(shape, 2);
      const g = tf.valueAndGrads((a: tf.Tensor, c: tf.Tensor) => block(form, a, c))([u, r], dy());
      const g2 = tf.valueAndGrads((a: tf.Tensor) => block(form, a, null, true))([u], dy());
      return [g.value, ...g.grads, g2.value, ...g2.grads];
    });
  }
  // The weights' gradients (tf.layers trains them) and the chain read in every order.
  await same(t, 'weights\' gradients; the squeeze, the gate, u * s read before or after the block; another u', () => {
    const u = rnd(shape, 1), r = rnd(shape, 2), ws = [w1(), b1(), w2(), b2()];
    const f = (z: tf.Tensor, a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sigmoid(tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(z, a), b)), c), d));
    const wg = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) =>
      tf.sum(tf.mul(tf.relu(tf.add(tf.mul(u, tf.reshape(f(tf.mean(u, [1, 2]), a, b, c, d), [3, 1, 1, 8])), r)), dy())))(ws);
    const z = tf.mean(u, [1, 2]), s = f(z, ws[0]!, ws[1]!, ws[2]!, ws[3]!);
    const zEarly = z.dataSync()[0]!; // (the squeeze computed first: no fused op, same values)
    const y1 = tf.relu(tf.add(tf.mul(u, tf.reshape(s, [3, 1, 1, 8])), r));
    const s2 = f(tf.mean(u, [1, 2]), ws[0]!, ws[1]!, ws[2]!, ws[3]!);
    const y2 = tf.relu(tf.add(r, tf.mul(tf.reshape(s2, [3, 1, 1, 8]), u)));
    const other = tf.relu(tf.add(tf.mul(r, tf.reshape(s2, [3, 1, 1, 8])), u)); // the gate of u scaling r: not the block
    return [...wg, y1, s, y2, s2, tf.mean(u, [1, 2]), other, tf.scalar(zEarly)];
  });
  // Shapes and values the pattern must not take for the block's (or must compute as tfjs does):
  // C = 12 (mask rows off a byte), NaN in the hidden layer's bias or the shortcut, a bias [N, 1] that
  // broadcasts per sample (N = D = 4: not the block's per-unit bias), keepDims with a residual, and a
  // deferred value reshaped before the next op.
  await same(t, 'C = 12; NaN in b1 or r; a per-sample bias; keepDims + residual; a reshaped excitation', () => {
    const sh = [4, 3, 5, 12], u = rnd(sh, 1), r = rnd(sh, 2), g = rnd(sh, 9);
    const wa = rnd([12, 4], 3, 0.4), wb = rnd([4, 12], 5, 0.4), ba = rnd([4], 4, 0.2), bb = rnd([12], 6, 0.2);
    const f = (uu: tf.Tensor, rr: tf.Tensor, b1: tf.Tensor, keep = false) => {
      const z = tf.mean(uu, [1, 2], keep);
      const s = tf.sigmoid(tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(tf.reshape(z, [4, 12]), wa), b1)), wb), bb));
      return tf.relu(tf.add(tf.mul(uu, tf.reshape(s, [4, 1, 1, 12])), rr));
    };
    const vg = (b1: tf.Tensor, rr = r, keep = false) => {
      const { value, grads } = tf.valueAndGrads((a: tf.Tensor, c: tf.Tensor) => f(a, c, b1, keep))([u, rr], g);
      return [value, ...grads];
    };
    const nanB1 = tf.tensor1d([0.1, NaN, -0.2, 0.3]);
    const nanR = tf.tidy(() => tf.where(tf.equal(tf.range(0, 4 * 3 * 5 * 12).reshape(sh), 37), tf.fill(sh, NaN), r));
    const perSample = tf.tensor2d([[0.5], [-1], [2], [0]]); // [N, 1]
    const m = tf.matMul(tf.mean(u, [1, 2]), wa); // [4, 4], reshaped before the add
    const reshaped = tf.add(tf.reshape(m, [4, 1, 1, 4]), rnd([4, 1, 1, 4], 7));
    return [...vg(ba), ...vg(nanB1), ...vg(ba, nanR), ...vg(perSample), ...vg(ba, r, true), reshaped];
  });
  // Nothing outlives tidy: the chain's steps and the fused op's outputs are released with their tensors.
  const n0 = tf.memory().numTensors, s0 = senet.memory().tensors;
  const u = rnd(shape, 1), r = rnd(shape, 2);
  tf.tidy(() => {
    const g = tf.valueAndGrads((a: tf.Tensor, c: tf.Tensor) => block(forms['fused']!, a, c))([u, r], dy());
    g.grads[0]!.dataSync();
  });
  tf.tidy(() => {
    block(forms['ops']!, u, null).dataSync();
    block(forms['ops']!, u, r); // (never read)
  });
  tf.dispose([u, r]);
  t.is(tf.memory().numTensors, n0);
  t.is(senet.memory().tensors, s0);
});

test.serial('a batch norm with given statistics after a convolution is folded into it (inference); values as on cpu; the fold follows changed statistics', async (t) => {
  const { addon } = await import('../../lib/native.js');
  const x = () => rnd([2, 9, 9, 4], 1);
  const stats = (seed: number) => [rnd([6], seed), tf.add(tf.abs(rnd([6], seed + 1)), 0.1), rnd([6], seed + 2), rnd([6], seed + 3)] as const;
  const layer = (w: tf.Tensor, bias: tf.Tensor | undefined, stride: number, s: readonly tf.Tensor[]) =>
    tf.batchNorm(tf.fused.conv2d({ x: x() as tf.Tensor4D, filter: w as tf.Tensor4D, strides: stride, pad: 'same', bias }), s[0]!, s[1]!, s[2]!, s[3]!, 1.001e-5);
  await tf.setBackend('senet');
  addon._streamProfile({ on: true });
  tf.tidy(() => layer(rnd([3, 3, 4, 6], 4, 0.3), rnd([6], 5), 1, stats(10)).dataSync());
  const ops = new Set(addon._streamProfile({ on: false })!.ops.map((o) => o.op));
  t.true(ops.has('conv2d') && !ops.has('batchNormInference'), [...ops].join(' '));
  // A convolution's gradient for its input is computed only where read (tfjs's fused conv asks for it regardless).
  const cx = x(), cw = rnd([3, 3, 4, 6], 4, 0.3);
  addon._streamProfile({ on: true });
  tf.tidy(() => tf.grad((w: tf.Tensor) => tf.sum(tf.fused.conv2d({ x: cx as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: 'same' })))(cw).dataSync());
  const gops = new Set(addon._streamProfile({ on: false })!.ops.map((o) => o.op));
  t.true(gops.has('conv2dBackwardFilter') && !gops.has('conv2dBackwardData'), [...gops].join(' '));
  tf.dispose([cx, cw]);
  await same(t, 'conv (+ bias, strided, 1x1) then batch norm; the same filter with other statistics; the conv output read too', () => {
    const w3 = rnd([3, 3, 4, 6], 4, 0.3), w1 = rnd([1, 1, 4, 6], 6, 0.3), b = rnd([6], 5);
    const s1 = stats(10), s2 = stats(20);
    const conv = tf.conv2d(x() as tf.Tensor4D, w3 as tf.Tensor4D, 1, 'same');
    return [layer(w3, b, 1, s1), layer(w3, b, 1, s2), layer(w3, b, 1, s1), layer(w3, undefined, 2, s1), layer(w1, b, 1, s2),
      conv, tf.batchNorm(conv, s1[0]!, s1[1]!), tf.relu(layer(w3, b, 2, s2))];
  });
});

test.serial('data stays native between native kernels; a cpu kernel reads it in place; tfjs data is copied once', async (t) => {
  await tf.setBackend('senet');
  const b = tf.backend() as unknown as SenetBackend;
  b.resetStats();
  const x = tf.tensor4d(Float32Array.from({ length: 2 * 8 * 8 * 3 }, (_, i) => Math.sin(i)), [2, 8, 8, 3]);
  const w = rnd([3, 3, 3, 4], 1);
  const y = tf.tidy(() => tf.relu(tf.conv2d(x, w as tf.Tensor4D, 1, 'same')));
  const z = tf.tidy(() => tf.sigmoid(tf.conv2d(x, w as tf.Tensor4D, 2, 'same')));
  t.is(b.stats.uploads, 2, 'x and w, copied into native memory once each (w was made by a cpu kernel)');
  t.is(b.stats.hostReads, 0, 'nothing read back yet');
  // A cpu kernel (cumsum has no native kernel) reads y through a view of its native memory.
  const c = tf.cumsum(y.reshape([-1]));
  t.is(b.stats.hostReads, 1);
  t.true((b.stats.fallback.get('Cumsum') ?? 0) >= 1);
  // What the user reads is a copy in JavaScript memory (made once).
  const v1 = y.dataSync(), v2 = y.dataSync();
  t.is(v1, v2, 'one copy per tensor');
  t.is(b.stats.hostReads, 1);
  t.is(b.stats.hostCopies, 1);
  // A senet tensor sharing y's data sees the same values.
  const s = toSenet(y);
  t.deepEqual(Array.from(s.toArraySync()).slice(0, 10), Array.from(v1).slice(0, 10));
  s.dispose();
  t.true((await c.data()).length === y.size);
  tf.dispose([x, w, y, z, c]);
});

test.serial('native kernels decline what they do not cover and the cpu kernels run it', async (t) => {
  await tf.setBackend('senet');
  const b = tf.backend() as unknown as SenetBackend;
  b.resetStats();
  const r = tf.tidy(() => {
    const i = tf.add(tf.tensor1d([1, 2, 3], 'int32'), tf.tensor1d([4, 5, 6], 'int32'));
    const nchw = tf.conv2d(rnd([1, 2, 5, 5], 1) as tf.Tensor4D, rnd([3, 3, 2, 2], 2) as tf.Tensor4D, 1, 'same', 'NCHW');
    const empty = tf.sum(tf.zeros([0, 3]), 0);
    return [i.arraySync(), nchw.shape, empty.arraySync()];
  });
  t.deepEqual(r, [[5, 7, 9], [1, 2, 5, 5], [0, 0, 0]]);
  t.true((b.stats.fallback.get('Add') ?? 0) >= 1);
  t.true((b.stats.fallback.get('Conv2D') ?? 0) >= 1);
});

test.serial('no tensor or native memory outlives tidy; a training step leaves memory flat', async (t) => {
  await tf.setBackend('senet');
  const w = tf.variable(rnd([3, 3, 1, 4], 1, 0.3)), d = tf.variable(rnd([4, 2], 2));
  const x = rnd([8, 6, 6, 1], 3), labels = tf.oneHot(tf.tensor1d([0, 1, 0, 1, 1, 0, 0, 1], 'int32'), 2);
  const opt = tf.train.adam(0.01);
  const step = () => opt.minimize(() => tf.losses.softmaxCrossEntropy(labels, tf.matMul(tf.mean(tf.relu(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same')), [1, 2]), d)) as tf.Scalar, true)!;
  step().dispose();
  const n0 = tf.memory().numTensors, s0 = senet.memory().tensors;
  const losses: number[] = [];
  for (let i = 0; i < 5; i++) {
    const l = step();
    losses.push(l.dataSync()[0]!);
    l.dispose();
  }
  t.is(tf.memory().numTensors, n0);
  t.is(senet.memory().tensors, s0, 'native handles are released with their tensors');
  t.true(losses[4]! < losses[0]!);
  opt.dispose();
  tf.dispose([w, d, x, labels]);
});

test.serial('toSenet / fromSenet share data between tfjs tensors and senet tensors', async (t) => {
  await tf.setBackend('senet');
  const a = senet.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  const ta = fromSenet(a);
  t.deepEqual(ta.arraySync(), [[1, 2, 3], [4, 5, 6]]);
  const tb = tf.mul(ta, 2);
  const b = toSenet(tb);
  t.deepEqual(b.toNested(), [[2, 4, 6], [8, 10, 12]]);
  // Disposing either side keeps the other valid.
  a.dispose();
  t.deepEqual(tf.sum(ta).arraySync(), 21);
  tf.dispose([ta, tb]);
  t.deepEqual(b.toNested(), [[2, 4, 6], [8, 10, 12]]);
  b.dispose();
  t.is(senetBackend().device, 'cpu');
});

test.serial('views lent to cpu kernels are released with their tensors: native memory is reused at once', async (t) => {
  await tf.setBackend('senet');
  const x = tf.randomNormal([64, 64, 64], 0, 1, 'float32', 1);
  const step = () => tf.tidy(() => tf.cumsum(tf.relu(x), 2).shape);
  step();
  const before = senet.memory().devices['cpu']!;
  for (let i = 0; i < 10; i++) step();
  const after = senet.memory().devices['cpu']!;
  t.is(after.storages, before.storages, 'no storage held by a view after dispose');
  t.true(after.allocatedBytes <= before.allocatedBytes, 'no growth');
  // A cpu kernel output aliasing a view (tfjs's Slice returns subarrays) stays valid after its source is disposed.
  const s = tf.tidy(() => tf.slice(tf.reshape(tf.relu(x), [64 * 64 * 64]), [64], [10]));
  t.is(s.dataSync().length, 10);
  t.true(s.dataSync().every((v) => v >= 0));
  tf.dispose([x, s]);
});

test('a device the process does not have (SENET_TFJS_DEVICE=cuda without a GPU) is an error naming it and the devices there are, not a silent fall back to JavaScript kernels', (t) => {
  const have = senet.info().devices;
  const e = t.throws(() => new SenetBackend({ device: 'cuda:99' }), { instanceOf: senet.SenetError });
  t.is(e?.code, 'SENET_DEVICE');
  t.regex(e?.message ?? '', new RegExp(`expected device one of ${have.join(', ')} \\(SENET_TFJS_DEVICE or the device option\\), got 'cuda:99'`));
  if (!have.includes('cuda:0')) t.throws(() => new SenetBackend({ device: 'cuda:0' }), { message: /got 'cuda:0' \((this build of senet has no CUDA|CUDA: .+)\)/ });
  t.is(new SenetBackend({ device: 'cpu' }).device, 'cpu');
  if (have.includes('cuda:0')) t.is(new SenetBackend({ device: 'cuda' }).device, 'cuda:0', "'cuda' is cuda:0");
});

// tfjs's contract (the webgl backend defers disposal for it; the debug-mode
// profiler relies on it): a read started while a tensor is alive resolves
// with its values even when the tensor is disposed before the data lands.
test('data() started before dispose resolves after it', async (t) => {
  const x = tf.randomNormal([64, 64, 8], 0, 1, 'float32', 5);
  const y = tf.relu(tf.conv2d(x as tf.Tensor3D, tf.ones([3, 3, 8, 8]), 1, 'same'));
  const w = tf.tidy(() => tf.relu(tf.conv2d(x as tf.Tensor3D, tf.ones([3, 3, 8, 8]), 1, 'same')));
  const want = [...w.dataSync()];
  w.dispose();
  const pending = y.data();
  y.dispose();
  t.deepEqual([...(await pending)], want);
  x.dispose();
});
