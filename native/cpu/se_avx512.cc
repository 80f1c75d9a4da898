// AVX-512 instantiation of the fused SE kernel (16 floats per vector, mask
// registers for the ReLU mask and the argmax). Compiled under a target
// pragma so the rest of the addon keeps its AVX2 baseline; chosen at run
// time only on CPUs with AVX-512F/BW/DQ/VL (core/cpu_info.h). Everything
// here lives in its own namespace and no header is included after the
// pragma, so no AVX-512 code can be merged into a baseline symbol.
#include <immintrin.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "cpu/se.h"

// GCC 12 warns spuriously about the undefined upper halves inside its own
// AVX-512 cast intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")

namespace senet::cpu::se::avx512 {

struct V {
  using reg = __m512;
  using ireg = __m512i;
  using mask = __mmask16;
  static constexpr int W = 16;
  static reg zero() { return _mm512_setzero_ps(); }
  static reg set1(float v) { return _mm512_set1_ps(v); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static void stream(float* p, reg v) { _mm512_stream_ps(p, v); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }  // a > b ? a : b (NaN -> b)
  static float hsum(reg v) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
                                   _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static ireg iset1(int32_t v) { return _mm512_set1_epi32(v); }
  static ireg iload(const int32_t* p) { return _mm512_loadu_si512(p); }
  static void istore(int32_t* p, ireg v) { _mm512_storeu_si512(p, v); }
  static mask gt_or_nan(reg v, reg b) {
    return mask(_mm512_cmp_ps_mask(v, b, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
  }
  static mask ieq(ireg a, ireg b) { return _mm512_cmpeq_epi32_mask(a, b); }
  static reg blend(reg a, reg b, mask m) { return _mm512_mask_blend_ps(m, a, b); }
  static ireg iblend(ireg a, ireg b, mask m) { return _mm512_mask_blend_epi32(m, a, b); }
  static reg select(reg v, mask m) { return _mm512_maskz_mov_ps(m, v); }
  static uint32_t gt0_bits(reg v) { return uint32_t(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ)); }
  static uint32_t nan_bits(reg v) { return uint32_t(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q)); }
  static mask bits_mask(uint32_t bits) { return mask(bits); }
  static uint32_t load_bits(const uint8_t* row, int64_t c) {
    uint16_t b;
    std::memcpy(&b, row + (c >> 3), 2);
    return b;
  }
  static void store_bits(uint8_t* row, int64_t c, uint32_t bits) {
    const uint16_t b = uint16_t(bits);
    std::memcpy(row + (c >> 3), &b, 2);
  }
  static void sfence() { _mm_sfence(); }
};

#include "cpu/se_kernel.inl"

}  // namespace senet::cpu::se::avx512

#pragma GCC pop_options
