/**
 * What the senet backend knows about a tensor's data beyond its values, and
 * data it describes instead of computing: the pieces that let tfjs's batch
 * norm and squeeze-excite scaling run in the passes senet's own fused
 * modules make.
 *
 * tf.layers' batch norm in training computes its statistics with
 * tf.moments, `mean = mean(x); variance = mean(square(x - mean))`, and
 * tfjs differentiates that graph op by op: two x-sized temporaries forward,
 * and backward the batch norm's gradients for mean and variance go back
 * through Mean, Square, Sub and Mean again, each an x-sized tensor, summed
 * into x's gradient (about 16 passes over x-sized data per layer, against 5
 * for a fused batch norm). The backend follows the graph instead:
 *
 *  - Mean over every axis but the last notes `meanOf` (the data and its
 *    channel count) on its output;
 *  - Sub(x, m) with m the mean of x (broadcast per channel) returns lazy
 *    data `x - m`, Square of that lazy `(x - m)^2`, and Mean of the square
 *    reads x once (addon.centeredVariance) and notes `varianceOf`;
 *  - FusedBatchNorm's gradient (gradients.ts), when its mean and variance
 *    are the batch statistics of its x, is batch norm's whole gradient in
 *    two passes (addon.batchNormBackward: x's gradient through the
 *    statistics included), and the statistics' gradients are zeros;
 *  - zeros (lazy, never computed unless read) stay zeros through the
 *    gradients of Mean, Square, Sub and Sum, and adding zeros to a tensor
 *    is that tensor.
 *
 * A squeeze-excite block written with ops ends `relu(u * s + r)` with s
 * [N, 1, 1, C]: Multiply returns lazy `u * s`, Add of that and r lazy
 * `u * s + r`, and Relu computes it in one pass (addon.scaleChannels; tfjs
 * made three, writing two x-sized temporaries). Relu's gradient needs its
 * input only for its sign, which the output has: the lazy input keeps the
 * output and the gradient reads that. Multiply's gradient by a [N, 1, 1, C]
 * factor is one pass (scaleChannelsBackward; gradients.ts), and Mean's
 * gradient is a lazy broadcast that Add applies in its pass. Where Relu's
 * gradient comes first (relu(u * s + r)), it also sums its result against
 * u in its pass (reluBackwardChannelDot) and leaves the sums with its
 * output: Multiply's gradient then is those sums for s and a lazy dy * s
 * for u, to which Add can still add Mean's broadcast gradient (one pass
 * where it is read). Any other Add
 * of two same-shape tensors is lazy too, and a Relu of it one pass
 * (a residual block's `relu(shortcut + z)`).
 *
 * The squeeze of such a block, a Mean over H and W of [N, H, W, C] data,
 * is described too, and so are the small ops that take it as input
 * (BatchMatMul, _FusedMatMul, a bias Add, Relu, Sigmoid: a `Deferred` chain
 * of [N, C]-sized steps). When Multiply's factor is the squeeze-excite gate
 * of its own u, sigmoid(relu(mean(u) W1 + b1) W2 + b2), the block runs as
 * senet's fused op (addon.squeezeExcite: u read once from memory and once
 * from cache per sample, the gate computed in between) at the Relu of
 * `u * s + r` (or wherever u * s is read); its squeeze, hidden activation
 * and gate become the chain's values. Computed op by op, tfjs's graph reads
 * u from memory twice (the Mean, then the scaling), since the gate needs all
 * of the Mean first.
 *
 * A convolution's output is described too: when a batch norm with given
 * statistics (inference) reads it, the normalisation is folded into the
 * convolution (weights scaled per output channel, a bias; kept with the
 * filter while the statistics are the same tensors), so the convolution's
 * output is never written and the batch norm makes no pass of its own. A
 * convolution's gradient for its input is described too: tfjs's fused
 * convolution (tf.layers' conv) computes it even for the model's input or
 * a frozen layer's, which nothing reads.
 *
 * Lazy data is computed (with the same kernels, the same values) the moment
 * anything else reads it. Facts only come from kernels that computed the
 * data, and tfjs data is immutable, so a fact stays true as long as its
 * data lives. The shortcuts run on the cpu device only;
 * SENET_TFJS_PROVENANCE=0 (or `provenance.enabled = false`) turns them off.
 */
import type { DataId, TensorInfo } from '@tensorflow/tfjs-core';
import { addon, type NativeHandle } from '../native.js';

type H = NativeHandle;

/** Whether kernels record facts (and so take the shortcuts); read at each call. */
export const provenance = {
  enabled: typeof process === 'undefined' || process.env['SENET_TFJS_PROVENANCE'] !== '0',
};

/** What a deferred step computes (its inputs: args); matmul: the kernel's attributes. */
export type DeferredOp =
  | { readonly op: 'squeeze' }
  | { readonly op: 'add' | 'relu' | 'sigmoid' }
  | { readonly op: 'matmul'; readonly transposeA: boolean; readonly transposeB: boolean; readonly bias: boolean; readonly activation: 'linear' | 'relu' | 'sigmoid' };

/**
 * A small computation described behind a squeeze (the squeeze-excite chain):
 * computed once, when first read, from its arguments (native tensors it
 * holds, or other steps it references). Shared by the tensors that use it
 * (reference counted); `value` may also be set by the fused op.
 */
export class Deferred {
  value: H | null = null;
  private refs = 1;
  constructor(
    readonly step: DeferredOp,
    readonly shape: readonly number[],
    readonly args: ReadonlyArray<H | Deferred>,
    private readonly run: (args: H[]) => H,
  ) {}

  compute(): H {
    if (this.value === null) this.value = this.run(this.args.map((a) => (a instanceof Deferred ? a.compute() : a)));
    return this.value;
  }

