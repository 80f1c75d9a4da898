/**
 * SGD with momentum, dampening, Nesterov and weight decay (PyTorch's
 * torch.optim.SGD semantics), one fused native call per step for all
 * parameters of a group.
 */
import { fail } from '../errors.js';
import { Tensor, keep, zeros } from '../tensor.js';
import { sgdStep } from '../ops/sgd.js';
import type { Parameter } from '../nn/module.js';

export interface SgdOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  /** skip weight decay for parameters marked decay: false (BN, biases) -- timm's filter_bias_and_bn */
  filterDecay?: boolean;
}

export interface ParamGroup extends Partial<SgdOptions> {
  params: Parameter[];
}

export class SGD {
  readonly groups: Array<{ params: Parameter[]; opts: Required<SgdOptions> }>;
  private readonly buffers = new Map<Parameter, Tensor<'float32'>>();
  stepCount = 0;

  constructor(params: Parameter[] | ParamGroup[], defaults: SgdOptions) {
    const d: Required<SgdOptions> = {
      lr: defaults.lr,
      momentum: defaults.momentum ?? 0,
      dampening: defaults.dampening ?? 0,
      weightDecay: defaults.weightDecay ?? 0,
      nesterov: defaults.nesterov ?? false,
      filterDecay: defaults.filterDecay ?? false,
    };
    if (!Number.isFinite(d.lr) || d.lr < 0) fail('SENET_ARG', 'SGD', 'lr', 'a finite number >= 0', String(d.lr));
    const groups = (params.length > 0 && 'params' in (params[0] as object) ? params : [{ params }]) as ParamGroup[];
    this.groups = groups.map((g) => ({ params: g.params, opts: { ...d, ...stripUndefined(g) } }));
  }

  /** The learning rate of every group (schedules set it each step). */
  setLr(lr: number): void {
    for (const g of this.groups) g.opts.lr = lr;
  }

  step(): void {
    for (const g of this.groups) {
      const o = g.opts;
      const withGrad = g.params.filter((p) => p.grad !== null);
      const parts: Array<[Parameter[], number]> = o.filterDecay
        ? [[withGrad.filter((p) => p.decay), o.weightDecay], [withGrad.filter((p) => !p.decay), 0]]
        : [[withGrad, o.weightDecay]];
      for (const [ps, wd] of parts) {
        const opts = { lr: o.lr, momentum: o.momentum, dampening: o.dampening, weightDecay: wd, nesterov: o.nesterov };
        if (o.momentum === 0) {
          if (ps.length) sgdStep(ps.map((p) => p.value), ps.map((p) => p.grad!), null, opts);
          continue;
        }
        // PyTorch starts each parameter's buffer at its first gradient: one
        // call for parameters that have a buffer, one for those that do not yet.
        const fresh = ps.filter((p) => !this.buffers.has(p));
        const old = ps.filter((p) => this.buffers.has(p));
        for (const p of fresh) this.buffers.set(p, keep(zeros<'float32'>(p.value.shape, { device: p.value.device })));
        for (const [group, firstStep] of [[old, false], [fresh, true]] as const) {
          if (group.length === 0) continue;
          sgdStep(group.map((p) => p.value), group.map((p) => p.grad!), group.map((p) => this.buffers.get(p)!), { ...opts, firstStep });
        }
      }
    }
    this.stepCount++;
  }

  zeroGrad(): void {
    for (const g of this.groups) for (const p of g.params) p.zeroGrad();
  }

  /** Momentum buffers in parameter order (null where none yet), for checkpoints. */
  momentumBuffers(): Array<Tensor<'float32'> | null> {
    return this.groups.flatMap((g) => g.params.map((p) => this.buffers.get(p) ?? null));
  }

  /** Restores momentum buffers given in momentumBuffers() order (copied). */
  loadMomentumBuffers(bufs: Array<Tensor<'float32'> | null>): void {
    const params = this.groups.flatMap((g) => g.params);
    if (bufs.length !== params.length) fail('SENET_SHAPE', 'SGD.loadMomentumBuffers', 'buffers', `${params.length} entries`, String(bufs.length));
    params.forEach((p, i) => {
      this.buffers.get(p)?.dispose();
      this.buffers.delete(p);
      const b = bufs[i];
      if (b) this.buffers.set(p, keep(b.to(p.value.device)));
    });
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}

function stripUndefined(g: ParamGroup): Partial<SgdOptions> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(g)) if (k !== 'params' && v !== undefined) out[k] = v;
  return out as Partial<SgdOptions>;
}
