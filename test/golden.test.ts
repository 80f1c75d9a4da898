/**
 * Golden files: senet against PyTorch 2.x float32 on CPU (one thread), for
 * convolution, batch norm, the fused squeeze-excite op and a whole
 * SE-ResNeXt bottleneck, forward and backward. The fixtures and how they
 * were made: test/fixtures/README.md and test/fixtures/make_fixtures.py
 * (`npm run fixtures` regenerates them).
 *
 * Tolerances. Every output comes with a float64 array from the script: for
 * plain convolutions `mag.o`, the same sums over absolute values, and for
 * everything else `bound.o` = E, a first-order bound (in units of u = 2^-24)
 * on the error of ANY float32 evaluation of the op's formulas: each rounding
 * site j (a reduction of K terms, a product, a gate, ...) has a local bound
 * |delta_j| <= u b_j (K sum|terms| for a reduction, a few |value| for
 * elementwise steps), and E_i = sum_j |d o_i / d delta_j| b_j with the exact
 * sensitivities from float64 autograd, so chained reductions compose with
 * their true (signed) Jacobians. The local bounds are listed in
 * make_fixtures.py's docstring and summarised at each use below. The script
 * checks that PyTorch's own float32 results are within u E of float64 ones;
 * senet must be as well, so |senet - torch| <= 2 u E. No factor is fitted to
 * the data.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as senet from '../lib/index.js';
import type { Device, Tensor } from '../lib/index.js';
import { loadTensors, readSafetensors } from '../lib/io/safetensors.js';
import { assertClose, U32 } from './helpers/compare.js';
import { ISAS, perDevice } from './helpers/devices.js';

const DIR = fileURLToPath(new URL('./fixtures/', import.meta.url));

type Spec = Record<string, any>;

class Fixture {
  constructor(
    readonly file: string,
    readonly tensors: Map<string, Tensor>,
    readonly spec: Spec,
  ) {}

  get(name: string): Tensor<'float32'> {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`${this.file}: no tensor '${name}'`);
    return t as Tensor<'float32'>;
  }

  data(name: string): Float32Array {
    return this.get(name).toArraySync() as Float32Array;
  }

  /**
   * got against the golden tensor `name`: same shape, and every element
   * within k u mag_i, mag = the fixture's mag.<name> or bound.<name>.
   */
  check(t: ExecutionContext, label: string, got: Tensor | null, name: string, magName: string, k: number): void {
    const want = this.get(name);
    if (!got) {
      t.fail(`${this.file} ${label}${name}: senet returned nothing`);
      return;
    }
    t.deepEqual([...got.shape], [...want.shape], `${this.file} ${label}${name}: shape`);
    const g = got.toArraySync() as Float32Array, w = this.data(name), mag = this.data(magName);
    assertClose(t, g, w, { k, mag, name: `${this.file} ${label}${name}` });
    // how much of the bound senet used (reported, never asserted on)
    for (let i = 0; i < w.length && g.length === w.length; i++) {
      const r = Math.abs(g[i]! - w[i]!) / (k * U32 * mag[i]!);
      if (r > this.worst.ratio) this.worst = { ratio: r, what: `${label}${name}` };
    }
  }

  worst = { ratio: 0, what: '' };

  /** One log line: the largest |senet - torch| / tolerance over every element checked. */
  report(t: ExecutionContext): void {
    t.log(`largest |senet - torch| / tolerance: ${this.worst.ratio.toFixed(3)} (${this.worst.what})`);
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
  }
}

function load(file: string, device: Device): Fixture {
  const { tensors, metadata } = loadTensors(join(DIR, file), device);
  return new Fixture(file, tensors, JSON.parse(metadata['spec'] ?? '{}') as Spec);
}

