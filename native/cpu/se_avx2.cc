// AVX2 + FMA instantiation of the fused SE kernel (8 floats per vector).
#include <immintrin.h>
#include <omp.h>

#include <cmath>
#include <cstdint>

#include "cpu/se.h"

namespace senet::cpu::se::avx2 {

struct V {
  using reg = __m256;
  using ireg = __m256i;
  using mask = __m256;
  static constexpr int W = 8;
  static reg zero() { return _mm256_setzero_ps(); }
  static reg set1(float v) { return _mm256_set1_ps(v); }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static void stream(float* p, reg v) { _mm256_stream_ps(p, v); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }  // a > b ? a : b (NaN -> b)
  static float hsum(reg v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static ireg iset1(int32_t v) { return _mm256_set1_epi32(v); }
  static ireg iload(const int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static void istore(int32_t* p, ireg v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
  static mask gt_or_nan(reg v, reg b) {
    return _mm256_or_ps(_mm256_cmp_ps(v, b, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  static mask ieq(ireg a, ireg b) { return _mm256_castsi256_ps(_mm256_cmpeq_epi32(a, b)); }
  static reg blend(reg a, reg b, mask m) { return _mm256_blendv_ps(a, b, m); }
  static ireg iblend(ireg a, ireg b, mask m) {
    return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), m));
  }
  static reg select(reg v, mask m) { return _mm256_and_ps(v, m); }
  static uint32_t gt0_bits(reg v) {
    return uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ)));
  }
  static uint32_t nan_bits(reg v) { return uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q))); }
  static mask bits_mask(uint32_t bits) {
    const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i b = _mm256_and_si256(_mm256_set1_epi32(int(bits)), sel);
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(b, sel));
  }
  static uint32_t load_bits(const uint8_t* row, int64_t c) { return row[c >> 3]; }
  static void store_bits(uint8_t* row, int64_t c, uint32_t bits) { row[c >> 3] = uint8_t(bits); }
  static void sfence() { _mm_sfence(); }
};

#include "cpu/se_kernel.inl"

}  // namespace senet::cpu::se::avx2
