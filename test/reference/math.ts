/**
 * Float64 references of the elementwise math family (lib/ops/math.ts):
 * unary functions with tfjs's NaN conventions, broadcasting binary ops and
 * the gradients of broadcasting (sum over the broadcast axes), addN, clip.
 * Straight loops over multi-indices, written for clarity, not speed.
 */
export type Shape = readonly number[];

export function numelOf(s: Shape): number {
  return s.reduce((a, d) => a * d, 1);
}

export function broadcastShapeRef(a: Shape, b: Shape): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[i - (r - a.length)] ?? 1, db = b[i - (r - b.length)] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`shapes [${a}] and [${b}] do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** The flat index into a tensor of shape s (aligned right to out) of output multi-index idx. */
function srcIndex(idx: number[], s: Shape, r: number): number {
  let k = 0;
  for (let i = 0; i < s.length; i++) {
    const d = s[i]!;
    k = k * d + (d === 1 ? 0 : idx[r - s.length + i]!);
  }
  return k;
}

function* indices(shape: Shape): Generator<number[]> {
  const n = numelOf(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < n; k++) {
    yield idx;
    for (let i = shape.length - 1; i >= 0; i--) {
      if (++idx[i]! < shape[i]!) break;
      idx[i] = 0;
    }
  }
}

const SELU_SCALE = 1.0507009873554804934193349852946, SELU_SCALE_ALPHA = 1.7580993408473768599402175208123;

export function unaryFn(op: string, alpha = 0): (v: number) => number {
  switch (op) {
    case 'neg': return (v) => -v;
    case 'abs': return Math.abs;
    case 'square': return (v) => v * v;
    case 'sqrt': return Math.sqrt;
    case 'rsqrt': return (v) => 1 / Math.sqrt(v);
    case 'reciprocal': return (v) => 1 / v;
    case 'exp': return Math.exp;
    case 'expm1': return Math.expm1;
    case 'log': return Math.log;
    case 'log1p': return Math.log1p;
    case 'sigmoid': return (v) => 1 / (1 + Math.exp(-v));
    case 'tanh': return Math.tanh;
    case 'softplus': return (v) => {
      // tfjs: exp(x) below log(eps)+2, x above -(log(eps)+2) (eps = float32 epsilon)
      const th = Math.log(1.1920928955078125e-7) + 2;
      return v < th ? Math.exp(v) : v > -th ? v : Math.log1p(Math.exp(v));
    };
    case 'relu': return (v) => (v < 0 ? 0 : v);
    case 'relu6': return (v) => (v < 0 ? 0 : v > 6 ? 6 : v);
    case 'elu': return (v) => (v >= 0 ? v : Math.expm1(v));
    case 'selu': return (v) => (v >= 0 ? SELU_SCALE * v : SELU_SCALE_ALPHA * Math.expm1(v));
    case 'leakyRelu': return (v) => (v < 0 ? alpha * v : v);
    case 'step': return (v) => (Number.isNaN(v) ? NaN : v > 0 ? 1 : alpha);
  }
  throw new Error(`unknown unary op ${op}`);
}

export function unaryRef(x: ArrayLike<number>, op: string, alpha = 0): Float64Array {
  return Float64Array.from(x, unaryFn(op, alpha));
}

export function binaryFn(op: string): (a: number, b: number) => number {
  switch (op) {
    case 'add': return (a, b) => a + b;
    case 'sub': return (a, b) => a - b;
    case 'mul': return (a, b) => a * b;
    case 'div': return (a, b) => a / b;
    case 'maximum': return (a, b) => Math.max(a, b);
    case 'minimum': return (a, b) => Math.min(a, b);
    case 'squaredDifference': return (a, b) => (a - b) * (a - b);
    case 'prelu': return (a, b) => (a < 0 ? a * b : a);
    case 'eluGrad': return (dy, y) => (y >= 0 ? dy : dy * (y + 1));
    case 'reluGrad': return (dy, x) => (Number.isNaN(x) ? NaN : x > 0 ? dy : dy * 0);
    case 'squareGrad': return (dy, x) => dy * 2 * x;
    case 'addRelu': return (a, b) => (a + b < 0 ? 0 : a + b);
  }
  throw new Error(`unknown binary op ${op}`);
}

export function binaryRef(a: ArrayLike<number>, as: Shape, b: ArrayLike<number>, bs: Shape, op: string): { y: Float64Array; shape: number[] } {
  const shape = broadcastShapeRef(as, bs);
  const f = binaryFn(op);
  const y = new Float64Array(numelOf(shape));
  let k = 0;
  for (const idx of indices(shape)) y[k++] = f(a[srcIndex(idx, as, shape.length)]!, b[srcIndex(idx, bs, shape.length)]!);
  return { y, shape };
}

/** Sums dy [outShape] down to shape s (the gradient of a broadcast). */
export function unbroadcastRef(dy: ArrayLike<number>, outShape: Shape, s: Shape): Float64Array {
  const g = new Float64Array(numelOf(s));
  let k = 0;
  for (const idx of indices(outShape)) g[srcIndex(idx, s, outShape.length)] += dy[k++]!;
  return g;
}

/** Gradients of sum(binary(a, b) * dy) for the differentiable ops (add, sub, mul, div, squaredDifference). */
export function binaryBackwardRef(
  dy: ArrayLike<number>, a: ArrayLike<number>, as: Shape, b: ArrayLike<number>, bs: Shape, op: string,
): { da: Float64Array; db: Float64Array } {
  const shape = broadcastShapeRef(as, bs);
  const ga = new Float64Array(numelOf(shape)), gb = new Float64Array(numelOf(shape));
  let k = 0;
  for (const idx of indices(shape)) {
    const x = a[srcIndex(idx, as, shape.length)]!, y = b[srcIndex(idx, bs, shape.length)]!, g = dy[k]!;
    switch (op) {
      case 'add': ga[k] = g; gb[k] = g; break;
      case 'sub': ga[k] = g; gb[k] = -g; break;
      case 'mul': ga[k] = g * y; gb[k] = g * x; break;
      case 'div': ga[k] = g / y; gb[k] = (-g * x) / (y * y); break;
      case 'squaredDifference': ga[k] = 2 * g * (x - y); gb[k] = -2 * g * (x - y); break;
      case 'addRelu': ga[k] = x + y > 0 ? g : 0; gb[k] = ga[k]!; break;
      default: throw new Error(`no gradient for ${op}`);
    }
    k++;
  }
  return { da: unbroadcastRef(ga, shape, as), db: unbroadcastRef(gb, shape, bs) };
}

export function addNRef(xs: ReadonlyArray<ArrayLike<number>>): Float64Array {
  const y = new Float64Array(xs[0]!.length);
  for (const x of xs) for (let i = 0; i < y.length; i++) y[i] += x[i]!;
  return y;
}

export function clipRef(x: ArrayLike<number>, lo: number, hi: number): Float64Array {
  return Float64Array.from(x, (v) => (v > hi ? hi : v < lo ? lo : v));
}
