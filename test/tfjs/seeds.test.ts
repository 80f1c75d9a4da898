/**
 * The seeds' models written with tf.layers (bench/tfjs/models.ts) train with
 * model.fit on the senet backend as on tfjs-backend-cpu: same seeds, same
 * data (a Fashion-MNIST subset), loss curves within tolerance, the same test
 * accuracy. The cpu runs take minutes, so their results are a fixture
 * (fixtures/seeds-cpu.json, from make-seed-fixtures.ts);
 * SENET_TFJS_SEEDS_LIVE=1 runs the cpu backend here too. Skipped when the
 * dataset is missing (/usr/share/datasets/fashion-mnist or SENET_FASHION_MNIST).
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import '../../lib/tfjs/index.js';
import { CONFIG, MODELS, haveData, loadData, train, type Data, type Run } from './seed-runs.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/seeds-cpu.json', import.meta.url), 'utf8')) as {
  config: typeof CONFIG;
  runs: Record<string, Run>;
};
const LIVE = process.env['SENET_TFJS_SEEDS_LIVE'] === '1';
let data: Data | null = null;

test('the cpu fixture was made with the current experiment', (t) => {
  t.deepEqual(fixture.config, CONFIG);
  t.deepEqual(Object.keys(fixture.runs).sort(), Object.keys(MODELS).sort());
});

for (const name of Object.keys(MODELS)) {
  (haveData() ? test.serial : test.serial.skip)(`tf.layers ${name}: model.fit on senet matches tfjs-backend-cpu`, async (t) => {
    data ??= loadData();
    const cpu = LIVE ? await train(tf, 'cpu', name, data) : fixture.runs[name]!;
    const sn = await train(tf, 'senet', name, data);
    t.log(`cpu${LIVE ? '' : ' (fixture)'}: loss ${cpu.loss.map((v) => v.toFixed(4)).join(' ')}, test accuracy ${cpu.testAcc.toFixed(4)}, ${cpu.seconds} s`);
    t.log(`senet: loss ${sn.loss.map((v) => v.toFixed(4)).join(' ')}, test accuracy ${sn.testAcc.toFixed(4)}, ${sn.seconds} s`);
    // It learns (chance: loss 2.30, accuracy 0.1).
    t.true(sn.loss[CONFIG.epochs - 1]! < sn.loss[0]!, 'the training loss decreases');
    t.true(sn.testAcc > 0.5, `test accuracy ${sn.testAcc} > 0.5`);
    // The same curve: only the float32 summation order differs between the backends.
    for (let e = 0; e < CONFIG.epochs; e++) {
      const rel = Math.abs(sn.loss[e]! - cpu.loss[e]!) / cpu.loss[e]!;
      t.true(rel < 0.02, `epoch ${e + 1}: loss ${sn.loss[e]} vs cpu ${cpu.loss[e]} (relative difference ${rel.toFixed(4)} >= 0.02)`);
    }
    t.true(Math.abs(sn.testAcc - cpu.testAcc) <= 0.02, `test accuracy ${sn.testAcc} vs cpu ${cpu.testAcc}`);
    t.true(Math.abs(sn.testLoss - cpu.testLoss) / cpu.testLoss < 0.03, `test loss ${sn.testLoss} vs cpu ${cpu.testLoss}`);
  });
}
