// AVX-512 instantiation of the direct grouped-convolution kernels (16 floats
// per vector; masked loads/stores through mask registers; the in-group
// permute is vpermps, across the whole vector: groups of 1, 2, 4 or 8
// channels). Compiled under a target pragma so the rest of the addon keeps
// its AVX2 baseline; chosen at run time only on CPUs with AVX-512F/BW/DQ/VL
// (core/cpu_info.h). No header is included after the pragma.
#include <immintrin.h>
#include <omp.h>

#include <cstdint>

#include "cpu/gconv.h"

// GCC 12 warns spuriously about the undefined pass-through operands inside
// its own AVX-512 intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")

namespace senet::cpu::gconv::avx512 {

struct V {
  using reg = __m512;
  using ireg = __m512i;
  static constexpr int W = 16;
  static reg zero() { return _mm512_setzero_ps(); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static reg bcast(const float* p) { return _mm512_set1_ps(*p); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static __mmask16 first(int n) { return __mmask16((1u << n) - 1u); }
  static reg load_n(const float* p, int n) { return _mm512_maskz_loadu_ps(first(n), p); }
  static void store_n(float* p, reg v, int n) { _mm512_mask_storeu_ps(p, first(n), v); }
  // Lane l <- lane (l / cg) * cg + ci.
  static ireg group_index(int cg, int ci) {
    alignas(64) int32_t idx[16];
    for (int l = 0; l < 16; ++l) idx[l] = (l / cg) * cg + ci;
    return _mm512_load_si512(idx);
  }
  static reg group_bcast(reg v, ireg idx) { return _mm512_permutexvar_ps(idx, v); }
  // Per 128-bit lane k: [sum of a's 4 lanes in k, same of b, c, d] (the
  // same unpack/shuffle sequence in both vector instantiations).
  static reg reduce4(reg a, reg b, reg c, reg d) {
    const reg ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));  // a0+a2 b0+b2 a1+a3 b1+b3
    const reg cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    return _mm512_add_ps(_mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
  }
};

#include "cpu/gconv_kernel.inl"

}  // namespace senet::cpu::gconv::avx512

#pragma GCC pop_options
