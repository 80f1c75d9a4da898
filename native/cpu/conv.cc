// Convolutions through oneDNN: NHWC activations used in place, OHWI weights
// (grouped: GOHWI) reordered per call into the layout the chosen
// implementation prefers (weights are small; activations never move).
//
// Grouped convolutions with few channels per group, and dense ones with
// 16-32 channels, may instead run on our direct kernels (cpu/gconv.h);
// dense spatial forward convolutions of >= 64 channels on AVX2 run on the
// direct dense kernel (cpu/dconv.h; SENET_DCONV=0/1 or
// _gconvConfig({dense}) to force, see dense_direct_faster); dense 3x3
// stride-1 forward convolutions of >= 16 channels in and out on AVX2 on its
// Winograd F(4x4, 3x3) variant (F(2x2, 3x3) when forced: winograd_tile),
// before any other (SENET_WINOGRAD=0/1 or _gconvConfig({winograd}); see
// winograd_faster), and so do the backward
// data of those (as the forward of the flipped filter, see flip_faster).
// The rule, per direction and shape:
//   SENET_GCONV=0 / _gconvConfig({mode:'off'}): never;
//   SENET_GCONV=1 / mode 'on': whenever the kernels cover the case;
//   automatic (default): when the kernels cover the case and either
//     - oneDNN's choice for the shape is a fallback: its implementation
//       name (primitive_desc::impl_info_str()) contains "gemm" or "ref"
//       (oneDNN 2.6 on AVX2: the forward of 4 channels per group), or
//     - the ISA is AVX2 and max(Cg, Og) <= 8 (<= 16 for backward weights):
//       there oneDNN's jit:avx2 kernels were measured slower than ours
//       (ResNeXt-50 32x4d stages on a 2-core Zen3, bench/gconv.ts); with
//       32 channels per group (and 16 for forward / backward data) they
//       are as fast or faster. Other ISAs keep the fallback rule only
//       (not measured);
//     - dense (groups 1) on AVX2 with 16-32 channels in and out: see
//       few_channels.
// The kernels cover any groups, KH*KW <= 256 and channels per group
// Cg, Og <= 32 with, at vector width W (AVX2 8; AVX-512 and the portable
// "scalar" kernels 16): forward Og % W == 0 (any Cg), or Cg == 4 and
// Og % 4 == 0, or Og < W, W % Og == 0 and Cg == Og; backward data the same
// with Cg and Og swapped; backward weights the first or the last
// (gconv.h: Layout).
#include <dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/cpu_info.h"
#include "core/stream.h"
#include "cpu/dnnl_context.h"
#include "cpu/dconv.h"
#include "cpu/gconv.h"
#include "cpu/ops.h"
#include "cpu/pwgrad.h"

namespace senet::cpu {
namespace {

struct ConvGeometry {
  memory::desc src, dst, user_w, any_w, bias;
  memory::dims strides, dilates, pad_l, pad_r;
};

ConvGeometry geometry(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p) {
  ConvGeometry g;
  g.src = nhwc_md(x);
  g.dst = nhwc_md(y);
  const int64_t O = w[0], KH = w[1], KW = w[2], Ig = w[3], G = p.groups;
  if (G == 1) {
    g.user_w = md({O, Ig, KH, KW}, tag::ohwi);
    g.any_w = md({O, Ig, KH, KW}, tag::any);
  } else {
    g.user_w = md({G, O / G, Ig, KH, KW}, tag::gohwi);
    g.any_w = md({G, O / G, Ig, KH, KW}, tag::any);
  }
  g.bias = md({O}, tag::x);
  g.strides = {p.stride_h, p.stride_w};
  g.dilates = {p.dil_h - 1, p.dil_w - 1};  // oneDNN counts the holes
  g.pad_l = {p.pad_t, p.pad_l};
  g.pad_r = {p.pad_b, p.pad_r};
  return g;
}

std::string conv_key(const char* kind, const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p,
                     bool bias) {
  return key(kind, x, w, y, p.stride_h, p.stride_w, p.pad_t, p.pad_b, p.pad_l, p.pad_r, p.dil_h, p.dil_w,
             p.groups, int64_t(bias));
}

dnnl::convolution_forward::primitive_desc fwd_pd(const ConvGeometry& g, bool bias) {
  using cf = dnnl::convolution_forward;
  auto d = bias ? cf::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, g.src, g.any_w,
                           g.bias, g.dst, g.strides, g.dilates, g.pad_l, g.pad_r)
                : cf::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, g.src, g.any_w,
                           g.dst, g.strides, g.dilates, g.pad_l, g.pad_r);
  return cf::primitive_desc(d, attr(), engine());
}

// Weights between the user's OHWI layout and the layout an implementation
// wants (a no-op when they agree).
struct WeightReorder {
  bool needed = false;
  dnnl::reorder prim;
  memory::desc to, sp;

