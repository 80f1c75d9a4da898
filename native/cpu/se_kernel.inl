// The fused squeeze-excite kernel, written once over a vector-traits type V
// and instantiated by se_scalar.cc, se_avx2.cc and se_avx512.cc (each
// includes this file inside its own namespace after defining V, so no
// symbol is shared between ISAs). Do not include headers here.
//
// Shapes: U, shortcut R, y, dy: [N, HW, C] (NHWC with H*W flattened);
// W1 [D, C], b1 [D], W2 [C, D], b2 [C]; z, s: [N, C]; a: [N, D].
//
// Forward, per sample on one thread or per block of samples shared by all
// threads (see "the two cuts" below; either way the samples' U fits in cache,
// see se.cc):
//   pass 1 (reads U)          z = squeeze(U): avg or max (+argmax), per
//                              (sample, H*W chunk) partials.
//   excite (tiny)             combine partials; a = relu(W1 z + b1);
//                              s = gate(W2 a + b2).
//   pass 2 (reads U, R;       y = U*s (+R, relu, one mask bit per element and a
//                              flag if any y is NaN: the bit is 0 there).
//           writes y)          This pass must wait for s, which needs all of
//                              U[n]: hence two passes over U. Processing a
//                              block at a time makes the second read of U hit
//                              the cache, so DRAM sees U, R and y once each.
// Backward, per block (dy of the block stays in cache):
//   pass 1 (reads dy, U)      g = dy*mask (d shortcut); ds = sum_hw g*U.
//   excite backward (tiny)    dpre = ds*gate'(s); da = W2^T dpre;
//                              dh = da*[a>0]; dz = W1^T dh.
//   pass 2 (reads dy;         dR = g; dU = g*s + dz/HW (avg) or dz at the
//           writes dR, dU)    argmax (max). dU needs dz, which needs the whole
//                              sum ds: hence the second pass. It recomputes g
//                              from dy (cached) and the mask instead of
//                              re-reading dR, and writes dR and dU once.
//   after all blocks          dW2 = dpre^T a, db2, dW1 = dh^T z, db1.
// Sums are accumulated in fp32 in 64-row blocks and combined in a fixed
// order: results do not depend on thread timing.

// ---- scalar traits: W = 1; also used for the tails of the vector loops ----
struct S1 {
  using reg = float;
  using ireg = int32_t;
  using mask = bool;
  static constexpr int W = 1;
  static reg zero() { return 0.0f; }
  static reg set1(float v) { return v; }
  static reg load(const float* p) { return *p; }
  static void store(float* p, reg v) { *p = v; }
  static void stream(float* p, reg v) { *p = v; }
  static reg add(reg a, reg b) { return a + b; }
  static reg mul(reg a, reg b) { return a * b; }
  static reg fmadd(reg a, reg b, reg c) { return a * b + c; }
  static reg max(reg a, reg b) { return a > b ? a : b; }
  static float hsum(reg v) { return v; }
  static ireg iset1(int32_t v) { return v; }
  static ireg iload(const int32_t* p) { return *p; }
  static void istore(int32_t* p, ireg v) { *p = v; }
  static mask gt_or_nan(reg v, reg b) { return v > b || v != v; }
  static mask ieq(ireg a, ireg b) { return a == b; }
  static reg blend(reg a, reg b, mask m) { return m ? b : a; }
  static ireg iblend(ireg a, ireg b, mask m) { return m ? b : a; }
  static reg select(reg v, mask m) { return m ? v : 0.0f; }
  static uint32_t gt0_bits(reg v) { return v > 0.0f ? 1u : 0u; }
  static uint32_t nan_bits(reg v) { return v != v ? 1u : 0u; }
  static mask bits_mask(uint32_t bits) { return (bits & 1u) != 0; }
  static uint32_t load_bits(const uint8_t* row, int64_t c) { return (row[c >> 3] >> (c & 7)) & 1u; }
  static void store_bits(uint8_t* row, int64_t c, uint32_t bits) {
    // Called for c in increasing order within a row: start each byte fresh.
    if ((c & 7) == 0) row[c >> 3] = uint8_t(bits);
    else row[c >> 3] = uint8_t(row[c >> 3] | (bits << (c & 7)));
  }
  static void sfence() {}
};

