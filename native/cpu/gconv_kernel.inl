// The direct grouped-convolution kernels (NHWC, OHWI), written once over a
// vector-traits type V and instantiated by gconv_scalar.cc, gconv_avx2.cc and
// gconv_avx512.cc (each includes this file inside its own namespace after
// defining V, so no symbol is shared between ISAs). Do not include headers
// here.
//
// Forward and backward data are the same gather kernel ("a pass"): every
// output pixel of the pass sums, over its valid taps and the input channels
// of its group, input * packed weight. Forward reads x and writes y;
// backward data reads dy and writes dx, with the roles of Cg and Og swapped
// and, for strides > 1, the dx pixels of one row split by residue mod the
// stride (pixels iw = r, r+s, r+2s, ... read dy pixels ow = j + q_kw). No
// scatter, no atomics: each output element is written once, by one thread,
// summed in a fixed order, so results do not depend on the thread count.
// Runs of up to P pixels with the same valid taps share each weight load:
// adjacent pixels of a row, and for the border columns the same column of
// consecutive rows (fwd_tile, bwd_tile).
//
// Lane schemes (gconv.h: Layout), W = vector width:
//   Bcast   OCg % W == 0: a block = one group; lanes = NV <= 4 vectors of
//           its output channels; per tap and ci one scalar broadcast of the
//           input feeds NV FMAs per pixel.
//   Reduce  ICg == 4, OCg % 4 == 0: a block = W/4 groups; lanes = their
//           input channels (one load per tap and pixel); for each output
//           channel o one FMA with the packed weights w[g*OCg+o][t][lane%4];
//           at the end a horizontal sum over each group's 4 lanes (V::
//           reduce4, within 128-bit lanes) gives 4 outputs per group. No
//           permutes in the inner loop: this is the ResNeXt 4-per-group case.
//   Perm    OCg < W, W % OCg == 0, ICg == OCg: a block = one vector of W
//           output channels = W/OCg whole groups; the W input channels of
//           those groups are one load, and per ci one in-group permute
//           (lane l <- x[(l/OCg)*OCg + ci]) feeds one FMA.
// The last block of Reduce and Perm may be partial (masked loads/stores).
// Weights are packed once per call, zero lanes beyond the last channel.
//
// Backward weights (lanes = forward output channels, Bcast or Perm blocks):
// each thread takes a contiguous range of dy rows (n, oh) and walks it in
// tiles of ~128 pixels; for each (block vectors, tap, chunk of ci) it sums
// dy * x over the tile in registers and adds the result to its private
// packed partials. The partials of the threads are then summed in thread
// order: bit-identical for a given thread count.

// V (defined by the including file): reg / ireg, W, zero, load, store,
// bcast (one float to every lane), add, fmadd, load_n / store_n (the first
// n lanes; loads zero the rest), group_index(cg, ci) / group_bcast (lane l
// <- lane (l/cg)*cg + ci) and reduce4 (per 128-bit lane k: the sums of the
// 4 lanes of a, b, c, d in lane k).

using R = V::reg;
using IR = V::ireg;
constexpr int W = V::W;

template <int N>
struct Int {
  static constexpr int value = N;
};
// Calls f(Int<r>{}) for a run-time r in [1, P].
template <int P, class F>
inline void with_int(int r, F&& f) {
  if constexpr (P >= 1) {
    if (r == P) f(Int<P>{});
    else with_int<P - 1>(r, f);
  }
}

// The pixel kernels are inlined into their run loops (measured: a call per
// run of 3 pixels costs more than its prologue saves in code size).
#define SENET_GCONV_INLINE inline __attribute__((always_inline))

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

template <int CG>
constexpr bool perm_fits() {
  return CG < W && W % CG == 0;
}

// A tap of a run of pixels: input offset (floats, from the pass's sample
// base plus the pixel's own offset) and packed-weight offset (from the block).
struct Tap {
  int64_t off;
  int64_t w;
};

// ---- the gather kernels over P pixels ----

template <int P, int NV>
SENET_GCONV_INLINE void px_bcast(const Tap* taps, int nt, const float* in, int64_t base, int64_t istep,
                                 int64_t ICg, const float* wb, int64_t BW, const float* bias, float* out,
                                 int64_t ostep) {
  R acc[P][NV];
  for (int j = 0; j < NV; ++j) {
    const R b = bias ? V::load(bias + j * W) : V::zero();
    for (int p = 0; p < P; ++p) acc[p][j] = b;
  }
  for (int k = 0; k < nt; ++k) {
    const float* ip = in + (taps[k].off + base);
    const float* wt = wb + taps[k].w;
    for (int64_t ci = 0; ci < ICg; ++ci) {
      R wr[NV];
      for (int j = 0; j < NV; ++j) wr[j] = V::load(wt + ci * BW + j * W);
      for (int p = 0; p < P; ++p) {
        const R xb = V::bcast(ip + p * istep + ci);
        for (int j = 0; j < NV; ++j) acc[p][j] = V::fmadd(xb, wr[j], acc[p][j]);
      }
    }
  }
  for (int p = 0; p < P; ++p)
    for (int j = 0; j < NV; ++j) V::store(out + p * ostep + j * W, acc[p][j]);
}

