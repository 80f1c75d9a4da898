/**
 * Learning-rate schedules. Each gives the rate for a step (and epoch), and
 * has a serialisable state so that a resumed run continues exactly.
 *   step     lr * gamma^floor(epoch / every)        (the paper: /10 every 30 epochs)
 *   cosine   linear warm-up, then half a cosine to minLr
 *   plateau  lr * factor when the monitored metric has not improved for
 *            `patience` epochs, down to minLr (the CIFAR notes in the seeds)
 *   constant
 */
import { fail } from '../errors.js';

export type ScheduleConfig =
  | { kind: 'constant'; lr: number }
  | { kind: 'step'; lr: number; every: number; gamma?: number }
  | { kind: 'cosine'; lr: number; warmupEpochs?: number; minLr?: number }
  | { kind: 'plateau'; lr: number; factor?: number; patience?: number; minLr?: number; mode?: 'min' | 'max' };

export interface ScheduleState {
  lr: number;
  best: number | null;
  bad: number;
}

export class Schedule {
  private state: ScheduleState;
  constructor(readonly config: ScheduleConfig, readonly epochs: number, readonly stepsPerEpoch: number) {
    if (!(config.lr > 0 && Number.isFinite(config.lr))) fail('SENET_ARG', 'Schedule', 'lr', 'a finite number > 0', String(config.lr));
    if (config.kind === 'step' && !(config.every >= 1)) fail('SENET_ARG', 'Schedule', 'every', 'an integer >= 1', String(config.every));
    this.state = { lr: config.lr, best: null, bad: 0 };
  }

  /** The rate for global step `step` (0-based) in epoch `epoch` (0-based). */
  lr(epoch: number, step: number): number {
    const c = this.config;
    switch (c.kind) {
      case 'constant':
        return c.lr;
      case 'step':
        return c.lr * (c.gamma ?? 0.1) ** Math.floor(epoch / c.every);
      case 'cosine': {
        const warm = (c.warmupEpochs ?? 0) * this.stepsPerEpoch;
        const total = this.epochs * this.stepsPerEpoch;
        const min = c.minLr ?? 0;
        if (step < warm) return c.lr * (step + 1) / warm;
        const t = total > warm ? (step - warm) / (total - warm) : 1;
        return min + 0.5 * (c.lr - min) * (1 + Math.cos(Math.PI * Math.min(1, t)));
      }
      case 'plateau':
        return this.state.lr;
    }
  }

  /** End of an epoch: feeds the monitored metric to 'plateau'. Returns true when the rate was reduced. */
  epochEnd(metric: number | null): boolean {
    const c = this.config;
    if (c.kind !== 'plateau' || metric === null || !Number.isFinite(metric)) return false;
    const better = this.state.best === null || ((c.mode ?? 'min') === 'min' ? metric < this.state.best : metric > this.state.best);
    if (better) {
      this.state.best = metric;
      this.state.bad = 0;
      return false;
    }
    if (++this.state.bad <= (c.patience ?? 10)) return false;
    const next = Math.max(c.minLr ?? 0, this.state.lr * (c.factor ?? 0.1));
    this.state.bad = 0;
    if (next === this.state.lr) return false;
    this.state.lr = next;
    return true;
  }

  getState(): ScheduleState {
    return { ...this.state };
  }
  setState(s: ScheduleState): void {
    this.state = { ...s };
  }
}

/** Parses "step:30:0.1", "cosine:5", "plateau:5:0.316:5e-7", "constant". */
export function parseSchedule(spec: string, lr: number): ScheduleConfig {
  const [kind, ...args] = spec.split(':');
  const num = (i: number, def: number) => {
    if (args[i] === undefined || args[i] === '') return def;
    const v = Number(args[i]);
    if (!Number.isFinite(v)) fail('SENET_ARG', 'schedule', spec, 'numbers after the kind (e.g. step:30:0.1)', `'${args[i]}'`);
    return v;
  };
  switch (kind) {
    case 'constant': return { kind: 'constant', lr };
    case 'step': return { kind: 'step', lr, every: num(0, 30), gamma: num(1, 0.1) };
    case 'cosine': return { kind: 'cosine', lr, warmupEpochs: num(0, 0), minLr: num(1, 0) };
    case 'plateau': return { kind: 'plateau', lr, patience: num(0, 5), factor: num(1, Math.sqrt(0.1)), minLr: num(2, 0.5e-6), mode: 'min' };
    default: fail('SENET_ARG', 'schedule', 'kind', 'one of step|cosine|plateau|constant', `'${kind}'`);
  }
}
