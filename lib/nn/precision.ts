/**
 * Mixed precision (CUDA): a network switched to 'bf16' (Module.setPrecision,
 * Trainer's `precision`) runs its activations in bfloat16 -- convolutions on
 * tensor cores with float32 accumulation, batch norm, ReLU, pooling and the
 * fused SE op reading and writing bfloat16 -- while parameters, their
 * gradients, the optimizer, batch-norm statistics, the SE state and every
 * reduction stay float32. The cast happens once, at the first convolution;
 * the classifier (global pooling -> linear -> loss) is float32. Each module
 * returns dx in the dtype of its input, so a float32 caller never sees
 * bfloat16. The CPU backend computes in float32 only: bfloat16 there is a
 * SENET_DTYPE error.
 */
import { addon } from '../native.js';
import { describe, fail, native } from '../errors.js';
import { Tensor, h } from '../tensor.js';

export type Precision = 'fp32' | 'bf16';

export function checkPrecision(op: string, p: unknown): Precision {
  if (p !== 'fp32' && p !== 'bf16') fail('SENET_ARG', op, 'precision', "'fp32' or 'bf16'", describe(p));
  return p;
}

/** A copy of x as float32 or bfloat16 (round to nearest even); CUDA tensors for bfloat16. */
export function cast(x: Tensor, dtype: 'float32' | 'bfloat16'): Tensor<'float32'> {
  const hx = h('cast', 'x', x);
  return new Tensor(native(() => addon.cast(hx, dtype)));
}

/** x as float32 (a new tensor when it was bfloat16, else x itself). */
export function toFloat32(x: Tensor): { t: Tensor; owned: boolean } {
  return x.dtype === 'bfloat16' ? { t: cast(x, 'float32'), owned: true } : { t: x, owned: false };
}