#ifdef SENET_SE_SCALAR
using V = S1;
#endif

inline int64_t lo(int64_t a, int64_t b) { return a < b ? a : b; }

// The forward's pass 1 prefetches the rows kPrefetchRows ahead (one
// prefetch per 64-byte line, into all cache levels: pass 2 re-reads them).
// On Zen 3 the hardware prefetchers alone left the forward ~8% slower (A/B
// in one process, [32,56,56,256], medians 14.05 vs 12.90 ms). The backward's
// pass 1 gained nothing from it (16.2 vs 16.8 ms) and does without.
constexpr int64_t kPrefetchRows = 8;
inline void prefetch_floats(const float* p, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) __builtin_prefetch(p + i, 0, 3);
}

// ---- row kernels: vector body over [c, C) in steps of X::W; return where they stopped ----

template <class X>
inline int64_t zero_row(float* acc, int64_t c, int64_t C) {
  for (; c + X::W <= C; c += X::W) X::store(acc + c, X::zero());
  return c;
}

template <class X>
inline int64_t add_row(const float* r, float* acc, int64_t c, int64_t C) {
  for (; c + X::W <= C; c += X::W) X::store(acc + c, X::add(X::load(acc + c), X::load(r + c)));
  return c;
}

template <class X>
inline int64_t add_rows4(const float* r, int64_t C, float* acc, int64_t c) {
  const float *r0 = r, *r1 = r + C, *r2 = r + 2 * C, *r3 = r + 3 * C;
  for (; c + X::W <= C; c += X::W) {
    auto s = X::add(X::add(X::load(r0 + c), X::load(r1 + c)), X::add(X::load(r2 + c), X::load(r3 + c)));
    X::store(acc + c, X::add(X::load(acc + c), s));
  }
  return c;
}

template <class X>
inline int64_t max_row(const float* r, int32_t p, float* best, int32_t* idx, int64_t c, int64_t C) {
  const auto pv = X::iset1(p);
  for (; c + X::W <= C; c += X::W) {
    const auto v = X::load(r + c), b = X::load(best + c);
    const auto m = X::gt_or_nan(v, b);
    X::store(best + c, X::blend(b, v, m));
    X::istore(idx + c, X::iblend(X::iload(idx + c), pv, m));
  }
  return c;
}

template <class X, bool RES, bool NT>
inline int64_t scale_row(const float* u, const float* r, const float* s, float* y, uint8_t* mrow, uint32_t& nan,
                         int64_t c, int64_t C) {
  for (; c + X::W <= C; c += X::W) {
    auto v = X::mul(X::load(u + c), X::load(s + c));
    if (RES) {
      v = X::add(v, X::load(r + c));
      X::store_bits(mrow, c, X::gt0_bits(v));
      nan |= X::nan_bits(v);
      v = X::max(X::zero(), v);  // max(0, NaN) keeps the NaN, as torch.relu
    }
    if (NT) X::stream(y + c, v);
    else X::store(y + c, v);
  }
  return c;
}

template <class X, bool RES>
inline int64_t ds_row(const float* dy, const uint8_t* mrow, const float* u, float* acc, int64_t c, int64_t C) {
  for (; c + X::W <= C; c += X::W) {
    auto g = X::load(dy + c);
    if (RES) g = X::select(g, X::bits_mask(X::load_bits(mrow, c)));
    X::store(acc + c, X::fmadd(g, X::load(u + c), X::load(acc + c)));
  }
  return c;
}

// dR row alone: g = dy*mask (streamed).
template <class X>
inline int64_t dr_row(const float* dy, const uint8_t* mrow, float* dr, int64_t c, int64_t C) {
  for (; c + X::W <= C; c += X::W) X::stream(dr + c, X::select(X::load(dy + c), X::bits_mask(X::load_bits(mrow, c))));
  return c;
}

