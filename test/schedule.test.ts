import test from 'ava';
import { Schedule, parseSchedule } from '../lib/train/schedule.js';

test('step schedule: the paper divides by 10 every 30 epochs', (t) => {
  const s = new Schedule(parseSchedule('step:30:0.1', 0.6), 100, 10);
  t.is(s.lr(0, 0), 0.6);
  t.is(s.lr(29, 299), 0.6);
  t.true(Math.abs(s.lr(30, 300) - 0.06) < 1e-15);
  t.true(Math.abs(s.lr(95, 950) - 0.0006) < 1e-15);
});

test('cosine schedule with warm-up', (t) => {
  const s = new Schedule(parseSchedule('cosine:2:0.001', 0.1), 10, 100);
  t.true(Math.abs(s.lr(0, 0) - 0.1 / 200) < 1e-15, 'linear warm-up from lr/steps');
  t.true(Math.abs(s.lr(1, 199) - 0.1) < 1e-15, 'the peak at the end of warm-up');
  t.true(Math.abs(s.lr(6, 600) - (0.001 + 0.5 * 0.099)) < 1e-12, 'halfway through the cosine');
  t.true(Math.abs(s.lr(9, 1000) - 0.001) < 1e-12, 'minLr at the end');
});

test('plateau schedule: reduces after patience epochs without improvement; state round trip', (t) => {
  const s = new Schedule(parseSchedule('plateau:2:0.5:0.01', 0.1), 50, 10);
  t.false(s.epochEnd(1.0));
  t.false(s.epochEnd(0.9));
  t.false(s.epochEnd(0.95));
  t.false(s.epochEnd(0.92));
  t.true(s.epochEnd(0.91), 'third epoch without a new best');
  t.is(s.lr(4, 40), 0.05);
  const copy = new Schedule(parseSchedule('plateau:2:0.5:0.01', 0.1), 50, 10);
  copy.setState(s.getState());
  t.is(copy.lr(5, 50), 0.05);
  for (let i = 0; i < 30; i++) s.epochEnd(2);
  t.is(s.lr(40, 400), 0.01, 'never below minLr');
});

test('parseSchedule rejects bad specs', (t) => {
  t.throws(() => parseSchedule('linear', 0.1), { message: /expected kind one of step\|cosine\|plateau\|constant, got 'linear'/ });
  t.throws(() => parseSchedule('step:x', 0.1), { message: /step:x/ });
  t.throws(() => new Schedule({ kind: 'constant', lr: -1 }, 1, 1), { message: /expected lr a finite number > 0/ });
});
