/** Transpose, Tile, PadV2 (constant padding) and Slice (of native data). */
import { slice_util } from '@tensorflow/tfjs-core';
import { addon } from '../../native.js';
import { allF32, type NativeKernel } from './util.js';

export const layoutKernels: Record<string, NativeKernel> = {
  // Data already in native memory stays there (tfjs-backend-cpu's Slice of
  // host data is a zero-copy subarray when contiguous: that one stays with it).
  Slice: (inputs, b, attrs) => {
    const x = inputs['x']!;
    if (!allF32(x) || !b.isNative(x)) return null;
    const [begin, size] = slice_util.parseSliceParams(x as never, attrs['begin'] as never, attrs['size'] as never);
    slice_util.assertParamsValid(x as never, begin, size);
    return b.out(addon.slice(b.h(x), begin, size, begin.map(() => 1)), size);
  },
  Transpose: (inputs, b, attrs) => {
    const x = inputs['x']!;
    const perm = attrs['perm'] as unknown as number[];
    if (!allF32(x)) return null;
    return b.out(addon.transpose(b.h(x), perm), perm.map((p) => x.shape[p]!));
  },
  Tile: (inputs, b, attrs) => {
    const x = inputs['x']!;
    const reps = attrs['reps'] as unknown as number[];
    if (!allF32(x) || reps.length !== x.shape.length) return null;
    return b.out(addon.tile(b.h(x), reps), x.shape.map((d, i) => d * reps[i]!));
  },
  PadV2: (inputs, b, attrs) => {
    const x = inputs['x']!;
    const paddings = attrs['paddings'] as unknown as Array<[number, number]>;
    const value = attrs['constantValue'] as unknown as number;
    if (!allF32(x) || typeof value !== 'number' || paddings.length !== x.shape.length) return null;
    if (paddings.some(([lo, hi]) => lo < 0 || hi < 0)) return null;
    const before = paddings.map((p) => p[0]), after = paddings.map((p) => p[1]);
    return b.out(addon.pad(b.h(x), before, after, value), x.shape.map((d, i) => before[i]! + d + after[i]!));
  },
};
