/**
 * Batch normalisation over N, H, W per channel of an NHWC tensor (oneDNN
 * on CPU). Training uses batch statistics and updates running statistics
 * in place (PyTorch's convention: momentum 0.1, unbiased running variance).
 */
import { addon } from '../native.js';
import { describe, fail, native } from '../errors.js';
import { Tensor, wrapOut } from '../tensor.js';
import { expectShape, finiteNumber, sameDevice, tensorArg } from './check.js';

export interface BatchNormOptions {
  eps?: number;
  /** weight of the new batch statistic in the running average (PyTorch: 0.1) */
  momentum?: number;
}

/** Fused ReLU (cpu only): the op computes relu(batch norm of x) without writing batch norm's output. */
export interface FusedReluOption {
  relu?: boolean;
}

function opts(op: string, o: BatchNormOptions, relu = false) {
  return { eps: finiteNumber(op, 'eps', o.eps, 1e-5, 1e-12, 1), momentum: finiteNumber(op, 'momentum', o.momentum, 0.1, 0, 1), relu };
}

function reluFlag(op: string, relu: unknown): boolean {
  if (relu !== undefined && typeof relu !== 'boolean') fail('SENET_ARG', op, 'relu', 'a boolean', describe(relu));
  return relu === true;
}

function vec(op: string, name: string, t: Tensor, c: number) {
  const hv = tensorArg(op, name, t, { rank: 1 });
  expectShape(op, name, t, [c]);
  return hv;
}

/** Returns y and the batch mean and biased variance (saved for backward). */
export function batchNormTrain(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  o: BatchNormOptions & FusedReluOption & { runningMean?: Tensor | null; runningVar?: Tensor | null } = {},
): { y: Tensor<'float32'>; mean: Tensor<'float32'>; var: Tensor<'float32'> } {
  const op = 'batchNormTrain';
  const hx = tensorArg(op, 'x', x, { rank: 4, layout: 'NHWC' });
  const c = x.shape[3]!;
  if (x.shape[0]! * x.shape[1]! * x.shape[2]! === 1)
    fail('SENET_SHAPE', op, 'x', 'more than one value per channel in training (N*H*W > 1, as PyTorch)', `shape [${x.shape}]`);
  const hg = vec(op, 'gamma', gamma, c), hb = vec(op, 'beta', beta, c);
  const hm = o.runningMean ? vec(op, 'runningMean', o.runningMean, c) : null;
  const hv = o.runningVar ? vec(op, 'runningVar', o.runningVar, c) : null;
  sameDevice(op, { x, gamma, beta, runningMean: o.runningMean, runningVar: o.runningVar });
  const relu = reluFlag(op, o.relu);
  const [y, mean, v] = native(() => addon.batchNormTrain(hx, hg, hb, hm, hv, opts(op, o, relu)));
  return { y: wrapOut(y), mean: wrapOut(mean), var: wrapOut(v) };
}

export function batchNormInference(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  mean: Tensor,
  variance: Tensor,
  o: BatchNormOptions & FusedReluOption = {},
): Tensor<'float32'> {
  const op = 'batchNormInference';
  const hx = tensorArg(op, 'x', x, { rank: 4, layout: 'NHWC' });
  const c = x.shape[3]!;
  const hs = [vec(op, 'gamma', gamma, c), vec(op, 'beta', beta, c), vec(op, 'mean', mean, c), vec(op, 'var', variance, c)] as const;
  sameDevice(op, { x, gamma, beta, mean, var: variance });
  const relu = reluFlag(op, o.relu);
  return wrapOut(native(() => addon.batchNormInference(hx, hs[0], hs[1], hs[2], hs[3], opts(op, o, relu))));
}

/**
 * Gradients from the batch statistics batchNormTrain returned. With
 * `relu: {beta}` (after batchNormTrain with `relu: true`), dy is the
 * gradient of relu(batch norm of x); the relu's mask is recomputed from x,
 * the statistics, gamma and beta, which must be the forward's.
 */
export function batchNormBackward(
  dy: Tensor,
  x: Tensor,
  gamma: Tensor,
  mean: Tensor,
  variance: Tensor,
  o: BatchNormOptions & { relu?: { beta: Tensor } | null } = {},
): { dx: Tensor<'float32'>; dgamma: Tensor<'float32'>; dbeta: Tensor<'float32'> } {
  const op = 'batchNormBackward';
  const hdy = tensorArg(op, 'dy', dy, { rank: 4, layout: 'NHWC' });
  const hx = tensorArg(op, 'x', x, { rank: 4, layout: 'NHWC' });
  expectShape(op, 'dy', dy, x.shape);
  const c = x.shape[3]!;
  const hg = vec(op, 'gamma', gamma, c), hm = vec(op, 'mean', mean, c), hv = vec(op, 'var', variance, c);
  const relu = o.relu ?? null;
  if (relu !== null && (typeof relu !== 'object' || !(relu.beta instanceof Tensor)))
    fail('SENET_ARG', op, 'relu', '{beta: Tensor} (the forward\'s beta) or null', describe(relu));
  const hbeta = relu ? vec(op, 'relu.beta', relu.beta, c) : undefined;
  sameDevice(op, { dy, x, gamma, mean, var: variance, beta: relu?.beta });
  const [dx, dg, db] = native(() => addon.batchNormBackward(hdy, hx, hg, hm, hv, opts(op, o, relu !== null), hbeta));
  return { dx: wrapOut(dx), dgamma: wrapOut(dg), dbeta: wrapOut(db) };
}
