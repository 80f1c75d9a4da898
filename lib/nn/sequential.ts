import type { Tensor } from '../tensor.js';
import { BatchNorm2d } from './batchnorm.js';
import { Conv2d } from './conv.js';
import { Module } from './module.js';
import { ReLU } from './activation.js';

/**
 * Runs modules in order, disposing the intermediate tensors (x stays the
 * caller's). In eval mode a Conv2d directly followed by a BatchNorm2d runs
 * as one convolution with the batch norm folded in, where that is cheaper
 * (Conv2d.forwardFolded); otherwise a BatchNorm2d directly followed by a
 * ReLU runs as one op (BatchNorm2d.forwardRelu, cpu).
 */
export function forwardLayers(layers: readonly Module[], x: Tensor): Tensor {
  let h = x;
  for (let i = 0; i < layers.length; i++) {
    const m = layers[i]!, after = layers[i + 1];
    let next: Tensor | null = m instanceof Conv2d && after instanceof BatchNorm2d ? m.forwardFolded(h, after) : null;
    if (!next && m instanceof BatchNorm2d && after instanceof ReLU) next = m.forwardRelu(h, after);
    if (next) i++;
    else next = m.forward(h);
    if (h !== x) h.dispose();
    h = next;
  }
  return h;
}

/** Children run in order (forwardLayers); backward in reverse. Intermediate tensors are disposed as soon as they are used. */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }

  forward(x: Tensor): Tensor {
    return forwardLayers(this.layers, x);
  }

  override profile(s: readonly number[], name = '') {
    const rows: import('./profile.js').ProfileRow[] = [];
    let shape = [...s];
    this.layers.forEach((m, i) => {
      const p = m.profile(shape, name ? `${name}.${i}` : String(i));
      rows.push(...p.rows);
      shape = p.out;
    });
    return { out: shape, rows };
  }

  backward(dy: Tensor): Tensor {
    let g = dy;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const next = this.layers[i]!.backward(g);
      if (g !== dy) g.dispose();
      g = next;
    }
    return g;
  }
}