// ng groups of 4 input channels in the vector; OCg outputs per group, in
// quads. Output order per quad: (sum over taps, lanewise) then the 4-lane sum.
template <int P, bool TAIL>
SENET_GCONV_INLINE void px_reduce(const Tap* taps, int nt, const float* in, int64_t base, int64_t istep,
                                  const float* wb, int64_t OCg, const float* bias, float* out, int64_t ostep, int ng) {
  const int n = 4 * ng;
  for (int64_t q = 0; q < OCg; q += 4) {
    R acc[P][4];
    for (int p = 0; p < P; ++p)
      for (int o = 0; o < 4; ++o) acc[p][o] = V::zero();
    for (int k = 0; k < nt; ++k) {
      const float* ip = in + (taps[k].off + base);
      const float* wt = wb + taps[k].w + q * W;
      R xv[P];
      for (int p = 0; p < P; ++p) xv[p] = TAIL ? V::load_n(ip + p * istep, n) : V::load(ip + p * istep);
      for (int o = 0; o < 4; ++o) {
        const R wr = V::load(wt + o * W);
        for (int p = 0; p < P; ++p) acc[p][o] = V::fmadd(xv[p], wr, acc[p][o]);
      }
    }
    for (int p = 0; p < P; ++p) {
      R r = V::reduce4(acc[p][0], acc[p][1], acc[p][2], acc[p][3]);
      float* op = out + p * ostep;
      if (OCg == 4) {  // the ng groups' outputs are contiguous
        if (bias) r = V::add(r, TAIL ? V::load_n(bias, n) : V::load(bias));
        if (TAIL) V::store_n(op, r, n);
        else V::store(op, r);
      } else {
        alignas(64) float tmp[W];
        V::store(tmp, r);
        for (int gi = 0; gi < ng; ++gi)
          for (int i = 0; i < 4; ++i) {
            const int64_t o = gi * OCg + q + i;
            op[o] = bias ? tmp[gi * 4 + i] + bias[o] : tmp[gi * 4 + i];
          }
      }
    }
  }
}

template <int P, int CG, bool TAIL>
SENET_GCONV_INLINE void px_perm(const Tap* taps, int nt, const float* in, int64_t base, int64_t istep,
                                const IR* gidx, const float* wb, const float* bias, float* out, int64_t ostep, int n) {
  R acc[P];
  R b0 = V::zero();
  if (bias) b0 = TAIL ? V::load_n(bias, n) : V::load(bias);
  for (int p = 0; p < P; ++p) acc[p] = b0;
  for (int k = 0; k < nt; ++k) {
    const float* ip = in + (taps[k].off + base);
    const float* wt = wb + taps[k].w;
    R xv[P];
    for (int p = 0; p < P; ++p) xv[p] = TAIL ? V::load_n(ip + p * istep, n) : V::load(ip + p * istep);
    for (int ci = 0; ci < CG; ++ci) {
      const R wr = V::load(wt + ci * W);
      for (int p = 0; p < P; ++p) acc[p] = V::fmadd(CG == 1 ? xv[p] : V::group_bcast(xv[p], gidx[ci]), wr, acc[p]);
    }
  }
  for (int p = 0; p < P; ++p) {
    if (TAIL) V::store_n(out + p * ostep, acc[p], n);
    else V::store(out + p * ostep, acc[p]);
  }
}

// One block (Bcast: a chunk of NV vectors of one group) of a pass.
struct Blk {
  const float* in;    // sample base of the pass input
  float* out;         // base of the output row
  const float* w;     // packed weights of the block (Bcast: at the chunk's first lane)
  const float* bias;  // at the chunk's first output channel, or null
  int64_t ICg, OCg, BW;
  Scheme scheme;
  int nv;    // Bcast: vectors in the chunk (1..4)
  int cg;    // Perm: channels per group
  int tail;  // Perm: valid lanes (W when the block is full)
  int ng;    // Reduce: groups in the block (W/4 when full)
  const IR* gidx;
};

template <int NV, int PM>
inline void run_bcast(const Blk& k, const Tap* taps, int nt, int64_t base0, int64_t istep, int64_t oo0,
                      int64_t ostep, int64_t npix) {
  int64_t i = 0;
  for (; i + PM <= npix; i += PM)
    px_bcast<PM, NV>(taps, nt, k.in, base0 + i * istep, istep, k.ICg, k.w, k.BW, k.bias, k.out + oo0 + i * ostep,
                     ostep);
  const int r = int(npix - i);
  if (r > 0)
    with_int<PM - 1>(r, [&](auto pc) {
      px_bcast<decltype(pc)::value, NV>(taps, nt, k.in, base0 + i * istep, istep, k.ICg, k.w, k.BW, k.bias,
                                        k.out + oo0 + i * ostep, ostep);
    });
}

template <int PM>
inline void run_reduce(const Blk& k, const Tap* taps, int nt, int64_t base0, int64_t istep, int64_t oo0,
                       int64_t ostep, int64_t npix) {
  if (k.ng < W / 4) {
    for (int64_t i = 0; i < npix; ++i)
      px_reduce<1, true>(taps, nt, k.in, base0 + i * istep, istep, k.w, k.OCg, k.bias, k.out + oo0 + i * ostep, ostep,
                         k.ng);
    return;
  }
  int64_t i = 0;
  for (; i + PM <= npix; i += PM)
    px_reduce<PM, false>(taps, nt, k.in, base0 + i * istep, istep, k.w, k.OCg, k.bias, k.out + oo0 + i * ostep, ostep,
                         k.ng);
  const int r = int(npix - i);
  if (r > 0)
    with_int<PM - 1>(r, [&](auto pc) {
      px_reduce<decltype(pc)::value, false>(taps, nt, k.in, base0 + i * istep, istep, k.w, k.OCg, k.bias,
                                            k.out + oo0 + i * ostep, ostep, k.ng);
    });
}

