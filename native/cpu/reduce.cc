// Reductions over any set of axes (sum, mean, max, min) and softmax over
// the last axis.
//
// A reduction first drops size-1 dims and merges neighbouring dims that are
// both reduced or both kept. The common layouts then have their own loops:
// [R] (everything), [K, R] (rows), [R, K] (columns: per-channel statistics
// of an NHWC tensor) and [K1, R, K2] (global average pooling: H*W of
// [N, H*W, C]); anything else takes a generic single-threaded loop. Sums
// accumulate in double; max/min propagate NaN as tfjs does.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include <omp.h>

// NaN-propagating max/min (v != v) vectorise only without trapping-math; no FP flags are read.
#pragma GCC optimize("no-trapping-math")

#include "core/stream.h"
#include "cpu/ops.h"

namespace senet::cpu {
namespace {

constexpr int64_t kParallelMin = 1 << 15;

struct SumAcc {
  using T = double;
  static T init() { return 0.0; }
  static T add(T a, float v) { return a + double(v); }
  static T merge(T a, T b) { return a + b; }
};
struct MaxAcc {
  using T = float;
  static T init() { return -std::numeric_limits<float>::infinity(); }
  static T add(T a, float v) { return (v > a || v != v) ? v : a; }
  static T merge(T a, T b) { return add(a, b); }
};
struct MinAcc {
  using T = float;
  static T init() { return std::numeric_limits<float>::infinity(); }
  static T add(T a, float v) { return (v < a || v != v) ? v : a; }
  static T merge(T a, T b) { return add(a, b); }
};

struct Groups {
  std::vector<int64_t> dim;
  std::vector<bool> red;
};

Groups coalesce(const Shape& s, const std::vector<bool>& reduce) {
  Groups g;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == 1) continue;
    if (!g.dim.empty() && g.red.back() == reduce[i]) {
      g.dim.back() *= s[i];
    } else {
      g.dim.push_back(s[i]);
      g.red.push_back(reduce[i]);
    }
  }
  return g;
}

// out[k] = reduce over r of x[k*R + r]
template <class A>
void rows(const float* x, typename A::T* out, int64_t K, int64_t R) {
  if (K == 1) {
    // One long row: split it across threads, then merge.
    const int nt = omp_get_max_threads();
    std::vector<typename A::T> part(size_t(nt), A::init());
#pragma omp parallel if (R > kParallelMin)
    {
      const int64_t T = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t chunk = (R + T - 1) / T, lo = std::min(R, t * chunk), hi = std::min(R, lo + chunk);
      typename A::T acc = A::init();
      for (int64_t r = lo; r < hi; ++r) acc = A::add(acc, x[r]);
      part[size_t(t)] = acc;
    }
    typename A::T acc = A::init();
    for (auto p : part) acc = A::merge(acc, p);
    out[0] = acc;
    return;
  }
#pragma omp parallel for schedule(static) if (K * R > kParallelMin)
  for (int64_t k = 0; k < K; ++k) {
    const float* p = x + k * R;
    typename A::T acc = A::init();
    for (int64_t r = 0; r < R; ++r) acc = A::add(acc, p[r]);
    out[k] = acc;
  }
}

