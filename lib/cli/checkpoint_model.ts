/** Rebuilds the model a checkpoint describes and loads its weights. */
import { createModel, type ModelOptions, type ResNet } from '../../models/index.js';
import { loadCheckpoint, resolveCheckpoint, type CheckpointMeta } from '../train/checkpoint.js';

export function modelFromCheckpoint(path: string): { model: ResNet; meta: CheckpointMeta; file: string } {
  const file = resolveCheckpoint(path);
  const ck = loadCheckpoint(file);
  try {
    const model = createModel(ck.meta.arch, ck.meta.modelOptions as ModelOptions);
    try {
      model.loadStateDict(ck.model);
    } catch (e) {
      model.dispose();
      throw e;
    }
    model.eval();
    return { model, meta: ck.meta, file };
  } finally {
    ck.dispose();
  }
}
