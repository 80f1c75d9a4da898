// Device helpers shared by the kernels: float32/bfloat16 loads and stores
// (arithmetic is always float32), vector packs, warp reductions, and the
// host-side dtype dispatch.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/tensor.h"
#include "cuda/common.h"
#include "cuda/index.h"

namespace senet::cuda {

using bf16 = __nv_bfloat16;

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(bf16 x) { return __bfloat162float(x); }
template <class T>
__device__ __forceinline__ T from_f(float x);
template <>
__device__ __forceinline__ float from_f<float>(float x) { return x; }
template <>
__device__ __forceinline__ bf16 from_f<bf16>(float x) { return __float2bfloat16_rn(x); }

// V consecutive elements moved as one aligned vector access.
template <class T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

// 8 consecutive elements at p (16- or 32-byte aligned) as floats.
template <class T>
__device__ __forceinline__ void load8(const T* p, float (&out)[8]) {
  if constexpr (sizeof(T) == 4) {
    const float4 a = reinterpret_cast<const float4*>(p)[0];
    const float4 b = reinterpret_cast<const float4*>(p)[1];
    out[0] = a.x, out[1] = a.y, out[2] = a.z, out[3] = a.w;
    out[4] = b.x, out[5] = b.y, out[6] = b.z, out[7] = b.w;
  } else {
    const Pack<T, 8> k = *reinterpret_cast<const Pack<T, 8>*>(p);
#pragma unroll
    for (int i = 0; i < 8; ++i) out[i] = to_f(k.v[i]);
  }
}
template <class T>
__device__ __forceinline__ void store8(T* p, const float (&in)[8]) {
  if constexpr (sizeof(T) == 4) {
    reinterpret_cast<float4*>(p)[0] = make_float4(in[0], in[1], in[2], in[3]);
    reinterpret_cast<float4*>(p)[1] = make_float4(in[4], in[5], in[6], in[7]);
  } else {
    Pack<T, 8> k;
#pragma unroll
    for (int i = 0; i < 8; ++i) k.v[i] = from_f<T>(in[i]);
    *reinterpret_cast<Pack<T, 8>*>(p) = k;
  }
}

// 4 consecutive channels c0.. of a row (zeros past C); vector access when `vec`
// (C % 4 == 0, so the row start and c0 are aligned).
template <class T>
__device__ __forceinline__ void load4(const T* row, int64_t c0, int64_t C, bool vec, float (&out)[4]) {
  if (vec) {
    const Pack<T, 4> k = *reinterpret_cast<const Pack<T, 4>*>(row + c0);
#pragma unroll
    for (int i = 0; i < 4; ++i) out[i] = to_f(k.v[i]);
  } else {
#pragma unroll
    for (int i = 0; i < 4; ++i) out[i] = c0 + i < C ? to_f(row[c0 + i]) : 0.0f;
  }
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// NaN-propagating ReLU as the CPU's: max(0, NaN) = NaN.
__device__ __forceinline__ float relu_f(float v) { return v < 0.0f ? 0.0f : v; }

}  // namespace senet::cuda

// Runs the body with T = float or bf16 by the dtype of an activation tensor.
#define SENET_CUDA_ACT_DISPATCH(dtype, op, T, ...)                                                        \
  do {                                                                                                   \
    if ((dtype) == ::senet::DType::F32) {                                                                \
      using T = float;                                                                                   \
      __VA_ARGS__;                                                                                       \
    } else if ((dtype) == ::senet::DType::BF16) {                                                        \
      using T = ::senet::cuda::bf16;                                                                     \
      __VA_ARGS__;                                                                                       \
    } else {                                                                                             \
      throw ::senet::Error(::senet::Code::DType,                                                         \
                           std::string(op) + ": expected float32 or bfloat16 activations, got " +       \
                               ::senet::dtype_name(dtype));                                              \
    }                                                                                                    \
  } while (0)
