// Seeded random fills. Element i takes word i%4 of Philox block i/4
// (counter = block index and a per-distribution stream id, key = seed);
// normals by Box-Muller on word pairs.
#include <cmath>

#include "core/philox.h"
#include "core/stream.h"
#include "cpu/ops.h"

namespace senet::cpu {
namespace {

// Runs fill(block, words, out4) for every block of 4 elements, in parallel.
// The values depend only on (seed, stream, element index): the same on
// every thread count and device.
template <class F>
void philox_fill(const Tensor& t, uint64_t seed, uint32_t stream, const char* op, F fill) {
  CpuStream::get().enqueue(op, [t, seed, stream, fill] {
    float* p = t.f32();
    const int64_t n = t.numel();
    const int64_t blocks = (n + 3) / 4;
    const uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
#pragma omp parallel for schedule(static) if (blocks > 4096)
    for (int64_t b = 0; b < blocks; ++b) {
      const Philox4 r = philox4x32_10(uint32_t(b), uint32_t(uint64_t(b) >> 32), stream, 0, k0, k1);
      float v[4];
      fill(r, v);
      for (int j = 0; j < 4 && b * 4 + j < n; ++j) p[b * 4 + j] = v[j];
    }
  });
}

}  // namespace

void fill_randn(const Tensor& t, uint64_t seed, double mean, double std) {
  philox_fill(t, seed, 0x5e4e7u, "randn", [mean, std](const Philox4& r, float* v) {
    for (int j = 0; j < 4; j += 2) {
      const double rad = std::sqrt(-2.0 * std::log(double(uniform_open0(r.v[j]))));
      const double th = 6.283185307179586 * double(uniform_open0(r.v[j + 1]));
      v[j] = float(mean + std * (rad * std::cos(th)));
      v[j + 1] = float(mean + std * (rad * std::sin(th)));
    }
  });
}

void fill_uniform(const Tensor& t, uint64_t seed, double lo, double hi) {
  philox_fill(t, seed, 0x7a3d1u, "randu", [lo, hi](const Philox4& r, float* v) {
    // [0, 1) with 24 bits, then scaled
    for (int j = 0; j < 4; ++j) v[j] = float(lo + (hi - lo) * (double(r.v[j] >> 8) * (1.0 / 16777216.0)));
  });
}

}  // namespace senet::cpu
