#!/usr/bin/env node
/** The `senet` command: train, eval, predict, info, import-timm. */
import { availableParallelism, loadavg } from 'node:os';
import { SenetError } from '../errors.js';
import { cpuTimes } from './cpu_load.js';

const USAGE = `
senet <command> [options]       (senet <command> --help for each)

  train         train a model (default: se_resnet20 on Fashion-MNIST)
  eval          accuracy of a checkpoint on a test split
  predict       top-5 classes of images, or logits of an input tensor
  info          layer table, parameters and FLOPs of a model (--list: all models)
  import-timm   convert timm / Cadene weights into a senet checkpoint
`;

/**
 * A training run on an otherwise idle machine lets OpenMP threads spin
 * briefly between parallel regions instead of sleeping (GOMP_SPINCOUNT):
 * se_resnet20's training step at batch 128 on 2 cores went from a median of
 * 330-395 ms (passive waits, the library default, lib/native.ts) to 262-292 ms.
 * Spinning is ruinous when other processes want the cores (two such runs side
 * by side: 585 ms passive vs 2,080 ms spinning), so it is chosen only when
 * the cores are idle now (the load over a quarter second, from /proc/stat;
 * elsewhere the 1-minute load average), and never over the user's own
 * OMP_WAIT_POLICY / GOMP_SPINCOUNT. Must run before the addon loads.
 */
function spinWhenIdle(): void {
  if (process.env['OMP_WAIT_POLICY'] !== undefined || process.env['GOMP_SPINCOUNT'] !== undefined) return;
  if (busyFraction() < 0.25) process.env['GOMP_SPINCOUNT'] = '100000';
}

/** The fraction of all cores busy (0..1), over a quarter second where /proc/stat exists. */
function busyFraction(): number {
  const a = cpuTimes();
  if (!a) return loadavg()[0]! / availableParallelism();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
  const b = cpuTimes();
  if (!b) return loadavg()[0]! / availableParallelism();
  const busy = b.busy - a.busy, total = busy + b.idle - a.idle;
  return total > 0 ? busy / total : 1;
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'train':
      spinWhenIdle();
      return (await import('./train.js')).train(rest);
    case 'eval': return (await import('./eval.js')).evalCmd(rest);
    case 'predict': return (await import('./predict.js')).predict(rest);
    case 'info': return (await import('./info.js')).infoCmd(rest);
    case 'import-timm': return (await import('./import_timm.js')).importTimm(rest);
    case undefined: case '-h': case '--help': case 'help':
      process.stdout.write(USAGE.trimStart());
      return;
    default:
      throw new SenetError('SENET_ARG', `senet: expected a command (train, eval, predict, info, import-timm), got '${cmd}'\n${USAGE.trim()}`);
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof SenetError) {
    process.stderr.write(`senet: ${e.message} [${e.code}]\n`);
    if (process.env['SENET_DEBUG']) process.stderr.write(`${e.stack}\n`);
  } else {
    process.stderr.write(`senet: ${e instanceof Error ? e.stack : String(e)}\n`);
  }
  process.exit(1);
});
