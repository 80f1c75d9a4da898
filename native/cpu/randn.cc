// Seeded random fills. Element i takes word i%4 of Philox block i/4
// (counter = block index, key = seed); normals by Box-Muller on word pairs.
#include <cmath>

#include "core/philox.h"
#include "core/stream.h"
#include "cpu/ops.h"

namespace senet::cpu {

void fill_randn(const Tensor& t, uint64_t seed, double mean, double std) {
  CpuStream::get().enqueue("randn", [t, seed, mean, std] {
    float* p = t.f32();
    const int64_t n = t.numel();
    const int64_t blocks = (n + 3) / 4;
    const uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
#pragma omp parallel for schedule(static) if (blocks > 4096)
    for (int64_t b = 0; b < blocks; ++b) {
      const Philox4 r = philox4x32_10(uint32_t(b), uint32_t(uint64_t(b) >> 32), 0x5e4e7u, 0, k0, k1);
      double z[4];
      for (int j = 0; j < 4; j += 2) {
        const double u1 = uniform_open0(r.v[j]);
        const double u2 = uniform_open0(r.v[j + 1]);
        const double rad = std::sqrt(-2.0 * std::log(u1));
        const double th = 6.283185307179586 * u2;
        z[j] = rad * std::cos(th);
        z[j + 1] = rad * std::sin(th);
      }
      for (int j = 0; j < 4 && b * 4 + j < n; ++j) p[b * 4 + j] = float(mean + std * z[j]);
    }
  });
}

void fill_uniform(const Tensor& t, uint64_t seed, double lo, double hi) {
  CpuStream::get().enqueue("randu", [t, seed, lo, hi] {
    float* p = t.f32();
    const int64_t n = t.numel();
    const int64_t blocks = (n + 3) / 4;
    const uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
#pragma omp parallel for schedule(static) if (blocks > 4096)
    for (int64_t b = 0; b < blocks; ++b) {
      const Philox4 r = philox4x32_10(uint32_t(b), uint32_t(uint64_t(b) >> 32), 0x7a3d1u, 0, k0, k1);
      for (int j = 0; j < 4 && b * 4 + j < n; ++j) {
        // [0, 1) with 24 bits, then scaled
        const double u = double(r.v[j] >> 8) * (1.0 / 16777216.0);
        p[b * 4 + j] = float(lo + (hi - lo) * u);
      }
    }
  });
}

}  // namespace senet::cpu