  /** Sets the value if none was computed; returns whether it was taken (else the caller keeps h). */
  offer(h: H): boolean {
    if (this.value !== null) return false;
    this.value = h;
    return true;
  }

  ref(): this {
    this.refs++;
    return this;
  }

  release(): void {
    if (--this.refs > 0) return;
    this.value?.release();
    this.value = null;
    for (const a of this.args) a.release();
  }
}

/** Data described instead of computed: its shape and what it is. */
export type Lazy =
  | { readonly what: 'zeros'; readonly shape: number[]; readonly device: string }
  /** x - mean and (x - mean)^2, mean [C] broadcast over x's last axis; the entry owns both handles */
  | { readonly what: 'centered' | 'squared-centered'; readonly shape: number[]; readonly x: H; readonly mean: H }
  /**
   * u * s (+ bias) (+ r), u and r [N, ..., C], s and bias [N, C]; `reluOut`:
   * relu of this data, once computed (its sign is this data's); the entry
   * owns the handles
   */
  | {
      readonly what: 'scaled'; readonly shape: number[]; readonly u: H; readonly s: H; readonly r: H | null; readonly bias: H | null; reluOut: H | null;
      /** the fused op's relu mask and NaN flag, where it computed reluOut (Relu's gradient reads the bits) */
      readonly bits?: { readonly mask: H; readonly nan: H };
    }
  /** a deferred step's value */
  | { readonly what: 'deferred'; readonly shape: number[]; readonly node: Deferred }
  /**
   * u * s (+ r) where s (`gate`, [N, C] values in any shape) is the
   * squeeze-excite gate of u itself (kernels/excite.ts): the fused op
   */
  | { readonly what: 'excited'; readonly shape: number[]; readonly u: H; readonly gate: Deferred; readonly r: H | null }
  /** a + b (same shapes); `reluOut` as for 'scaled' */
  | { readonly what: 'sum'; readonly shape: number[]; readonly a: H; readonly b: H; reluOut: H | null }
  /** v (of the same rank, dimensions 1 or shape's) repeated to `shape` */
  | { readonly what: 'broadcast'; readonly shape: number[]; readonly v: H }
  /** a convolution's gradient for its input (dy, OHWI filter w, the input's shape, senet's conv parameters) */
  | { readonly what: 'conv-input-grad'; readonly shape: number[]; readonly dy: H; readonly w: H; readonly p: Record<string, unknown> }
  /** a convolution (OHWI filter w, optional bias, senet's conv parameters); `filter`, `biasInfo`: tfjs's tensors */
  | {
      readonly what: 'conv'; readonly shape: number[]; readonly x: H; readonly w: H; readonly bias: H | null; readonly p: Record<string, unknown>;
      readonly filter: TensorInfo; readonly biasInfo: TensorInfo | null;
    };

/** Per-channel statistics of some data: over every axis but the last, C channels. */
export interface Of {
  readonly x: DataId;
  readonly channels: number;
}

/** What a tensor's data is known to be. */
export interface Facts {
  /** every element is zero */
  zero?: true;
  /** the mean of x over every axis but the last */
  meanOf?: Of;
  /** x - mean, or (x - mean)^2, where mean is `mean` (itself the meanOf x) */
  centered?: Of & { readonly mean: DataId };
  squaredCentered?: Of & { readonly mean: DataId };
  /** the mean over every axis but the last of (x - mean)^2 */
  varianceOf?: Of & { readonly mean: DataId };
}

/** The fused squeeze-excite computation (kernels/excite.ts registers it; no import cycle). */
export const excite: { compute: (l: Extract<Lazy, { what: 'excited' }>, relu: boolean) => { y: H; bits: { mask: H; nan: H } | null } } = {
  compute: () => {
    throw new Error('senet/tfjs: the squeeze-excite kernels are not loaded');
  },
};

export function computeLazy(l: Lazy): H {
  switch (l.what) {
    case 'zeros': return addon.full(l.shape, 0, 'float32', l.device);
    case 'centered': return addon.binary(l.x, l.mean, 'sub');
    case 'squared-centered': return addon.binary(l.x, l.mean, 'squaredDifference');
    case 'scaled': return addon.scaleChannels(l.u, l.s, l.r, l.bias, { relu: false });
    case 'sum': return addon.binary(l.a, l.b, 'add');
    case 'broadcast': return addon.tile(l.v, l.shape.map((d, i) => (l.v.shape[i] === d ? 1 : d)));
    case 'conv': return addon.conv2d(l.x, l.w, l.bias, l.p);
    case 'conv-input-grad': return addon.conv2dBackwardData(l.dy, l.w, l.shape, l.p);
    case 'deferred': return addon.reshape(l.node.compute(), l.shape);
    case 'excited': return excite.compute(l, false).y;
  }
}

export function releaseLazy(l: Lazy): void {
  switch (l.what) {
    case 'zeros': return;
    case 'centered':
    case 'squared-centered':
      l.x.release();
      l.mean.release();
      return;
    case 'scaled':
      for (const h of [l.u, l.s, l.r, l.bias, l.reluOut, l.bits?.mask, l.bits?.nan]) h?.release();
      return;
    case 'sum':
      for (const h of [l.a, l.b, l.reluOut]) h?.release();
      return;
    case 'broadcast':
      l.v.release();
      return;
    case 'conv-input-grad':
      l.dy.release();
      l.w.release();
      return;
    case 'conv':
      for (const h of [l.x, l.w, l.bias]) h?.release();
      return;
    case 'deferred':
      l.node.release();
      return;
    case 'excited':
      for (const h of [l.u, l.r, l.gate]) h?.release();
  }
}
