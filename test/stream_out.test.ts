/**
 * Streaming stores for large elementwise outputs (native/cpu/stream_out.h):
 * chosen automatically above the last-level cache size, so the op tests
 * (small tensors) run the plain stores. Forced on here (_streamStores), the
 * streamed paths (direct for add, through the L1 buffer for the others:
 * aligned chunks, tails, several threads) must give the same bits as the
 * plain ones.
 */
import test from 'ava';
import {
  add, batchNormInference, batchNormTrain, binary, getNumThreads, relu, reluBackward, reluBackwardChannelDot, scaleChannels, scaleChannelsBackward, setNumThreads, type Tensor,
} from '../lib/index.js';
import { addon } from '../lib/native.js';
import { DEVICES } from './helpers/devices.js';
import { Rng } from './helpers/rng.js';
import { T, numel } from './helpers/tensors.js';

// Sizes around the 64-element minimum, the 2048-float chunk and the 8-float vector tail.
const SHAPES = [[1, 1, 5, 13], [2, 3, 7, 9], [3, 7, 9, 13], [1, 33, 31, 8], [2, 1, 1, 4099]];

function outputs(s: number[], seed: number): Float32Array[] {
  const r = new Rng(seed);
  const x = T(r.array(numel(s)), s, 'cpu'), x2 = T(r.array(numel(s)), s, 'cpu'), dy = T(r.array(numel(s)), s, 'cpu');
  const C = s[3]!;
  const g = T(r.array(C), [C], 'cpu'), b = T(r.array(C), [C], 'cpu'), m = T(r.array(C), [C], 'cpu');
  const v = T(r.array(C).map((e) => 0.5 + Math.abs(e)), [C], 'cpu');
  const y = relu(x);
  const outs: Tensor[] = [y, reluBackward(dy, y), add(x, x2), binary(x, x2, 'add'), batchNormInference(x, g, b, m, v)];
  const tr = batchNormTrain(x, g, b);
  const sc = T(r.array(s[0]! * C), [s[0]!, C], 'cpu');
  const sb = scaleChannelsBackward(dy, x, sc);
  const rd = reluBackwardChannelDot(dy, x2, x);
  outs.push(tr.y, scaleChannels(x, sc), scaleChannels(x, sc, { residual: x2, relu: true, bias: sc }), sb.du, rd.dx, rd.ds);
  const res = outs.map((o) => o.toArraySync() as Float32Array);
  for (const o of [...outs, tr.mean, tr.var, sb.ds, sc, x, x2, dy, g, b, m, v]) o.dispose();
  return res;
}

test('streamed elementwise outputs are bit-identical to plain stores', (t) => {
  if (!DEVICES.includes('cpu')) return t.pass();
  const threads = getNumThreads();
  try {
    for (const n of [1, 2, 3]) {
      setNumThreads(n);
      for (const [i, s] of SHAPES.entries()) {
        t.is(addon._streamStores({ mode: 'off' }), 'off');
        const plain = outputs(s, 40 + i);
        t.is(addon._streamStores({ mode: 'on' }), 'on');
        const streamed = outputs(s, 40 + i);
        const names = ['relu', 'reluBackward', 'add', 'binary add', 'batchNormInference', 'batchNormTrain y', 'scaleChannels', 'scaleChannels + residual + relu', 'scaleChannelsBackward du', 'reluBackwardChannelDot dx', 'reluBackwardChannelDot ds'];
        names.forEach((name, k) => t.deepEqual(streamed[k], plain[k], `${name} [${s}] threads=${n}`));
      }
    }
    t.throws(() => addon._streamStores({ mode: 'always' as never }), { message: /_streamStores: expected mode one of auto\|on\|off/ });
  } finally {
    addon._streamStores({ mode: 'auto' });
    setNumThreads(threads);
  }
});