template <int CG, int PM>
inline void run_perm(const Blk& k, const Tap* taps, int nt, int64_t base0, int64_t istep, int64_t oo0,
                     int64_t ostep, int64_t npix) {
  if (k.tail < W) {
    for (int64_t i = 0; i < npix; ++i)
      px_perm<1, CG, true>(taps, nt, k.in, base0 + i * istep, istep, k.gidx, k.w, k.bias, k.out + oo0 + i * ostep,
                           ostep, k.tail);
    return;
  }
  int64_t i = 0;
  for (; i + PM <= npix; i += PM)
    px_perm<PM, CG, false>(taps, nt, k.in, base0 + i * istep, istep, k.gidx, k.w, k.bias, k.out + oo0 + i * ostep,
                           ostep, W);
  const int r = int(npix - i);
  if (r > 0)
    with_int<PM - 1>(r, [&](auto pc) {
      px_perm<decltype(pc)::value, CG, false>(taps, nt, k.in, base0 + i * istep, istep, k.gidx, k.w, k.bias,
                                              k.out + oo0 + i * ostep, ostep, W);
    });
}

// Perm runs: P pixels keep their input vector in registers across ci.
constexpr int kPermRun = 6;
constexpr int kReduceRun = 3;

// npix pixels sharing one tap list: pixel i reads at in + tap.off + base0 +
// i*istep and writes out + oo0 + i*ostep.
inline void run_pixels(const Blk& k, const Tap* taps, int nt, int64_t base0, int64_t istep, int64_t oo0,
                       int64_t ostep, int64_t npix) {
  if (npix <= 0) return;
  if (k.scheme == Scheme::Bcast) {
    switch (k.nv) {
      case 1: run_bcast<1, 8>(k, taps, nt, base0, istep, oo0, ostep, npix); break;
      case 2: run_bcast<2, 6>(k, taps, nt, base0, istep, oo0, ostep, npix); break;
      case 3: run_bcast<3, 4>(k, taps, nt, base0, istep, oo0, ostep, npix); break;
      default: run_bcast<4, 3>(k, taps, nt, base0, istep, oo0, ostep, npix); break;
    }
    return;
  }
  if (k.scheme == Scheme::Reduce) {
    if constexpr (W % 4 == 0) run_reduce<kReduceRun>(k, taps, nt, base0, istep, oo0, ostep, npix);
    return;
  }
  if constexpr (perm_fits<1>()) {
    if (k.cg == 1) return run_perm<1, kPermRun>(k, taps, nt, base0, istep, oo0, ostep, npix);
  }
  if constexpr (perm_fits<2>()) {
    if (k.cg == 2) return run_perm<2, kPermRun>(k, taps, nt, base0, istep, oo0, ostep, npix);
  }
  if constexpr (perm_fits<4>()) {
    if (k.cg == 4) return run_perm<4, kPermRun>(k, taps, nt, base0, istep, oo0, ostep, npix);
  }
  if constexpr (perm_fits<8>()) {
    if (k.cg == 8) return run_perm<8, kPermRun>(k, taps, nt, base0, istep, oo0, ostep, npix);
  }
}

// ---- weight packing ----

// Bcast, Perm: wp[((b*T + t)*ICg + ci)*BW + lane], output channel b*BW + lane.
// Reduce: wp[((b*T + t)*OCg + o)*W + lane], group b*W/4 + lane/4, input lane%4.
// transpose = false: forward (pass output o, pass input ci): w[(o*T + t)*Cg + ci].
// transpose = true: backward data (pass output c = g*Cg + cc, pass input o' < Og):
// w[((g*Og + o')*T + t)*Cg + cc].
inline void pack(const Geom& g, const Layout& l, const float* w, float* wp, bool transpose) {
  const int64_t T = g.KH * g.KW, Opass = g.G * l.OCg;
  auto wval = [&](int64_t o, int64_t t, int64_t ci) {
    return transpose ? w[(((o / g.Cg) * g.Og + ci) * T + t) * g.Cg + o % g.Cg] : w[(o * T + t) * g.Cg + ci];
  };
#pragma omp for schedule(static)
  for (int64_t bt = 0; bt < l.blocks * T; ++bt) {
    const int64_t b = bt / T, t = bt % T;
    float* dst = wp + bt * l.ICg * l.BW;
    if (l.scheme == Scheme::Reduce) {
      for (int64_t o = 0; o < l.OCg; ++o)
        for (int64_t lane = 0; lane < W; ++lane) {
          const int64_t grp = b * (W / 4) + lane / 4;
          dst[o * W + lane] = grp < g.G ? wval(grp * l.OCg + o, t, lane % 4) : 0.0f;
        }
    } else {
      for (int64_t ci = 0; ci < l.ICg; ++ci)
        for (int64_t lane = 0; lane < l.BW; ++lane) {
          const int64_t o = b * l.BW + lane;
          dst[ci * l.BW + lane] = o < Opass ? wval(o, t, ci) : 0.0f;
        }
    }
  }
}

