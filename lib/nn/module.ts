/**
 * Modules with explicit forward and backward (no autograd tape): forward
 * keeps what backward needs (as views, so callers may dispose their inputs),
 * backward returns the input gradient and accumulates parameter gradients.
 * Composite modules call their children in reverse. Names of parameters
 * and buffers follow PyTorch (weight, bias, running_mean, running_var), so
 * state dicts map one to one.
 */
import { SenetError, fail } from '../errors.js';
import { Tensor, keep, type Device } from '../tensor.js';
import { addScaled_ } from '../ops/eltwise.js';
import type { Profile, ProfileRow } from './profile.js';
import { checkPrecision, type Precision } from './precision.js';

export class Parameter {
  value: Tensor<'float32'>;
  grad: Tensor<'float32'> | null = null;
  /** weight decay applies (false for BN scales/shifts and biases when the optimizer filters them) */
  readonly decay: boolean;

  constructor(value: Tensor<'float32'>, opts: { decay?: boolean } = {}) {
    this.value = keep(value);
    this.decay = opts.decay ?? true;
  }

  /** Adds g to the gradient, taking ownership of g. */
  accumulate(g: Tensor<'float32'>): void {
    keep(g);
    if (this.grad === null) this.grad = g;
    else {
      addScaled_(this.grad, g, 1);
      g.dispose();
    }
  }

  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  /** Replaces the value (loading weights), keeping the shape. */
  set(t: Tensor<'float32'>): void {
    if (t.shape.length !== this.value.shape.length || t.shape.some((d, i) => d !== this.value.shape[i]))
      fail('SENET_SHAPE', 'Parameter.set', 'value', `shape [${this.value.shape}]`, `[${t.shape}]`);
    this.value.dispose();
    this.value = keep(t);
  }

  dispose(): void {
    this.value.dispose();
    this.zeroGrad();
  }
}

/** A view of t that belongs to the module (outside any tidy scope). */
export function retain<T extends Tensor>(t: T): T {
  return keep(t.reshape(t.shape)) as T;
}

export abstract class Module {
  training = true;
  /** 'bf16': bfloat16 activations on CUDA, float32 parameters (precision.ts) */
  precision: Precision = 'fp32';
  private readonly _params = new Map<string, Parameter>();
  private readonly _buffers = new Map<string, Tensor<'float32'>>();
  private readonly _children = new Map<string, Module>();

  abstract forward(x: Tensor): Tensor;
  abstract backward(dy: Tensor): Tensor;

  /**
   * Output shape, parameters and multiply-adds for an input shape, without
   * running anything (`senet info`). Leaves report one row; containers
   * concatenate their children's rows.
   */
  profile(inShape: readonly number[], name = ''): Profile {
    throw new SenetError('SENET_INTERNAL', `${this.constructor.name}.profile is not implemented (input [${inShape}], ${name})`);
  }

  /** @internal one row for a leaf module */
  protected row(name: string, out: number[], macs: number): Profile {
    const params = [...this._params.values()].reduce((s, p) => s + p.value.size, 0);
    const r: ProfileRow = { name, type: this.constructor.name, outShape: out, params, macs };
    return { out, rows: [r] };
  }

  /** Disposes what forward kept for backward (called by backward and on a new forward). */
  clearSaved(): void {
    for (const m of this._children.values()) m.clearSaved();
  }

  protected registerParameter(name: string, t: Tensor<'float32'>, opts: { decay?: boolean } = {}): Parameter {
    const p = new Parameter(t, opts);
    this._params.set(name, p);
    return p;
  }
  protected registerBuffer(name: string, t: Tensor<'float32'>): void {
    this._buffers.set(name, keep(t));
  }
  protected buffer(name: string): Tensor<'float32'> {
    const b = this._buffers.get(name);
    if (!b) throw new SenetError('SENET_INTERNAL', `${this.constructor.name}: no buffer ${name}`);
    return b;
  }
  protected registerModule<M extends Module>(name: string, m: M): M {
    this._children.set(name, m);
    return m;
  }

  children(): Array<[string, Module]> {
    return [...this._children.entries()];
  }

