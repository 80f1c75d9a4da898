/**
 * Second module: tfjs-core (the same ESM build the tests import), its
 * gradients and chained ops, the backend under test, and the test
 * environment and filters, all before the test files register their specs.
 */
import '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js';
import '@tensorflow/tfjs-backend-cpu';
import { setTestEnvs, setupTestFilters } from '@tensorflow/tfjs-core/dist/jasmine_util.js';
import { KERNEL_TOTALS, registerSenetBackend } from '../../../lib/tfjs/register.js';
export { KERNEL_TOTALS };
import { EXCLUSIONS } from './exclusions.js';

export const BACKEND = process.env['TFJS_SUITE_BACKEND'] ?? 'senet';
if (BACKEND !== 'senet' && BACKEND !== 'cpu') throw new Error(`TFJS_SUITE_BACKEND must be senet or cpu, got ${BACKEND}`);
registerSenetBackend();

setTestEnvs([{ name: BACKEND, backendName: BACKEND, flags: {}, isDataSync: true }]);

/** Spec names matching an exclusion (for the senet run; the cpu run uses the same list for a like-for-like count). */
export const excludedNames: string[] = [];
const grep = process.env['TFJS_SUITE_GREP'];
setupTestFilters([], (name: string) => {
  if (grep && !name.includes(grep)) return false;
  for (const e of EXCLUSIONS) {
    if (name.includes(e.match)) {
      excludedNames.push(name);
      return false;
    }
  }
  return true;
});
