// Portable instantiation of the direct grouped-convolution kernels: plain
// C++ over 16-float "vectors", so it takes exactly the code paths of the
// AVX-512 instantiation (block widths, group permutes over 16 lanes, the
// per-128-bit-lane reduction, masked tails). The test suite runs it with
// setIsa('scalar'): the AVX-512 logic is checked on any CPU, and the AVX2
// instantiation checks the same template at width 8. The lane operations
// mirror the intrinsics' semantics, including the summation order of
// reduce4.
#include <omp.h>

#include <cmath>
#include <cstdint>

#include "cpu/gconv.h"

namespace senet::cpu::gconv::scalar {

struct V {
  static constexpr int W = 16;
  struct reg {
    float v[W];
  };
  struct ireg {
    int32_t v[W];
  };
  static reg zero() {
    reg r;
    for (int i = 0; i < W; ++i) r.v[i] = 0.0f;
    return r;
  }
  static reg load(const float* p) {
    reg r;
    for (int i = 0; i < W; ++i) r.v[i] = p[i];
    return r;
  }
  static void store(float* p, const reg& a) {
    for (int i = 0; i < W; ++i) p[i] = a.v[i];
  }
  static reg bcast(const float* p) {
    reg r;
    for (int i = 0; i < W; ++i) r.v[i] = *p;
    return r;
  }
  static reg add(const reg& a, const reg& b) {
    reg r;
    for (int i = 0; i < W; ++i) r.v[i] = a.v[i] + b.v[i];
    return r;
  }
  static reg fmadd(const reg& a, const reg& b, const reg& c) {
    reg r;
    for (int i = 0; i < W; ++i) r.v[i] = std::fma(a.v[i], b.v[i], c.v[i]);
    return r;
  }
  static reg load_n(const float* p, int n) {
    reg r;
    for (int i = 0; i < W; ++i) r.v[i] = i < n ? p[i] : 0.0f;
    return r;
  }
  static void store_n(float* p, const reg& a, int n) {
    for (int i = 0; i < n; ++i) p[i] = a.v[i];
  }
  static ireg group_index(int cg, int ci) {
    ireg r;
    for (int l = 0; l < W; ++l) r.v[l] = (l / cg) * cg + ci;
    return r;
  }
  static reg group_bcast(const reg& a, const ireg& idx) {
    reg r;
    for (int l = 0; l < W; ++l) r.v[l] = a.v[idx.v[l]];
    return r;
  }
  // As unpacklo/unpackhi, add, shuffle, add within each 128-bit lane.
  static reg reduce4(const reg& a, const reg& b, const reg& c, const reg& d) {
    reg r;
    for (int k = 0; k < W; k += 4) {
      const float ab[4] = {a.v[k] + a.v[k + 2], b.v[k] + b.v[k + 2], a.v[k + 1] + a.v[k + 3], b.v[k + 1] + b.v[k + 3]};
      const float cd[4] = {c.v[k] + c.v[k + 2], d.v[k] + d.v[k + 2], c.v[k + 1] + c.v[k + 3], d.v[k + 1] + d.v[k + 3]};
      r.v[k] = ab[0] + ab[2];
      r.v[k + 1] = ab[1] + ab[3];
      r.v[k + 2] = cd[0] + cd[2];
      r.v[k + 3] = cd[1] + cd[3];
    }
    return r;
  }
};

#include "cpu/gconv_kernel.inl"

}  // namespace senet::cpu::gconv::scalar
