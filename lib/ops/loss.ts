/**
 * Mean softmax cross-entropy with optional label smoothing (PyTorch's
 * definition: targets (1-eps)*one_hot + eps/K), returning the loss and the
 * gradient of the loss with respect to the logits in one call.
 */
import { addon } from '../native.js';
import { describe, fail, native } from '../errors.js';
import { Tensor, tensor, wrapOut } from '../tensor.js';
import { expectShape, finiteNumber, sameDevice, tensorArg } from './check.js';

export function softmaxCrossEntropy(
  logits: Tensor,
  labels: Tensor<'int32'> | Int32Array | readonly number[],
  o: { labelSmoothing?: number } = {},
): { loss: Tensor<'float32'>; dlogits: Tensor<'float32'> } {
  const op = 'softmaxCrossEntropy';
  const hl = tensorArg(op, 'logits', logits, { rank: 2, layout: '[N, classes]' });
  const [n, k] = logits.shape as [number, number];
  const labelSmoothing = finiteNumber(op, 'labelSmoothing', o.labelSmoothing, 0, 0, 1);
  let lab: Tensor<'int32'>;
  let owned = false;
  if (labels instanceof Tensor) {
    lab = labels;
  } else {
    if (!(labels instanceof Int32Array) && !Array.isArray(labels))
      fail('SENET_ARG', op, 'labels', 'an int32 Tensor, an Int32Array or an array of class indices', describe(labels));
    for (let i = 0; i < labels.length; i++) {
      const v = labels[i]!;
      if (!Number.isInteger(v) || v < 0 || v >= k) fail('SENET_ARG', op, `labels[${i}]`, `a class index in [0, ${k})`, describe(v));
    }
    lab = tensor(Int32Array.from(labels), [labels.length], { dtype: 'int32', device: logits.device });
    owned = true;
  }
  try {
    const hy = tensorArg(op, 'labels', lab, { rank: 1, dtype: 'int32' });
    expectShape(op, 'labels', lab, [n]);
    sameDevice(op, { logits, labels: lab });
    const [loss, dlogits] = native(() => addon.softmaxCrossEntropy(hl, hy, { labelSmoothing }));
    return { loss: wrapOut(loss), dlogits: wrapOut(dlogits) };
  } finally {
    if (owned) lab.dispose();
  }
}