/** The SE kernels have one code path per ISA on CPU: run each (cuDNN/oneDNN ops have none). */
function withIsas(device: Device, fn: (label: string) => void): void {
  if (!device.startsWith('cpu')) {
    fn('');
    return;
  }
  const before = senet.info().isa as 'scalar' | 'avx2' | 'avx512';
  try {
    for (const isa of ISAS) {
      senet.setIsa(isa);
      fn(`[${isa}] `);
    }
  } finally {
    senet.setIsa(before);
  }
}

// ------------------------------------------------------------------ conv2d

function conv(t: ExecutionContext, device: Device, file: string): void {
  const fx = load(file, device);
  const s = fx.spec;
  try {
    senet.tidy(() => {
      const opts = { stride: s.stride, padding: s.padding, dilation: s.dilation, groups: s.groups };
      const x = fx.get('x'), w = fx.get('w'), b = fx.get('b'), dy = fx.get('dy');
      // mag.* = the same sums over |x|, |w|, |b|, |dy| in float64 (make_fixtures.py).
      // y = b + sum of kh*kw*Cin/g products, a length-K_y dot product (K_y counts the
      // bias): each side within gamma_{K_y} mag <= (K_y + 1) u mag of the exact value.
      fx.check(t, '', senet.conv2d(x, w, b, opts), 'y', 'mag.y', 2 * (s.K_y + 1));
      // dx = sum over at most (Cout/g)*kh*kw products dy*w: gamma_{K_dx} <= (K_dx + 1) u, both sides.
      fx.check(t, '', senet.conv2dBackwardData(dy, w, x.shape, opts), 'dx', 'mag.dx', 2 * (s.K_dx + 1));
      const { dw, db } = senet.conv2dBackwardFilter(dy, x, w.shape, { ...opts, withBias: true });
      // dw = sum over N*OH*OW products dy*x: gamma_{K_dw} <= (K_dw + 1) u, both sides.
      fx.check(t, '', dw, 'dw', 'mag.dw', 2 * (s.K_dw + 1));
      // db = sum of N*OH*OW values of dy (no products): gamma_{K_db - 1} <= K_db u, both sides.
      fx.check(t, '', db, 'db', 'mag.db', 2 * s.K_db);
    });
    fx.report(t);
  } finally {
    fx.dispose();
  }
}

// ------------------------------------------------------------------ batch norm

function batchNorm(t: ExecutionContext, device: Device, file: string): void {
  const fx = load(file, device);
  const s = fx.spec;
  try {
    senet.tidy(() => {
      const x = fx.get('x'), gamma = fx.get('gamma'), beta = fx.get('beta'), dy = fx.get('dy');
      const runningMean = fx.get('running_mean').clone(), runningVar = fx.get('running_var').clone();
      const o = { eps: s.eps, momentum: s.momentum };
      const r = senet.batchNormTrain(x, gamma, beta, { ...o, runningMean, runningVar });
      // mean: sum of M = N*H*W values and a division: E = (M+1) mean|x|.
      fx.check(t, '', r.mean, 'mean', 'bound.mean', 2);
      // biased var, two-pass: M squares of x - mean summed, divided: E = (M+4) var
      // (the mean's error enters only at second order, as sum(x - mean) = 0).
      fx.check(t, '', r.var, 'var', 'bound.var', 2);
      // y = a(x - mean) + beta, a = gamma/sqrt(var+eps): the mean's and var's errors through
      // their sensitivities, a's own rounding 4|a| (+eps, sqrt, /, *gamma) and the final
      // 3(|a|(|x|+|mean|) + |beta|) (also covers ATen's a x + (beta - a mean)).
      fx.check(t, '', r.y, 'y', 'bound.y', 2);
      // running stats: momentum * (the mean's or M/(M-1) var's error) + 3 (mean) or 6 (var)
      // roundings of each product (momentum, 1 - momentum and M/(M-1) rounded to float, *, +).
      fx.check(t, '', runningMean, 'running_mean.out', 'bound.running_mean.out', 2);
      fx.check(t, '', runningVar, 'running_var.out', 'bound.running_var.out', 2);
      // backward from senet's own batch statistics (as torch uses its own): dbeta = sum dy: M sum|dy|;
      // P = sum dy(x-mean): (M+1) sum|dy||x-mean|; r = 1/sqrt(var+eps): 3r; dgamma = P r: |dgamma|;
      // dx = gamma r dy - gamma r dbeta/M - gamma r^3 (x-mean) P/M = T1 - T2 - T3: 4|T1| + 5|T2| + 10|T3|;
      // plus the forward mean's and var's errors, all through their exact sensitivities.
      const g = senet.batchNormBackward(dy, x, gamma, r.mean, r.var, o);
      fx.check(t, '', g.dbeta, 'dbeta', 'bound.dbeta', 2);
      fx.check(t, '', g.dgamma, 'dgamma', 'bound.dgamma', 2);
      fx.check(t, '', g.dx, 'dx', 'bound.dx', 2);
    });
    fx.report(t);
  } finally {
    fx.dispose();
  }
}