  static WeightReorder between(const memory::desc& from, const memory::desc& to) {
    WeightReorder r;
    r.to = to;
    r.needed = from != to;
    if (r.needed) {
      auto pd = dnnl::reorder::primitive_desc(engine(), from, engine(), to, attr());
      r.prim = dnnl::reorder(pd);
      r.sp = pd.scratchpad_desc();
    }
    return r;
  }
  // src reordered into dst (scratch slot 0 when dst is null); src itself when not needed.
  memory run(const memory& src, void* dst = nullptr) const {
    if (!needed) return src;
    memory out = mem(to, dst ? dst : scratch(0, to.get_size()));
    execute(prim, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, out}}, sp);
    return out;
  }
};

struct FwdPrims {
  std::string impl;  // oneDNN's implementation name
  dnnl::convolution_forward prim;
  memory::desc src, dst, user_w, bias, sp;
  WeightReorder w;  // OHWI -> implementation
};

struct BwdDataPrims {
  std::string impl;
  dnnl::convolution_backward_data prim;
  memory::desc diff_src, diff_dst, user_w, sp;
  WeightReorder w;  // OHWI -> implementation
};

struct BwdFilterPrims {
  std::string impl;
  dnnl::convolution_backward_weights prim;
  memory::desc src, diff_dst, user_w, diff_w, bias, sp;
  WeightReorder w;  // implementation -> OHWI
};

PrimitiveCache<FwdPrims>& fwd_cache() {
  static auto* c = new PrimitiveCache<FwdPrims>();
  return *c;
}
PrimitiveCache<BwdDataPrims>& bwd_data_cache() {
  static auto* c = new PrimitiveCache<BwdDataPrims>();
  return *c;
}
PrimitiveCache<BwdFilterPrims>& bwd_filter_cache() {
  static auto* c = new PrimitiveCache<BwdFilterPrims>();
  return *c;
}

// ---- direct grouped kernels: mode, coverage, choice ----

std::atomic<int> g_gconv_mode{-2};  // -2: SENET_GCONV not read yet
std::atomic<int64_t> g_gconv_calls{0};

gconv::Geom gconv_geom(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p) {
  gconv::Geom g{};
  g.N = x[0], g.H = x[1], g.W = x[2], g.C = x[3];
  g.Ho = y[1], g.Wo = y[2], g.O = y[3];
  g.KH = w[1], g.KW = w[2];
  g.G = p.groups, g.Cg = w[3], g.Og = w[0] / p.groups;
  g.sh = p.stride_h, g.sw = p.stride_w, g.pt = p.pad_t, g.pl = p.pad_l, g.dh = p.dil_h, g.dw = p.dil_w;
  return g;
}

// The scalar instantiation is a portable 16-lane one (gconv_scalar.cc).
int isa_width(Isa isa) { return isa == Isa::Avx2 ? 8 : 16; }

enum class Dir { Fwd, BwdData, BwdWeights };

bool gconv_covers(Dir d, const gconv::Geom& g, Isa isa) {
  if (!gconv::geometry_ok(g)) return false;
  const int W = isa_width(isa);
  switch (d) {
    case Dir::Fwd: return gconv::forward_layout(g, W).ok;
    case Dir::BwdData: return gconv::backward_data_layout(g, W).ok;
    case Dir::BwdWeights: return gconv::backward_weights_layout(g, W).ok;
  }
  return false;
}

bool onednn_fallback(const std::string& impl) {
  return impl.find("gemm") != std::string::npos || impl.find("ref") != std::string::npos;
}

// The automatic choice's size part (see the top of the file).
bool few_channels(Dir d, const gconv::Geom& g, Isa isa) {
  if (isa != Isa::Avx2) return false;
  if (g.G == 1) {
    // Dense convolutions of 16-32 channels (SE-ResNet-20's stages, bench/gconv.ts
    // --set cifar, batch 128 on 2 Zen3 cores): ours 1.2-1.5x faster for backward
    // weights and for the forward with 32 channels, even elsewhere, except
    // backward data into fewer channels than it reads (0.7x) and the 1-channel stem.
    if (std::min(g.Cg, g.Og) < 16) return false;
    return d != Dir::BwdData || g.Cg >= g.Og;
  }
  const int64_t m = std::max(g.Cg, g.Og);
  return m <= 8 || (d == Dir::BwdWeights && m <= 16);
}

gconv::Plan gconv_plan() { return gconv::Plan{int64_t(l2_cache_bytes()), omp_get_max_threads()}; }

using GFwd = void (*)(const gconv::Geom&, const gconv::Plan&, const float*, const float*, const float*, float*,
                      float*);
