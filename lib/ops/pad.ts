/** Zero channels around an NHWC tensor (ResNet option-A and the seed SEResNeXt's shortcuts), and its gradient. */
import { addon } from '../native.js';
import { fail, native } from '../errors.js';
import { Tensor, wrapOut } from '../tensor.js';
import { tensorArg } from './check.js';

function pads(op: string, before: unknown, after: unknown): { before: number; after: number } {
  for (const [name, v] of [['before', before], ['after', after]] as const)
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail('SENET_ARG', op, name, 'an integer >= 0', String(v));
  return { before: before as number, after: after as number };
}

/** [N,H,W,C] -> [N,H,W,before+C+after] with zeros in the new channels. */
export function padChannels(x: Tensor, before: number, after: number): Tensor<'float32'> {
  const hx = tensorArg('padChannels', 'x', x, { rank: 4, layout: 'NHWC' });
  const p = pads('padChannels', before, after);
  return wrapOut(native(() => addon.padChannels(hx, p)));
}

/** The slice of dy that padChannels' input received. */
export function padChannelsBackward(dy: Tensor, before: number, after: number): Tensor<'float32'> {
  const op = 'padChannelsBackward';
  const hdy = tensorArg(op, 'dy', dy, { rank: 4, layout: 'NHWC' });
  const p = pads(op, before, after);
  if (p.before + p.after >= dy.shape[3]!)
    fail('SENET_SHAPE', op, 'dy', `more than before + after = ${p.before + p.after} channels`, `shape [${dy.shape}]`);
  return wrapOut(native(() => addon.padChannelsBackward(hdy, p)));
}