// ------------------------------------------------------------------ squeeze-excite

function squeezeExcite(t: ExecutionContext, device: Device, file: string): void {
  const fx = load(file, device);
  const s = fx.spec;
  try {
    withIsas(device, (isa) =>
      senet.tidy(() => {
        const u = fx.get('u'), dy = fx.get('dy');
        const w = { w1: fx.get('w1'), b1: fx.get('b1'), w2: fx.get('w2'), b2: fx.get('b2') };
        const shortcut = s.residual ? fx.get('shortcut') : null;
        const { y, saved } = senet.squeezeExcite(u, w, { squeeze: s.squeeze, gate: s.gate, shortcut });
        // Forward sites (ReLU masks are stable: every pre-activation is >= max(1e-3, 4 u E)
        // from 0): z = mean of HW values: (HW+1) mean|U| (max: exact) -> h = W1 z + b1, a
        // length-(C+1) dot product -> g = W2 relu(h) + b2, length D+1 -> s = gate(g): 4 u |s|
        // (expf <= 1 ulp then + and /; tanhf <= 2 ulp) -> U s: |U s| -> + shortcut: |U s + R|
        // -> relu (exact); each site's error reaches y through its exact sensitivity.
        fx.check(t, isa, y, 'y', 'bound.y', 2);
        const g = senet.squeezeExciteBackward(dy, saved!, w);
        // Backward sites: ds = sum over HW of dy U: HW sum|dy||U| -> gate'(s): 2 roundings ->
        // dpre = ds gate' -> da = W2^T dpre: length C -> dh = da [h>0] -> dz = W1^T dh: length D
        // -> du = dy s + dz/HW (dz at the first argmax for max): one rounding each for dy s, dz/HW
        // (two) and the add; dW2, dW1 sum N products, db2, db1 N values; plus the forward's sites.
        fx.check(t, isa, g.du, 'du', 'bound.du', 2);
        if (s.residual) fx.check(t, isa, g.dshortcut, 'dshortcut', 'bound.dshortcut', 2); // dy masked: exact
        else t.is(g.dshortcut, null, `${file} ${isa}dshortcut without a shortcut`);
        fx.check(t, isa, g.dw1, 'dw1', 'bound.dw1', 2);
        fx.check(t, isa, g.db1, 'db1', 'bound.db1', 2);
        fx.check(t, isa, g.dw2, 'dw2', 'bound.dw2', 2);
        fx.check(t, isa, g.db2, 'db2', 'bound.db2', 2);
        senet.ops.disposeSeSaved(saved!);
      }),
    );
    fx.report(t);
  } finally {
    fx.dispose();
  }
}

// ------------------------------------------------------------------ SE-ResNeXt bottleneck

