/**
 * The tfjs-core kernel test suite (@tensorflow/tfjs-core/dist/tests, the
 * same specs tfjs-backend-cpu and -wasm run against themselves) against one
 * backend. Bundled and run by run.ts; TFJS_SUITE_BACKEND=senet|cpu.
 */
import { runner } from './setup-jasmine.js';
import { BACKEND, KERNEL_TOTALS, excludedNames } from './setup-env.js';
import '@tensorflow/tfjs-core/dist/tests.js';
import { writeFileSync } from 'node:fs';

interface SpecResult {
  fullName: string;
  status: string;
  failedExpectations: Array<{ message: string }>;
}

const counts = { passed: 0, failed: 0, excluded: 0, pending: 0 };
const statuses: Record<string, string> = {};
const failures: Array<{ name: string; message: string }> = [];
const t0 = Date.now();
runner.env.addReporter({
  specDone(r: SpecResult) {
    statuses[r.fullName] = r.status;
    if (r.status === 'passed') counts.passed++;
    else if (r.status === 'failed') {
      counts.failed++;
      failures.push({ name: r.fullName, message: r.failedExpectations.map((e) => e.message).join(' | ').slice(0, 600) });
      if (!process.env['TFJS_SUITE_QUIET']) console.log(`FAIL ${r.fullName}\n     ${failures[failures.length - 1]!.message.slice(0, 300)}`);
    } else if (r.status === 'excluded') counts.excluded++;
    else counts.pending++;
  },
  suiteDone(r: { fullName: string; status: string; failedExpectations: Array<{ message: string }> }) {
    if (r.status === 'failed' && r.failedExpectations.length) {
      counts.failed++;
      failures.push({ name: `(suite) ${r.fullName}`, message: r.failedExpectations.map((e) => e.message).join(' | ').slice(0, 600) });
      console.log(`FAIL (suite) ${r.fullName}: ${failures[failures.length - 1]!.message.slice(0, 300)}`);
    }
  },
});

await runner.execute();
const seconds = Math.round((Date.now() - t0) / 100) / 10;
const kernels = {
  native: Object.fromEntries([...KERNEL_TOTALS.native].sort()),
  fallback: Object.fromEntries([...KERNEL_TOTALS.fallback].sort()),
};
const summary = { backend: BACKEND, ...counts, excludedByList: new Set(excludedNames).size, seconds, failures, kernels };
console.log(`\ntfjs-core suite on ${BACKEND}: ${counts.passed} passed, ${counts.failed} failed, ${summary.excludedByList} excluded by the list, ${seconds} s`);
if (process.env['TFJS_SUITE_OUT']) writeFileSync(process.env['TFJS_SUITE_OUT'], JSON.stringify({ ...summary, statuses }, null, 1));
process.exit(counts.failed ? 1 : 0);
