// The fused squeeze-excite kernels (CPU): raw-pointer interface shared by the
// three ISA instantiations of native/cpu/se_kernel.inl and the dispatcher in
// native/cpu/se.cc.
#pragma once

#include <cstdint>

#include "core/params.h"

namespace senet::cpu::se {

struct Dims {
  int64_t N, HW, C, D;
  SeSqueeze squeeze;
  SeGate gate;
  bool residual;
};

// How the work is cut (see se.cc: plan()).
struct Plan {
  bool own;        // whole samples per thread (no barriers) for the first N - N mod T samples
  int64_t block;   // cooperative cut: samples per block: their slice of U (fwd) / dy (bwd) stays in cache between the passes
  int64_t chunks;  // cooperative cut: H*W chunks per sample: enough work units for every thread
  bool nt;         // non-temporal stores for the large outputs
  // Scratch (allocated by the dispatcher): (units + threads)*C partial sums
  // (+ int32 argmax partials), per-thread 64-row accumulators,
  // (block + threads)*C dz rows; units = block*chunks.
  float* part;
  int32_t* part_idx;
  float* rowacc;   // threads * C
  float* dzs;      // block * C (backward)
  float* dpre;     // N * C (backward)
  float* dh;       // N * D (backward)
};

struct Fwd {
  const float *u, *w1, *b1, *w2, *b2, *r;  // r: shortcut (residual only)
  float *y, *s, *z, *a;
  int32_t* argmax;  // max squeeze only
  uint8_t* mask;    // residual only: bit c of row p is [y > 0]
  uint8_t* nan;     // residual only: set to 1 when some y is NaN (its mask bit is 0; left alone otherwise)
};

struct Bwd {
  const float *dy, *u, *w1, *w2, *s, *z, *a;
  const int32_t* argmax;
  const uint8_t* mask;
  float *du, *dr, *dw1, *db1, *dw2, *db2;
};

// Bytes per mask row (one bit per channel, rows padded to whole bytes).
inline int64_t mask_row_bytes(int64_t C) { return (C + 7) / 8; }

namespace scalar {
void forward(const Dims&, const Fwd&, const Plan&);
void backward(const Dims&, const Bwd&, const Plan&);
}  // namespace scalar
namespace avx2 {
void forward(const Dims&, const Fwd&, const Plan&);
void backward(const Dims&, const Bwd&, const Plan&);
}  // namespace avx2
namespace avx512 {
void forward(const Dims&, const Fwd&, const Plan&);
void backward(const Dims&, const Bwd&, const Plan&);
}  // namespace avx512

}  // namespace senet::cpu::se
