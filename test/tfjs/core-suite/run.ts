/**
 * npm run test:tfjs: bundles the tfjs-core suite with the backend (esbuild:
 * the published test files are ESM with extensionless imports, which Node
 * cannot load as they are; the bundle also makes the tests, tfjs-core and
 * the backends share one copy of tfjs-core) and runs it.
 *
 *   npm run test:tfjs                     # the senet backend
 *   npm run test:tfjs -- --backend cpu    # tfjs-backend-cpu on the same specs, for comparison
 *   npm run test:tfjs -- --both           # both, one after the other
 *   npm run test:tfjs -- --grep conv2d    # specs whose name contains a string
 *
 * Writes build/tfjs-core-suite/<backend>.json (counts, failures, time).
 */
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const outDir = join(root, 'build', 'tfjs-core-suite');
mkdirSync(outDir, { recursive: true });

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const backends = args.includes('--both') ? ['senet', 'cpu'] : [arg('--backend') ?? 'senet'];
const grep = arg('--grep');

const bundle = join(outDir, 'suite.mjs');
await build({
  entryPoints: [join(here, 'entry.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: bundle,
  // tfjs-core's ESM build for everyone (tests, backends, tfjs-backend-cpu).
  mainFields: ['module', 'main'],
  external: ['jasmine', 'jasmine-core', 'node-gyp-build', 'node-fetch'],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'error',
  sourcemap: false,
  // tfjs-core declares its modules free of side effects; the test files are nothing but side effects.
  ignoreAnnotations: true,
});

let failed = false;
const summaries: string[] = [];
for (const backend of backends) {
  const out = join(outDir, `${backend}.json`);
  const env = { ...process.env, TFJS_SUITE_BACKEND: backend, TFJS_SUITE_OUT: out } as Record<string, string>;
  if (grep) env['TFJS_SUITE_GREP'] = grep;
  const r = spawnSync(process.execPath, ['--max-old-space-size=4096', bundle], { stdio: 'inherit', env });
  if (r.status !== 0) failed = true;
  try {
    const s = JSON.parse(readFileSync(out, 'utf8')) as { passed: number; failed: number; excludedByList: number; seconds: number };
    summaries.push(`${backend}: ${s.passed} passed, ${s.failed} failed, ${s.excludedByList} excluded (${s.seconds} s)`);
  } catch {
    summaries.push(`${backend}: no summary (the run crashed)`);
    failed = true;
  }
}
if (summaries.length > 1) console.log(`\n${summaries.join('\n')}`);
process.exit(failed ? 1 : 0);
