// Direct NHWC dense convolution, forward (CPU, AVX2 + FMA), and the
// Winograd F(2x2, 3x3) forward and weight gradient built on its register
// tile (declared at the end).
//
// oneDNN 2.6's jit:avx2 forward for NHWC 3x3 convolutions of 64-512
// channels runs at 35-45% of this machine's FMA peak (ResNet-50's 3x3
// layers at batch 16: 81-104 GFLOP/s of 249); this kernel is a plain
// register-tiled direct convolution that keeps the FMA units busier:
//
//   tile      R <= 6 consecutive output pixels of a sample (a tile may
//             span output rows) x 16 output channels (two 8-float
//             vectors): 12 accumulators in registers.
//   inner     for every window row kh, over its KW*C inputs (consecutive
//             in the padded input and in the packed weights): two vector
//             loads of packed weights, R broadcasts of inputs, 2R FMAs.
//   weights   packed per call to [O/16][KH][KW][C][16] (one 16-channel
//             block's weights are contiguous per tap; O % 8 == 0, a last
//             block of 8 runs the one-vector variant).
//   padding   the input is copied once into a zero-bordered buffer so that
//             the tile loop has no edge tests.
//   epilogue  + bias (the accumulators start from it), stored once.
//
// Work is split over (sample, tile, channel block), handed out dynamically
// in chunks; results do not depend on the thread count (each output is one
// thread's sum in a fixed order).
#pragma once

#include <cstdint>

namespace senet::cpu {

// Test/benchmark hook (_gconvConfig({dense}), SENET_DCONV): -1 automatic,
// 0 never, 1 wherever the kernel covers the case (AVX2 only).
void dconv_config(int mode);
int dconv_mode();
int64_t dconv_calls();  // forward calls dispatched to it so far
// The same for the Winograd F(2x2, 3x3) kernels (SENET_WINOGRAD; the calls
// count forward and weight-gradient dispatches).
void winograd_config(int mode);
int winograd_mode();
int64_t winograd_calls();
// The tile of the forward and the weight gradient: 0 automatic (conv.cc:
// F(4x4)), 2 or 4 forced (_gconvConfig({winogradTile})); calls that ran on
// F(4x4).
void winograd_tile_config(int tile);
int winograd_tile_mode();
int64_t winograd4_calls();
// Backward data of stride-1 dense convolutions as the forward of the
// flipped filter (conv.cc; SENET_BWD_AS_FWD): mode and calls.
void bwd_as_fwd_config(int mode);
int bwd_as_fwd_mode();
int64_t bwd_as_fwd_calls();

}  // namespace senet::cpu

namespace senet::cpu::dconv {

struct Geom {
  int64_t N, H, W, C, Ho, Wo, O, KH, KW;
  int64_t sh, sw, pt, pl;  // strides, leading pads (no dilation)
};

// Whether the kernel covers the case (dense, O % 8 == 0, no dilation).
bool covers(int64_t groups, int64_t O, int64_t dil_h, int64_t dil_w);

// Floats of scratch needed: packed weights, then the padded input (0 when
// the input needs no padding).
int64_t packed_weight_floats(const Geom& g);
int64_t padded_input_floats(const Geom& g);

// x [N,H,W,C], w OHWI [O,KH,KW,C], bias [O] or null, y [N,Ho,Wo,O].
// l2_bytes: the per-core L2 size (chooses the order of the work items).
void forward(const Geom& g, const float* x, const float* w, const float* bias, float* y, float* wpack,
             float* xpad, int64_t l2_bytes);


// Winograd F(m x m, 3x3) forward, m = 2 or 4, for 3x3 stride-1 dense
// convolutions (any padding): transformed weights [O/16][P][C][16] with
// P = (m + 2)^2 positions (upack, winograd_weight_floats), per-thread work
// buffers (work, winograd_work_floats for `threads` threads, the number the
// call's parallel region runs). P products of 2.25x (m = 2) or 4x (m = 4)
// fewer multiplies in all than the direct kernel, which runs them (its 6 x
// 16 register tile); transforms on 8 channels at a time. Like the direct
// kernel, results do not depend on the thread count. Rounding: F(2x2)'s
// transforms add at most a few terms of the input and weights
// (coefficients 1 and 1/2), so errors stay within a small multiple of a
// direct fp32 sum's; F(4x4)'s coefficients (up to 8 in A, 5 in B, 1/24 in
// G) make that multiple larger (test/reference/conv.ts: winogradMag bounds
// both).
bool winograd_covers(const Geom& g, int64_t groups, int64_t O, int64_t dil_h, int64_t dil_w);
int64_t winograd_weight_floats(const Geom& g, int m);
// What winograd_forward reads of upack: winograd_weight_floats, or 0 where
// it runs weight-stationary (small maps of wide layers; dconv_avx2.cc).
int64_t winograd_pack_floats(const Geom& g, int m, int64_t l2_bytes);
int64_t winograd_work_floats(const Geom& g, int m, int64_t threads, int64_t l2_bytes);
void winograd_forward(const Geom& g, int m, const float* x, const float* w, const float* bias, float* y,
                      float* upack, float* work, int64_t l2_bytes);

// Winograd F(m x m, 3x3) weight gradient, m = 2 or 4, of a 3x3 stride-1
// dense convolution (winograd_covers): dw OHWI [O,3,3,C] from x and dy;
// work: winograd_wgrad_work_floats for `threads` threads. The sums over
// tiles run in blocks, in an order the thread count does not change (see
// dconv_avx2.cc: fixed slots for small dU, shared blocks for large).
int64_t winograd_wgrad_work_floats(const Geom& g, int m, int64_t threads, int64_t l2_bytes);
void winograd_backward_weights(const Geom& g, int m, const float* x, const float* dy, float* dw, float* work,
                               int64_t l2_bytes);

}  // namespace senet::cpu::dconv
