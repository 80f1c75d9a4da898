// AVX2 + FMA instantiation of the direct grouped-convolution kernels
// (8 floats per vector; the in-group permute is vpermilps, which stays
// within 128-bit lanes: enough for groups of 1, 2 or 4 channels).
#include <immintrin.h>
#include <omp.h>

#include <cstdint>

#include "cpu/gconv.h"

namespace senet::cpu::gconv::avx2 {

struct V {
  using reg = __m256;
  using ireg = __m256i;
  static constexpr int W = 8;
  static reg zero() { return _mm256_setzero_ps(); }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static reg bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static __m256i first(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static reg load_n(const float* p, int n) { return _mm256_maskload_ps(p, first(n)); }
  static void store_n(float* p, reg v, int n) { _mm256_maskstore_ps(p, first(n), v); }
  // Lane l <- lane (l / cg) * cg + ci; vpermilps reads the low 2 bits within each 128-bit half (cg <= 4).
  static ireg group_index(int cg, int ci) {
    alignas(32) int32_t idx[8];
    for (int l = 0; l < 8; ++l) idx[l] = (l / cg) * cg + ci;
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(idx));
  }
  static reg group_bcast(reg v, ireg idx) { return _mm256_permutevar_ps(v, idx); }
  // Per 128-bit lane k: [sum of a's 4 lanes in k, same of b, c, d] (the
  // same unpack/shuffle sequence in both vector instantiations).
  static reg reduce4(reg a, reg b, reg c, reg d) {
    const reg ab = _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));  // a0+a2 b0+b2 a1+a3 b1+b3
    const reg cd = _mm256_add_ps(_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
    return _mm256_add_ps(_mm256_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm256_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
  }
};

#include "cpu/gconv_kernel.inl"

}  // namespace senet::cpu::gconv::avx2