inline void init_gidx(const Layout& l, IR* gidx) {
  if (l.scheme == Scheme::Perm)
    for (int ci = 0; ci < int(l.ICg); ++ci) gidx[ci] = V::group_index(int(l.OCg), ci);
}

// Chunks of a block: Bcast = runs of up to 4 vectors; the others one.
inline int chunks_of(const Layout& l) { return l.scheme == Scheme::Bcast ? int((l.BW / W + 3) / 4) : 1; }

// Fills k for chunk c of block b; returns the chunk's input / output channel offsets.
inline void set_chunk(Blk& k, const Layout& l, const float* wp, int64_t T, const float* bias, int64_t G, int64_t b,
                      int c, int64_t& in_ch, int64_t& out_ch) {
  const bool bc = l.scheme == Scheme::Bcast;
  const int64_t lane0 = bc ? int64_t(c) * 4 * W : 0;
  out_ch = b * l.BW + lane0;
  in_ch = bc ? b * l.ICg : b * W;  // Reduce: W/4 groups of 4 inputs; Perm: ICg == OCg
  k.w = wp + b * T * l.ICg * l.BW + lane0;
  k.bias = bias ? bias + out_ch : nullptr;
  k.ICg = l.ICg;
  k.OCg = l.OCg;
  k.BW = l.BW;
  k.scheme = l.scheme;
  k.nv = bc ? int(imin(4, l.BW / W - int64_t(c) * 4)) : 1;
  k.cg = l.scheme == Scheme::Perm ? int(l.OCg) : 0;
  k.tail = l.scheme == Scheme::Perm ? int(imin(W, G * l.OCg - out_ch)) : W;
  k.ng = l.scheme == Scheme::Reduce ? int(imin(W / 4, G - b * (W / 4))) : 0;
}

// ---- forward and backward data: tiles of rows of one sample ----
//
// Pixels whose taps are all valid run in horizontal runs along their row.
// Border columns run vertically: for the rows of a tile whose kernel rows
// are all valid (the same tap list, shifted by a constant per row), the
// pixels of one border column form a run with a row stride, so they too
// share weight loads. Only pixels of border rows run alone.
//
// Blocks are visited per run for all blocks of a band (the packed weights of
// all blocks stay in L1; the input pixels of a run are loaded from L2 once
// for every block), or, when the weights are large, the caller passes one
// block at a time and a tile's rows are walked once per block.
constexpr int64_t kSmallWeights = 24 << 10;  // bytes of packed weights that stay in L1 beside a run's input
constexpr int64_t kRun = 6;                  // pixels per run when all blocks visit it

struct Rows {
  const Layout* l;
  const float* wp;
  const float* bias;
  const IR* gidx;
  int64_t T, G, b0, b1, run;
  int nch;
};

// Runs np pixels (tap list tp) for every block and chunk of rs: pixel i
// reads in + tap.off + base + i*istep and writes out + oo + i*ostep.
inline void all_blocks(const Rows& rs, const float* in, float* out, const Tap* tp, int nt, int64_t base, int64_t istep,
                       int64_t oo, int64_t ostep, int64_t np) {
  if (np <= 0) return;
  Blk k{};
  k.gidx = rs.gidx;
  k.in = in;
  k.out = out;
  for (int64_t i = 0; i < np; i += rs.run)
    for (int64_t blk = rs.b0; blk < rs.b1; ++blk)
      for (int ch = 0; ch < rs.nch; ++ch) {
        int64_t in_ch, out_ch;
        set_chunk(k, *rs.l, rs.wp, rs.T, rs.bias, rs.G, blk, ch, in_ch, out_ch);
        run_pixels(k, tp, nt, base + i * istep + in_ch, istep, oo + i * ostep + out_ch, ostep, imin(rs.run, np - i));
      }
}