// acc[k] += sum over rows [0, n) of x[r*K + k], in 64-row fp32 blocks
// (four rows an add, vectorised over k; `blk` holds K floats) merged into the
// double accumulators: an fp32 add per element instead of a float->double
// conversion and a read-modify-write of a double array, with the error of a
// 64-term fp32 sum per block (a block column whose fp32 sum is not finite is
// summed again in double). The rows kPrefetchRows ahead are prefetched,
// as in the SE kernel's squeeze. Mean over H, W of [32,56,56,256], medians
// of 7 in one process: 4.68 ms (the double loop) -> 5.24 (fp32 blocks, no
// prefetch; this minute's memory) -> 4.17-4.28 (prefetching 4-16 rows ahead;
// 32 rows: 4.99); a plain 2-thread read of the same bytes took 2.8-3.6 ms.
constexpr int64_t kPrefetchRows = 8;
inline void add_rows_blocked(const float* x, int64_t n, int64_t K, double* acc, float* blk) {
  for (int64_t r0 = 0; r0 < n; r0 += 64) {
    const int64_t r1 = std::min(n, r0 + 64);
    std::fill_n(blk, K, 0.0f);
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
      const float* p = x + r * K;
      if (r + kPrefetchRows + 4 <= n)
        for (int64_t i = 0; i < 4 * K; i += 16) __builtin_prefetch(p + kPrefetchRows * K + i, 0, 3);
      const float *p1 = p + K, *p2 = p1 + K, *p3 = p2 + K;
      for (int64_t k = 0; k < K; ++k) blk[k] += (p[k] + p1[k]) + (p2[k] + p3[k]);
    }
    for (; r < r1; ++r) {
      const float* p = x + r * K;
      for (int64_t k = 0; k < K; ++k) blk[k] += p[k];
    }
    for (int64_t k = 0; k < K; ++k) {
      if (std::isfinite(blk[k])) {
        acc[k] += double(blk[k]);
        continue;
      }
      // (an fp32 partial sum overflowed, or met an infinity or NaN: this column of the block in
      // double, as the whole sum was before, so only the data can make it non-finite)
      double s = 0.0;
      for (int64_t q = r0; q < r1; ++q) s += double(x[q * K + k]);
      acc[k] += s;
    }
  }
}

// o[k] = A::add(o[k], x[r*K + k]) for the rows [0, n): sums in 64-row blocks, max/min row by row.
// (Forced inline: as a call, Mean over H, W of [32,56,56,256] measured 4.2 -> 5.1 ms in alternating
// processes; inlined, the callers' code is the old one's and the times even.)
template <class A>
inline __attribute__((always_inline)) void accumulate_rows(const float* x, int64_t n, int64_t K, typename A::T* o) {
  if constexpr (std::is_same_v<A, SumAcc>) {
    std::vector<float> blk(static_cast<size_t>(K));
    add_rows_blocked(x, n, K, o, blk.data());
  } else {
    for (int64_t r = 0; r < n; ++r, x += K)
      for (int64_t k = 0; k < K; ++k) o[k] = A::add(o[k], x[k]);
  }
}

// out[k1, k2] = reduce over r of x[(k1*R + r)*K2 + k2]; K1 = 1 is the column case.
template <class A>
void columns(const float* x, typename A::T* out, int64_t K1, int64_t R, int64_t K2) {
  if (K1 >= omp_get_max_threads() || K1 * R * K2 <= kParallelMin) {
#pragma omp parallel for schedule(static) if (K1 * R * K2 > kParallelMin)
    for (int64_t k1 = 0; k1 < K1; ++k1) {
      typename A::T* o = out + k1 * K2;
      for (int64_t k2 = 0; k2 < K2; ++k2) o[k2] = A::init();
      accumulate_rows<A>(x + k1 * R * K2, R, K2, o);
    }
    return;
  }
  // Few outer rows (per-channel statistics: K1 = 1): split R across threads
  // with private partial rows, then merge.
  const int nt = omp_get_max_threads();
  std::vector<typename A::T> part(size_t(nt) * size_t(K2));
  for (int64_t k1 = 0; k1 < K1; ++k1) {
    const float* base = x + k1 * R * K2;
    std::fill(part.begin(), part.end(), A::init());
#pragma omp parallel
    {
      const int64_t T = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t chunk = (R + T - 1) / T, lo = std::min(R, t * chunk), hi = std::min(R, lo + chunk);
      accumulate_rows<A>(base + lo * K2, hi - lo, K2, part.data() + t * K2);
    }
    typename A::T* o = out + k1 * K2;
    for (int64_t k2 = 0; k2 < K2; ++k2) {
      typename A::T acc = A::init();
      for (int t = 0; t < nt; ++t) acc = A::merge(acc, part[size_t(t) * size_t(K2) + size_t(k2)]);
      o[k2] = acc;
    }
  }
}

