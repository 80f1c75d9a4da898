/**
 * Checkpoints: one safetensors file with the model's parameters and buffers
 * (`model.<name>`) and the optimiser's momentum buffers (`optim.<name>`),
 * plus JSON metadata (architecture, options, epoch, step, optimiser and
 * schedule state, RNG state) stored in the file's __metadata__ under "senet"
 * and beside it as <file>.json for people. Written atomically (temporary
 * file, fsync, rename), so a crash never leaves a half-written checkpoint.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SenetError } from '../errors.js';
import { Tensor, tensor } from '../tensor.js';
import { entryToFloat32, readSafetensors, serializeSafetensors, writeFileAtomic, type SafeInput } from '../io/safetensors.js';
import type { Module } from '../nn/module.js';
import type { SGD } from '../optim/sgd.js';

export const CHECKPOINT_FORMAT = 'senet-checkpoint/1';

export interface CheckpointInfo {
  arch: string;
  modelOptions: Record<string, unknown>;
  epoch: number;
  step: number;
  /** class names of the dataset the model was trained on */
  classNames?: string[];
  /** input [H, W, C] and per-channel normalisation the model expects */
  input?: { size: [number, number, number]; mean?: number[]; std?: number[] };
  optimizer?: Record<string, unknown>;
  schedule?: Record<string, unknown>;
  rng?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
  /** the command-line options of the run (what `train --resume` rebuilds it from) */
  run?: Record<string, unknown>;
}

export interface CheckpointMeta extends CheckpointInfo {
  format: string;
  created: string;
}

export function saveCheckpoint(path: string, model: Module, meta: CheckpointInfo, optimizer?: SGD): void {
  const tensors = new Map<string, SafeInput>();
  for (const [k, t] of model.stateDict()) tensors.set(`model.${k}`, { dtype: 'F32', shape: t.shape, data: t.toArraySync() });
  if (optimizer) {
    const names = new Map<unknown, string>(model.namedParameters().map(([n, p]) => [p, n]));
    const params = optimizer.groups.flatMap((g) => g.params);
    optimizer.momentumBuffers().forEach((b, i) => {
      const n = names.get(params[i]);
      if (b && n) tensors.set(`optim.${n}`, { dtype: 'F32', shape: b.shape, data: b.toArraySync() });
    });
  }
  const full: CheckpointMeta = { format: CHECKPOINT_FORMAT, created: new Date().toISOString(), ...meta };
  const json = JSON.stringify(full);
  writeFileAtomic(path, serializeSafetensors(tensors, { senet: json }));
  writeFileAtomic(`${path}.json`, JSON.stringify(full, null, 2) + '\n');
}

export interface LoadedCheckpoint {
  meta: CheckpointMeta;
  model: Map<string, Tensor<'float32'>>;
  optim: Map<string, Tensor<'float32'>>;
  dispose(): void;
}

export function loadCheckpoint(path: string): LoadedCheckpoint {
  const f = readSafetensors(path);
  const raw = f.metadata['senet'];
  if (!raw) throw new SenetError('SENET_IO', `checkpoint: ${path} has no senet metadata (not a senet checkpoint; timm weights go through \`senet import-timm\`)`);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(raw) as CheckpointMeta;
  } catch (e) {
    throw new SenetError('SENET_IO', `checkpoint: ${path}: its metadata does not parse (${(e as Error).message})`);
  }
  if (meta.format !== CHECKPOINT_FORMAT || typeof meta.arch !== 'string')
    throw new SenetError('SENET_IO', `checkpoint: ${path}: expected format ${CHECKPOINT_FORMAT} with an arch, got ${JSON.stringify(meta.format)}`);
  const model = new Map<string, Tensor<'float32'>>(), optim = new Map<string, Tensor<'float32'>>();
  for (const [k, e] of f.tensors) {
    const t = tensor(entryToFloat32(e), e.shape);
    if (k.startsWith('model.')) model.set(k.slice(6), t);
    else if (k.startsWith('optim.')) optim.set(k.slice(6), t);
    else t.dispose();
  }
  return {
    meta, model, optim,
    dispose() {
      for (const t of [...model.values(), ...optim.values()]) t.dispose();
    },
  };
}

/** A checkpoint file, or the newest epoch-*.safetensors in a run folder. */
export function resolveCheckpoint(pathOrDir: string): string {
  if (!existsSync(pathOrDir)) throw new SenetError('SENET_IO', `checkpoint: ${pathOrDir} does not exist`);
  if (!statSync(pathOrDir).isDirectory()) return pathOrDir;
  const files = readdirSync(pathOrDir).filter((f) => /^epoch-\d+\.safetensors$/.test(f)).sort();
  if (!files.length) throw new SenetError('SENET_IO', `checkpoint: no epoch-*.safetensors in ${pathOrDir}`);
  return join(pathOrDir, files[files.length - 1]!);
}