using GBwdData = void (*)(const gconv::Geom&, const gconv::Plan&, const float*, const float*, float*, float*);
using GBwdWeights = void (*)(const gconv::Geom&, const gconv::Plan&, const float*, const float*, float*, float*,
                             float*);

GFwd gconv_fwd(Isa isa) {
  return isa == Isa::Avx512 ? gconv::avx512::forward : isa == Isa::Avx2 ? gconv::avx2::forward : gconv::scalar::forward;
}
GBwdData gconv_bwd_data(Isa isa) {
  return isa == Isa::Avx512 ? gconv::avx512::backward_data
         : isa == Isa::Avx2 ? gconv::avx2::backward_data
                            : gconv::scalar::backward_data;
}
GBwdWeights gconv_bwd_weights(Isa isa) {
  return isa == Isa::Avx512 ? gconv::avx512::backward_weights
         : isa == Isa::Avx2 ? gconv::avx2::backward_weights
                            : gconv::scalar::backward_weights;
}

float* gconv_scratch(int64_t floats) {
  return static_cast<float*>(scratch(0, size_t(floats > 0 ? floats : 1) * sizeof(float)));
}

// ---- direct dense kernel (cpu/dconv.h): mode and choice ----

std::atomic<int> g_dconv_mode{-2};  // -2: SENET_DCONV not read yet
std::atomic<int64_t> g_dconv_calls{0};
std::atomic<int> g_wino_mode{-2};  // -2: SENET_WINOGRAD not read yet
std::atomic<int> g_flip_mode{-2};  // -2: SENET_BWD_AS_FWD not read yet
std::atomic<int64_t> g_flip_calls{0};
std::atomic<int64_t> g_wino_calls{0};
std::atomic<int> g_wino_tile{0};  // 0: automatic (winograd_tile), else 2 or 4
std::atomic<int64_t> g_wino4_calls{0};
std::atomic<int> g_pw_mode{-2};  // -2: SENET_PWGRAD not read yet
std::atomic<int64_t> g_pw_calls{0};

// The automatic choice, forward on AVX2 only (the kernel is AVX2 code; on
// AVX-512 machines oneDNN has wider kernels, not measured against ours):
// spatial kernels reading >= 64 channels, where oneDNN 2.6's jit:avx2 was
// measured slower (ResNet-50's 3x3 layers at batch 16, 2 Zen3 cores,
// interleaved A/B: 1.1-1.3x, the strided 3x3 1.6x). oneDNN's jit_1x1 stays
// faster for 1x1 (ours 0.5-0.8x), and below 64 channels the gconv kernels
// or oneDNN are as fast.
bool dense_direct_faster(const gconv::Geom& g) {
  return g.G == 1 && g.C >= 64 && g.KH * g.KW > 1;
}

// Winograd's automatic choice: 3x3 stride 1 (winograd_covers) with >= 16
// channels in and out. Measured on 2 Zen3 cores against what ran before
// (the kernels interleaved in one process): ResNet-50's four 3x3 stages at
// batch 16, against the direct kernel, 1.2-2x (56x56x64 19.7 vs 27.1 ms,
// 28x28x128 14.6 vs 29.2, 14x14x256 13.6 vs 29.2, 7x7x512 21.1 vs 28.1; the
// 7x7 maps waste 64/49 of a tile grid); the bench's small SE-ResNet stages
// at batch 128, against the grouped kernels / oneDNN, 1.1-1.35x (28x28x16
// 3.28 vs 3.55, 14x14x32 2.49 vs 2.88, 7x7x64 2.85 vs 3.83) and 1.6x for
// 24 channels. Below 16 channels it was not measured to gain (16 -> 8:
// 3.52 vs 3.78 ms, within noise; the backward data of that layer, flipped
// onto it, 3.12 vs 2.38 ms).
bool winograd_faster(const gconv::Geom& g) { return g.G == 1 && g.C >= 16 && g.O >= 16; }

// The weight gradient's automatic choice: >= 32 channels in and out, where
// it ran 1.2-3.5x oneDNN's / the grouped kernels' backward weights
// (interleaved in one process, 2 Zen3 cores): at batch 128 14x14x32 4.0-4.3
// vs 5.2-5.4 ms, 7x7x32->64 2.4 vs 3.4, 7x7x64 7.2 vs 12.9; at batch 16
// ResNet-50's 56x56x64 20.0 vs 70.4, 28x28x128 26.2 vs 62.0, 14x14x256 21.3
// vs 51.3, 7x7x512 32.3 vs 42.0. With 16 channels it was slower (6.1 vs
// 4.4 ms at 28x28, batch 128: the transforms outweigh 16 x 16 products).
bool winograd_wgrad_faster(const gconv::Geom& g) { return g.G == 1 && g.C >= 32 && g.O >= 32; }

