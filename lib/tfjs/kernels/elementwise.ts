/** Elementwise kernels: unary activations and math, broadcasting binary ops, AddN, ClipByValue, Fill. */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { broadcast_util } from '@tensorflow/tfjs-core';
import { addon } from '../../native.js';
import { allF32, size, type NativeKernel } from './util.js';

const UNARY: Record<string, string> = {
  Neg: 'neg', Abs: 'abs', Square: 'square', Sqrt: 'sqrt', Rsqrt: 'rsqrt', Reciprocal: 'reciprocal',
  Exp: 'exp', Expm1: 'expm1', Log: 'log', Log1p: 'log1p', Sigmoid: 'sigmoid', Tanh: 'tanh', Softplus: 'softplus',
  Relu: 'relu', Relu6: 'relu6', Elu: 'elu', Selu: 'selu', LeakyRelu: 'leakyRelu', Step: 'step',
};

const BINARY: Record<string, string> = {
  Add: 'add', Sub: 'sub', Multiply: 'mul', RealDiv: 'div', Maximum: 'maximum', Minimum: 'minimum',
  SquaredDifference: 'squaredDifference',
};

export const elementwiseKernels: Record<string, NativeKernel> = {};

for (const [name, op] of Object.entries(UNARY)) {
  elementwiseKernels[name] = (inputs, b, attrs) => {
    const x = inputs['x']!;
    if (!allF32(x)) return null;
    const alpha = name === 'LeakyRelu' ? ((attrs['alpha'] as number | undefined) ?? 0.2) : name === 'Step' ? ((attrs['alpha'] as number | undefined) ?? 0) : 0;
    if (!Number.isFinite(alpha)) return null;
    return b.out(addon.unary(b.h(x), op, { alpha }), x.shape);
  };
}

function binaryKernel(op: string, aName: string, bName: string): NativeKernel {
  return (inputs, b) => {
    const x = inputs[aName]!, y = inputs[bName]!;
    if (!allF32(x, y)) return null;
    const shape = broadcast_util.assertAndGetBroadcastShape(x.shape, y.shape);
    return b.out(addon.binary(b.h(x), b.h(y), op), shape);
  };
}

for (const [name, op] of Object.entries(BINARY)) elementwiseKernels[name] = binaryKernel(op, 'a', 'b');
elementwiseKernels['Prelu'] = binaryKernel('prelu', 'x', 'alpha');
elementwiseKernels['EluGrad'] = binaryKernel('eluGrad', 'dy', 'y');

elementwiseKernels['AddN'] = (inputs, b) => {
  const xs = inputs as unknown as TensorInfo[];
  if (!allF32(...xs)) return null;
  if (xs.length === 1) {
    b.incRef(xs[0]!.dataId);
    return { dataId: xs[0]!.dataId, shape: xs[0]!.shape, dtype: 'float32' };
  }
  return b.out(addon.addN(xs.map((t) => b.h(t))), xs[0]!.shape);
};

elementwiseKernels['ClipByValue'] = (inputs, b, attrs) => {
  const x = inputs['x']!;
  const lo = attrs['clipValueMin'] as number, hi = attrs['clipValueMax'] as number;
  if (!allF32(x) || !(Math.abs(lo) <= 3.4e38) || !(Math.abs(hi) <= 3.4e38) || hi < lo) return null;
  return b.out(addon.clip(b.h(x), { min: lo, max: hi }), x.shape);
};

elementwiseKernels['Fill'] = (_inputs, b, attrs) => {
  const shape = attrs['shape'] as unknown as number[], value = attrs['value'] as unknown;
  if ((attrs['dtype'] as unknown as string) !== 'float32' || typeof value !== 'number' || shape.length > 8) return null;
  return b.out(addon.full(shape, value, 'float32', b.device), shape);
};

for (const [name, value] of [['ZerosLike', 0], ['OnesLike', 1]] as const) {
  elementwiseKernels[name] = (inputs, b) => {
    const x = inputs['x']!;
    if (!allF32(x) || size(x.shape) === 0) return null;
    return b.out(addon.full(x.shape, value, 'float32', b.device), x.shape);
  };
}

/** The senet backend's own kernels (used by gradients.ts). */
elementwiseKernels['SenetReluGrad'] = binaryKernel('reluGrad', 'dy', 'x');
elementwiseKernels['SenetSquareGrad'] = binaryKernel('squareGrad', 'dy', 'x');