// Any pattern: walk the input once, adding each element to its output slot.
template <class A>
void generic(const float* x, typename A::T* out, const Groups& g, int64_t out_n) {
  const size_t r = g.dim.size();
  std::vector<int64_t> ostride(r, 0), idx(r, 0);
  int64_t acc = 1;
  for (size_t i = r; i-- > 0;) {
    if (!g.red[i]) {
      ostride[i] = acc;
      acc *= g.dim[i];
    }
  }
  for (int64_t k = 0; k < out_n; ++k) out[k] = A::init();
  int64_t n = 1;
  for (auto d : g.dim) n *= d;
  int64_t o = 0;
  for (int64_t i = 0; i < n; ++i) {
    out[o] = A::add(out[o], x[i]);
    for (size_t j = r; j-- > 0;) {
      o += ostride[j];
      if (++idx[j] < g.dim[j]) break;
      o -= ostride[j] * g.dim[j];
      idx[j] = 0;
    }
  }
}

template <class A>
void reduce_into(const float* x, typename A::T* out, const Groups& g, int64_t out_n) {
  const size_t r = g.dim.size();
  if (r == 0) {
    out[0] = A::add(A::init(), x[0]);
  } else if (r == 1 && g.red[0]) {
    rows<A>(x, out, 1, g.dim[0]);
  } else if (r == 1) {
    for (int64_t k = 0; k < g.dim[0]; ++k) out[k] = A::add(A::init(), x[k]);
  } else if (r == 2 && !g.red[0]) {
    rows<A>(x, out, g.dim[0], g.dim[1]);
  } else if (r == 2) {
    columns<A>(x, out, 1, g.dim[0], g.dim[1]);
  } else if (r == 3 && !g.red[0]) {
    columns<A>(x, out, g.dim[0], g.dim[1], g.dim[2]);
  } else {
    generic<A>(x, out, g, out_n);
  }
}

}  // namespace

Tensor reduce(const Tensor& x, const std::vector<bool>& axes, ReduceOp op, const Shape& out_shape) {
  const char* name = "reduce";
  Tensor y = empty_tensor(out_shape, DType::F32, x.device(), name);
  const int64_t out_n = y.numel();
  if (out_n == 0) return y;
  int64_t count = 1;
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i]) count *= x.shape[i];
  if (x.numel() == 0) {
    // Reducing over an empty axis: the identity of the reduction (mean: 0/0).
    const float v = op == ReduceOp::Sum ? 0.0f
                    : op == ReduceOp::Mean ? std::numeric_limits<float>::quiet_NaN()
                    : op == ReduceOp::Max  ? -std::numeric_limits<float>::infinity()
                                           : std::numeric_limits<float>::infinity();
    fill(y, v);
    return y;
  }
  const Groups g = coalesce(x.shape, axes);
  CpuStream::get().enqueue(name, [x, y, g, op, out_n, count] {
    float* out = y.f32();
    if (op == ReduceOp::Sum || op == ReduceOp::Mean) {
      std::vector<double> acc(static_cast<size_t>(out_n));
      reduce_into<SumAcc>(x.f32(), acc.data(), g, out_n);
      const double scale = op == ReduceOp::Mean ? 1.0 / double(count) : 1.0;
      for (int64_t k = 0; k < out_n; ++k) out[k] = float(acc[size_t(k)] * scale);
    } else if (op == ReduceOp::Max) {
      reduce_into<MaxAcc>(x.f32(), out, g, out_n);
    } else {
      reduce_into<MinAcc>(x.f32(), out, g, out_n);
    }
  });
  return y;
}

Tensor softmax(const Tensor& x) {
  const char* name = "softmax";
  Tensor y = empty_tensor(x.shape, DType::F32, x.device(), name);
  const int64_t n = x.numel();
  if (n == 0) return y;
  const int64_t L = x.shape.back(), rows_n = n / L;
  CpuStream::get().enqueue(name, [x, y, L, rows_n] {
    const float* in = x.f32();
    float* out = y.f32();
#pragma omp parallel for schedule(static) if (rows_n * L > kParallelMin)
    for (int64_t r = 0; r < rows_n; ++r) {
      const float* p = in + r * L;
      float* q = out + r * L;
      float m = MaxAcc::init();
      for (int64_t i = 0; i < L; ++i) m = MaxAcc::add(m, p[i]);
      double s = 0.0;
      for (int64_t i = 0; i < L; ++i) {
        q[i] = std::exp(p[i] - m);
        s += double(q[i]);
      }
      const float inv = float(1.0 / s);
      for (int64_t i = 0; i < L; ++i) q[i] *= inv;
    }
  });
  return y;
}