// The pointwise weight gradient's automatic choice: where 2*O*C/(O+C), the
// FLOPs each packed float feeds, is >= 256. Measured on 2 Zen3 cores against
// oneDNN's backward weights, interleaved in one process (medians, batch 16):
// 14x14x512->1024 1.37-1.70x, 14x14x1024->512 1.23-1.36x, 7x7x1024->2048
// 1.30-1.46x, 28x28x512->1024 stride 2 1.46-1.63x, 28x28x256->512
// 1.16-1.26x, 56x56x256->512 stride 2 1.18-1.28x, 28x28x512->256
// 0.98-1.08x, 56x56x256->256 1.00x; below, where packing a block costs
// more against its FLOPs (56x56 maps, 50k pixels streaming from memory):
// 56x56x128->256 0.94-1.14x, 56x56x64->256 0.86-0.93x, 56x56x256->128
// 0.82-0.89x; the small SE-ResNet's 16->32 and 32->64 0.6-0.9x.
bool pwgrad_faster(const gconv::Geom& g) { return 2.0 * double(g.O) * double(g.C) >= 256.0 * double(g.O + g.C); }

// The Winograd tile: F(4x4, 3x3) unless forced (_gconvConfig({winogradTile})).
// Its 4x fewer multiplies (F(2x2): 2.25x) outweighed its larger transforms
// and, on maps of 7 or 14, its tiles' overhang past the output, on every
// shape measured (2 Zen3 cores, F(2x2) / F(4x4) interleaved in one
// process, medians): ResNet-50's 3x3 stages at batch 16 56x56x64 15.4 /
// 10.5 ms, 28x28x128 13.0 / 8.9, 14x14x256 12.2 / 11.1, 7x7x512 18.5 /
// 17.5; the bench's small SE-ResNet stages at batch 128 28x28x16 4.3 /
// 3.2, 14x14x32 2.9 / 2.6, 7x7x64 2.8 / 1.9.
//
// The weight gradient takes the same tile. Against F(2x2), interleaved in
// one process with another job loading the machine: the small SE-ResNet's
// layers at batch 128 28x28x16
// 9.0 -> 4.7 ms, 14x14x32 5.5 -> 4.5, 7x7x64 5.1 -> 4.1; ResNet-50's at
// batch 16 56x56x64 32.6 -> 21.8, 28x28x128 29.9 -> 20.5, 14x14x256 33.5 ->
// 29.9, 7x7x512 59.0 -> 49.7. With 16 channels it still did not beat the
// grouped kernels / oneDNN (28x28x16 9.8 vs 9.5 ms, 14x14x16 4.3 vs 3.0),
// so winograd_wgrad_faster keeps its 32-channel floor.
int winograd_tile() {
  const int t = g_wino_tile.load();  // (once: _gconvConfig may change it meanwhile)
  return t ? t : 4;
}

// A kernel-choice mode: -1 automatic, 0 never, 1 whenever covered; read
// from the environment variable `env` (0 or 1) on first use.
int mode_of(std::atomic<int>& mode, const char* env) {
  int m = mode.load();
  if (m == -2) {
    m = -1;
    const char* e = std::getenv(env);
    if (e && *e) {
      if (std::strcmp(e, "0") == 0) m = 0;
      else if (std::strcmp(e, "1") == 0) m = 1;
      else std::fprintf(stderr, "senet: ignoring %s=%s (expected 0 or 1)\n", env, e);
    }
    int expected = -2;
    mode.compare_exchange_strong(expected, m);
    m = mode.load();
  }
  return m;
}

int clamp_mode(int mode) { return mode < 0 ? -1 : mode > 0 ? 1 : 0; }

}  // namespace

int64_t dconv_calls() { return g_dconv_calls.load(); }
int64_t winograd_calls() { return g_wino_calls.load(); }
void winograd_config(int mode) { g_wino_mode.store(clamp_mode(mode)); }
int64_t winograd4_calls() { return g_wino4_calls.load(); }
void winograd_tile_config(int tile) { g_wino_tile.store(tile == 2 || tile == 4 ? tile : 0); }
int winograd_tile_mode() { return g_wino_tile.load(); }
void bwd_as_fwd_config(int mode) { g_flip_mode.store(clamp_mode(mode)); }
int bwd_as_fwd_mode() { return mode_of(g_flip_mode, "SENET_BWD_AS_FWD"); }
int64_t bwd_as_fwd_calls() { return g_flip_calls.load(); }
int winograd_mode() { return mode_of(g_wino_mode, "SENET_WINOGRAD"); }
void dconv_config(int mode) { g_dconv_mode.store(clamp_mode(mode)); }
int dconv_mode() { return mode_of(g_dconv_mode, "SENET_DCONV"); }

