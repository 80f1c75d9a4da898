import { conv2dBackwardFilter, type Tensor } from '../../lib/index.js';
import { conv2dShape, type ConvCase, type ConvP } from '../reference/conv.js';
import { Rng } from './rng.js';
import { T, numel, read } from './tensors.js';

/** Random inputs of a conv2d case: x, w (scaled 0.5), bias when the case has one, the output shape and dy. */
export function convSetup(c: ConvCase, seed: number) {
  const r = new Rng(seed);
  const x = r.array(numel(c.xs));
  const w = r.array(numel(c.ws), 0.5);
  const b = c.bias ? r.array(c.ws[0]) : null;
  const ys = conv2dShape(c.xs, c.ws, c.p);
  const dy = r.array(numel(ys));
  return { x, w, b, ys, dy };
}

/** The conv2d options of a reference case. */
export const convOpts = (p: ConvP) => ({ stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups });

/**
 * conv2dBackwardFilter of a case on the cpu: dw and (withBias) db, read back,
 * and how far `calls` (a kernel's counter from _gconvConfig) moved: whether
 * that kernel took the call.
 */
export function backwardFilterTaken(c: ConvCase, d: ReturnType<typeof convSetup>, calls: () => number, withBias: boolean) {
  const dyT = T(d.dy, d.ys, 'cpu'), xT = T(d.x, c.xs, 'cpu');
  const n0 = calls();
  const g = conv2dBackwardFilter(dyT, xT, c.ws, { ...convOpts(c.p), withBias });
  const taken = calls() - n0;
  const dw = read(g.dw), db = g.db ? read(g.db) : null;
  for (const v of [dyT, xT, g.dw, g.db] as Array<Tensor | null>) v?.dispose();
  return { dw, db, taken };
}
