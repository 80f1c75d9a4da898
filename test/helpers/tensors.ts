import { tensor, type Device, type Tensor } from '../../lib/index.js';

/** A float32 tensor from float64 data (already float32-representable). */
export function T(data: ArrayLike<number>, shape: readonly number[], device: Device): Tensor<'float32'> {
  return tensor(Float32Array.from(data), shape, { device });
}

export function read(t: Tensor): Float64Array {
  return Float64Array.from(t.toArraySync() as ArrayLike<number>);
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, d) => a * d, 1);
}