function bottleneck(t: ExecutionContext, device: Device, file: string): void {
  const fx = load(file, device);
  const s = fx.spec;
  try {
    withIsas(device, (isa) =>
      senet.tidy(() => {
        const block = new senet.nn.SEResNeXtBottleneck(s.inChannels, s.planes, {
          stride: s.stride,
          groups: s.groups,
          baseWidth: s.baseWidth,
          se: { reduction: s.reduction },
        });
        try {
          t.is(block.width, s.width, 'width = floor(planes*baseWidth/64)*groups');
          t.is(block.outChannels, s.out);
          t.is(block.se?.hidden, s.hidden);
          const params = block.namedParameters().map(([n]) => n).sort();
          const buffers = block.namedBuffers().map(([n]) => n).sort();
          t.deepEqual(params, [...s.params].sort(), 'parameter names (timm)');
          t.deepEqual(buffers, [...s.buffers].sort(), 'buffer names (timm)');
          const state = new Map<string, Tensor<'float32'>>();
          for (const [k, v] of fx.tensors) if (k.startsWith('param.')) state.set(k.slice('param.'.length), v as Tensor<'float32'>);
          block.loadStateDict(state); // strict: every parameter and running statistic from the file
          const y = block.forward(fx.get('x'));
          // The forward chain conv1 -> bn1 -> relu -> conv2 (grouped, strided) -> bn2 -> relu ->
          // conv3 -> bn3 -> SE with the fused residual (downsample conv -> bn): every site of the
          // conv (K sum|x||w|), BN and SE steps above, each reaching y through its exact
          // sensitivity (float64 autograd); ReLU masks stable by the margin.
          fx.check(t, isa, y, 'y', 'bound.y', 2);
          const dx = block.backward(fx.get('dy'));
          // The backward chain in reverse (conv dx: K' sum|dy||w|, dw: K'' sum|dy||x|, BN and SE
          // backward sites as above), plus every forward site; dx adds the main and shortcut paths
          // (one rounding).
          fx.check(t, isa, dx, 'dx', 'bound.dx', 2);
          for (const [name, p] of block.namedParameters())
            fx.check(t, isa, p.grad, `grad.${name}`, `bound.grad.${name}`, 2); // same chains, at each parameter
          for (const [name, b] of block.namedBuffers())
            fx.check(t, isa, b, `buffer.${name}`, `bound.buffer.${name}`, 2); // running stats, as in the BN fixture
        } finally {
          block.dispose();
        }
      }),
    );
    fx.report(t);
  } finally {
    fx.dispose();
  }
}

// ------------------------------------------------------------------ registration

const RUNNERS: Record<string, (t: ExecutionContext, device: Device, file: string) => void> = {
  conv2d: conv,
  batchnorm: batchNorm,
  se: squeezeExcite,
  bottleneck,
};

const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.safetensors'))
  .sort();

test('golden fixtures are all present', (t) => {
  const se = ['avg', 'max'].flatMap((q) => ['sigmoid', 'tanh', 'relu'].map((g) => `se_${q}_${g}.safetensors`));
  const expected = [
    'conv_grouped.safetensors',
    'conv_strided.safetensors',
    'conv_asym.safetensors',
    'batchnorm.safetensors',
    ...se,
    'se_avg_sigmoid_nores.safetensors',
    'se_max_relu_nores.safetensors',
    'bottleneck.safetensors',
  ];
  t.deepEqual(expected.filter((f) => !files.includes(f)), [], 'missing fixtures (npm run fixtures)');
});

for (const file of files) {
  const meta = readSafetensors(join(DIR, file)).metadata;
  const op = meta['op'] ?? '?';
  const run = RUNNERS[op];
  if (!run) {
    test(`golden ${file}`, (t) => t.fail(`${file}: unknown op '${op}'`));
    continue;
  }
  perDevice(`golden ${op} ${file.replace(/\.safetensors$/, '')}: ${meta['description'] ?? ''}`, (t, device) =>
    run(t, device, file),
  );
}
