/** Small helpers over node:util parseArgs for the subcommands. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SenetError } from '../errors.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parse(argv: string[], options: Options, usage: string): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    if (r.values['help']) {
      process.stdout.write(usage.trimStart() + '\n');
      process.exit(0);
    }
    return r as { values: Record<string, string | boolean | undefined>; positionals: string[] };
  } catch (e) {
    if (e instanceof SenetError) throw e;
    throw new SenetError('SENET_ARG', `${(e as Error).message}\n\n${usage.trim()}`);
  }
}

export function num(values: Record<string, unknown>, key: string, def: number, o: { min?: number; int?: boolean } = {}): number {
  const v = values[key];
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || (o.int && !Number.isInteger(n)) || (o.min !== undefined && n < o.min))
    throw new SenetError('SENET_ARG', `--${key}: expected ${o.int ? 'an integer' : 'a number'}${o.min !== undefined ? ` >= ${o.min}` : ''}, got '${v}'`);
  return n;
}

export function str(values: Record<string, unknown>, key: string): string | undefined {
  const v = values[key];
  return typeof v === 'string' ? v : undefined;
}

export function ints(values: Record<string, unknown>, key: string, count: number): number[] | undefined {
  const v = str(values, key);
  if (v === undefined) return undefined;
  const parts = v.split(/[,x]/).map(Number);
  if (parts.length !== count || parts.some((p) => !Number.isInteger(p) || p <= 0))
    throw new SenetError('SENET_ARG', `--${key}: expected ${count} positive integers separated by commas, got '${v}'`);
  return parts;
}
