/** Float64 references of the layout family (lib/ops/layout.ts): transpose, tile, constant pad, strided slice. */
import { numelOf, type Shape } from './math.js';

function strides(s: Shape): number[] {
  const st = new Array<number>(s.length).fill(1);
  for (let i = s.length - 2; i >= 0; i--) st[i] = st[i + 1]! * s[i + 1]!;
  return st;
}

function* indices(shape: Shape): Generator<number[]> {
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < numelOf(shape); k++) {
    yield idx;
    for (let i = shape.length - 1; i >= 0; i--) {
      if (++idx[i]! < shape[i]!) break;
      idx[i] = 0;
    }
  }
}

export function transposeRef(x: ArrayLike<number>, shape: Shape, perm: readonly number[]): { y: Float64Array; shape: number[] } {
  const out = perm.map((p) => shape[p]!);
  const st = strides(shape);
  const y = new Float64Array(numelOf(out));
  let k = 0;
  for (const idx of indices(out)) {
    let o = 0;
    for (let i = 0; i < perm.length; i++) o += idx[i]! * st[perm[i]!]!;
    y[k++] = x[o]!;
  }
  return { y, shape: out };
}

export function tileRef(x: ArrayLike<number>, shape: Shape, reps: readonly number[]): { y: Float64Array; shape: number[] } {
  const out = shape.map((d, i) => d * reps[i]!);
  const st = strides(shape);
  const y = new Float64Array(numelOf(out));
  let k = 0;
  for (const idx of indices(out)) {
    let o = 0;
    for (let i = 0; i < shape.length; i++) o += (idx[i]! % shape[i]!) * st[i]!;
    y[k++] = x[o]!;
  }
  return { y, shape: out };
}

/** The gradient of tile: dy summed over the copies. */
export function tileBackwardRef(dy: ArrayLike<number>, shape: Shape, reps: readonly number[]): Float64Array {
  const out = shape.map((d, i) => d * reps[i]!);
  const st = strides(shape);
  const dx = new Float64Array(numelOf(shape));
  let k = 0;
  for (const idx of indices(out)) {
    let o = 0;
    for (let i = 0; i < shape.length; i++) o += (idx[i]! % shape[i]!) * st[i]!;
    dx[o] += dy[k++]!;
  }
  return dx;
}

export function padRef(x: ArrayLike<number>, shape: Shape, pads: ReadonlyArray<readonly [number, number]>, value: number): { y: Float64Array; shape: number[] } {
  const out = shape.map((d, i) => pads[i]![0] + d + pads[i]![1]);
  const st = strides(shape);
  const y = new Float64Array(numelOf(out));
  let k = 0;
  for (const idx of indices(out)) {
    let o = 0, inside = true;
    for (let i = 0; i < shape.length; i++) {
      const j = idx[i]! - pads[i]![0];
      if (j < 0 || j >= shape[i]!) inside = false;
      o += j * st[i]!;
    }
    y[k++] = inside ? x[o]! : value;
  }
  return { y, shape: out };
}

export function sliceRef(x: ArrayLike<number>, shape: Shape, begin: readonly number[], size: readonly number[], strides: readonly number[]): Float64Array {
  const st = strides_(shape);
  const y = new Float64Array(numelOf(size));
  let k = 0;
  for (const idx of indices(size)) {
    let o = 0;
    for (let i = 0; i < shape.length; i++) o += (begin[i]! + idx[i]! * strides[i]!) * st[i]!;
    y[k++] = x[o]!;
  }
  return y;
}

function strides_(s: Shape): number[] {
  return strides(s);
}
