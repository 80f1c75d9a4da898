/** Build and machine information; ISA override for testing the kernels' code paths. */
import { addon, type NativeInfo } from './native.js';
import { native } from './errors.js';

export function info(): NativeInfo {
  return addon.info();
}

/** Selects the kernels' instruction set: 'scalar' | 'avx2' | 'avx512' (must be supported). */
export function setIsa(isa: 'scalar' | 'avx2' | 'avx512'): void {
  native(() => addon.setIsa(isa));
}
