// Seeded fills: each thread draws one Philox4x32-10 block (4 elements) with
// the CPU's counters and arithmetic (index.h: randn_block, randu_block), so
// a seed gives the same stream on every device.
#include "cuda/ops.h"
#include "cuda/kernel_util.cuh"
#include "cuda/stream.h"

namespace senet::cuda {
namespace {

template <bool NORMAL>
__global__ void philox_fill_kernel(float* __restrict__ p, int64_t n, uint64_t seed, double a, double b) {
  const int64_t blocks = (n + 3) / 4;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < blocks; k += int64_t(gridDim.x) * blockDim.x) {
    float v[4];
    if (NORMAL) ix::randn_block(seed, k, a, b, v);
    else ix::randu_block(seed, k, a, b, v);
    const int64_t e = k * 4;
    if (e + 4 <= n) {
      reinterpret_cast<float4*>(p)[k] = make_float4(v[0], v[1], v[2], v[3]);
    } else {
      for (int j = 0; j < 4 && e + j < n; ++j) p[e + j] = v[j];
    }
  }
}

}  // namespace

void fill_randn(const Tensor& t, uint64_t seed, double mean, double std) {
  const char* op = "randn";
  Context& ctx = context(t.device().index, op);
  const int64_t n = t.numel();
  if (n == 0) return;
  philox_fill_kernel<true><<<grid_for((n + 3) / 4, 256), 256, 0, ctx.stream>>>(t.f32(), n, seed, mean, std);
  check_launch(op, "philox_fill_kernel");
}

void fill_uniform(const Tensor& t, uint64_t seed, double lo, double hi) {
  const char* op = "randu";
  Context& ctx = context(t.device().index, op);
  const int64_t n = t.numel();
  if (n == 0) return;
  philox_fill_kernel<false><<<grid_for((n + 3) / 4, 256), 256, 0, ctx.stream>>>(t.f32(), n, seed, lo, hi);
  check_launch(op, "philox_fill_kernel");
}

}  // namespace senet::cuda
