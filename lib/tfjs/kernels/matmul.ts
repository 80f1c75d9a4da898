/** BatchMatMul and _FusedMatMul (bias + activation) on oneDNN's matmul. */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { broadcast_util } from '@tensorflow/tfjs-core';
import { addon } from '../../native.js';
import type { SenetBackend } from '../backend.js';
import { activate, allF32, outAs, release, reshaped, size, type H, type NativeKernel } from './util.js';

export interface Plan {
  a3: number[];
  b3: number[];
  out: number[];
  y3: number[];
}

/** tfjs's batch semantics: outer dims flattened, a batch of 1 broadcasts. */
export function plan(a: TensorInfo, bb: TensorInfo, ta: boolean, tb: boolean): Plan | null {
  const ra = a.shape.length, rb = bb.shape.length;
  if (ra < 2 || rb < 2 || size(a.shape) === 0 || size(bb.shape) === 0) return null;
  const outerA = a.shape.slice(0, -2), outerB = bb.shape.slice(0, -2);
  const batchA = size(outerA), batchB = size(outerB);
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return null;
  const m = ta ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = ta ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const k2 = tb ? bb.shape[rb - 1]! : bb.shape[rb - 2]!;
  const n = tb ? bb.shape[rb - 2]! : bb.shape[rb - 1]!;
  if (k !== k2) return null;
  const outer = broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  return {
    a3: [batchA, a.shape[ra - 2]!, a.shape[ra - 1]!],
    b3: [batchB, bb.shape[rb - 2]!, bb.shape[rb - 1]!],
    out: [...outer, m, n],
    y3: [Math.max(batchA, batchB), m, n],
  };
}

function view(b: SenetBackend, t: TensorInfo, shape: number[]): H {
  return addon.reshape(b.h(t), shape);
}

function run(b: SenetBackend, a: TensorInfo, bb: TensorInfo, ta: boolean, tb: boolean, bias: TensorInfo | undefined): { y: H; p: Plan } | null {
  const p = plan(a, bb, ta, tb);
  if (!p) return null;
  const n = p.out[p.out.length - 1]!;
  // A bias of N values goes into the matmul; other shapes are a broadcast add after it.
  const fuseBias = bias !== undefined && size(bias.shape) === n && bias.shape[bias.shape.length - 1] === n;
  const va = view(b, a, p.a3), vb = view(b, bb, p.b3);
  const vbias = fuseBias ? addon.reshape(b.h(bias!), [n]) : null;
  let y = addon.matmul(va, vb, vbias, { transposeA: ta, transposeB: tb });
  release(va, vb, vbias);
  if (bias !== undefined && !fuseBias) {
    const y2 = addon.binary(y, b.h(bias), 'add');
    const ys = broadcast_util.assertAndGetBroadcastShape(p.y3, bias.shape);
    if (ys.length !== 3 || ys.some((d, i) => d !== p.y3[i])) {
      release(y, y2);
      return null;
    }
    y.release();
    y = y2;
  }
  return { y, p };
}

export const matmulKernels: Record<string, NativeKernel> = {
  BatchMatMul: (inputs, b, attrs) => {
    const a = inputs['a']!, bb = inputs['b']!;
    if (!allF32(a, bb)) return null;
    const r = run(b, a, bb, Boolean(attrs['transposeA']), Boolean(attrs['transposeB']), undefined);
    return r && outAs(b, r.y, r.p.out);
  },
  _FusedMatMul: (inputs, b, attrs) => {
    const a = inputs['a']!, bb = inputs['b']!, bias = inputs['bias'], prelu = inputs['preluActivationWeights'];
    if (!allF32(a, bb) || (bias && !allF32(bias))) return null;
    const activation = attrs['activation'] as unknown as string | undefined;
    if (activation === 'prelu' && !prelu) return null;
    const r = run(b, a, bb, Boolean(attrs['transposeA']), Boolean(attrs['transposeB']), bias ?? undefined);
    if (!r) return null;
    let y = r.y;
    if (activation && activation !== 'linear') {
      // The activation (prelu's weights broadcast against tfjs's output shape) on the output view.
      y = reshaped(y, r.p.out);
      const act = activate(b, y, activation, prelu ?? undefined, attrs['leakyreluAlpha'] as unknown as number | undefined);
      if (!act) {
        y.release();
        return null;
      }
      if (act !== y) y.release();
      y = act;
    }
    return outAs(b, y, r.p.out);
  },
};