// Output rows [a, b) of sample n.
inline void fwd_tile(const Geom& g, const Rows& rs, const float* x, float* y, int64_t n, int64_t a, int64_t b,
                     Tap* taps, Tap* etaps) {
  const int64_t C = g.C, O = g.O, TW = rs.l->ICg * rs.l->BW;
  const float* in = x + n * g.H * g.W * C;
  float* out = y + n * g.Ho * g.Wo * O;
  // columns whose kw are all valid: [lo, hi); rows whose kh are all valid: [fa, fb)
  const int64_t lo = imin(g.Wo, ceil_div(g.pl, g.sw));
  const int64_t hi = imax(lo, imin(g.Wo, floor_div(g.W - 1 + g.pl - (g.KW - 1) * g.dw, g.sw) + 1));
  const int64_t fa = imin(b, imax(a, ceil_div(g.pt, g.sh)));
  const int64_t fb = imax(fa, imin(b, floor_div(g.H - 1 + g.pt - (g.KH - 1) * g.dh, g.sh) + 1));
  for (int64_t oh = a; oh < b; ++oh) {
    const int64_t ih0 = oh * g.sh - g.pt;
    const int64_t kh_lo = imax(0, ceil_div(-ih0, g.dh)), kh_hi = imin(g.KH, floor_div(g.H - 1 - ih0, g.dh) + 1);
    int nt = 0;
    for (int64_t kh = kh_lo; kh < kh_hi; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw)
        taps[nt++] = Tap{((ih0 + kh * g.dh) * g.W + kw * g.dw) * C, (kh * g.KW + kw) * TW};
    all_blocks(rs, in, out, taps, nt, (lo * g.sw - g.pl) * C, g.sw * C, (oh * g.Wo + lo) * O, O, hi - lo);
    if (oh >= fa && oh < fb) continue;  // border columns below
    for (int64_t ow = 0; ow < g.Wo; ++ow) {
      if (ow == lo) ow = hi;
      if (ow >= g.Wo) break;
      const int64_t iw0 = ow * g.sw - g.pl;
      int ne = 0;
      for (int i = 0; i < nt; ++i) {
        const int64_t iw = iw0 + (i % g.KW) * g.dw;  // taps are (kh, kw) with kw fastest
        if (iw >= 0 && iw < g.W) etaps[ne++] = taps[i];
      }
      all_blocks(rs, in, out, etaps, ne, iw0 * C, 0, (oh * g.Wo + ow) * O, 0, 1);
    }
  }
  if (fa >= fb) return;
  const int64_t ih0 = fa * g.sh - g.pt;
  for (int64_t ow = 0; ow < g.Wo; ++ow) {
    if (ow == lo) ow = hi;
    if (ow >= g.Wo) break;
    const int64_t iw0 = ow * g.sw - g.pl;
    int ne = 0;
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const int64_t iw = iw0 + kw * g.dw;
        if (iw >= 0 && iw < g.W) etaps[ne++] = Tap{((ih0 + kh * g.dh) * g.W + kw * g.dw) * C, (kh * g.KW + kw) * TW};
      }
    all_blocks(rs, in, out, etaps, ne, iw0 * C, g.sh * g.W * C, (fa * g.Wo + ow) * O, g.Wo * O, fb - fa);
  }
}

// dx rows [a, b) of sample n. Row ih reads dy rows oh = (ih + pt - kh*dh)/sh
// for the kh where that is exact; the rows of one residue class mod sh whose
// matching kh all land inside dy share a tap list, shifted by one dy row per
// sh dx rows.
inline void bwd_tile(const Geom& g, const Rows& rs, const float* dy, float* dx, int64_t n, int64_t a, int64_t b,
                     Tap* taps, Tap* etaps) {
  const int64_t C = g.C, O = g.O, TW = rs.l->ICg * rs.l->BW;
  const float* in = dy + n * g.Ho * g.Wo * O;
  float* out = dx + n * g.H * g.W * C;
  int64_t khs[kMaxTaps], ohs[kMaxTaps], kws[kMaxTaps], qs[kMaxTaps];
  // The valid kh of row ih (into khs/ohs); full: every kh of its residue is valid.
  auto rows_of = [&](int64_t ih, bool& full) {
    int nkh = 0, nmatch = 0;
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const int64_t c = ih + g.pt - kh * g.dh, oh = floor_div(c, g.sh);
      if (oh * g.sh != c) continue;
      ++nmatch;
      if (oh >= 0 && oh < g.Ho) khs[nkh] = kh, ohs[nkh++] = oh;
    }
    full = nmatch > 0 && nkh == nmatch;
    return nkh;
  };
  // The kw of column residue r (into kws/qs: pixel j reads ow = j + q) and the range of q.
  auto cols_of = [&](int64_t r, int64_t& qmin, int64_t& qmax) {
    int nkw = 0;
    qmin = qmax = 0;
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const int64_t c = r + g.pl - kw * g.dw, q = floor_div(c, g.sw);
      if (q * g.sw != c) continue;
      if (nkw == 0 || q < qmin) qmin = q;
      if (nkw == 0 || q > qmax) qmax = q;
      kws[nkw] = kw, qs[nkw++] = q;
    }
    return nkw;
  };
  const int64_t R = imin(g.sw, g.W);
  for (int64_t ih = a; ih < b; ++ih) {
    bool full;
    const int nkh = rows_of(ih, full);
    for (int64_t r = 0; r < R; ++r) {
      const int64_t J = ceil_div(g.W - r, g.sw);  // pixels iw = r + sw*j
      int64_t qmin, qmax;
      const int nkw = cols_of(r, qmin, qmax);
      int nt = 0;
      for (int i = 0; i < nkh; ++i)
        for (int j = 0; j < nkw; ++j) taps[nt++] = Tap{(ohs[i] * g.Wo + qs[j]) * O, (khs[i] * g.KW + kws[j]) * TW};
      int64_t lo = 0, hi = J;
      if (nkw > 0) {
        lo = imin(J, imax(0, -qmin));
        hi = imax(lo, imin(J, g.Wo - qmax));
      }
      all_blocks(rs, in, out, taps, nt, lo * O, O, (ih * g.W + r + g.sw * lo) * C, g.sw * C, hi - lo);
      if (full && nkw > 0) continue;  // border columns below
      for (int64_t j = 0; j < J; ++j) {
        if (j == lo) j = hi;
        if (j >= J) break;
        int ne = 0;
        for (int i = 0; i < nt; ++i) {
          const int64_t q = qs[i % nkw];  // taps are (kh, kw) with kw fastest
          if (j + q >= 0 && j + q < g.Wo) etaps[ne++] = taps[i];
        }
        all_blocks(rs, in, out, etaps, ne, j * O, 0, (ih * g.W + r + g.sw * j) * C, 0, 1);
      }
    }
  }
  // border columns of the full rows, one residue class of rows at a time
  for (int64_t rho = 0; rho < imin(g.sh, b - a); ++rho) {
    int64_t first = -1, m = 0;
    for (int64_t ih = a + rho; ih < b; ih += g.sh) {
      bool full;
      rows_of(ih, full);
      if (!full) {
        if (first >= 0) break;  // the full rows of a class are consecutive
        continue;
      }
      if (first < 0) first = ih;
      ++m;
    }
    if (first < 0) continue;
    bool full;
    const int nkh = rows_of(first, full);
    for (int64_t r = 0; r < R; ++r) {
      const int64_t J = ceil_div(g.W - r, g.sw);
      int64_t qmin, qmax;
      const int nkw = cols_of(r, qmin, qmax);
      if (nkw == 0) continue;  // written (zeros) by the row pass
      const int64_t lo = imin(J, imax(0, -qmin)), hi = imax(lo, imin(J, g.Wo - qmax));
      for (int64_t j = 0; j < J; ++j) {
        if (j == lo) j = hi;
        if (j >= J) break;
        int ne = 0;
        for (int i = 0; i < nkh; ++i)
          for (int jj = 0; jj < nkw; ++jj)
            if (j + qs[jj] >= 0 && j + qs[jj] < g.Wo)
              etaps[ne++] = Tap{(ohs[i] * g.Wo + qs[jj]) * O, (khs[i] * g.KW + kws[jj]) * TW};
        all_blocks(rs, in, out, etaps, ne, j * O, g.Wo * O, (first * g.W + r + g.sw * j) * C, g.sh * g.W * C, m);
      }
    }
  }
}

