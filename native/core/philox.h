// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC'11): a counter-based generator, so element i of a seeded fill is a
// pure function of (seed, i) -- identical on every device and thread count.
// Usable from host and CUDA code.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define SENET_HD __host__ __device__ __forceinline__
#else
#define SENET_HD inline
#endif

namespace senet {

struct Philox4 {
  uint32_t v[4];
};

SENET_HD uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t* hi) {
  const uint64_t p = uint64_t(a) * uint64_t(b);
  *hi = uint32_t(p >> 32);
  return uint32_t(p);
}

// Counter (c0..c3), key (k0,k1) -> 4 random 32-bit words.
SENET_HD Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, hi1;
    const uint32_t lo0 = mulhilo32(M0, c0, &hi0);
    const uint32_t lo1 = mulhilo32(M1, c2, &hi1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += W0;
    k1 += W1;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Uniform in (0, 1]: 24 random bits, never 0 (safe for log).
SENET_HD float uniform_open0(uint32_t x) { return float((x >> 8) + 1u) * (1.0f / 16777216.0f); }

}  // namespace senet
