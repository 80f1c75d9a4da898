/**
 * Regenerates fixtures/seeds-cpu.json: the seeds' models trained on
 * tfjs-backend-cpu (minutes: tfjs's JavaScript kernels), the reference
 * seeds.test.ts compares the senet backend with.
 *
 *   node --import tsx test/tfjs/make-seed-fixtures.ts [model ...]   # all models, or the ones named
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '../../lib/tfjs/index.js';
import { CONFIG, MODELS, haveData, loadData, train, type Run } from './seed-runs.js';

if (!haveData()) throw new Error('Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist, or SENET_FASHION_MNIST=dir)');
const out = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'seeds-cpu.json');
const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(MODELS);
for (const n of names) if (!MODELS[n]) throw new Error(`unknown model ${n}: ${Object.keys(MODELS).join(', ')}`);
const data = loadData();
// Keep the other models' runs when regenerating some.
const runs: Record<string, Run> = existsSync(out) && names.length < Object.keys(MODELS).length ? (JSON.parse(readFileSync(out, 'utf8')) as { runs: Record<string, Run> }).runs : {};
for (const name of names) {
  runs[name] = await train(tf, 'cpu', name, data);
  console.log(name, JSON.stringify(runs[name]));
}
writeFileSync(out, JSON.stringify({ generated: new Date().toISOString(), tfjs: tf.version.tfjs, backend: 'cpu', config: CONFIG, runs }, null, 1) + '\n');
console.log(`wrote ${out}`);