// Visits every tile (rows of one sample) x band of blocks, in the order described at Rows.
template <class TileFn>
inline void gather(const Layout& l, const Plan& pl, int64_t N, int64_t rows, int64_t in_bytes_per_row,
                   int64_t row_pixels, const float* wp, const float* bias, int64_t T, int64_t G, TileFn&& tile_fn) {
  const int64_t tile_rows = imax(1, imin(rows, (pl.l2_bytes / 4) / imax(1, in_bytes_per_row)));
  const int64_t per_sample = (rows + tile_rows - 1) / tile_rows, tiles = N * per_sample;
  const int64_t want = 4 * int64_t(pl.threads > 0 ? pl.threads : 1);
  const int64_t bands = tiles >= want ? 1 : imin(l.blocks, (want + tiles - 1) / tiles);
  const bool small = l.blocks * T * l.ICg * l.BW * int64_t(sizeof(float)) <= kSmallWeights;
  IR gidx[16];
  init_gidx(l, gidx);
  Rows rs{&l, wp, bias, gidx, T, G, 0, 0, small ? kRun : row_pixels, chunks_of(l)};
#pragma omp for schedule(dynamic, 1)
  for (int64_t item = 0; item < tiles * bands; ++item) {
    const int64_t tile = item / bands, band = item % bands;
    const int64_t n = tile / per_sample, a = (tile % per_sample) * tile_rows, b = imin(rows, a + tile_rows);
    const int64_t b0 = band * l.blocks / bands, b1 = (band + 1) * l.blocks / bands;
    if (small) {
      rs.b0 = b0, rs.b1 = b1;
      tile_fn(rs, n, a, b);
    } else {
      for (int64_t blk = b0; blk < b1; ++blk) {
        rs.b0 = blk, rs.b1 = blk + 1;
        tile_fn(rs, n, a, b);
      }
    }
  }
}

void forward(const Geom& g, const Plan& pl, const float* x, const float* w, const float* b, float* y,
             float* work) {
  const Layout l = forward_layout(g, W);
  const int64_t T = g.KH * g.KW;
#pragma omp parallel num_threads(pl.threads)
  {
    pack(g, l, w, work, false);  // ends with a barrier
    Tap taps[kMaxTaps], etaps[kMaxTaps];
    gather(l, pl, g.N, g.Ho, g.sh * g.W * g.C * int64_t(sizeof(float)), g.Wo, work, b, T, g.G,
           [&](const Rows& rs, int64_t n, int64_t a, int64_t e) { fwd_tile(g, rs, x, y, n, a, e, taps, etaps); });
  }
}

void backward_data(const Geom& g, const Plan& pl, const float* dy, const float* w, float* dx, float* work) {
  const Layout l = backward_data_layout(g, W);
  const int64_t T = g.KH * g.KW;
#pragma omp parallel num_threads(pl.threads)
  {
    pack(g, l, w, work, true);
    Tap taps[kMaxTaps], etaps[kMaxTaps];
    gather(l, pl, g.N, g.H, imax(1, g.Wo * g.O * int64_t(sizeof(float)) / g.sh), g.W, work, nullptr, T, g.G,
           [&](const Rows& rs, int64_t n, int64_t a, int64_t e) { bwd_tile(g, rs, dy, dx, n, a, e, taps, etaps); });
  }
}

// ---- backward weights ----

// A dy row of a tile whose input row is valid for the current kh: offsets
// (floats) of the dy row and of the x row.
struct Seg {
  int64_t dy, x;
};
constexpr int64_t kTilePixels = 128;

