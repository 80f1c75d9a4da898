import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

/** Children run in order; backward in reverse. Intermediate tensors are disposed as soon as they are used. */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }

  forward(x: Tensor): Tensor {
    let h = x;
    for (const m of this.layers) {
      const next = m.forward(h);
      if (h !== x) h.dispose();
      h = next;
    }
    return h;
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
