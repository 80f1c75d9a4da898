/**
 * The training loop: SGD (momentum, Nesterov, weight decay) with an LR
 * schedule and label smoothing, a progress bar, evaluation (top-1/top-5),
 * metrics.jsonl and a checkpoint every epoch.
 *
 * The engine runs ops on its own thread, so the loop keeps one step queued
 * ahead: it enqueues step k, then waits for step k-1's loss and logits
 * (already computed or about to be) to update the metrics, while the data
 * loader prepares the next batches. The native thread never idles on
 * JavaScript, and JavaScript never blocks on the engine.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { SenetError } from '../errors.js';
import { Tensor, tensor, dispose, getSeedState, setSeedState } from '../tensor.js';
import { softmaxCrossEntropy } from '../ops/loss.js';
import { SGD, type SgdOptions } from '../optim/sgd.js';
import type { Module } from '../nn/module.js';
import type { Precision } from '../nn/precision.js';
import type { Batch, DataLoader } from '../data/index.js';
import { Schedule, type ScheduleConfig, type ScheduleState } from './schedule.js';
import { saveCheckpoint, type CheckpointInfo, type LoadedCheckpoint } from './checkpoint.js';
import { MetricsLog, topkCorrect } from './metrics.js';

export interface TrainerOptions {
  model: Module;
  arch: string;
  modelOptions: Record<string, unknown>;
  train: DataLoader;
  val?: DataLoader | null;
  numClasses: number;
  epochs: number;
  optimizer: SgdOptions;
  schedule: ScheduleConfig;
  labelSmoothing?: number;
  /** run folder for metrics.jsonl and epoch-NNN.safetensors (null: nothing written) */
  outDir?: string | null;
  classNames?: readonly string[];
  input?: CheckpointInfo['input'];
  /** 'auto': a bar on a TTY, a line per ~10% of an epoch otherwise */
  progress?: 'auto' | 'bar' | 'lines' | 'none';
  log?: (line: string) => void;
  /** stop after the epoch during which this many seconds have passed */
  timeLimit?: number;
  /** stop after this many epochs of this run (for tests of resume) */
  stopAfterEpochs?: number;
  /** saved in checkpoints for `train --resume` */
  runArgs?: Record<string, unknown>;
  /**
   * 'bf16': mixed precision (bfloat16 activations on CUDA tensor cores, float32
   * weights, optimizer and statistics: nn/precision.ts); sets the model's precision.
   */
  precision?: Precision;
}

export interface EpochMetrics {
  epoch: number;
  step: number;
  lr: number;
  trainLoss: number;
  trainTop1: number;
  valLoss?: number;
  valTop1?: number;
  valTop5?: number;
  imgPerSec: number;
  seconds: number;
}

export interface EvalResult {
  loss: number;
  top1: number;
  top5: number;
  n: number;
}

/** Training stopped on a non-finite loss. */
export class DivergedError extends SenetError {
  constructor(readonly step: number, readonly loss: number, readonly lastFinite: number | null) {
    super('SENET_KERNEL', `train: the loss became ${loss} at step ${step}` +
      (lastFinite === null ? ' (the first step)' : `; the last finite loss was ${lastFinite.toFixed(6)}`) +
      '. Lower the learning rate, or check the data for NaN/Inf.');
  }
}

interface Pending {
  step: number;
  size: number;
  labels: Int32Array;
  loss: Tensor;
  logits: Tensor;
  read: Promise<[Float32Array, Float32Array]>;
}

export class Trainer {
  readonly optimizer: SGD;
  readonly schedule: Schedule;
  epoch = 0; // next epoch to run (0-based)
  step = 0; // global steps done
  readonly history: EpochMetrics[] = [];
  private readonly log: (line: string) => void;
  private readonly metrics: MetricsLog;
  private lastFinite: number | null = null;

  constructor(readonly o: TrainerOptions) {
    if (o.precision) o.model.setPrecision(o.precision);
    this.optimizer = new SGD(o.model.parameters(), o.optimizer);
    this.schedule = new Schedule(o.schedule, o.epochs, o.train.numBatches());
    this.log = o.log ?? ((l) => process.stderr.write(l + '\n'));
    if (o.outDir) mkdirSync(o.outDir, { recursive: true });
    this.metrics = new MetricsLog(o.outDir ? join(o.outDir, 'metrics.jsonl') : null);
  }

