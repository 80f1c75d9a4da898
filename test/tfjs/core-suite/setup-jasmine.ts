/**
 * First module of the tfjs-core suite bundle: creates the Jasmine runner,
 * which installs describe/it/expect as globals before any test file loads.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Jasmine = require('jasmine') as new (o?: object) => JasmineRunner;

export interface JasmineRunner {
  env: {
    addReporter(r: object): void;
    configure(c: object): void;
    configuration(): Record<string, unknown>;
  };
  jasmine: { DEFAULT_TIMEOUT_INTERVAL: number };
  exitOnCompletion: boolean;
  execute(files?: string[], filter?: string): Promise<unknown>;
  loadConfig(c: object): void;
  configureDefaultReporter(o: object): void;
}

export const runner = new Jasmine();
runner.exitOnCompletion = false;
runner.loadConfig({ random: false, stopSpecOnExpectationFailure: false });
runner.jasmine.DEFAULT_TIMEOUT_INTERVAL = 60000;
// Our reporter (entry.ts) prints failures and the counts; no dots.
runner.configureDefaultReporter({ print: () => {} });
