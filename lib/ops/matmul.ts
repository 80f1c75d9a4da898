/**
 * Batched matrix product (oneDNN matmul): y = op(a) op(b) (+ bias) with
 * op an optional transpose. a [M, K] or [B, M, K], b [K, N] or [B, K, N];
 * a batch of 1 broadcasts; bias [N] is added to every row.
 */
import { addon } from '../native.js';
import { describe, fail, native } from '../errors.js';
import { Tensor, wrapOut } from '../tensor.js';
import { expectShape, sameDevice, tensorArg } from './check.js';

export interface MatmulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
  bias?: Tensor | null;
}

export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor<'float32'> {
  const op = 'matmul';
  const ha = tensorArg(op, 'a', a), hb = tensorArg(op, 'b', b);
  const bias = opts.bias ?? null;
  const hbias = bias ? tensorArg(op, 'bias', bias, { rank: 1 }) : null;
  for (const k of ['transposeA', 'transposeB'] as const)
    if (opts[k] !== undefined && typeof opts[k] !== 'boolean') fail('SENET_ARG', op, k, 'a boolean', describe(opts[k]));
  const ta = opts.transposeA ?? false, tb = opts.transposeB ?? false;
  if (a.rank !== 2 && a.rank !== 3) fail('SENET_SHAPE', op, 'a', 'a rank-2 [M, K] or rank-3 [batch, M, K] tensor', `shape [${a.shape}]`);
  if (b.rank !== 2 && b.rank !== 3) fail('SENET_SHAPE', op, 'b', 'a rank-2 [K, N] or rank-3 [batch, K, N] tensor', `shape [${b.shape}]`);
  sameDevice(op, { a, b, bias });
  const ra = a.rank, rb = b.rank;
  const k = ta ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const kb = tb ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const n = tb ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (k !== kb)
    fail('SENET_SHAPE', op, 'b', `an inner dimension of ${k} to match a [${a.shape}]${ta ? ' (transposed)' : ''}`, `shape [${b.shape}]${tb ? ' (transposed)' : ''}`);
  const ba = ra === 3 ? a.shape[0]! : 1, bb = rb === 3 ? b.shape[0]! : 1;
  if (ba !== bb && ba !== 1 && bb !== 1) fail('SENET_SHAPE', op, 'b', `a batch of ${ba} (a's) or 1`, `shape [${b.shape}]`);
  if (bias) expectShape(op, 'bias', bias, [n]);
  return wrapOut(native(() => addon.matmul(ha, hb, hbias, { transposeA: ta, transposeB: tb })));
}
