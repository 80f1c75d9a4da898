// Batch normalisation over N,H,W per channel of an NHWC tensor: our own
// loops (OpenMP over rows, the compiler vectorises over channels). They
// replaced oneDNN 2.6's NHWC batch norm (bnorm_tbb_jit), which ran at about
// 8 GB/s here and took a fifth of an SE-ResNet-20 training step; these run
// from cache at several times that (see the note in the commit).
//
// An NHWC tensor is a [R = N*H*W, C] matrix; every op reads rows.
//   training forward: pass 1 sums x (mean), pass 2 sums (x - mean)^2 (the
//     biased variance, two-pass so a large mean does not cancel the variance
//     away as E[x^2] - mean^2 would), pass 3 writes y = x*scale + shift.
//   inference: pass 3 only, with the given statistics.
//   backward: pass 1 sums dy and dy*(x - mean) (dbeta, dgamma*std), pass 2
//     writes dx = gamma*invstd*(dy - mean(dy) - xhat*mean(dy*xhat)).
// With a ReLU fused (p.relu; batchnorm_relu_backward): the forward's pass 3
// writes relu(x*scale + shift), and the backward takes dy through the relu
// by recomputing x*scale + shift > 0 from x and the same scale and shift
// (one fma, the same in both): the pre-relu output is never written or
// read, which saves the relu's own pass forward (read, write) and backward
// (read two, write one), and the memory of one activation.
// Sums run in float over blocks of kBlock rows, then in double across
// blocks and threads: the error of each element's contribution is that of a
// kBlock-term float sum, not of an R-term one.
// The running statistics follow PyTorch: unbiased variance, momentum on the
// new value.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/stream.h"
#include "cpu/ops.h"
#include "cpu/stream_out.h"

namespace senet::cpu {
namespace {

constexpr int64_t kBlock = 64;              // rows per float partial sum
constexpr int64_t kParallelMin = 1 << 15;   // elements below which one thread does it

int threads_for(int64_t elems) { return elems < kParallelMin ? 1 : omp_get_max_threads(); }

// Rows [r0, r1) of thread t of T.
inline void row_range(int64_t R, int t, int T, int64_t* r0, int64_t* r1) {
  *r0 = R * t / T;
  *r1 = R * (t + 1) / T;
}

// out[k*C + c] = sum over rows r of term_k(r, c), k < K (K = 1 or 2), in
// double. `term(row, acc)` adds row r's terms into the float accumulators
// acc[0..K*C).
template <int K, class Term>
void channel_sums(int64_t R, int64_t C, double* out, Term term) {
  const int T = threads_for(R * C);
  std::vector<double> part(size_t(T) * K * C, 0.0);
#pragma omp parallel num_threads(T)
  {
    const int t = omp_get_thread_num();
    int64_t r0, r1;
    row_range(R, t, T, &r0, &r1);
    std::vector<float> acc(size_t(K * C));
    double* mine = part.data() + size_t(t) * K * C;
    for (int64_t b = r0; b < r1; b += kBlock) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      const int64_t e = std::min(r1, b + kBlock);
      for (int64_t r = b; r < e; ++r) term(r, acc.data());
      for (int64_t i = 0; i < K * C; ++i) mine[i] += double(acc[size_t(i)]);
    }
  }
  std::fill(out, out + K * C, 0.0);
  for (int t = 0; t < T; ++t)
    for (int64_t i = 0; i < K * C; ++i) out[i] += part[size_t(t) * K * C + size_t(i)];
}

// x*scale + shift: the batch norm's output, before a fused relu. One
// explicit fma, so that the backward recomputes the forward's bits.
inline float affine(float x, float scale, float shift) { return std::fma(x, scale, shift); }

// relu as relu_forward (cpu/eltwise.cc): NaN stays NaN.
inline float relu(float v) { return v < 0.0f ? 0.0f : v; }

// The backward's pass-1 terms through a fused relu's mask, for one row:
// acc[c] += g'[c], a1[c] += g'[c] * (x[c] - mu[c]) with g' = g where
// affine(x, scale, shift) > 0, else 0. Written out: GCC 12 left the select
// of a loaded g scalar here (4x slower than relu's own pass). The same
// arithmetic as the unmasked sums (one fma for a1), so that a masked dy
// sums to the same bits as reluBackward's output would.
inline void masked_sums(const float* g, const float* x, const float* scale, const float* shift, const float* mu,
                        float* acc, float* a1, int64_t C) {
  int64_t c = 0;
  const __m256 zero = _mm256_setzero_ps();
  for (; c + 8 <= C; c += 8) {
    const __m256 xv = _mm256_loadu_ps(x + c);
    const __m256 z = _mm256_fmadd_ps(xv, _mm256_loadu_ps(scale + c), _mm256_loadu_ps(shift + c));
    const __m256 gc = _mm256_and_ps(_mm256_cmp_ps(z, zero, _CMP_GT_OQ), _mm256_loadu_ps(g + c));
    _mm256_storeu_ps(acc + c, _mm256_add_ps(_mm256_loadu_ps(acc + c), gc));
    _mm256_storeu_ps(a1 + c, _mm256_fmadd_ps(gc, _mm256_sub_ps(xv, _mm256_loadu_ps(mu + c)), _mm256_loadu_ps(a1 + c)));
  }
  for (; c < C; ++c) {
    const float gv = g[c];
    const float gc = affine(x[c], scale[c], shift[c]) > 0.0f ? gv : 0.0f;
    acc[c] += gc;
    a1[c] = std::fma(gc, x[c] - mu[c], a1[c]);
  }
}

// y = x*scale + shift per channel (relu'd when asked).
template <bool Relu>
void apply(const float* x, float* y, int64_t R, int64_t C, const float* scale, const float* shift) {
  const int T = threads_for(R * C);
  const bool nt = stream_output(R * C * int64_t(sizeof(float)));
#pragma omp parallel num_threads(T)
  {
    int64_t r0, r1;
    row_range(R, omp_get_thread_num(), omp_get_num_threads(), &r0, &r1);
    // Elements [i0, i1) of the flattened output, cut at row ends.
    write_range(y, r0 * C, r1 * C, nt, [&](int64_t i0, int64_t i1, float* d) {
      for (int64_t i = i0; i < i1;) {
        const int64_t c0 = i % C, len = std::min(C - c0, i1 - i);
        const float* xr = x + i;
        float* dr = d + (i - i0);
        for (int64_t c = 0; c < len; ++c) {
          const float v = affine(xr[c], scale[c0 + c], shift[c0 + c]);
          dr[c] = Relu ? relu(v) : v;
        }
        i += len;
      }
    });
  }
}

void affine_of(const float* gamma, const float* beta, const float* mean, const float* var, double eps, int64_t C,
               std::vector<float>* scale, std::vector<float>* shift) {
  scale->resize(size_t(C));
  shift->resize(size_t(C));
  for (int64_t c = 0; c < C; ++c) {
    const double s = double(gamma[c]) / std::sqrt(double(var[c]) + eps);
    (*scale)[size_t(c)] = float(s);
    (*shift)[size_t(c)] = float(double(beta[c]) - double(mean[c]) * s);
  }
}

}  // namespace