// dU row (and dR when STORE_DR).
template <class X, bool RES, bool MAX, bool NT, bool STORE_DR>
inline int64_t du_row(const float* dy, const uint8_t* mrow, const float* s, const float* dzs, const int32_t* amax,
                      int32_t p, float* dr, float* du, int64_t c, int64_t C) {
  const auto pv = X::iset1(p);
  for (; c + X::W <= C; c += X::W) {
    auto g = X::load(dy + c);
    if (RES) {
      g = X::select(g, X::bits_mask(X::load_bits(mrow, c)));
      if (STORE_DR) {
        if (NT) X::stream(dr + c, g);
        else X::store(dr + c, g);
      }
    }
    auto d = X::mul(g, X::load(s + c));
    if (MAX) d = X::add(d, X::select(X::load(dzs + c), X::ieq(X::iload(amax + c), pv)));
    else d = X::add(d, X::load(dzs + c));
    if (NT) X::stream(du + c, d);
    else X::store(du + c, d);
  }
  return c;
}

template <class X>
inline int64_t axpy_row(float a, const float* x, float* y, int64_t c, int64_t C) {
  const auto av = X::set1(a);
  for (; c + X::W <= C; c += X::W) X::store(y + c, X::fmadd(av, X::load(x + c), X::load(y + c)));
  return c;
}

// ---- full rows: vector body, then the scalar tail ----

inline void zero_full(float* acc, int64_t C) { zero_row<S1>(acc, zero_row<V>(acc, 0, C), C); }
inline void add_full(const float* r, float* acc, int64_t C) { add_row<S1>(r, acc, add_row<V>(r, acc, 0, C), C); }
inline void axpy_full(float a, const float* x, float* y, int64_t n) {
  axpy_row<S1>(a, x, y, axpy_row<V>(a, x, y, 0, n), n);
}

