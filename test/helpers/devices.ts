/**
 * The devices the suite runs on: SENET_TEST_DEVICES=cpu (default), cuda,
 * or cpu,cuda. Each op test is registered once per device. Asking for a
 * device this build lacks is a failing test, never a silent skip.
 */
import test from 'ava';
import { info, type Device } from '../../lib/index.js';

export const DEVICES: Device[] = (process.env['SENET_TEST_DEVICES'] ?? 'cpu')
  .split(',')
  .map((d) => d.trim())
  .filter(Boolean) as Device[];

const built = new Set(info().devices.map((d) => d.replace(/:\d+$/, '')));

/** ISAs the CPU kernels are tested with: every one this CPU supports (SENET_TEST_ISAS to narrow). */
export const ISAS: Array<'scalar' | 'avx2' | 'avx512'> = (
  process.env['SENET_TEST_ISAS']?.split(',') ?? info().isas
) as Array<'scalar' | 'avx2' | 'avx512'>;

/** Registers `fn` once per test device; title gets " [device]". */
export function perDevice(title: string, fn: (t: import('ava').ExecutionContext, device: Device) => void | Promise<void>): void {
  for (const device of DEVICES) {
    const kind = device.replace(/:\d+$/, '');
    if (!built.has(kind)) {
      test(`${title} [${device}]`, (t) => t.fail(`SENET_TEST_DEVICES asks for ${device}, but this build has only ${[...built].join(', ')}`));
      continue;
    }
    test(`${title} [${device}]`, (t) => fn(t, device));
  }
}
