// Weight gradient of 1x1 (pointwise) dense convolutions as our own packed
// matrix product (CPU, AVX2 + FMA):
//
//   dw[o][i] = sum over output pixels p of dy[p][o] * x[pixel(p)][i]
//   (db[o]   = sum over p of dy[p][o], when asked for)
//
// with pixel(p) the input pixel a stride-(sh, sw) 1x1 window reads. That is
// C = A^T B with A = dy [P, O] and B = x [P, I], both read row by row (NHWC):
// a matrix product with a long inner dimension (P = N*Ho*Wo) and a small
// result. oneDNN 2.6's NHWC backward weights ran these at 80-125 GFLOP/s on
// ResNet-50's and ResNeXt-50's 1x1 layers (2 Zen3 cores, FMA peak 191); its
// forward of the same layers runs at 155-185.
//
//   tile      6 rows of dw (output channels) x 16 columns (input channels,
//             two 8-float vectors): 12 accumulators in registers; per p, two
//             vector loads of packed x and 6 broadcasts of packed dy.
//   blocking  p in blocks of kKc: x's block packed to [I/16][kKc][16] (the
//             per-thread copy stays in L3, one 16-column panel in L1), dy's
//             to [O/6][kKc][6] for up to kMc rows at a time (in L2); short
//             edges padded with zeros, stored only where valid.
//   threads   split over rows of dw (output channels), each thread packing
//             its own copies: no synchronisation, and every dw element is
//             one thread's sum over p in a fixed order, so results do not
//             depend on the thread count.
#pragma once

#include <cstdint>

namespace senet::cpu {

// Test/benchmark hook (_gconvConfig({pointwise}), SENET_PWGRAD): -1
// automatic, 0 never, 1 wherever the kernel covers the case (AVX2 only);
// calls dispatched to it so far.
void pwgrad_config(int mode);
int pwgrad_mode();
int64_t pwgrad_calls();

}  // namespace senet::cpu

namespace senet::cpu::pwgrad {

struct Geom {
  int64_t N, H, W, I;  // x [N, H, W, I]
  int64_t Ho, Wo, O;   // dy [N, Ho, Wo, O]
  int64_t sh, sw;      // strides; no padding
};

// Floats of per-thread scratch (packed x block, packed dy block) for
// `threads` threads.
int64_t work_floats(const Geom& g, int64_t threads);

// dw [O, I] (OHWI with KH = KW = 1), db [O] or null. Runs on the calling
// thread's OpenMP team.
void backward_weights(const Geom& g, const float* x, const float* dy, float* dw, float* db, float* work);

}  // namespace senet::cpu::pwgrad