void pwgrad_config(int mode) { g_pw_mode.store(clamp_mode(mode)); }
int pwgrad_mode() { return mode_of(g_pw_mode, "SENET_PWGRAD"); }
int64_t pwgrad_calls() { return g_pw_calls.load(); }

int64_t gconv_calls() { return g_gconv_calls.load(); }
void gconv_config(int mode) { g_gconv_mode.store(clamp_mode(mode)); }
int gconv_mode() { return mode_of(g_gconv_mode, "SENET_GCONV"); }

namespace {

dconv::Geom dense_geom(const gconv::Geom& g) {
  return dconv::Geom{g.N, g.H, g.W, g.C, g.Ho, g.Wo, g.O, g.KH, g.KW, g.sh, g.sw, g.pt, g.pl};
}

// Our kernels copy weights (packed, transformed) and inputs into scratch;
// beyond 1 GiB of such copies oneDNN, which needs none, takes the case.
bool copies_fit(int64_t floats) { return double(floats) * sizeof(float) <= double(int64_t(1) << 30); }

bool use_dense_direct(const gconv::Geom& g, const Conv2dParams& p, Isa isa) {
  if (isa != Isa::Avx2 || !dconv::covers(p.groups, g.O, p.dil_h, p.dil_w)) return false;
  const dconv::Geom D = dense_geom(g);
  if (!copies_fit(dconv::packed_weight_floats(D) + dconv::padded_input_floats(D))) return false;
  const int m = dconv_mode();
  return m == 1 || (m < 0 && dense_direct_faster(g));
}

// Winograd F(m x m, 3x3) (dconv.h) for 3x3 stride-1 dense convolutions on
// AVX2: forced by SENET_WINOGRAD=1 / _gconvConfig({winograd: 'on'});
// automatically where winograd_faster (winograd_wgrad_faster) says.
bool use_winograd(const gconv::Geom& g, const Conv2dParams& p, Isa isa, bool wgrad = false) {
  if (isa != Isa::Avx2) return false;
  const dconv::Geom D = dense_geom(g);
  if (!dconv::winograd_covers(D, p.groups, g.O, p.dil_h, p.dil_w)) return false;
  // The transformed weights (forward), or dL/dU (weight gradient): both
  // (m + 2)^2 x C x O floats.
  if (!copies_fit(dconv::winograd_weight_floats(D, winograd_tile()))) return false;
  const int m = winograd_mode();
  return m == 1 || (m < 0 && (wgrad ? winograd_wgrad_faster(g) : winograd_faster(g)));
}

// The pointwise weight gradient (pwgrad.h): dense 1x1 convolutions without
// padding, on AVX2.
bool use_pwgrad(const gconv::Geom& g, const Conv2dParams& p, Isa isa) {
  if (isa != Isa::Avx2 || g.G != 1 || g.KH != 1 || g.KW != 1) return false;
  if (p.pad_t || p.pad_b || p.pad_l || p.pad_r) return false;
  const int m = pwgrad_mode();
  return m == 1 || (m < 0 && pwgrad_faster(g));
}

}  // namespace

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const std::optional<Tensor>& b, const Conv2dParams& p,
                      const Shape& y_shape, const char* op) {
  const bool has_bias = b.has_value();
  // Outputs first: an impossible size fails with SENET_OOM before oneDNN sees it.
  Tensor y = empty_tensor(y_shape, DType::F32, x.device(), op);
  const Isa isa = current_isa();
  const gconv::Geom G = gconv_geom(x.shape, w.shape, y_shape, p);
  const int mode = gconv_mode();
  const bool covered = mode != 0 && gconv_covers(Dir::Fwd, G, isa);
  auto prims = [&] {
    return fwd_cache().get(conv_key("fwd", x.shape, w.shape, y_shape, p, has_bias), [&] {
      return dnnl_call(op, [&] {
        auto g = geometry(x.shape, w.shape, y_shape, p);
        auto pd = fwd_pd(g, has_bias);
        auto r = std::make_shared<FwdPrims>();
        r->impl = pd.impl_info_str();
        r->prim = dnnl::convolution_forward(pd);
        r->sp = pd.scratchpad_desc();
        r->src = g.src;
        r->dst = g.dst;
        r->user_w = g.user_w;
        r->bias = g.bias;
        r->w = WeightReorder::between(g.user_w, pd.weights_desc());
        return r;
      });
    });
  };
  std::optional<Tensor> bias = b;
  // Winograd first: forced on it takes every case it covers (automatically
  // it takes none the grouped kernels would).
  if (use_winograd(G, p, isa)) {
    ++g_wino_calls;
    const dconv::Geom D = dense_geom(G);
    const int m = winograd_tile();
    if (m == 4) ++g_wino4_calls;
    CpuStream::get().enqueue(op, [D, m, x, w, bias, y] {
      const int64_t l2 = int64_t(l2_cache_bytes()), threads = omp_get_max_threads();
      // (none for the weight-stationary schedule, which transforms weights per block)
      const int64_t pack = dconv::winograd_pack_floats(D, m, l2);
      float* upack = pack ? static_cast<float*>(scratch(8, size_t(pack) * sizeof(float))) : nullptr;
      float* work =
          static_cast<float*>(scratch(9, size_t(dconv::winograd_work_floats(D, m, threads, l2)) * sizeof(float)));
      dconv::winograd_forward(D, m, x.f32(), w.f32(), bias ? bias->f32() : nullptr, y.f32(), upack, work, l2);
    });
    return y;
  }
  // The direct kernels when forced or chosen; oneDNN's primitive is made only when its name decides.
  std::shared_ptr<FwdPrims> P;
  bool direct = covered && (mode == 1 || few_channels(Dir::Fwd, G, isa));
  if (covered && !direct) direct = onednn_fallback((P = prims())->impl);
  if (direct) {
    ++g_gconv_calls;
    CpuStream::get().enqueue(op, [G, isa, x, w, bias, y] {
      const int W = isa_width(isa);
      float* work = gconv_scratch(gconv::forward_work(G, W));
      gconv_fwd(isa)(G, gconv_plan(), x.f32(), w.f32(), bias ? bias->f32() : nullptr, y.f32(), work);
    });
    return y;
  }
  if (use_dense_direct(G, p, isa)) {
    ++g_dconv_calls;
    const dconv::Geom D = dense_geom(G);
    CpuStream::get().enqueue(op, [D, x, w, bias, y] {
      float* wpack = static_cast<float*>(scratch(8, size_t(dconv::packed_weight_floats(D)) * sizeof(float)));
      const int64_t pad = dconv::padded_input_floats(D);
      float* xpad = pad ? static_cast<float*>(scratch(9, size_t(pad) * sizeof(float))) : nullptr;
      dconv::forward(D, x.f32(), w.f32(), bias ? bias->f32() : nullptr, y.f32(), wpack, xpad,
                     int64_t(l2_cache_bytes()));
    });
    return y;
  }
  if (!P) P = prims();
  CpuStream::get().enqueue(op, [P, x, w, bias, y, op] {
    dnnl_call(op, [&] {
      auto& s = stream();
      const memory wm = P->w.run(mem(P->user_w, w.f32()));
      std::unordered_map<int, memory> args{
          {DNNL_ARG_SRC, mem(P->src, x.f32())}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, mem(P->dst, y.f32())}};
      if (bias) args.emplace(DNNL_ARG_BIAS, mem(P->bias, bias->f32()));
      execute(P->prim, args, P->sp);
      s.wait();
    });
  });
  return y;
}

