import { conv2dShape, type ConvCase, type ConvP } from '../reference/conv.js';
import { Rng } from './rng.js';
import { numel } from './tensors.js';

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