  /** Restores weights, optimiser, schedule and RNG state from a checkpoint. */
  restore(ck: LoadedCheckpoint): void {
    this.o.model.loadStateDict(ck.model);
    const names = new Map(this.o.model.namedParameters().map(([n, p]) => [p, n]));
    const params = this.optimizer.groups.flatMap((g) => g.params);
    this.optimizer.loadMomentumBuffers(params.map((p) => ck.optim.get(names.get(p)!) ?? null));
    this.epoch = ck.meta.epoch + 1;
    this.step = ck.meta.step;
    if (ck.meta.schedule) this.schedule.setState(ck.meta.schedule as unknown as ScheduleState);
    const rng = ck.meta.rng as { seedState?: string } | undefined;
    if (rng?.seedState) setSeedState(rng.seedState);
    this.optimizer.stepCount = this.step;
  }

  async fit(): Promise<EpochMetrics[]> {
    const o = this.o;
    const t0 = performance.now();
    let ran = 0;
    while (this.epoch < o.epochs) {
      const m = await this.trainEpoch(this.epoch);
      if (o.val) {
        const v = await this.evaluate(o.val);
        Object.assign(m, { valLoss: v.loss, valTop1: v.top1, valTop5: v.top5 });
      }
      if (this.schedule.epochEnd(m.valLoss ?? m.trainLoss)) this.log(`lr reduced to ${this.schedule.lr(this.epoch, this.step)}`);
      this.history.push(m);
      this.metrics.write({ ...m });
      this.log(formatEpoch(m, o.epochs));
      if (o.outDir) this.checkpoint(join(o.outDir, `epoch-${String(this.epoch + 1).padStart(3, '0')}.safetensors`), m);
      this.epoch++;
      ran++;
      if (o.stopAfterEpochs !== undefined && ran >= o.stopAfterEpochs) break;
      if (o.timeLimit !== undefined && (performance.now() - t0) / 1000 > o.timeLimit) {
        this.log(`time limit of ${o.timeLimit} s reached after epoch ${this.epoch}`);
        break;
      }
    }
    return this.history;
  }

  checkpoint(path: string, m?: EpochMetrics): void {
    saveCheckpoint(path, this.o.model, {
      arch: this.o.arch,
      modelOptions: this.o.modelOptions,
      epoch: this.epoch,
      step: this.step,
      classNames: this.o.classNames ? [...this.o.classNames] : undefined,
      input: this.o.input,
      optimizer: { ...this.o.optimizer },
      schedule: { ...this.schedule.getState() },
      rng: { seedState: getSeedState() },
      metrics: m ? { ...m } : undefined,
      run: this.o.runArgs,
    }, this.optimizer);
  }

  private async trainEpoch(epoch: number): Promise<EpochMetrics> {
    const o = this.o;
    const model = o.model;
    model.train();
    const total = o.train.numBatches();
    const bar = makeProgress(o.progress ?? 'auto', total, `epoch ${epoch + 1}/${o.epochs}`, this.log);
    const t0 = performance.now();
    let seen = 0, lossSum = 0, correct = 0, done = 0, lr = 0;
    let pending: Pending | null = null;
    const settle = async (p: Pending) => {
      const [l, logits] = await p.read;
      const loss = l[0]!;
      dispose([p.loss, p.logits]);
      if (!Number.isFinite(loss)) throw new DivergedError(p.step, loss, this.lastFinite);
      this.lastFinite = loss;
      lossSum += loss * p.size;
      correct += topkCorrect(logits, p.labels, o.numClasses, [1])[0]!;
      seen += p.size;
      done++;
      const sec = (performance.now() - t0) / 1000;
      bar.update(done, { loss: lossSum / seen, acc: (100 * correct) / seen, ips: seen / sec, lr });
    };
    try {
      for await (const batch of o.train.epoch(epoch)) {
        lr = this.schedule.lr(epoch, this.step);
        this.optimizer.setLr(lr);
        const next = this.trainStep(batch, this.step);
        this.step++;
        if (pending) await settle(pending);
        pending = next;
      }
      if (pending) await settle(pending);
    } catch (e) {
      if (pending) dispose([pending.loss, pending.logits]);
      bar.stop();
      throw e;
    }
    bar.stop();
    const seconds = (performance.now() - t0) / 1000;
    return { epoch: epoch + 1, step: this.step, lr, trainLoss: lossSum / seen, trainTop1: correct / seen, imgPerSec: seen / seconds, seconds };
  }