  namedParameters(prefix = ''): Array<[string, Parameter]> {
    const out: Array<[string, Parameter]> = [];
    for (const [n, p] of this._params) out.push([prefix + n, p]);
    for (const [n, m] of this._children) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(prefix = ''): Array<[string, Tensor<'float32'>]> {
    const out: Array<[string, Tensor<'float32'>]> = [];
    for (const [n, b] of this._buffers) out.push([prefix + n, b]);
    for (const [n, m] of this._children) out.push(...m.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  /** Parameters and buffers by name (the tensors themselves, not copies). */
  stateDict(): Map<string, Tensor<'float32'>> {
    const out = new Map<string, Tensor<'float32'>>();
    for (const [n, p] of this.namedParameters()) out.set(n, p.value);
    for (const [n, b] of this.namedBuffers()) out.set(n, b);
    return out;
  }

  /**
   * Copies values in by name. Every name must be known and every shape
   * equal; with strict (the default) every parameter and buffer must be given.
   */
  loadStateDict(state: Map<string, Tensor<'float32'>>, opts: { strict?: boolean } = {}): void {
    const strict = opts.strict ?? true;
    const params = new Map(this.namedParameters());
    const buffers = new Map(this.namedBuffers());
    const unexpected = [...state.keys()].filter((k) => !params.has(k) && !buffers.has(k));
    const missing = [...params.keys(), ...buffers.keys()].filter((k) => !state.has(k));
    const mismatched: string[] = [];
    for (const [k, t] of state) {
      const cur = params.get(k)?.value ?? buffers.get(k);
      if (cur && (cur.shape.length !== t.shape.length || cur.shape.some((d, i) => d !== t.shape[i])))
        mismatched.push(`${k}: expected [${cur.shape}], got [${t.shape}]`);
    }
    if (unexpected.length || mismatched.length || (strict && missing.length)) {
      const parts: string[] = [];
      if (missing.length && strict) parts.push(`missing keys: ${missing.join(', ')}`);
      if (unexpected.length) parts.push(`unexpected keys: ${unexpected.join(', ')}`);
      if (mismatched.length) parts.push(`shape mismatches: ${mismatched.join('; ')}`);
      throw new SenetError('SENET_SHAPE', `loadStateDict: ${parts.join('; ')}`);
    }
    for (const [k, t] of state) {
      const p = params.get(k);
      // copies, on the device the module lives on
      if (p) p.set(t.to(p.value.device));
      else {
        const b = buffers.get(k)!;
        this.replaceBuffer(k, t.to(b.device), b);
      }
    }
  }

  private replaceBuffer(path: string, t: Tensor<'float32'>, old: Tensor<'float32'>): void {
    const dot = path.indexOf('.');
    if (dot < 0 || this._buffers.has(path)) {
      old.dispose();
      this._buffers.set(path, keep(t));
      return;
    }
    const child = this._children.get(path.slice(0, dot));
    if (!child) throw new SenetError('SENET_INTERNAL', `loadStateDict: no module for ${path}`);
    child.replaceBuffer(path.slice(dot + 1), t, old);
  }

  train(mode = true): this {
    this.training = mode;
    for (const m of this._children.values()) m.train(mode);
    if (!mode) this.clearSaved();
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /**
   * Moves parameters, gradients and buffers to `device` (PyTorch's
   * module.to). What forward kept for backward is dropped.
   */
  to(device: Device): this {
    this.clearSaved();
    for (const p of this._params.values()) {
      if (p.value.device !== device) p.set(p.value.to(device));
      if (p.grad && p.grad.device !== device) {
        const g = keep(p.grad.to(device));
        p.grad.dispose();
        p.grad = g;
      }
    }
    for (const [n, b] of this._buffers)
      if (b.device !== device) {
        this._buffers.set(n, keep(b.to(device)));
        b.dispose();
      }
    for (const m of this._children.values()) m.to(device);
    return this;
  }

  /** The device of the first parameter (or buffer); 'cpu' for a module with neither. */
  get device(): Device {
    return this.parameters()[0]?.value.device ?? this.namedBuffers()[0]?.[1].device ?? 'cpu';
  }

  /** Mixed precision for this module and its children: 'bf16' (CUDA) or 'fp32' (precision.ts). */
  setPrecision(p: Precision): this {
    this.precision = checkPrecision(`${this.constructor.name}.setPrecision`, p);
    for (const m of this._children.values()) m.setPrecision(p);
    return this;
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Number of parameter elements. */
  numParameters(): number {
    return this.parameters().reduce((s, p) => s + p.value.size, 0);
  }

  dispose(): void {
    this.clearSaved();
    for (const p of this._params.values()) p.dispose();
    for (const b of this._buffers.values()) b.dispose();
    for (const m of this._children.values()) m.dispose();
  }

  /** @internal error for backward without a training forward */
  protected noForward(): never {
    fail('SENET_ARG', `${this.constructor.name}.backward`, 'state', 'a preceding forward() in training mode', 'none');
  }
}