// Sums dy (NV vectors from lane o0) * x (channels ci0 .. ci0+J-1 of the
// lanes' groups: Bcast (CG == 0) broadcasts, Perm in-group permutes of one
// input vector) over pixels [lo, hi) of each segment, with U alternating
// accumulator sets; adds the sums to pw[j*BW + v*W]. Pixel ow reads dy at
// seg.dy + ow*O + o0 and x at seg.x + xoff + ow*xstep.
template <int NV, int J, int CG, bool TAIL>
inline void wg_run(const Seg* segs, int ns, const float* dy, const float* x, int64_t lo, int64_t hi, int64_t O,
                   int64_t xstep, int64_t xoff, int64_t o0, const IR* gidx, int ci0, int n, float* pw, int64_t BW) {
  constexpr int U = NV * J >= 8 ? 1 : 2;
  R acc[U][NV][J];
  for (int u = 0; u < U; ++u)
    for (int v = 0; v < NV; ++v)
      for (int j = 0; j < J; ++j) acc[u][v][j] = V::zero();
  auto step = [&](R(&a)[NV][J], const float* dp, const float* xq) {
    R d[NV];
    for (int v = 0; v < NV; ++v) d[v] = TAIL ? V::load_n(dp + v * W, n) : V::load(dp + v * W);
    if constexpr (CG == 0) {
      for (int j = 0; j < J; ++j) {
        const R xb = V::bcast(xq + j);
        for (int v = 0; v < NV; ++v) a[v][j] = V::fmadd(d[v], xb, a[v][j]);
      }
    } else {
      const R xv = TAIL ? V::load_n(xq, n) : V::load(xq);
      for (int j = 0; j < J; ++j) a[0][j] = V::fmadd(d[0], CG == 1 ? xv : V::group_bcast(xv, gidx[ci0 + j]), a[0][j]);
    }
  };
  for (int s = 0; s < ns; ++s) {
    const float* dp = dy + (segs[s].dy + o0);
    const int64_t xs = segs[s].x + xoff;
    int64_t ow = lo;
    for (; ow + U <= hi; ow += U)
      for (int u = 0; u < U; ++u) step(acc[u], dp + (ow + u) * O, x + (xs + (ow + u) * xstep));
    for (; ow < hi; ++ow) step(acc[0], dp + ow * O, x + (xs + ow * xstep));
  }
  for (int j = 0; j < J; ++j)
    for (int v = 0; v < NV; ++v) {
      R t = acc[0][v][j];
      for (int u = 1; u < U; ++u) t = V::add(t, acc[u][v][j]);
      float* q = pw + j * BW + v * W;
      V::store(q, V::add(V::load(q), t));
    }
}

// Largest ci chunk per NV (Bcast): NV*J accumulators <= 12.
template <int NV>
constexpr int bcast_chunk() {
  return NV == 1 ? 8 : NV == 2 ? 4 : NV == 3 ? 3 : 2;
}

template <int NV>
inline void wg_bcast(const Seg* segs, int ns, const float* dy, const float* x, int64_t lo, int64_t hi, int64_t O,
                     int64_t xstep, int64_t xoff, int64_t o0, int64_t Cg, float* pw, int64_t BW) {
  constexpr int JM = bcast_chunk<NV>();
  for (int64_t ci0 = 0; ci0 < Cg; ci0 += JM)
    with_int<JM>(int(imin(JM, Cg - ci0)), [&](auto jc) {
      wg_run<NV, decltype(jc)::value, 0, false>(segs, ns, dy, x, lo, hi, O, xstep, xoff + ci0, o0, nullptr, 0, W,
                                                pw + ci0 * BW, BW);
    });
}

template <int CG, bool TAIL>
inline void wg_perm(const Seg* segs, int ns, const float* dy, const float* x, int64_t lo, int64_t hi, int64_t O,
                    int64_t xstep, int64_t xoff, int64_t o0, const IR* gidx, int n, float* pw, int64_t BW) {
  constexpr int JM = CG < 4 ? CG : 4;
  for (int ci0 = 0; ci0 < CG; ci0 += JM)
    wg_run<1, JM, CG, TAIL>(segs, ns, dy, x, lo, hi, O, xstep, xoff, o0, gidx, ci0, n, pw + ci0 * BW, BW);
}

template <bool TAIL>
inline void wg_bias(const float* dy, int64_t p0, int64_t p1, int64_t O, int64_t o0, int n, float* pb) {
  R s0 = V::zero(), s1 = V::zero();
  const float* dp = dy + o0;
  int64_t p = p0;
  for (; p + 2 <= p1; p += 2) {
    s0 = V::add(s0, TAIL ? V::load_n(dp + p * O, n) : V::load(dp + p * O));
    s1 = V::add(s1, TAIL ? V::load_n(dp + (p + 1) * O, n) : V::load(dp + (p + 1) * O));
  }
  if (p < p1) s0 = V::add(s0, TAIL ? V::load_n(dp + p * O, n) : V::load(dp + p * O));
  V::store(pb, V::add(V::load(pb), V::add(s0, s1)));
}