inline float dot(const float* a, const float* b, int64_t n) {
  auto acc = V::zero();
  int64_t i = 0;
  for (; i + V::W <= n; i += V::W) acc = V::fmadd(V::load(a + i), V::load(b + i), acc);
  float s = V::hsum(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

inline float gate_fn(SeGate g, float x) {
  switch (g) {
    case SeGate::Sigmoid: return 1.0f / (1.0f + expf(-x));
    case SeGate::Tanh: return tanhf(x);
    case SeGate::Relu: return x > 0.0f ? x : 0.0f;
  }
  return x;
}

// d gate / d pre-activation, from the gate's output s.
inline float gate_grad(SeGate g, float s) {
  switch (g) {
    case SeGate::Sigmoid: return s * (1.0f - s);
    case SeGate::Tanh: return 1.0f - s * s;
    case SeGate::Relu: return s > 0.0f ? 1.0f : 0.0f;
  }
  return 1.0f;
}

// Rows [p0, p1) of work unit `unit` in a block starting at sample n0.
struct Unit {
  int64_t n, p0, p1;
};
inline Unit unit_of(int64_t n0, int64_t unit, int64_t Q, int64_t HW) {
  const int64_t q = unit % Q;
  return Unit{n0 + unit / Q, q * HW / Q, (q + 1) * HW / Q};
}

// Sum of rows [0, rows) of `rows_ptr` (stride C) into acc (overwritten),
// in 64-row blocks through `blk` to bound the fp32 error growth.
inline void sum_rows(const float* rows_ptr, int64_t rows, int64_t C, float* acc, float* blk) {
  zero_full(acc, C);
  for (int64_t r0 = 0; r0 < rows; r0 += 64) {
    const int64_t r1 = lo(rows, r0 + 64);
    zero_full(blk, C);
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
      const float* p = rows_ptr + r * C;
      if (r + kPrefetchRows + 4 <= rows) prefetch_floats(p + kPrefetchRows * C, 4 * C);
      add_rows4<S1>(p, C, blk, add_rows4<V>(p, C, blk, 0));
    }
    for (; r < r1; ++r) add_full(rows_ptr + r * C, blk, C);
    add_full(blk, acc, C);
  }
}

template <bool RES>
inline void ds_rows(const float* dy, const uint8_t* mask, const float* u, int64_t rows, int64_t C, int64_t mb,
                    float* acc, float* blk) {
  zero_full(acc, C);
  for (int64_t r0 = 0; r0 < rows; r0 += 64) {
    const int64_t r1 = lo(rows, r0 + 64);
    zero_full(blk, C);
    for (int64_t r = r0; r < r1; ++r) {
      const float* d = dy + r * C;
      const float* x = u + r * C;
      const uint8_t* m = RES ? mask + r * mb : nullptr;
      ds_row<S1, RES>(d, m, x, blk, ds_row<V, RES>(d, m, x, blk, 0, C), C);
    }
    add_full(blk, acc, C);
  }
}

// ---- per-sample pieces, shared by the two ways of cutting the work ----

// Squeeze partial of rows [p0, p1) of sample n into part (+ idx for max).
inline void squeeze_rows(const Dims& d, const Fwd& f, int64_t n, int64_t p0, int64_t p1, float* part, int32_t* idx,
                         float* blk) {
  const int64_t C = d.C;
  const float* base = f.u + (n * d.HW) * C;
  if (d.squeeze != SeSqueeze::Max) {
    sum_rows(base + p0 * C, p1 - p0, C, part, blk);
    return;
  }
  for (int64_t c = 0; c < C; ++c) {
    part[c] = -__builtin_inff();
    idx[c] = int32_t(p0);
  }
  for (int64_t p = p0; p < p1; ++p) {
    const float* r = base + p * C;
    max_row<S1>(r, int32_t(p), part, idx, max_row<V>(r, int32_t(p), part, idx, 0, C), C);
  }
}

// Excitation of sample n: combine its Q partials in chunk order, then the MLP.
inline void excite(const Dims& d, const Fwd& f, int64_t n, const float* part, const int32_t* pidx, int64_t Q) {
  const int64_t C = d.C, D = d.D;
  float* z = f.z + n * C;
  if (d.squeeze != SeSqueeze::Max) {
    for (int64_t c = 0; c < C; ++c) z[c] = part[c];
    for (int64_t q = 1; q < Q; ++q) add_full(part + q * C, z, C);
    const float inv = 1.0f / float(d.HW);
    for (int64_t c = 0; c < C; ++c) z[c] *= inv;
  } else {
    int32_t* am = f.argmax + n * C;
    for (int64_t c = 0; c < C; ++c) {
      float best = part[c];
      int32_t bi = pidx[c];
      for (int64_t q = 1; q < Q; ++q) {
        const float v = part[q * C + c];
        if (v > best || (v != v && best == best)) {  // first maximum wins; NaN propagates
          best = v;
          bi = pidx[q * C + c];
        }
      }
      z[c] = best;
      am[c] = bi;
    }
  }
  float* a = f.a + n * D;
  for (int64_t j = 0; j < D; ++j) {
    const float h = f.b1[j] + dot(f.w1 + j * C, z, C);
    a[j] = h > 0.0f || h != h ? h : 0.0f;  // relu keeps NaN (as torch.relu, tfjs): a diverging sample shows
  }
  float* s = f.s + n * C;
  for (int64_t c = 0; c < C; ++c) s[c] = gate_fn(d.gate, f.b2[c] + dot(f.w2 + c * D, a, D));
}

// y for rows [p0, p1) of sample n (+ residual, relu, mask). In order: the
// rows read last by pass 1 first (more of U still in cache) ran 2x slower
// (fwd 11.5 -> 22 ms, fwd+bwd 25 -> 42 ms, A/B on [32,56,56,256]): the
// streams of R and y then run backwards.
template <bool RES, bool NT>
void scale_rows(const Dims& d, const Fwd& f, int64_t n, int64_t p0, int64_t p1) {
  const int64_t C = d.C, mb = mask_row_bytes(C);
  const float* s = f.s + n * C;
  uint32_t nan = 0;
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t row = n * d.HW + p;
    const float* u = f.u + row * C;
    const float* r = RES ? f.r + row * C : nullptr;
    float* y = f.y + row * C;
    uint8_t* m = RES ? f.mask + row * mb : nullptr;
    scale_row<S1, RES, false>(u, r, s, y, m, nan, scale_row<V, RES, NT>(u, r, s, y, m, nan, 0, C), C);
  }
  // (a mask bit cannot tell a NaN from a negative: the flag says whether one was seen)
  if (RES && nan) __atomic_store_n(f.nan, uint8_t(1), __ATOMIC_RELAXED);
}

