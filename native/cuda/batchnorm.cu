// Batch normalisation over N,H,W per channel of NHWC tensors (float32 or
// bfloat16 activations; statistics, scales and gradients in float32), our
// own kernels so the semantics are exactly the CPU's: training returns the
// batch mean and the BIASED variance and updates the running statistics
// with momentum and the UNBIASED variance (PyTorch).
//
// Statistics are column reductions (reduce.cuh) over the M = N*H*W pixel
// rows: the mean, then the sum of squared deviations from it (two passes: no
// cancellation); the normalisation is one more pass with per-channel
// a = gamma / sqrt(var + eps), b = beta - mean * a. Backward reduces dy and
// dy * xhat in one pass and applies dx = a (dy - dbeta/M - xhat dgamma/M).
#include "cuda/allocator.h"
#include "cuda/ops.h"
#include "cuda/reduce.cuh"
#include "cuda/stream.h"

namespace senet::cuda {
namespace {

constexpr int kThreads = 256;

template <class T>
struct SqDevLoad {
  const T* x;
  const float* mean;
  int64_t C;
  bool vec;
  __device__ void operator()(int64_t, int64_t r, int64_t c0, float (&v)[1][4]) const {
    float a[4];
    load4(x + r * C, c0, C, vec, a);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float d = c0 + k < C ? a[k] - mean[c0 + k] : 0.0f;
      v[0][k] = d * d;
    }
  }
};

// v[0] = dy, v[1] = dy * (x - mean) * invstd
template <class T>
struct BwdLoad {
  const T* dy;
  const T* x;
  const float* mean;
  const float* invstd;
  int64_t C;
  bool vec;
  __device__ void operator()(int64_t, int64_t r, int64_t c0, float (&v)[2][4]) const {
    float g[4], a[4];
    load4(dy + r * C, c0, C, vec, g);
    load4(x + r * C, c0, C, vec, a);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const bool in = c0 + k < C;
      v[0][k] = g[k];
      v[1][k] = in ? g[k] * ((a[k] - mean[c0 + k]) * invstd[c0 + k]) : 0.0f;
    }
  }
};

// Per channel: a = gamma / sqrt(var + eps) (as gamma * (1/sqrt)), b = beta - mean a.
__global__ void bn_fold_kernel(const float* __restrict__ gamma, const float* __restrict__ beta,
                               const float* __restrict__ mean, const float* __restrict__ var, float eps, int64_t C,
                               float* __restrict__ a, float* __restrict__ b) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < C; c += int64_t(gridDim.x) * blockDim.x) {
    const float s = 1.0f / sqrtf(var[c] + eps);
    a[c] = gamma[c] * s;
    b[c] = beta[c] - mean[c] * a[c];
  }
}

template <class T>
__global__ void bn_apply_kernel(const T* __restrict__ x, const float* __restrict__ a, const float* __restrict__ b,
                                T* __restrict__ y, int64_t n, int64_t C) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % C;
    y[i] = from_f<T>(to_f(x[i]) * a[c] + b[c]);
  }
}

// Running statistics, as native/cpu/batchnorm.cc.
__global__ void bn_running_kernel(float* __restrict__ rm, float* __restrict__ rv, const float* __restrict__ mean,
                                  const float* __restrict__ var, int64_t C, float m, float unbias) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < C; c += int64_t(gridDim.x) * blockDim.x) {
    if (rm) rm[c] = (1.0f - m) * rm[c] + m * mean[c];
    if (rv) rv[c] = (1.0f - m) * rv[c] + m * var[c] * unbias;
  }
}

__global__ void bn_invstd_kernel(const float* __restrict__ var, float eps, int64_t C, float* __restrict__ invstd) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < C; c += int64_t(gridDim.x) * blockDim.x)
    invstd[c] = 1.0f / sqrtf(var[c] + eps);
}

template <class T>
__global__ void bn_dx_kernel(const T* __restrict__ dy, const T* __restrict__ x, const float* __restrict__ gamma,
                             const float* __restrict__ mean, const float* __restrict__ invstd,
                             const float* __restrict__ dbeta, const float* __restrict__ dgamma, float invM,
                             T* __restrict__ dx, int64_t n, int64_t C) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % C;
    const float s = invstd[c];
    const float xhat = (to_f(x[i]) - mean[c]) * s;
    const float g = to_f(dy[i]) - dbeta[c] * invM - xhat * (dgamma[c] * invM);
    dx[i] = from_f<T>(gamma[c] * s * g);
  }
}

}  // namespace

