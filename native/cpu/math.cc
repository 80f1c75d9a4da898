// Elementwise math with NumPy/TensorFlow broadcasting: unary functions
// (activations and their gradient helpers), binary arithmetic, addN and
// clip. The TensorFlow.js backend (lib/tfjs) runs tfjs's elementwise kernels
// here; NaN semantics follow tfjs-backend-cpu (NaN in, NaN out, except where
// the function is defined otherwise, e.g. step).
//
// Binary ops coalesce the broadcast into at most kMaxDims dims whose
// innermost dim has stride 0 or 1 in each input; the inner loop is one of
// four contiguous/broadcast variants the compiler vectorises, the outer
// index is split across the OpenMP threads.
#include <algorithm>
#include <cmath>
#include <cstring>

#include <omp.h>

// NaN-aware selects (x != x ? x : ...) only vectorise when comparisons may be
// evaluated speculatively; we never inspect floating-point exception flags.
#pragma GCC optimize("no-trapping-math")

#include "core/stream.h"
#include "cpu/ops.h"

namespace senet::cpu {
namespace {

constexpr int64_t kParallelMin = 1 << 15;  // elements below which a loop runs on one thread

// ------------------------------------------------------------------ unary

template <class F>
void unary_loop(const float* x, float* y, int64_t n, F f) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

// tfjs's softplus: exp(x) below log(eps)+2, x above -(log(eps)+2), log1p(exp(x)) between.
inline float softplus(float x) {
  const float threshold = std::log(1.1920928955078125e-7f) + 2.0f;
  if (x < threshold) return std::exp(x);
  if (x > -threshold) return x;
  return std::log1p(std::exp(x));
}

constexpr float kSeluScale = 1.0507009873554804934193349852946f;
constexpr float kSeluScaleAlpha = 1.7580993408473768599402175208123f;

void run_unary(UnaryOp op, const float* x, float* y, int64_t n, float alpha) {
  switch (op) {
    case UnaryOp::Neg: return unary_loop(x, y, n, [](float v) { return -v; });
    case UnaryOp::Abs: return unary_loop(x, y, n, [](float v) { return std::fabs(v); });
    case UnaryOp::Square: return unary_loop(x, y, n, [](float v) { return v * v; });
    case UnaryOp::Sqrt: return unary_loop(x, y, n, [](float v) { return std::sqrt(v); });
    case UnaryOp::Rsqrt: return unary_loop(x, y, n, [](float v) { return 1.0f / std::sqrt(v); });
    case UnaryOp::Reciprocal: return unary_loop(x, y, n, [](float v) { return 1.0f / v; });
    case UnaryOp::Exp: return unary_loop(x, y, n, [](float v) { return std::exp(v); });
    case UnaryOp::Expm1: return unary_loop(x, y, n, [](float v) { return std::expm1(v); });
    case UnaryOp::Log: return unary_loop(x, y, n, [](float v) { return std::log(v); });
    case UnaryOp::Log1p: return unary_loop(x, y, n, [](float v) { return std::log1p(v); });
    case UnaryOp::Sigmoid: return unary_loop(x, y, n, [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
    case UnaryOp::Tanh: return unary_loop(x, y, n, [](float v) { return std::tanh(v); });
    case UnaryOp::Softplus: return unary_loop(x, y, n, softplus);
    // Comparisons are false for NaN, so NaN passes through relu, relu6, elu, leakyRelu.
    case UnaryOp::Relu: return unary_loop(x, y, n, [](float v) { return v < 0.0f ? 0.0f : v; });
    case UnaryOp::Relu6:
      return unary_loop(x, y, n, [](float v) { return v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v); });
    case UnaryOp::Elu: return unary_loop(x, y, n, [](float v) { return v >= 0.0f ? v : std::expm1(v); });
    case UnaryOp::Selu:
      return unary_loop(x, y, n, [](float v) {
        return v >= 0.0f ? kSeluScale * v : kSeluScaleAlpha * std::expm1(v);
      });
    case UnaryOp::LeakyRelu: return unary_loop(x, y, n, [alpha](float v) { return v < 0.0f ? alpha * v : v; });
    case UnaryOp::Step:
      return unary_loop(x, y, n, [alpha](float v) { return v != v ? v : (v > 0.0f ? 1.0f : alpha); });
  }
}

// ------------------------------------------------------------------ binary

struct AddF { static float f(float a, float b) { return a + b; } };
struct SubF { static float f(float a, float b) { return a - b; } };
struct MulF { static float f(float a, float b) { return a * b; } };
struct DivF { static float f(float a, float b) { return a / b; } };
struct MaxF { static float f(float a, float b) { return (a != a || b != b) ? a + b : (a > b ? a : b); } };
struct MinF { static float f(float a, float b) { return (a != a || b != b) ? a + b : (a < b ? a : b); } };
struct SqDiffF { static float f(float a, float b) { const float d = a - b; return d * d; } };
// prelu(x, alpha): x < 0 ? alpha * x : x
struct PreluF { static float f(float a, float b) { return a < 0.0f ? a * b : a; } };
// eluGrad(dy, y): dy where y >= 0, else dy * (y + 1)
struct EluGradF { static float f(float a, float b) { return b >= 0.0f ? a : a * (b + 1.0f); } };
// squareGrad(dy, x) = dy * (2 x) (tfjs's square gradient, one pass)
struct SquareGradF { static float f(float a, float b) { return a * (b * 2.0f); } };
// reluGrad(dy, x) = dy * step(x), step(NaN) = NaN (tfjs's relu gradient, one pass)
// relu(a + b) in one pass (the tfjs backend's Add then Relu); NaN passes, as in relu.
struct AddReluF { static float f(float a, float b) { const float s = a + b; return s < 0.0f ? 0.0f : s; } };
struct ReluGradF { static float f(float a, float b) { return b != b ? b : a * (b > 0.0f ? 1.0f : 0.0f); } };

struct Plan {
  int rank = 0;            // coalesced dims (the last is the inner loop)
  int64_t dim[kMaxDims];   // output dims
  int64_t sa[kMaxDims];    // strides of a (0 where broadcast)
  int64_t sb[kMaxDims];
};

// Contiguous strides of `s` aligned right to `rank` dims, 0 where s broadcasts.
void broadcast_strides(const Shape& s, const Shape& out, int64_t* st) {
  const int r = int(out.size()), off = r - int(s.size());
  int64_t acc = 1;
  for (int i = r - 1; i >= 0; --i) {
    const int64_t d = i >= off ? s[size_t(i - off)] : 1;
    st[i] = (d == 1 && out[size_t(i)] != 1) ? 0 : acc;
    acc *= d;
  }
}

Plan make_plan(const Shape& a, const Shape& b, const Shape& out) {
  const int r = int(out.size());
  int64_t sa[kMaxDims], sb[kMaxDims];
  broadcast_strides(a, out, sa);
  broadcast_strides(b, out, sb);
  Plan p;
  for (int i = 0; i < r; ++i) {
    if (out[size_t(i)] == 1) continue;
    if (p.rank > 0) {
      const int j = p.rank - 1;
      // Merge dim i into the previous one when both inputs step through them as one.
      if (sa[j] == sa[i] * out[size_t(i)] && sb[j] == sb[i] * out[size_t(i)]) {
        p.dim[j] *= out[size_t(i)];
        p.sa[j] = sa[i];
        p.sb[j] = sb[i];
        continue;
      }
    }
    p.dim[p.rank] = out[size_t(i)];
    p.sa[p.rank] = sa[i];
    p.sb[p.rank] = sb[i];
    ++p.rank;
  }
  if (p.rank == 0) {
    p.rank = 1;
    p.dim[0] = 1;
    p.sa[0] = p.sb[0] = 1;
  }
  return p;
}

template <class F>
void inner(const float* a, const float* b, float* y, int64_t n, int64_t sa, int64_t sb) {
  if (sa && sb) {
    for (int64_t i = 0; i < n; ++i) y[i] = F::f(a[i], b[i]);
  } else if (sa) {
    const float vb = b[0];
    for (int64_t i = 0; i < n; ++i) y[i] = F::f(a[i], vb);
  } else if (sb) {
    const float va = a[0];
    for (int64_t i = 0; i < n; ++i) y[i] = F::f(va, b[i]);
  } else {
    const float v = F::f(a[0], b[0]);
    for (int64_t i = 0; i < n; ++i) y[i] = v;
  }
}

template <class F>
void binary_loop(const Plan& p, const float* a, const float* b, float* y) {
  const int r = p.rank;
  const int64_t n = p.dim[r - 1], sai = p.sa[r - 1], sbi = p.sb[r - 1];
  int64_t outer = 1;
  for (int i = 0; i < r - 1; ++i) outer *= p.dim[i];
  const int64_t total = outer * n;
  if (outer == 1) {
    // One long row: split it.
#pragma omp parallel if (total > kParallelMin)
    {
      const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t chunk = (n + nt - 1) / nt, lo = std::min(n, t * chunk), hi = std::min(n, lo + chunk);
      if (hi > lo) inner<F>(a + lo * sai, b + lo * sbi, y + lo, hi - lo, sai, sbi);
    }
    return;
  }
#pragma omp parallel if (total > kParallelMin)
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t chunk = (outer + nt - 1) / nt, lo = std::min(outer, t * chunk), hi = std::min(outer, lo + chunk);
    if (hi > lo) {
      // Multi-index of row `lo` over the outer dims.
      int64_t idx[kMaxDims] = {0};
      int64_t rem = lo, oa = 0, ob = 0;
      for (int i = r - 2; i >= 0; --i) {
        idx[i] = rem % p.dim[i];
        rem /= p.dim[i];
        oa += idx[i] * p.sa[i];
        ob += idx[i] * p.sb[i];
      }
      for (int64_t row = lo; row < hi; ++row) {
        inner<F>(a + oa, b + ob, y + row * n, n, sai, sbi);
        for (int i = r - 2; i >= 0; --i) {
          oa += p.sa[i];
          ob += p.sb[i];
          if (++idx[i] < p.dim[i]) break;
          oa -= p.sa[i] * p.dim[i];
          ob -= p.sb[i] * p.dim[i];
          idx[i] = 0;
        }
      }
    }
  }
}

void run_binary(BinaryOp op, const Plan& p, const float* a, const float* b, float* y) {
  switch (op) {
    case BinaryOp::Add: return binary_loop<AddF>(p, a, b, y);
    case BinaryOp::Sub: return binary_loop<SubF>(p, a, b, y);
    case BinaryOp::Mul: return binary_loop<MulF>(p, a, b, y);
    case BinaryOp::Div: return binary_loop<DivF>(p, a, b, y);
    case BinaryOp::Maximum: return binary_loop<MaxF>(p, a, b, y);
    case BinaryOp::Minimum: return binary_loop<MinF>(p, a, b, y);
    case BinaryOp::SquaredDifference: return binary_loop<SqDiffF>(p, a, b, y);
    case BinaryOp::Prelu: return binary_loop<PreluF>(p, a, b, y);
    case BinaryOp::EluGrad: return binary_loop<EluGradF>(p, a, b, y);
    case BinaryOp::ReluGrad: return binary_loop<ReluGradF>(p, a, b, y);
    case BinaryOp::SquareGrad: return binary_loop<SquareGradF>(p, a, b, y);
    case BinaryOp::AddRelu: return binary_loop<AddReluF>(p, a, b, y);
  }
}

}  // namespace

Tensor unary(const Tensor& x, UnaryOp op, float alpha) {
  const char* name = "unary";
  Tensor y = empty_tensor(x.shape, DType::F32, x.device(), name);
  const int64_t n = x.numel();
  if (n == 0) return y;
  CpuStream::get().enqueue(name, [x, y, n, op, alpha] { run_unary(op, x.f32(), y.f32(), n, alpha); });
  return y;
}

Tensor binary(const Tensor& a, const Tensor& b, BinaryOp op, const Shape& out_shape) {
  // Same-shape addition (residual adds, tfjs's Add) streams large outputs there.
  if (op == BinaryOp::Add && a.shape == out_shape && b.shape == out_shape) return add(a, b);
  const char* name = "binary";
  Tensor y = empty_tensor(out_shape, DType::F32, a.device(), name);
  if (y.numel() == 0) return y;
  const Plan p = make_plan(a.shape, b.shape, out_shape);
  CpuStream::get().enqueue(name, [a, b, y, op, p] { run_binary(op, p, a.f32(), b.f32(), y.f32()); });
  return y;
}

Tensor add_n(const std::vector<Tensor>& xs) {
  const char* name = "addN";
  Tensor y = empty_tensor(xs[0].shape, DType::F32, xs[0].device(), name);
  const int64_t n = y.numel();
  if (n == 0) return y;
  CpuStream::get().enqueue(name, [xs, y, n] {
    float* out = y.f32();
    const size_t k = xs.size();
    std::vector<const float*> in(k);  // (outside the parallel region: see sgd.cc)
    for (size_t j = 0; j < k; ++j) in[j] = xs[j].f32();
    // Blocks of 4096 keep the partial sums in L1 while every input streams through once.
    const int64_t block = 4096, nblocks = (n + block - 1) / block;
#pragma omp parallel for schedule(static) if (n * int64_t(k) > kParallelMin)
    for (int64_t bi = 0; bi < nblocks; ++bi) {
      const int64_t lo = bi * block, hi = std::min(n, lo + block);
      const float* x0 = in[0];
      for (int64_t i = lo; i < hi; ++i) out[i] = x0[i];
      for (size_t j = 1; j < k; ++j) {
        const float* xj = in[j];
        for (int64_t i = lo; i < hi; ++i) out[i] += xj[i];
      }
    }
  });
  return y;
}

Tensor clip(const Tensor& x, float lo, float hi) {
  const char* name = "clip";
  Tensor y = empty_tensor(x.shape, DType::F32, x.device(), name);
  const int64_t n = x.numel();
  if (n == 0) return y;
  CpuStream::get().enqueue(name, [x, y, n, lo, hi] {
    unary_loop(x.f32(), y.f32(), n, [lo, hi](float v) { return v > hi ? hi : (v < lo ? lo : v); });
  });
  return y;
}

}  // namespace senet::cpu
