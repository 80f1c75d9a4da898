import { SenetError } from '../errors.js';
import { nn } from '../index.js';
import { createModel, listModels, modelInfo } from '../../models/index.js';
import { ints, num, parse } from './args.js';
import { MODEL_OPTIONS, MODEL_USAGE, modelOptionsFrom } from './model_options.js';

const USAGE = `
senet info <model> [options]
senet info --list

The layer table of a model: output shapes, parameters and multiply-adds
(convolutions and FCs, plus SE's squeeze and scale, as the SENet paper
counts them) for one input.
  --input H,W,C       (default: the model's, e.g. 224,224,3)
  --classes N
${MODEL_USAGE}
  --summary           totals only
`;

const fmt = (n: number) => n.toLocaleString('en-US');

export function infoCmd(argv: string[]): void {
  const { values, positionals } = parse(argv, { input: { type: 'string' }, classes: { type: 'string' }, list: { type: 'boolean' }, summary: { type: 'boolean' }, ...MODEL_OPTIONS }, USAGE);
  if (values['list']) {
    for (const m of listModels()) process.stdout.write(`${m.name.padEnd(22)} ${m.description}\n`);
    return;
  }
  if (positionals.length !== 1) throw new SenetError('SENET_ARG', `info: expected one model name, got ${positionals.length}\n${USAGE.trim()}`);
  const name = positionals[0]!;
  const mi = modelInfo(name);
  const [h, w, c] = (ints(values, 'input', 3) ?? mi.inputSize) as [number, number, number];
  const model = createModel(name, { ...modelOptionsFrom(values), numClasses: num(values, 'classes', mi.numClasses, { min: 1, int: true }), inChannels: c, inputSize: [h, w] });
  const p = model.profile([1, h, w, c]);
  const t = nn.totals(p.rows);
  if (!values['summary']) {
    const rows = p.rows.map((r) => [r.name, r.type, `[${r.outShape.slice(1).join(',')}]`, fmt(r.params), fmt(r.macs)]);
    const head = ['layer', 'type', 'output', 'params', 'mult-adds'];
    const widths = head.map((hd, i) => Math.max(hd.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) => r.map((x, i) => (i >= 3 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join('  ');
    process.stdout.write([line(head), widths.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n') + '\n\n');
  }
  process.stdout.write(`${name}: ${(t.params / 1e6).toFixed(2)}M parameters, ${(t.macs / 1e9).toFixed(2)} GFLOPs (multiply-adds) at ${h}x${w}x${c}\n`);
  model.dispose();
}