namespace {

// Backward data of a stride-1 dense convolution is the forward convolution
// of dy with the filter flipped in space and transposed (OHWI [O,KH,KW,C]
// -> [C,KH,KW,O], tap (kh, kw) -> (KH-1-kh, KW-1-kw)) and pads KH-1-pt
// (top), KW-1-pl (left) and what makes the output H x W. The forward
// kernels (Winograd, direct) outrun oneDNN's backward data where they take
// the case (see flip_faster). Returns the forward's parameters, or nothing
// when the case is not one (strides, dilation, groups, a pad past the
// kernel).
std::optional<Conv2dParams> flipped_params(const Shape& x, const Shape& w, const Shape& dy, const Conv2dParams& p) {
  if (p.groups != 1 || p.stride_h != 1 || p.stride_w != 1 || p.dil_h != 1 || p.dil_w != 1) return std::nullopt;
  const int64_t KH = w[1], KW = w[2];
  Conv2dParams f;
  f.pad_t = KH - 1 - p.pad_t;
  f.pad_l = KW - 1 - p.pad_l;
  f.pad_b = x[1] - dy[1] - f.pad_t + KH - 1;
  f.pad_r = x[2] - dy[2] - f.pad_l + KW - 1;
  if (f.pad_t < 0 || f.pad_l < 0 || f.pad_b < 0 || f.pad_r < 0) return std::nullopt;
  return f;
}

// The automatic choice: AVX2, where the flipped forward is one Winograd
// takes automatically (3x3, >= 16 channels in and out, C % 8 == 0): 3x3 pad
// 1 on 2 Zen3 cores, interleaved in one process, at batch 16 1.2-2.0x
// oneDNN's backward data (56x56x64 33.5 -> 18.7 ms, 28x28x128 33.0 -> 16.6,
// 14x14x256 28.7 -> 16.6, 7x7x512 32.0 -> 26.8), at batch 128 with 16-64
// channels 1.05-1.25x the grouped kernels / oneDNN (28x28x16 3.64 -> 3.43,
// 14x14x32 2.96 -> 2.51, 7x7x64 3.93 -> 3.12). Flipped onto the direct
// kernel alone it was no faster for 16-64 channels, so other kernels keep
// the old path.
bool flip_faster(const Shape& x, const Shape& w, Isa isa) {
  return isa == Isa::Avx2 && w[1] == 3 && w[2] == 3 && x[3] % 8 == 0 && x[3] >= 16 && w[0] >= 16;
}

}  // namespace

Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, const Conv2dParams& p) {
  const Isa isa = current_isa();
  if (const auto f = flipped_params(x_shape, w.shape, dy.shape, p)) {
    const int m = bwd_as_fwd_mode();
    if (m == 1 || (m < 0 && flip_faster(x_shape, w.shape, isa))) {
      ++g_flip_calls;
      const int64_t O = w.shape[0], KH = w.shape[1], KW = w.shape[2], C = w.shape[3];
      Tensor wf = empty_tensor(Shape{C, KH, KW, O}, DType::F32, w.device(), "conv2dBackwardData");
      CpuStream::get().enqueue("conv2dBackwardData", [w, wf, O, KH, KW, C] {
        const float* src = w.f32();
        float* dst = wf.f32();
#pragma omp parallel for schedule(static)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw)
              for (int64_t o = 0; o < O; ++o)
                dst[((c * KH + kh) * KW + kw) * O + o] = src[((o * KH + KH - 1 - kh) * KW + KW - 1 - kw) * C + c];
      });
      return conv2d_forward(dy, wf, std::nullopt, *f, x_shape, "conv2dBackwardData");
    }
  }
  Tensor dx = empty_tensor(x_shape, DType::F32, dy.device(), "conv2dBackwardData");
  const gconv::Geom G = gconv_geom(x_shape, w.shape, dy.shape, p);
  const int mode = gconv_mode();
  const bool covered = mode != 0 && gconv_covers(Dir::BwdData, G, isa);
  auto prims = [&] {
    return bwd_data_cache().get(conv_key("bwd_data", x_shape, w.shape, dy.shape, p, false), [&] {
      return dnnl_call("conv2dBackwardData", [&] {
        auto g = geometry(x_shape, w.shape, dy.shape, p);
        auto hint = fwd_pd(g, false);
        using cb = dnnl::convolution_backward_data;
        auto d = cb::desc(dnnl::algorithm::convolution_direct, g.src, g.any_w, g.dst, g.strides, g.dilates, g.pad_l,
                          g.pad_r);
        auto pd = cb::primitive_desc(d, attr(), engine(), hint);
        auto r = std::make_shared<BwdDataPrims>();
        r->impl = pd.impl_info_str();
        r->prim = cb(pd);
        r->sp = pd.scratchpad_desc();
        r->diff_src = g.src;
        r->diff_dst = g.dst;
        r->user_w = g.user_w;
        r->w = WeightReorder::between(g.user_w, pd.weights_desc());
        return r;
      });
    });
  };
  std::shared_ptr<BwdDataPrims> P;
  bool direct = covered && (mode == 1 || few_channels(Dir::BwdData, G, isa));
  if (covered && !direct) direct = onednn_fallback((P = prims())->impl);
  if (direct) {
    ++g_gconv_calls;
    CpuStream::get().enqueue("conv2dBackwardData", [G, isa, dy, w, dx] {
      const int W = isa_width(isa);
      float* work = gconv_scratch(gconv::backward_data_work(G, W));
      gconv_bwd_data(isa)(G, gconv_plan(), dy.f32(), w.f32(), dx.f32(), work);
    });
    return dx;
  }
  if (!P) P = prims();
  CpuStream::get().enqueue("conv2dBackwardData", [P, dy, w, dx] {
    dnnl_call("conv2dBackwardData", [&] {
      auto& s = stream();
      const memory wm = P->w.run(mem(P->user_w, w.f32()));
      execute(P->prim,
              {{DNNL_ARG_DIFF_DST, mem(P->diff_dst, dy.f32())},
               {DNNL_ARG_WEIGHTS, wm},
               {DNNL_ARG_DIFF_SRC, mem(P->diff_src, dx.f32())}},
              P->sp);
      s.wait();
    });
  });
  return dx;
}

