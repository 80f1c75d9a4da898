/** Zero-copy access to a cpu tensor's memory. */
import { addon } from '../native.js';
import { describe, fail, native } from '../errors.js';
import { Tensor, type DType, type DataTypeMap } from '../tensor.js';

function handle(op: string, t: unknown) {
  if (!(t instanceof Tensor)) fail('SENET_ARG', op, 'x', 'a Tensor', describe(t));
  const h = t.handle(op, 'x');
  if (t.device !== 'cpu') fail('SENET_DEVICE', op, 'x', 'a cpu tensor (copy others with toArray)', t.device);
  return h;
}

/**
 * A TypedArray over the tensor's own memory (no copy), once the work queued
 * before the call has run (blocking). The view keeps the memory alive until
 * it is garbage-collected, so it stays valid after dispose(); writing to it
 * changes the tensor (and races with queued ops that read it). cpu tensors only.
 */
export function hostView<D extends DType>(t: Tensor<D>): DataTypeMap[D] {
  const h = handle('hostView', t);
  return native(() => addon.hostView(h)) as DataTypeMap[D];
}

/**
 * A view like hostView's whose hold on the memory ends at release(): the
 * view is then detached (length 0) and the memory returns to senet's
 * allocator at once instead of at the next garbage collection. For code
 * that knows the view's lifetime (the TensorFlow.js backend lends these to
 * tfjs's JavaScript kernels).
 */
export function hostViewBorrow<D extends DType>(t: Tensor<D>): { view: DataTypeMap[D]; release(): void } {
  const h = handle('hostViewBorrow', t);
  const [view, token] = native(() => addon.hostViewBorrow(h));
  return { view: view as DataTypeMap[D], release: () => native(() => addon.releaseHostView(view, token)) };
}
