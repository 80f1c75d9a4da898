/** The model options every SE model takes, as command-line flags. */
import { SenetError } from '../errors.js';
import type { ModelOptions } from '../../models/index.js';
import type { Options } from './args.js';
import { num, str } from './args.js';

export const MODEL_OPTIONS: Options = {
  'no-se': { type: 'boolean' },
  reduction: { type: 'string' },
  squeeze: { type: 'string' },
  gate: { type: 'string' },
  placement: { type: 'string' },
  'se-stages': { type: 'string' },
  stem: { type: 'string' },
};

export const MODEL_USAGE = `  --no-se               the plain twin (ablation)
  --reduction R         SE reduction ratio (default 16)
  --squeeze avg|max     --gate sigmoid|tanh|relu
  --placement P         standard | pre | post | identity (paper, Fig. 5)
  --se-stages 1,1,0     SE on/off per stage
  --stem cifar|legacy   ImageNet models: a 3x3 stem for small images, or Caffe-style pooling`;

function choice<T extends string>(v: Record<string, unknown>, key: string, allowed: readonly T[]): T | undefined {
  const s = str(v, key);
  if (s === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(s)) throw new SenetError('SENET_ARG', `--${key}: expected one of ${allowed.join('|')}, got '${s}'`);
  return s as T;
}

export function modelOptionsFrom(v: Record<string, unknown>): ModelOptions {
  const o: ModelOptions = {};
  if (v['no-se']) o.se = false;
  if (v['reduction'] !== undefined) o.reduction = num(v, 'reduction', 16, { min: 1, int: true });
  o.squeeze = choice(v, 'squeeze', ['avg', 'max'] as const);
  o.gate = choice(v, 'gate', ['sigmoid', 'tanh', 'relu'] as const);
  o.placement = choice(v, 'placement', ['standard', 'pre', 'post', 'identity'] as const);
  o.stem = choice(v, 'stem', ['default', 'cifar', 'legacy'] as const);
  const stages = str(v, 'se-stages');
  if (stages !== undefined) {
    const parts = stages.split(',');
    if (!parts.every((p) => p === '0' || p === '1')) throw new SenetError('SENET_ARG', `--se-stages: expected 0/1 per stage separated by commas, got '${stages}'`);
    o.seStages = parts.map((p) => p === '1');
  }
  for (const k of Object.keys(o) as Array<keyof ModelOptions>) if (o[k] === undefined) delete o[k];
  return o;
}