inline void scale_rows(const Dims& d, const Fwd& f, const Plan& pl, int64_t n, int64_t p0, int64_t p1) {
  if (d.residual) pl.nt ? scale_rows<true, true>(d, f, n, p0, p1) : scale_rows<true, false>(d, f, n, p0, p1);
  else pl.nt ? scale_rows<false, true>(d, f, n, p0, p1) : scale_rows<false, false>(d, f, n, p0, p1);
}

// ds partial of rows [p0, p1) of sample n into part.
inline void ds_partial(const Dims& d, const Bwd& b, int64_t n, int64_t p0, int64_t p1, float* part, float* blk) {
  const int64_t C = d.C, mb = mask_row_bytes(C), row0 = n * d.HW + p0;
  if (d.residual) ds_rows<true>(b.dy + row0 * C, b.mask + row0 * mb, b.u + row0 * C, p1 - p0, C, mb, part, blk);
  else ds_rows<false>(b.dy + row0 * C, nullptr, b.u + row0 * C, p1 - p0, C, mb, part, blk);
}

// Excitation backward of sample n from its Q partials: dpre[n], dh[n] and
// dzs (C floats: the gradient each element of U receives through z).
inline void excite_backward(const Dims& d, const Bwd& b, const Plan& pl, int64_t n, const float* part, int64_t Q,
                            float* dzs) {
  const int64_t C = d.C, D = d.D;
  float* dpre = pl.dpre + n * C;
  for (int64_t c = 0; c < C; ++c) dpre[c] = part[c];
  for (int64_t q = 1; q < Q; ++q) add_full(part + q * C, dpre, C);
  const float* s = b.s + n * C;
  for (int64_t c = 0; c < C; ++c) dpre[c] *= gate_grad(d.gate, s[c]);
  float* dh = pl.dh + n * D;
  for (int64_t j = 0; j < D; ++j) dh[j] = 0.0f;
  for (int64_t c = 0; c < C; ++c) axpy_full(dpre[c], b.w2 + c * D, dh, D);
  const float* a = b.a + n * D;
  for (int64_t j = 0; j < D; ++j)
    if (a[j] <= 0.0f) dh[j] = 0.0f;  // (a NaN a passes the gradient, as torch's relu backward)
  for (int64_t c = 0; c < C; ++c) dzs[c] = 0.0f;
  for (int64_t j = 0; j < D; ++j) axpy_full(dh[j], b.w1 + j * C, dzs, C);
  if (d.squeeze != SeSqueeze::Max) {
    const float inv = 1.0f / float(d.HW);
    for (int64_t c = 0; c < C; ++c) dzs[c] *= inv;
  }
}

