// float32 <-> bfloat16 conversions (round to nearest even).
#include "cuda/ops.h"
#include "cuda/kernel_util.cuh"
#include "cuda/stream.h"

namespace senet::cuda {
namespace {

template <class A, class B>
__global__ void cast_kernel(const A* __restrict__ x, B* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = from_f<B>(to_f(x[i]));
}

}  // namespace

void to_bf16(const float* src, void* dst, int64_t n, int device, const char* op) {
  Context& ctx = context(device, op);
  if (n == 0) return;
  cast_kernel<float, bf16><<<grid_for(n, 256), 256, 0, ctx.stream>>>(src, static_cast<bf16*>(dst), n);
  check_launch(op, "cast_kernel");
}

void from_bf16(const void* src, float* dst, int64_t n, int device, const char* op) {
  Context& ctx = context(device, op);
  if (n == 0) return;
  cast_kernel<bf16, float><<<grid_for(n, 256), 256, 0, ctx.stream>>>(static_cast<const bf16*>(src), dst, n);
  check_launch(op, "cast_kernel");
}

Tensor cast(const Tensor& x, DType to) {
  const char* op = "cast";
  Context& ctx = context(x.device().index, op);
  if (x.dtype == to) return copy(x);
  const bool ok = (x.dtype == DType::F32 && to == DType::BF16) || (x.dtype == DType::BF16 && to == DType::F32);
  if (!ok)
    fail(Code::DType, op, "dtype", "float32 -> bfloat16 or bfloat16 -> float32",
         std::string(dtype_name(x.dtype)) + " -> " + dtype_name(to));
  Tensor y = empty_tensor(x.shape, to, x.device(), op);
  const int64_t n = x.numel();
  if (n == 0) return y;
  if (to == DType::BF16)
    cast_kernel<float, bf16><<<grid_for(n, 256), 256, 0, ctx.stream>>>(x.f32(), y.data<bf16>(), n);
  else
    cast_kernel<bf16, float><<<grid_for(n, 256), 256, 0, ctx.stream>>>(x.data<bf16>(), y.f32(), n);
  check_launch(op, "cast_kernel");
  return y;
}

}  // namespace senet::cuda