void backward_weights(const Geom& g, const Plan& pl, const float* dy, const float* x, float* dw, float* db,
                      float* work) {
  const Layout l = backward_weights_layout(g, W);
  const int64_t T = g.KH * g.KW, psize = packed_floats(l, g), stride = backward_weights_stride(g, W);
  const int64_t C = g.C, O = g.O, rows = g.N * g.Ho, tile = imax(1, kTilePixels / g.Wo);
  const int64_t nvec = l.BW / W;  // Bcast: Og/W; Perm: 1
  const bool bc = l.scheme == Scheme::Bcast;
#pragma omp parallel num_threads(pl.threads)
  {
    const int64_t nth = omp_get_num_threads(), th = omp_get_thread_num();
    float* part = work + th * stride;
    float* pb = part + psize;
    for (int64_t i = 0; i < stride; ++i) part[i] = 0.0f;
    IR gidx[16];
    init_gidx(l, gidx);
    // valid output columns per kw: 0 <= ow*sw - pl + kw*dw < W
    int64_t lo[kMaxTaps], hi[kMaxTaps];
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const int64_t c = kw * g.dw - g.pl;
      lo[kw] = imax(0, ceil_div(-c, g.sw));
      hi[kw] = imax(lo[kw], imin(g.Wo, floor_div(g.W - 1 - c, g.sw) + 1));
    }
    int64_t rn[kTilePixels], roh[kTilePixels];
    Seg segs[kTilePixels];
    const int64_t r0 = rows * th / nth, r1 = rows * (th + 1) / nth;
    for (int64_t t0 = r0; t0 < r1; t0 += tile) {
      const int64_t t1 = imin(r1, t0 + tile);
      for (int64_t r = t0; r < t1; ++r) rn[r - t0] = r / g.Ho, roh[r - t0] = r % g.Ho;
      for (int64_t b = 0; b < l.blocks; ++b)
        for (int64_t v0 = 0; v0 < nvec; v0 += 4) {
          const int nv = int(imin(4, nvec - v0));
          const int64_t o0 = b * l.BW + v0 * W, in_ch = bc ? b * g.Cg : b * W;
          const int n = int(imin(W, O - o0));  // Perm: lanes of a partial last block
          if (db)
            for (int v = 0; v < nv; ++v) {
              if (n < W) wg_bias<true>(dy, t0 * g.Wo, t1 * g.Wo, O, o0, n, pb + o0);
              else wg_bias<false>(dy, t0 * g.Wo, t1 * g.Wo, O, o0 + v * W, W, pb + o0 + v * W);
            }
          for (int64_t kh = 0; kh < g.KH; ++kh) {
            int ns = 0;
            for (int64_t i = 0; i < t1 - t0; ++i) {
              const int64_t ih = roh[i] * g.sh - g.pt + kh * g.dh;
              if (ih >= 0 && ih < g.H) segs[ns++] = Seg{(t0 + i) * g.Wo * O, (rn[i] * g.H + ih) * g.W * C};
            }
            if (ns == 0) continue;
            for (int64_t kw = 0; kw < g.KW; ++kw) {
              if (lo[kw] >= hi[kw]) continue;
              const int64_t t = kh * g.KW + kw, xoff = (kw * g.dw - g.pl) * C + in_ch;
              float* pw = part + (b * T + t) * g.Cg * l.BW + v0 * W;
              if (bc) {
                switch (nv) {
                  case 1: wg_bcast<1>(segs, ns, dy, x, lo[kw], hi[kw], O, g.sw * C, xoff, o0, g.Cg, pw, l.BW); break;
                  case 2: wg_bcast<2>(segs, ns, dy, x, lo[kw], hi[kw], O, g.sw * C, xoff, o0, g.Cg, pw, l.BW); break;
                  case 3: wg_bcast<3>(segs, ns, dy, x, lo[kw], hi[kw], O, g.sw * C, xoff, o0, g.Cg, pw, l.BW); break;
                  default: wg_bcast<4>(segs, ns, dy, x, lo[kw], hi[kw], O, g.sw * C, xoff, o0, g.Cg, pw, l.BW); break;
                }
                continue;
              }
              with_int<8>(int(l.OCg), [&](auto cg) {
                constexpr int CG = decltype(cg)::value;
                if constexpr (perm_fits<CG>() && (CG & (CG - 1)) == 0) {
                  if (n < W)
                    wg_perm<CG, true>(segs, ns, dy, x, lo[kw], hi[kw], O, g.sw * C, xoff, o0, gidx, n, pw, l.BW);
                  else
                    wg_perm<CG, false>(segs, ns, dy, x, lo[kw], hi[kw], O, g.sw * C, xoff, o0, gidx, n, pw, l.BW);
                }
              });
            }
          }
        }
    }
#pragma omp barrier
    // dw (OHWI) and db: the threads' partials summed in thread order.
#pragma omp for schedule(static)
    for (int64_t o = 0; o < O; ++o) {
      const int64_t b = o / l.BW, lane = o % l.BW;
      for (int64_t t = 0; t < T; ++t)
        for (int64_t ci = 0; ci < g.Cg; ++ci) {
          const int64_t e = ((b * T + t) * g.Cg + ci) * l.BW + lane;
          float s = work[e];
          for (int64_t k = 1; k < nth; ++k) s += work[k * stride + e];
          dw[(o * T + t) * g.Cg + ci] = s;
        }
      if (db) {
        float s = work[psize + o];
        for (int64_t k = 1; k < nth; ++k) s += work[k * stride + psize + o];
        db[o] = s;
      }
    }
  }
}