std::vector<Tensor> batchnorm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                    const std::optional<Tensor>& running_mean,
                                    const std::optional<Tensor>& running_var, const BatchNormParams& p) {
  const char* op = "batchNormTrain";
  const int64_t C = x.shape[3];
  const int64_t R = x.shape[0] * x.shape[1] * x.shape[2];
  Tensor y = empty_tensor(x.shape, DType::F32, x.device(), op);
  Tensor mean = empty_tensor({C}, DType::F32, x.device(), op);
  Tensor var = empty_tensor({C}, DType::F32, x.device(), op);
  const float m = float(p.momentum);
  const double eps = p.eps;
  const bool fuse_relu = p.relu;
  auto rm = running_mean, rv = running_var;
  CpuStream::get().enqueue(op, [x, gamma, beta, y, mean, var, rm, rv, C, R, m, eps, fuse_relu] {
    const float* xs = x.f32();
    std::vector<double> s(static_cast<size_t>(C));
    // pass 1: the mean
    channel_sums<1>(R, C, s.data(), [&](int64_t r, float* acc) {
      const float* xr = xs + r * C;
      for (int64_t c = 0; c < C; ++c) acc[c] += xr[c];
    });
    std::vector<float> mu(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) mu[size_t(c)] = float(s[size_t(c)] / double(R));
    // pass 2: the biased variance around the float mean (what the output uses)
    channel_sums<1>(R, C, s.data(), [&](int64_t r, float* acc) {
      const float* xr = xs + r * C;
      const float* mp = mu.data();
      for (int64_t c = 0; c < C; ++c) {
        const float d = xr[c] - mp[c];
        acc[c] += d * d;
      }
    });
    float* mo = mean.f32();
    float* vo = var.f32();
    for (int64_t c = 0; c < C; ++c) {
      mo[c] = mu[size_t(c)];
      vo[c] = float(s[size_t(c)] / double(R));
    }
    // pass 3: y
    std::vector<float> scale, shift;
    affine_of(gamma.f32(), beta.f32(), mo, vo, eps, C, &scale, &shift);
    (fuse_relu ? apply<true> : apply<false>)(xs, y.f32(), R, C, scale.data(), shift.data());
    const float unbias = R > 1 ? float(double(R) / double(R - 1)) : 1.0f;
    if (rm) {
      float* r = rm->f32();
      for (int64_t c = 0; c < C; ++c) r[c] = (1.0f - m) * r[c] + m * mo[c];
    }
    if (rv) {
      float* r = rv->f32();
      for (int64_t c = 0; c < C; ++c) r[c] = (1.0f - m) * r[c] + m * vo[c] * unbias;
    }
  });
  return {y, mean, var};
}

