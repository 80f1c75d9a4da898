#!/usr/bin/env node
/** The `senet` command: train, eval, predict, info, import-timm. */
import { SenetError } from '../errors.js';

const USAGE = `
senet <command> [options]       (senet <command> --help for each)

  train         train a model (default: se_resnet20 on Fashion-MNIST)
  eval          accuracy of a checkpoint on a test split
  predict       top-5 classes of images, or logits of an input tensor
  info          layer table, parameters and FLOPs of a model (--list: all models)
  import-timm   convert timm / Cadene weights into a senet checkpoint
`;

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'train': return (await import('./train.js')).train(rest);
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