std::vector<Tensor> batchnorm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                    const std::optional<Tensor>& running_mean,
                                    const std::optional<Tensor>& running_var, const BatchNormParams& p) {
  const char* op = "batchNormTrain";
  Context& ctx = context(x.device().index, op);
  require_f32(op, {{"gamma", &gamma}, {"beta", &beta}, {"runningMean", running_mean ? &*running_mean : nullptr},
                   {"runningVar", running_var ? &*running_var : nullptr}});
  const int64_t C = x.shape[3], M = x.shape[0] * x.shape[1] * x.shape[2], n = x.numel();
  Tensor y = empty_tensor(x.shape, x.dtype, x.device(), op);
  Tensor mean = empty_tensor({C}, DType::F32, x.device(), op);
  Tensor var = empty_tensor({C}, DType::F32, x.device(), op);
  Scratch fold(ctx.device, size_t(2 * C) * sizeof(float), op);
  float* a = fold.get<float>();
  float* b = a + C;
  const float invM = 1.0f / float(M);
  const bool vec = C % 4 == 0;
  SENET_CUDA_ACT_DISPATCH(x.dtype, op, T, {
    column_sums_launch<1>(PlainLoad<T>{x.data<T>(), M, C, vec}, 1, M, C, invM, mean.f32(), ctx.device, ctx.stream,
                          ctx.sm_count, op);
    column_sums_launch<1>(SqDevLoad<T>{x.data<T>(), mean.f32(), C, vec}, 1, M, C, invM, var.f32(), ctx.device,
                          ctx.stream, ctx.sm_count, op);
    bn_fold_kernel<<<grid_for(C, kThreads), kThreads, 0, ctx.stream>>>(gamma.f32(), beta.f32(), mean.f32(), var.f32(),
                                                                      float(p.eps), C, a, b);
    check_launch(op, "bn_fold_kernel");
    bn_apply_kernel<T><<<grid_for(n, kThreads), kThreads, 0, ctx.stream>>>(x.data<T>(), a, b, y.data<T>(), n, C);
    check_launch(op, "bn_apply_kernel");
  });
  if (running_mean || running_var) {
    const float unbias = M > 1 ? float(double(M) / double(M - 1)) : 1.0f;
    bn_running_kernel<<<grid_for(C, kThreads), kThreads, 0, ctx.stream>>>(
        running_mean ? running_mean->f32() : nullptr, running_var ? running_var->f32() : nullptr, mean.f32(),
        var.f32(), C, float(p.momentum), unbias);
    check_launch(op, "bn_running_kernel");
  }
  return {y, mean, var};
}

Tensor batchnorm_infer(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                       const Tensor& var, const BatchNormParams& p) {
  const char* op = "batchNormInference";
  Context& ctx = context(x.device().index, op);
  require_f32(op, {{"gamma", &gamma}, {"beta", &beta}, {"mean", &mean}, {"var", &var}});
  const int64_t C = x.shape[3], n = x.numel();
  Tensor y = empty_tensor(x.shape, x.dtype, x.device(), op);
  Scratch fold(ctx.device, size_t(2 * C) * sizeof(float), op);
  float* a = fold.get<float>();
  float* b = a + C;
  bn_fold_kernel<<<grid_for(C, kThreads), kThreads, 0, ctx.stream>>>(gamma.f32(), beta.f32(), mean.f32(), var.f32(),
                                                                    float(p.eps), C, a, b);
  check_launch(op, "bn_fold_kernel");
  SENET_CUDA_ACT_DISPATCH(x.dtype, op, T,
                          bn_apply_kernel<T><<<grid_for(n, kThreads), kThreads, 0, ctx.stream>>>(x.data<T>(), a, b,
                                                                                                y.data<T>(), n, C));
  check_launch(op, "bn_apply_kernel");
  return y;
}

std::vector<Tensor> batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                       const Tensor& var, const BatchNormParams& p) {
  const char* op = "batchNormBackward";
  Context& ctx = context(x.device().index, op);
  require_f32(op, {{"gamma", &gamma}, {"mean", &mean}, {"var", &var}});
  if (dy.dtype != x.dtype)
    fail(Code::DType, op, "dy", std::string("dtype ") + dtype_name(x.dtype) + " like x", dtype_name(dy.dtype));
  const int64_t C = x.shape[3], M = x.shape[0] * x.shape[1] * x.shape[2], n = x.numel();
  Tensor dx = empty_tensor(x.shape, x.dtype, x.device(), op);
  Tensor dgamma = empty_tensor({C}, DType::F32, x.device(), op);
  Tensor dbeta = empty_tensor({C}, DType::F32, x.device(), op);
  Scratch work(ctx.device, size_t(3 * C) * sizeof(float), op);
  float* invstd = work.get<float>();
  float* sums = invstd + C;  // [dbeta | dgamma]
  bn_invstd_kernel<<<grid_for(C, kThreads), kThreads, 0, ctx.stream>>>(var.f32(), float(p.eps), C, invstd);
  check_launch(op, "bn_invstd_kernel");
  const bool vec = C % 4 == 0;
  SENET_CUDA_ACT_DISPATCH(x.dtype, op, T, {
    column_sums_launch<2>(BwdLoad<T>{dy.data<T>(), x.data<T>(), mean.f32(), invstd, C, vec}, 1, M, C, 1.0f, sums,
                          ctx.device, ctx.stream, ctx.sm_count, op);
    bn_dx_kernel<T><<<grid_for(n, kThreads), kThreads, 0, ctx.stream>>>(dy.data<T>(), x.data<T>(), gamma.f32(),
                                                                       mean.f32(), invstd, sums, sums + C,
                                                                       1.0f / float(M), dx.data<T>(), n, C);
    check_launch(op, "bn_dx_kernel");
  });
  check(cudaMemcpyAsync(dbeta.f32(), sums, size_t(C) * sizeof(float), cudaMemcpyDeviceToDevice, ctx.stream), op,
        "cudaMemcpyAsync");
  check(cudaMemcpyAsync(dgamma.f32(), sums + C, size_t(C) * sizeof(float), cudaMemcpyDeviceToDevice, ctx.stream), op,
        "cudaMemcpyAsync");
  return {dx, dgamma, dbeta};
}

}  // namespace senet::cuda