// dR and dU for rows [p0, p1) of sample n.
template <bool RES, bool MAX, bool NT>
void grad_rows(const Dims& d, const Bwd& b, int64_t n, int64_t p0, int64_t p1, const float* dzs) {
  const int64_t C = d.C, mb = mask_row_bytes(C);
  const float* s = b.s + n * C;
  const int32_t* am = MAX ? b.argmax + n * C : nullptr;
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t row = n * d.HW + p;
    const float* dy = b.dy + row * C;
    const uint8_t* m = RES ? b.mask + row * mb : nullptr;
    float* dr = RES ? b.dr + row * C : nullptr;
    float* du = b.du + row * C;
    // Streaming stores into two arrays interleaved 32 bytes at a time ran
    // 1.8x slower than streaming one row, then the other (Zen 3, backward
    // with shortcut on [32,56,56,256], A/B in one process: median 28.7 ->
    // 15.8 ms); the second loop re-reads dy and the mask from L1.
    constexpr bool SPLIT = RES && NT;
    int64_t c;
    if (SPLIT) {
      dr_row<V>(dy, m, dr, 0, C);
      c = du_row<V, RES, MAX, NT, false>(dy, m, s, dzs, am, int32_t(p), dr, du, 0, C);
    } else {
      c = du_row<V, RES, MAX, NT, true>(dy, m, s, dzs, am, int32_t(p), dr, du, 0, C);
    }
    du_row<S1, RES, MAX, false, true>(dy, m, s, dzs, am, int32_t(p), dr, du, c, C);
  }
}

inline void grad_rows(const Dims& d, const Bwd& b, const Plan& pl, int64_t n, int64_t p0, int64_t p1,
                      const float* dzs) {
  const bool mx = d.squeeze == SeSqueeze::Max;
  if (d.residual) {
    if (mx) pl.nt ? grad_rows<true, true, true>(d, b, n, p0, p1, dzs) : grad_rows<true, true, false>(d, b, n, p0, p1, dzs);
    else pl.nt ? grad_rows<true, false, true>(d, b, n, p0, p1, dzs) : grad_rows<true, false, false>(d, b, n, p0, p1, dzs);
  } else {
    if (mx) pl.nt ? grad_rows<false, true, true>(d, b, n, p0, p1, dzs) : grad_rows<false, true, false>(d, b, n, p0, p1, dzs);
    else pl.nt ? grad_rows<false, false, true>(d, b, n, p0, p1, dzs) : grad_rows<false, false, false>(d, b, n, p0, p1, dzs);
  }
}

// ---- the two cuts ----
//
// Whole samples per thread (pl.own): the first N - N mod T samples are
// handed out one at a time (dynamic: a thread the hypervisor preempts does
// not hold the others up) and each thread runs both passes of its sample
// alone. No barrier at all: with passive OpenMP waits each barrier costs a
// sleep and a wake-up, and the cooperative cut below needs three per block. Allowed when T samples
// fit the cache budget (each thread's sample must survive between its
// passes). The N mod T samples left over, or all of them when samples are
// too large, go through the cooperative cut: blocks of samples cut into
// H*W chunks shared by all threads.
//
// Scratch layout: part / part_idx / dzs hold `units` rows for the
// cooperative cut, then one row per thread for the per-thread cut.

inline int64_t own_samples(const Plan& pl, int64_t N, int T) { return pl.own ? N / T * T : 0; }

void forward(const Dims& d, const Fwd& f, const Plan& pl) {
  const int64_t N = d.N, HW = d.HW, C = d.C, Q = pl.chunks;
  const int64_t coop_units = pl.block * Q;
#pragma omp parallel
  {
    const int T = omp_get_num_threads(), t = omp_get_thread_num();
    float* blk = pl.rowacc + int64_t(t) * C;
    const int64_t own = own_samples(pl, N, T);
    {
      float* part = pl.part + (coop_units + t) * C;
      int32_t* idx = pl.part_idx ? pl.part_idx + (coop_units + t) * C : nullptr;
#pragma omp for schedule(dynamic, 1) nowait
      for (int64_t n = 0; n < own; ++n) {
        squeeze_rows(d, f, n, 0, HW, part, idx, blk);
        excite(d, f, n, part, idx, 1);
        scale_rows(d, f, pl, n, 0, HW);
      }
    }
    for (int64_t n0 = own; n0 < N; n0 += pl.block) {
      const int64_t nb = lo(pl.block, N - n0), units = nb * Q;
      // pass 1: squeeze partials per work unit
#pragma omp for schedule(static)
      for (int64_t k = 0; k < units; ++k) {
        const Unit un = unit_of(n0, k, Q, HW);
        squeeze_rows(d, f, un.n, un.p0, un.p1, pl.part + k * C, pl.part_idx ? pl.part_idx + k * C : nullptr, blk);
      }
      // excite per sample
#pragma omp for schedule(static)
      for (int64_t i = 0; i < nb; ++i)
        excite(d, f, n0 + i, pl.part + i * Q * C, pl.part_idx ? pl.part_idx + i * Q * C : nullptr, Q);
      // pass 2: scale (+ residual, relu, mask)
#pragma omp for schedule(static)
      for (int64_t k = 0; k < units; ++k) {
        const Unit un = unit_of(n0, k, Q, HW);
        scale_rows(d, f, pl, un.n, un.p0, un.p1);
      }
    }
    if (pl.nt) V::sfence();
  }
}

