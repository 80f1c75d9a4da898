// Direct NHWC grouped convolutions for few channels per group (CPU): the
// raw-pointer interface shared by the three ISA instantiations of
// native/cpu/gconv_kernel.inl and the dispatcher in native/cpu/conv.cc.
//
// oneDNN 2.6 has no AVX2 direct kernel for grouped NHWC convolutions with
// few channels per group (ResNeXt: 4 per group) and falls back to im2col +
// sgemm; these kernels compute them directly, vectorised over the output
// channels of a pass (see gconv_kernel.inl for the two lane schemes). A
// dense convolution is the case of one group: with 16-32 channels (the
// CIFAR-style SE-ResNets) they also beat oneDNN's jit:avx2 in some
// directions (conv.cc: few_channels).
#pragma once

#include <cstdint>

namespace senet::cpu {

// Test/benchmark hook (_gconvConfig, SENET_GCONV): -1 automatic, 0 never the
// direct kernels, 1 the direct kernels wherever they cover the case.
void gconv_config(int mode);
int gconv_mode();
// Calls dispatched to the direct kernels so far (tests check the choice).
int64_t gconv_calls();

namespace gconv {

// One convolution in forward terms: x [N,H,W,C], w OHWI [O,KH,KW,Cg],
// y [N,Ho,Wo,O]; C = G*Cg, O = G*Og.
struct Geom {
  int64_t N, H, W, C, Ho, Wo, O, KH, KW, G, Cg, Og;
  int64_t sh, sw, pt, pl, dh, dw;  // strides, leading pads, dilations (1 = none)
};

// How a pass (forward: x -> y; backward data: dy -> dx) puts channels on
// vector lanes (W = vector width; gconv_kernel.inl has the details):
//   Bcast   OCg % W == 0: a block is one group, lanes are its output
//           channels, each input channel is broadcast.
//   Reduce  ICg == 4, OCg % 4 == 0 (and OCg % W != 0): a block is
//           W/4 groups, lanes are their input channels (4 per 128 bits);
//           per output channel an FMA accumulates input * weight lanewise,
//           and a 4-lane horizontal sum per group finishes the output.
//   Perm    OCg < W, W % OCg == 0, ICg == OCg: a block is one vector of W
//           output channels = W/OCg groups; the matching input vector is
//           loaded once and input channel ci permuted to its group's lanes.
// Packed weights: [block][tap][ICg][BW] (Bcast, Perm) or [block][tap][OCg][W]
// (Reduce): blocks * taps * ICg * BW floats either way. Backward weights
// uses Bcast or Perm (allow_reduce false).
enum class Scheme { Bcast = 0, Reduce = 1, Perm = 2 };

struct Layout {
  int64_t ICg, OCg;  // channels per group read / written by the pass
  int64_t BW;        // output channels per block
  int64_t blocks;
  Scheme scheme;
  bool ok;  // false: no scheme covers (ICg, OCg) at this width
};

constexpr int64_t kMaxChannelsPerGroup = 32;
constexpr int64_t kMaxTaps = 256;  // KH*KW (tap lists live on the stack)

inline Layout layout(int64_t G, int64_t ICg, int64_t OCg, int W, bool allow_reduce) {
  Layout l{ICg, OCg, 0, 0, Scheme::Bcast, false};
  if (ICg < 1 || OCg < 1 || ICg > kMaxChannelsPerGroup || OCg > kMaxChannelsPerGroup) return l;
  if (OCg % W == 0) {
    l.BW = OCg;
    l.blocks = G;
    l.ok = true;
  } else if (allow_reduce && ICg == 4 && OCg % 4 == 0 && W % 4 == 0) {
    l.BW = W / 4 * OCg;
    l.blocks = (G + W / 4 - 1) / (W / 4);
    l.scheme = Scheme::Reduce;
    l.ok = true;
  } else if (OCg < W && W % OCg == 0 && ICg == OCg) {
    l.BW = W;
    l.blocks = (G * OCg + W - 1) / W;
    l.scheme = Scheme::Perm;
    l.ok = true;
  }
  return l;
}

inline Layout forward_layout(const Geom& g, int W) { return layout(g.G, g.Cg, g.Og, W, true); }
inline Layout backward_data_layout(const Geom& g, int W) { return layout(g.G, g.Og, g.Cg, W, true); }
inline Layout backward_weights_layout(const Geom& g, int W) { return layout(g.G, g.Cg, g.Og, W, false); }

inline bool geometry_ok(const Geom& g) { return g.G >= 1 && g.KH * g.KW <= kMaxTaps; }

inline int64_t packed_floats(const Layout& l, const Geom& g) { return l.blocks * g.KH * g.KW * l.ICg * l.BW; }

// Scratch floats each entry point needs (64-byte aligned by the caller).
inline int64_t forward_work(const Geom& g, int W) { return packed_floats(forward_layout(g, W), g); }
inline int64_t backward_data_work(const Geom& g, int W) { return packed_floats(backward_data_layout(g, W), g); }
// Per thread: packed dw partials + bias partials (blocks * BW).
inline int64_t backward_weights_stride(const Geom& g, int W) {
  const Layout l = backward_weights_layout(g, W);
  const int64_t n = packed_floats(l, g) + l.blocks * l.BW;
  return (n + 15) / 16 * 16;  // each thread's partials on their own cache lines
}
inline int64_t backward_weights_work(const Geom& g, int W, int threads) {
  return backward_weights_stride(g, W) * threads;
}

// Cutting of the work: the L2 size bounds the rows of a forward / backward
// data tile (their input rows stay in L2 while the blocks pass over them;
// results do not depend on it); threads: the OpenMP team (backward weights
// sums one partial per thread, in thread order).
struct Plan {
  int64_t l2_bytes;
  int threads;
};

#define SENET_GCONV_DECLARE                                                                                \
  void forward(const Geom&, const Plan&, const float* x, const float* w, const float* b, float* y,        \
               float* work);                                                                              \
  void backward_data(const Geom&, const Plan&, const float* dy, const float* w, float* dx, float* work);  \
  void backward_weights(const Geom&, const Plan&, const float* dy, const float* x, float* dw, float* db, \
                        float* work);
namespace scalar {
SENET_GCONV_DECLARE
}
namespace avx2 {
SENET_GCONV_DECLARE
}
namespace avx512 {
SENET_GCONV_DECLARE
}
#undef SENET_GCONV_DECLARE

}  // namespace gconv
}  // namespace senet::cpu