  /** Enqueues one step; returns the tensors to read once the step has run. */
  private trainStep(batch: Batch, step: number): Pending {
    const model = this.o.model;
    const x = tensor(batch.x, batch.shape, { device: model.device });
    const logits = model.forward(x);
    x.dispose();
    const { loss, dlogits } = softmaxCrossEntropy(logits, batch.labels, { labelSmoothing: this.o.labelSmoothing ?? 0 });
    model.backward(dlogits).dispose();
    dlogits.dispose();
    this.optimizer.step();
    this.optimizer.zeroGrad();
    // Asked now, so the wait covers exactly this step's work.
    const read = Promise.all([loss.toArray() as Promise<Float32Array>, logits.toArray() as Promise<Float32Array>]);
    return { step, size: batch.size, labels: batch.labels, loss, logits, read };
  }

  async evaluate(loader: DataLoader): Promise<EvalResult> {
    return evaluate(this.o.model, loader, this.o.numClasses);
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}

/** Mean cross-entropy, top-1 and top-5 accuracy in eval mode. */
export async function evaluate(model: Module, loader: DataLoader, classes: number): Promise<EvalResult> {
  model.eval();
  let n = 0, lossSum = 0, top1 = 0, top5 = 0;
  let prev: { read: Promise<[Float32Array, Float32Array]>; labels: Int32Array; size: number; ts: Tensor[] } | null = null;
  const settle = async (p: NonNullable<typeof prev>) => {
    const [l, logits] = await p.read;
    dispose(p.ts);
    lossSum += l[0]! * p.size;
    const [c1, c5] = topkCorrect(logits, p.labels, classes, [1, Math.min(5, classes)]);
    top1 += c1!;
    top5 += c5!;
    n += p.size;
  };
  const device = model.device;
  try {
    for await (const batch of loader.epoch(0)) {
      const x = tensor(batch.x, batch.shape, { device });
      const logits = model.forward(x);
      x.dispose();
      const { loss, dlogits } = softmaxCrossEntropy(logits, batch.labels);
      dlogits.dispose();
      const cur = { read: Promise.all([loss.toArray() as Promise<Float32Array>, logits.toArray() as Promise<Float32Array>]), labels: batch.labels, size: batch.size, ts: [loss, logits] };
      if (prev) await settle(prev);
      prev = cur;
    }
    if (prev) await settle(prev);
  } finally {
    model.train();
  }
  return { loss: lossSum / n, top1: top1 / n, top5: top5 / n, n };
}

function formatEpoch(m: EpochMetrics, epochs: number): string {
  const parts = [`epoch ${m.epoch}/${epochs}`, `loss ${m.trainLoss.toFixed(4)}`, `train ${(100 * m.trainTop1).toFixed(2)}%`];
  if (m.valTop1 !== undefined) parts.push(`val ${(100 * m.valTop1).toFixed(2)}% (top-5 ${(100 * m.valTop5!).toFixed(2)}%, loss ${m.valLoss!.toFixed(4)})`);
  parts.push(`${m.imgPerSec.toFixed(0)} img/s`, `lr ${m.lr.toPrecision(3)}`, `${m.seconds.toFixed(1)} s`);
  return parts.join(' | ');
}

interface Progress {
  update(done: number, p: { loss: number; acc: number; ips: number; lr: number }): void;
  stop(): void;
}

function makeProgress(mode: NonNullable<TrainerOptions['progress']>, total: number, title: string, log: (l: string) => void): Progress {
  const tty = process.stderr.isTTY === true;
  if (mode === 'none') return { update() {}, stop() {} };
  if (mode === 'bar' || (mode === 'auto' && tty)) {
    const bar = new cliProgress.SingleBar({
      format: `${title} |{bar}| {value}/{total} | loss {loss} | acc {acc}% | {ips} img/s | lr {lr} | ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    }, cliProgress.Presets.shades_classic);
    bar.start(total, 0, { loss: '-', acc: '-', ips: '-', lr: '-' });
    return {
      update(done, p) {
        bar.update(done, { loss: p.loss.toFixed(4), acc: p.acc.toFixed(1), ips: p.ips.toFixed(0), lr: p.lr.toPrecision(3) });
      },
      stop() {
        bar.stop();
      },
    };
  }
  // Not a terminal: a line every ~10% of the epoch.
  const every = Math.max(1, Math.round(total / 10));
  return {
    update(done, p) {
      if (done % every === 0 && done < total)
        log(`${title} ${done}/${total} | loss ${p.loss.toFixed(4)} | acc ${p.acc.toFixed(1)}% | ${p.ips.toFixed(0)} img/s | lr ${p.lr.toPrecision(3)}`);
    },
    stop() {},
  };
}