// Why a pass of its own: tfjs computes batch statistics as mean(square(x - mean)), two full-size
// temporaries and three passes; the backend recognises that graph (lib/tfjs/provenance.ts) and
// reads x once here instead. Differences are taken in float32 (as tfjs does) and summed in double,
// per thread over a contiguous block of rows (the last bit may depend on the thread count).
Tensor centered_variance(const Tensor& x, const Tensor& mean) {
  const char* name = "centeredVariance";
  const int64_t C = x.shape.back(), rows = x.numel() / C;
  Tensor v = empty_tensor({C}, DType::F32, x.device(), name);
  CpuStream::get().enqueue(name, [x, mean, v, C, rows] {
    const float* in = x.f32();
    const float* m = mean.f32();
    const int nt = omp_get_max_threads();
    std::vector<double> part(size_t(nt) * size_t(C), 0.0);
#pragma omp parallel if (rows * C > kParallelMin)
    {
      const int64_t T = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t chunk = (rows + T - 1) / T, lo = std::min(rows, t * chunk), hi = std::min(rows, lo + chunk);
      double* a = part.data() + size_t(t) * size_t(C);
      for (int64_t r = lo; r < hi; ++r) {
        const float* xr = in + r * C;
        for (int64_t c = 0; c < C; ++c) {
          const double d = double(xr[c] - m[c]);
          a[c] += d * d;
        }
      }
    }
    float* out = v.f32();
    for (int64_t c = 0; c < C; ++c) {
      double s = 0.0;
      for (int t = 0; t < nt; ++t) s += part[size_t(t) * size_t(C) + size_t(c)];
      out[c] = float(s / double(rows));
    }
  });
  return v;
}

std::vector<Tensor> batchnorm_grad_sums(const Tensor& dy, const Tensor& x, const Tensor& mean) {
  const char* name = "batchNormGradSums";
  const int64_t C = x.shape.back(), rows = x.numel() / C;
  Tensor s1 = empty_tensor({C}, DType::F32, x.device(), name);
  Tensor s2 = empty_tensor({C}, DType::F32, x.device(), name);
  if (rows == 0) {
    fill(s1, 0.0f);
    fill(s2, 0.0f);
    return {s1, s2};
  }
  CpuStream::get().enqueue(name, [dy, x, mean, s1, s2, C, rows] {
    const float* g = dy.f32();
    const float* v = x.f32();
    const float* m = mean.f32();
    const int nt = omp_get_max_threads();
    std::vector<double> part(size_t(nt) * size_t(2 * C), 0.0);
#pragma omp parallel if (rows * C > kParallelMin)
    {
      const int64_t T = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t chunk = (rows + T - 1) / T, lo = std::min(rows, t * chunk), hi = std::min(rows, lo + chunk);
      double* a = part.data() + size_t(t) * size_t(2 * C);
      double* b = a + C;
      for (int64_t r = lo; r < hi; ++r) {
        const float* gr = g + r * C;
        const float* vr = v + r * C;
        for (int64_t c = 0; c < C; ++c) {
          a[c] += double(gr[c]);
          b[c] += double(gr[c]) * double(vr[c] - m[c]);
        }
      }
    }
    float* o1 = s1.f32();
    float* o2 = s2.f32();
    for (int64_t c = 0; c < C; ++c) {
      double a = 0.0, b = 0.0;
      for (int t = 0; t < nt; ++t) {
        a += part[size_t(t) * size_t(2 * C) + size_t(c)];
        b += part[size_t(t) * size_t(2 * C) + size_t(C + c)];
      }
      o1[c] = float(a);
      o2[c] = float(b);
    }
  });
  return {s1, s2};
}

}  // namespace senet::cpu
