// Mean softmax cross-entropy with label smoothing and its gradient, the
// CPU's arithmetic (native/cpu/loss.cc): per-row max, exp-sum and log in
// double, dlogits in float, the batch mean of the row losses in double in
// row order. One warp per row. A label outside [0, K) is reported through a
// kernel check (stream.h): SENET_KERNEL at the next wait, smallest index first.
#include "cuda/allocator.h"
#include "cuda/ops.h"
#include "cuda/kernel_util.cuh"
#include "cuda/stream.h"

namespace senet::cuda {
namespace {

__device__ __forceinline__ double warp_sum_d(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__global__ void ce_rows_kernel(const float* __restrict__ x, const int32_t* __restrict__ labels, int64_t N, int64_t K,
                               float off, float on, float invN, float* __restrict__ d, double* __restrict__ row_loss,
                               unsigned long long* check) {
  const int lane = threadIdx.x & 31;
  const int64_t n = blockIdx.x * int64_t(blockDim.x / 32) + (threadIdx.x >> 5);
  if (n >= N) return;
  const int32_t y = labels[n];
  if (y < 0 || int64_t(y) >= K) {
    if (lane == 0) atomicMin(check, (static_cast<unsigned long long>(n) << 32) | static_cast<uint32_t>(y));
  }
  const float* xr = x + n * K;
  float mx = -__int_as_float(0x7f800000);
  for (int64_t k = lane; k < K; k += 32) mx = fmaxf(mx, xr[k]);
  mx = warp_max(mx);
  double sum = 0.0;
  for (int64_t k = lane; k < K; k += 32) sum += exp(double(xr[k] - mx));
  sum = warp_sum_d(sum);
  const double lse = double(mx) + log(sum);
  double l = 0.0;
  float* dr = d + n * K;
  for (int64_t k = lane; k < K; k += 32) {
    const float q = (k == y) ? on : off;
    l -= double(q) * (double(xr[k]) - lse);
    dr[k] = (float(exp(double(xr[k]) - lse)) - q) * invN;
  }
  l = warp_sum_d(l);
  if (lane == 0) row_loss[n] = l;
}

__global__ void ce_mean_kernel(const double* __restrict__ row_loss, int64_t N, float* __restrict__ loss) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  double total = 0.0;
  for (int64_t n = 0; n < N; ++n) total += row_loss[n];
  *loss = float(total / double(N));
}

}  // namespace

std::vector<Tensor> softmax_cross_entropy(const Tensor& logits, const Tensor& labels, double smoothing) {
  const char* op = "softmaxCrossEntropy";
  Context& ctx = context(logits.device().index, op);
  require_f32(op, {{"logits", &logits}});
  const int64_t N = logits.shape[0], K = logits.shape[1];
  Tensor loss = empty_tensor({}, DType::F32, logits.device(), op);
  Tensor dlogits = empty_tensor(logits.shape, DType::F32, logits.device(), op);
  Scratch rows(ctx.device, size_t(N) * sizeof(double), op);
  unsigned long long* check_slot = ctx.label_check(op, K);
  const float eps = float(smoothing);
  const float off = eps / float(K), on = 1.0f - eps + off;
  const float invN = 1.0f / float(N);
  constexpr int kWarps = 8;
  ce_rows_kernel<<<unsigned((N + kWarps - 1) / kWarps), kWarps * 32, 0, ctx.stream>>>(
      logits.f32(), labels.data<int32_t>(), N, K, off, on, invN, dlogits.f32(), rows.get<double>(), check_slot);
  check_launch(op, "ce_rows_kernel");
  ce_mean_kernel<<<1, 32, 0, ctx.stream>>>(rows.get<double>(), N, loss.f32());
  check_launch(op, "ce_mean_kernel");
  return {loss, dlogits};
}

}  // namespace senet::cuda
