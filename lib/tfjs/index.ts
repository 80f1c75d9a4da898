/**
 * `import 'senet/tfjs'` registers a TensorFlow.js backend named `senet`,
 * with a priority above tfjs-backend-cpu and -wasm, so `await tf.ready()`
 * picks it (or `await tf.setBackend('senet')`). Convolutions, matmuls,
 * pooling, batch norm, reductions, softmax and elementwise math run on
 * senet's native engine; every other kernel is tfjs-backend-cpu's, reading
 * senet's memory in place. Needs @tensorflow/tfjs-core and
 * @tensorflow/tfjs-backend-cpu 4.x (peer dependencies).
 *
 * Environment: SENET_TFJS_DEVICE=cpu (default) | cuda (see backend.ts: the
 * data store supports a CUDA device; kernels without a CUDA implementation
 * fall back to the cpu ones), SENET_TFJS_NATIVE=0 (every kernel on the cpu
 * kernels: for comparisons).
 */
import { engine, type Tensor as TfTensor } from '@tensorflow/tfjs-core';
import { Tensor, tensor, wrapOut } from '../tensor.js';
import { addon } from '../native.js';
import { SenetBackend } from './backend.js';
import { BACKEND_NAME, NATIVE_KERNELS, PRIORITY, registerSenetBackend } from './register.js';

registerSenetBackend();

export { SenetBackend, TensorEntry, type BackendStats, type SenetBackendOptions } from './backend.js';
export { BACKEND_NAME, NATIVE_KERNELS, PRIORITY, registerSenetBackend };

/** The names of the kernels senet runs natively (others run on tfjs-backend-cpu's kernels). */
export function nativeKernelNames(): string[] {
  return Object.keys(NATIVE_KERNELS).sort();
}

/** The senet backend instance (creating it if needed). */
export function senetBackend(): SenetBackend {
  return engine().findBackend(BACKEND_NAME) as SenetBackend;
}

/**
 * A senet Tensor with the data of a float32 tfjs tensor: shared when the
 * tensor belongs to the senet backend (no copy once its data is native;
 * tfjs-written data is copied into native memory once), a copy otherwise.
 * Dispose it when done; the tfjs tensor stays valid.
 */
export function toSenet(t: TfTensor): Tensor<'float32'> {
  if (t.dtype !== 'float32') throw new TypeError(`toSenet: expected a float32 tensor, got ${t.dtype}`);
  const b = senetBackend();
  const owner = (engine().state.tensorInfo as unknown as WeakMap<object, { backend: unknown }>).get(t.dataId)?.backend;
  if (owner !== b) return tensor(t.dataSync() as Float32Array, t.shape);
  return wrapOut(addon.reshape(b.h(t), t.shape));
}

/** A tfjs tensor (senet backend) sharing a senet Tensor's data (no copy). */
export function fromSenet(t: Tensor): TfTensor {
  const b = senetBackend();
  const h = t.handle('fromSenet', 't');
  if (t.dtype !== 'float32') throw new TypeError(`fromSenet: expected a float32 tensor, got ${t.dtype}`);
  const info = b.out(addon.reshape(h, t.shape as number[]), t.shape);
  return engine().makeTensorFromTensorInfo(info, b);
}
