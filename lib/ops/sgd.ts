/**
 * One fused SGD step over many tensors, in place (PyTorch's semantics:
 * weight decay added to the gradient, momentum buffer, dampening, Nesterov;
 * firstStep initialises the buffer with the gradient as PyTorch does).
 */
import { addon } from '../native.js';
import { describe, fail, native } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { finiteNumber, tensorArg, expectShape, sameDevice } from './check.js';

export interface SgdStepOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  firstStep?: boolean;
}

export function sgdStep(
  params: readonly Tensor[],
  grads: readonly Tensor[],
  buffers: readonly Tensor[] | null,
  o: SgdStepOptions,
): void {
  const op = 'sgdStep';
  if (!Array.isArray(params)) fail('SENET_ARG', op, 'params', 'an array of tensors', describe(params));
  if (!Array.isArray(grads) || grads.length !== params.length)
    fail('SENET_SHAPE', op, 'grads', `${params.length} tensors (one per parameter)`, describe(grads));
  const momentum = finiteNumber(op, 'momentum', o.momentum, 0, 0, 1);
  if (momentum > 0 && (!Array.isArray(buffers) || buffers.length !== params.length))
    fail('SENET_ARG', op, 'buffers', 'one momentum buffer per parameter when momentum > 0', describe(buffers));
  const hp = params.map((p, i) => tensorArg(op, `params[${i}]`, p));
  const hg = grads.map((g, i) => {
    const hg = tensorArg(op, `grads[${i}]`, g);
    expectShape(op, `grads[${i}]`, g, params[i]!.shape);
    sameDevice(op, { 'params[0]': params[0], [`params[${i}]`]: params[i], [`grads[${i}]`]: g });
    return hg;
  });
  const hb = buffers ? buffers.map((b, i) => {
    const hb = tensorArg(op, `buffers[${i}]`, b);
    expectShape(op, `buffers[${i}]`, b, params[i]!.shape);
    sameDevice(op, { [`params[${i}]`]: params[i], [`buffers[${i}]`]: b });
    return hb;
  }) : null;
  const opts = {
    lr: finiteNumber(op, 'lr', o.lr, NaN, 0),
    momentum,
    dampening: finiteNumber(op, 'dampening', o.dampening, 0, 0, 1),
    weightDecay: finiteNumber(op, 'weightDecay', o.weightDecay, 0, 0),
    nesterov: o.nesterov ?? false,
    firstStep: o.firstStep ?? false,
  };
  if (Number.isNaN(opts.lr)) fail('SENET_ARG', op, 'lr', 'a finite number >= 0', 'undefined');
  native(() => addon.sgdStep(hp, hg, hb, opts));
}