void backward(const Dims& d, const Bwd& b, const Plan& pl) {
  const int64_t N = d.N, HW = d.HW, C = d.C, D = d.D, Q = pl.chunks;
  const int64_t coop_units = pl.block * Q;
#pragma omp parallel
  {
    const int T = omp_get_num_threads(), t = omp_get_thread_num();
    float* blk = pl.rowacc + int64_t(t) * C;
    const int64_t own = own_samples(pl, N, T);
    {
      float* part = pl.part + (coop_units + t) * C;
      float* dzs = pl.dzs + (pl.block + t) * C;
#pragma omp for schedule(dynamic, 1) nowait
      for (int64_t n = 0; n < own; ++n) {
        ds_partial(d, b, n, 0, HW, part, blk);
        excite_backward(d, b, pl, n, part, 1, dzs);
        grad_rows(d, b, pl, n, 0, HW, dzs);
      }
    }
    for (int64_t n0 = own; n0 < N; n0 += pl.block) {
      const int64_t nb = lo(pl.block, N - n0), units = nb * Q;
      // pass 1: ds partials
#pragma omp for schedule(static)
      for (int64_t k = 0; k < units; ++k) {
        const Unit un = unit_of(n0, k, Q, HW);
        ds_partial(d, b, un.n, un.p0, un.p1, pl.part + k * C, blk);
      }
      // excite backward per sample
#pragma omp for schedule(static)
      for (int64_t i = 0; i < nb; ++i) excite_backward(d, b, pl, n0 + i, pl.part + i * Q * C, Q, pl.dzs + i * C);
      // pass 2: dR, dU
#pragma omp for schedule(static)
      for (int64_t k = 0; k < units; ++k) {
        const Unit un = unit_of(n0, k, Q, HW);
        grad_rows(d, b, pl, un.n, un.p0, un.p1, pl.dzs + (un.n - n0) * C);
      }
    }
    // parameter gradients need dpre and dh of every sample
#pragma omp barrier
    // fixed summation order over n
#pragma omp for schedule(static) nowait
    for (int64_t c = 0; c < C; ++c) {
      float* row = b.dw2 + c * D;
      for (int64_t j = 0; j < D; ++j) row[j] = 0.0f;
      float bsum = 0.0f;
      for (int64_t n = 0; n < N; ++n) {
        const float g = pl.dpre[n * C + c];
        bsum += g;
        axpy_full(g, b.a + n * D, row, D);
      }
      b.db2[c] = bsum;
    }
#pragma omp for schedule(static)
    for (int64_t j = 0; j < D; ++j) {
      float* row = b.dw1 + j * C;
      zero_full(row, C);
      float bsum = 0.0f;
      for (int64_t n = 0; n < N; ++n) {
        const float g = pl.dh[n * D + j];
        bsum += g;
        axpy_full(g, b.z + n * C, row, C);
      }
      b.db1[j] = bsum;
    }
    if (pl.nt) V::sfence();
  }
}