std::vector<Tensor> conv2d_backward_filter(const Tensor& dy, const Tensor& x, const Shape& w_shape, bool with_bias,
                                           const Conv2dParams& p) {
  const Isa isa = current_isa();
  const gconv::Geom G = gconv_geom(x.shape, w_shape, dy.shape, p);
  const int mode = gconv_mode();
  const bool covered = mode != 0 && gconv_covers(Dir::BwdWeights, G, isa);
  auto prims = [&] {
    return bwd_filter_cache().get(conv_key("bwd_filter", x.shape, w_shape, dy.shape, p, with_bias), [&] {
      return dnnl_call("conv2dBackwardFilter", [&] {
        auto g = geometry(x.shape, w_shape, dy.shape, p);
        auto hint = fwd_pd(g, with_bias);
        using cb = dnnl::convolution_backward_weights;
        auto d = with_bias ? cb::desc(dnnl::algorithm::convolution_direct, g.src, g.any_w, g.bias, g.dst, g.strides,
                                      g.dilates, g.pad_l, g.pad_r)
                           : cb::desc(dnnl::algorithm::convolution_direct, g.src, g.any_w, g.dst, g.strides, g.dilates,
                                      g.pad_l, g.pad_r);
        auto pd = cb::primitive_desc(d, attr(), engine(), hint);
        auto r = std::make_shared<BwdFilterPrims>();
        r->impl = pd.impl_info_str();
        r->prim = cb(pd);
        r->sp = pd.scratchpad_desc();
        r->src = g.src;
        r->diff_dst = g.dst;
        r->user_w = g.user_w;
        r->diff_w = pd.diff_weights_desc();
        r->bias = g.bias;
        r->w = WeightReorder::between(r->diff_w, g.user_w);
        return r;
      });
    });
  };
  std::vector<Tensor> out{empty_tensor(w_shape, DType::F32, x.device(), "conv2dBackwardFilter")};
  if (with_bias) out.push_back(empty_tensor({w_shape[0]}, DType::F32, x.device(), "conv2dBackwardFilter"));
  Tensor dw = out[0];
  std::optional<Tensor> db;
  if (with_bias) db = out[1];
  if (use_pwgrad(G, p, isa)) {
    ++g_pw_calls;
    const pwgrad::Geom D{G.N, G.H, G.W, G.C, G.Ho, G.Wo, G.O, G.sh, G.sw};
    CpuStream::get().enqueue("conv2dBackwardFilter", [D, dy, x, dw, db] {
      float* work = static_cast<float*>(
          scratch(9, size_t(pwgrad::work_floats(D, omp_get_max_threads())) * sizeof(float)));
      pwgrad::backward_weights(D, x.f32(), dy.f32(), dw.f32(), db ? db->f32() : nullptr, work);
    });
    return out;
  }
  if (!with_bias && use_winograd(G, p, isa, /*wgrad=*/true)) {
    // Winograd weight gradient (bias-free: the layers it serves feed BN).
    ++g_wino_calls;
    const dconv::Geom D = dense_geom(G);
    const int m = winograd_tile();
    if (m == 4) ++g_wino4_calls;
    CpuStream::get().enqueue("conv2dBackwardFilter", [D, m, dy, x, dw] {
      const int64_t l2 = int64_t(l2_cache_bytes()), threads = omp_get_max_threads();
      float* work = static_cast<float*>(
          scratch(9, size_t(dconv::winograd_wgrad_work_floats(D, m, threads, l2)) * sizeof(float)));
      dconv::winograd_backward_weights(D, m, x.f32(), dy.f32(), dw.f32(), work, l2);
    });
    return out;
  }
  std::shared_ptr<BwdFilterPrims> P;
  bool direct = covered && (mode == 1 || few_channels(Dir::BwdWeights, G, isa));
  if (covered && !direct) direct = onednn_fallback((P = prims())->impl);
  if (!direct && !P) P = prims();
  if (direct) {
    ++g_gconv_calls;
    CpuStream::get().enqueue("conv2dBackwardFilter", [G, isa, dy, x, dw, db] {
      const int W = isa_width(isa);
      const gconv::Plan pl = gconv_plan();
      float* work = gconv_scratch(gconv::backward_weights_work(G, W, pl.threads));
      gconv_bwd_weights(isa)(G, pl, dy.f32(), x.f32(), dw.f32(), db ? db->f32() : nullptr, work);
    });
    return out;
  }
  CpuStream::get().enqueue("conv2dBackwardFilter", [P, dy, x, dw, db] {
    dnnl_call("conv2dBackwardFilter", [&] {
      auto& s = stream();
      memory user = mem(P->user_w, dw.f32());
      memory dwm = P->w.needed ? mem(P->diff_w, scratch(0, P->diff_w.get_size())) : user;
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mem(P->src, x.f32())},
                                           {DNNL_ARG_DIFF_DST, mem(P->diff_dst, dy.f32())},
                                           {DNNL_ARG_DIFF_WEIGHTS, dwm}};
      if (db) args.emplace(DNNL_ARG_DIFF_BIAS, mem(P->bias, db->f32()));
      execute(P->prim, args, P->sp);
      if (P->w.needed) P->w.run(dwm, user.get_data_handle());
      s.wait();
    });
  });
  return out;
}

}  // namespace senet::cpu
