import test from 'ava';
import { padChannels, padChannelsBackward, randn, SenetError } from '../lib/index.js';
import { perDevice } from './helpers/devices.js';
import { Rng } from './helpers/rng.js';
import { T, read } from './helpers/tensors.js';
import { FD_ATOL, FD_RTOL, dot, numericalGrad } from './helpers/fd.js';
import { assertNear } from './helpers/compare.js';

/** Float64 reference: zeros around the channels. */
function padRef(x: ArrayLike<number>, shape: number[], before: number, after: number): Float64Array {
  const C = shape[3]!, Co = before + C + after, rows = x.length / C;
  const y = new Float64Array(rows * Co);
  for (let r = 0; r < rows; r++) for (let c = 0; c < C; c++) y[r * Co + before + c] = x[r * C + c]!;
  return y;
}
function padBackwardRef(dy: ArrayLike<number>, shape: number[], before: number, after: number): Float64Array {
  const Co = shape[3]!, C = Co - before - after, rows = dy.length / Co;
  const dx = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) for (let c = 0; c < C; c++) dx[r * C + c] = dy[r * Co + before + c]!;
  return dx;
}

const CASES: Array<[number[], number, number]> = [[[2, 3, 5, 4], 2, 2], [[1, 1, 1, 3], 0, 5], [[3, 4, 4, 7], 7, 0]];

for (const [shape, before, after] of CASES)
  perDevice(`padChannels fwd/bwd ${JSON.stringify(shape)} +${before}/+${after}`, (t, device) => {
    const rng = new Rng(1);
    const x = rng.array(shape.reduce((a, b) => a * b, 1));
    const y = padChannels(T(x, shape, device), before, after);
    t.deepEqual([...y.shape], [...shape.slice(0, 3), before + shape[3]! + after]);
    t.deepEqual(read(y), padRef(x, shape, before, after)); // copies are exact
    const dy = rng.array(y.size);
    t.deepEqual(read(padChannelsBackward(T(dy, y.shape, device), before, after)), padBackwardRef(dy, [...y.shape], before, after));
  });

test('padChannels reference backward matches finite differences', (t) => {
  const shape = [2, 2, 3, 3];
  const rng = new Rng(2);
  const x = rng.array(36), dy = rng.array(2 * 2 * 3 * 7);
  const num = numericalGrad((v) => dot(padRef(v, shape, 1, 3), dy), x);
  assertNear(t, padBackwardRef(dy, [2, 2, 3, 7], 1, 3), [...num.values()], FD_RTOL, FD_ATOL);
});

perDevice('padChannels rejects bad input', (t, device) => {
  const x = randn([2, 3, 3, 4], { device });
  const e1 = t.throws(() => padChannels(randn([3, 4], { device }), 1, 1), { instanceOf: SenetError });
  t.regex(e1!.message, /^padChannels: expected x a rank-4 NHWC tensor, got shape \[3,4\]/);
  t.throws(() => padChannels(x, -1, 1), { message: /^padChannels: expected before an integer >= 0, got -1/ });
  t.throws(() => padChannelsBackward(x, 2, 2), { message: /^padChannelsBackward: expected dy more than before \+ after = 4 channels, got shape \[2,3,3,4\]/ });
  t.throws(() => padChannels(x, 1, 2 ** 30), { message: /expected after an integer in \[0, 16777216\]/ });
  t.is(padChannels(x, 1, 1).shape[3], 6);
});