Tensor batchnorm_infer(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                       const Tensor& var, const BatchNormParams& p) {
  const char* op = "batchNormInference";
  const int64_t C = x.shape[3];
  const int64_t R = x.shape[0] * x.shape[1] * x.shape[2];
  Tensor y = empty_tensor(x.shape, DType::F32, x.device(), op);
  const double eps = p.eps;
  const bool fuse_relu = p.relu;
  CpuStream::get().enqueue(op, [x, gamma, beta, mean, var, y, C, R, eps, fuse_relu] {
    std::vector<float> scale, shift;
    affine_of(gamma.f32(), beta.f32(), mean.f32(), var.f32(), eps, C, &scale, &shift);
    (fuse_relu ? apply<true> : apply<false>)(x.f32(), y.f32(), R, C, scale.data(), shift.data());
  });
  return y;
}

namespace {

// batchnorm_backward, and with beta given, batchnorm_relu_backward.
std::vector<Tensor> backward(const char* op, const Tensor& dy, const Tensor& x, const Tensor& gamma,
                             const std::optional<Tensor>& beta, const Tensor& mean, const Tensor& var,
                             const BatchNormParams& p) {
  const int64_t C = x.shape[3];
  const int64_t R = x.shape[0] * x.shape[1] * x.shape[2];
  Tensor dx = empty_tensor(x.shape, DType::F32, x.device(), op);
  Tensor dgamma = empty_tensor({C}, DType::F32, x.device(), op);
  Tensor dbeta = empty_tensor({C}, DType::F32, x.device(), op);
  const double eps = p.eps;
  CpuStream::get().enqueue(op, [dy, x, gamma, beta, mean, var, dx, dgamma, dbeta, C, R, eps] {
    const float* g = dy.f32();
    const float* xs = x.f32();
    const float* mu = mean.f32();
    // The relu's mask: the forward's output before the relu was > 0.
    std::vector<float> scale, shift;
    if (beta) affine_of(gamma.f32(), beta->f32(), mu, var.f32(), eps, C, &scale, &shift);
    const float* sc = scale.data();
    const float* sh = shift.data();
    const bool masked = beta.has_value();
    // pass 1: sum dy and sum dy*(x - mean)
    std::vector<double> s(static_cast<size_t>(2 * C));
    channel_sums<2>(R, C, s.data(), [&](int64_t r, float* acc) {
      const float* gr = g + r * C;
      const float* xr = xs + r * C;
      float* a1 = acc + C;
      if (masked) {
        masked_sums(gr, xr, sc, sh, mu, acc, a1, C);
      } else {
        for (int64_t c = 0; c < C; ++c) {
          acc[c] += gr[c];
          a1[c] = std::fma(gr[c], xr[c] - mu[c], a1[c]);  // (as masked_sums: the same bits for a masked dy)
        }
      }
    });
    // dbeta = sum dy, dgamma = invstd * sum dy*(x - mean);
    // dx = gamma*invstd*dy + a*(x - mean) + b per channel, with
    //   a = -gamma*invstd^3 * sum dy*(x - mean) / R,  b = -gamma*invstd * mean(dy).
    const size_t Cs = static_cast<size_t>(C);
    std::vector<float> k(Cs), a(Cs), b(Cs);
    float* dg = dgamma.f32();
    float* db = dbeta.f32();
    const float* gm = gamma.f32();
    const float* v = var.f32();
    for (int64_t c = 0; c < C; ++c) {
      const double inv = 1.0 / std::sqrt(double(v[c]) + eps);
      const double sdy = s[size_t(c)], sdyx = s[size_t(C + c)];
      db[c] = float(sdy);
      dg[c] = float(sdyx * inv);
      k[size_t(c)] = float(double(gm[c]) * inv);
      a[size_t(c)] = float(-double(gm[c]) * inv * inv * inv * sdyx / double(R));
      b[size_t(c)] = float(-double(gm[c]) * inv * sdy / double(R));
    }
    // pass 2: dx
    float* d = dx.f32();
    const int T = threads_for(R * C);
#pragma omp parallel for schedule(static) num_threads(T)
    for (int64_t r = 0; r < R; ++r) {
      const float* gr = g + r * C;
      const float* xr = xs + r * C;
      float* dr = d + r * C;
      if (masked) {
        for (int64_t c = 0; c < C; ++c) {
          const float gv = gr[c];
          const float gc = affine(xr[c], sc[c], sh[c]) > 0.0f ? gv : 0.0f;
          dr[c] = k[size_t(c)] * gc + a[size_t(c)] * (xr[c] - mu[c]) + b[size_t(c)];
        }
      } else {
        for (int64_t c = 0; c < C; ++c) dr[c] = k[size_t(c)] * gr[c] + a[size_t(c)] * (xr[c] - mu[c]) + b[size_t(c)];
      }
    }
  });
  return {dx, dgamma, dbeta};
}

}  // namespace

std::vector<Tensor> batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                       const Tensor& var, const BatchNormParams& p) {
  return backward("batchNormBackward", dy, x, gamma, std::nullopt, mean, var, p);
}

std::vector<Tensor> batchnorm_relu_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                            const Tensor& beta, const Tensor& mean, const Tensor& var,
                                            const BatchNormParams& p) {
  return backward("batchNormBackward", dy, x, gamma, beta, mean, var, p);
}

}  // namespace senet::cpu
