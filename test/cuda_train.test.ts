/**
 * GPU training smoke test (npm run test:gpu): SE-ResNeXt-50 32x4d trains on a
 * fixed batch on each CUDA device in SENET_TEST_DEVICES, in float32 and in
 * bfloat16 mixed precision: the loss falls, nothing becomes NaN, and when the
 * model is disposed the device's tensors and allocated bytes return to their
 * baseline (the caching allocator keeps its blocks until emptyCache()).
 * Without a CUDA device in SENET_TEST_DEVICES the test is skipped (by name).
 */
import test from 'ava';
import { memory, emptyCache, sgdStep, softmaxCrossEntropy, tensor, zeros, sync, type Device, type Tensor } from '../lib/index.js';
import type { Module } from '../lib/nn/module.js';
import { createModel } from '../models/index.js';
import { DEVICES } from './helpers/devices.js';
import { Rng } from './helpers/rng.js';

const cuda = DEVICES.filter((d) => d.startsWith('cuda'));

/** Moves every parameter and buffer of a model to `device` (copies through the host). */
function toDevice(model: Module, device: Device): void {
  const sd = new Map<string, Tensor<'float32'>>();
  for (const [k, v] of model.stateDict()) sd.set(k, tensor(v.toArraySync() as Float32Array, v.shape, { device }));
  model.loadStateDict(sd);
  for (const v of sd.values()) v.dispose();
}

if (cuda.length === 0)
  test.skip('SE-ResNeXt-50 training smoke test on CUDA (needs SENET_TEST_DEVICES=cuda:0: npm run test:gpu)', () => {});

for (const device of cuda)
  for (const precision of ['fp32', 'bf16'] as const)
    test.serial(`SE-ResNeXt-50 32x4d trains on ${device} (${precision}): loss falls, no NaN, memory back to baseline`, async (t) => {
      await sync();
      const base = memory().devices['cuda'] ?? { tensors: 0, allocatedBytes: 0 };
      const N = 16, S = 64, K = 10;
      const model = createModel('se_resnext50_32x4d', { numClasses: K, seed: 3 });
      toDevice(model, device);
      model.setPrecision(precision);
      const rng = new Rng(11);
      const x = tensor(Float32Array.from(rng.array(N * S * S * 3)), [N, S, S, 3], { device });
      const labels = Int32Array.from({ length: N }, (_, i) => i % K);
      const params = model.parameters();
      const bufs = params.map((p) => zeros(p.value.shape, { device }));
      const losses: number[] = [];
      for (let step = 0; step < 12; step++) {
        const logits = model.forward(x);
        const { loss, dlogits } = softmaxCrossEntropy(logits, labels);
        logits.dispose();
        model.backward(dlogits).dispose();
        dlogits.dispose();
        sgdStep(params.map((p) => p.value), params.map((p) => p.grad!), bufs, {
          lr: 0.02, momentum: 0.9, weightDecay: 1e-4, firstStep: step === 0,
        });
        model.zeroGrad();
        losses.push((await loss.toArray())[0]!);
        loss.dispose();
      }
      t.true(losses.every(Number.isFinite), `losses ${losses.map((l) => l.toFixed(4)).join(' ')}`);
      for (const p of params) {
        const v = (await p.value.toArray()) as Float32Array;
        if (!v.every(Number.isFinite)) t.fail('a parameter became NaN or infinite');
      }
      const first = losses[0]!, last = Math.min(...losses.slice(-3));
      t.true(last < 0.7 * first, `the loss falls: ${losses.map((l) => l.toFixed(4)).join(' ')}`);
      t.log(`${device} ${precision} losses: ${losses.map((l) => l.toFixed(4)).join(' ')}`);
      const during = memory().devices['cuda']!;
      t.true((during.reservedBytes ?? 0) > 0, 'the caching allocator holds blocks');
      for (const b of bufs) b.dispose();
      x.dispose();
      model.dispose();
      await sync();
      const after = memory().devices['cuda']!;
      t.is(after.tensors, base.tensors, 'live CUDA tensors back to baseline');
      t.is(after.allocatedBytes, base.allocatedBytes, 'allocated CUDA bytes back to baseline');
      t.true((after.cacheHits ?? 0) > 0, 'later steps reuse cached blocks');
      emptyCache();
      t.is(memory().devices['cuda']!.cachedBytes, 0, 'emptyCache returns the cached blocks');
    });
