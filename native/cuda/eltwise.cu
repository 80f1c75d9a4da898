// Elementwise ops on CUDA (float32 or bfloat16): relu (NaN-propagating, as
// the CPU's), its backward, add, y += alpha x, fill, clone; and two helpers
// for the other families: a per-channel bias add and per-channel column sums.
// Memory-bound: 16-byte vector accesses where the size allows, grid-stride loops.
#include <cstring>

#include "cuda/ops.h"
#include "cuda/reduce.cuh"
#include "cuda/stream.h"

namespace senet::cuda {
namespace {

constexpr int kThreads = 256;

// Elements per vector access: 16 bytes.
template <class T>
constexpr int vec_of() { return int(16 / sizeof(T)); }

template <class T, int V>
__global__ void relu_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t packs) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < packs; i += int64_t(gridDim.x) * blockDim.x) {
    const Pack<T, V> a = reinterpret_cast<const Pack<T, V>*>(x)[i];
    Pack<T, V> o;
#pragma unroll
    for (int k = 0; k < V; ++k) o.v[k] = from_f<T>(relu_f(to_f(a.v[k])));
    reinterpret_cast<Pack<T, V>*>(y)[i] = o;
  }
}

template <class T, int V>
__global__ void relu_backward_kernel(const T* __restrict__ dy, const T* __restrict__ y, T* __restrict__ dx,
                                     int64_t packs) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < packs; i += int64_t(gridDim.x) * blockDim.x) {
    const Pack<T, V> g = reinterpret_cast<const Pack<T, V>*>(dy)[i];
    const Pack<T, V> a = reinterpret_cast<const Pack<T, V>*>(y)[i];
    Pack<T, V> o;
#pragma unroll
    for (int k = 0; k < V; ++k) o.v[k] = to_f(a.v[k]) > 0.0f ? g.v[k] : from_f<T>(0.0f);
    reinterpret_cast<Pack<T, V>*>(dx)[i] = o;
  }
}

template <class T, int V>
__global__ void add_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ y, int64_t packs) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < packs; i += int64_t(gridDim.x) * blockDim.x) {
    const Pack<T, V> p = reinterpret_cast<const Pack<T, V>*>(a)[i];
    const Pack<T, V> q = reinterpret_cast<const Pack<T, V>*>(b)[i];
    Pack<T, V> o;
#pragma unroll
    for (int k = 0; k < V; ++k) o.v[k] = from_f<T>(to_f(p.v[k]) + to_f(q.v[k]));
    reinterpret_cast<Pack<T, V>*>(y)[i] = o;
  }
}

// y and x may be the same tensor (y = 3y): no __restrict__.
template <class T, int V>
__global__ void axpy_kernel(T* y, const T* x, float alpha, int64_t packs) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < packs; i += int64_t(gridDim.x) * blockDim.x) {
    const Pack<T, V> p = reinterpret_cast<const Pack<T, V>*>(x)[i];
    Pack<T, V> o = reinterpret_cast<Pack<T, V>*>(y)[i];
#pragma unroll
    for (int k = 0; k < V; ++k) o.v[k] = from_f<T>(to_f(o.v[k]) + alpha * to_f(p.v[k]));
    reinterpret_cast<Pack<T, V>*>(y)[i] = o;
  }
}

template <class T>
__global__ void fill_kernel(T* __restrict__ p, T v, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) p[i] = v;
}

template <class T>
__global__ void bias_rows_kernel(T* __restrict__ y, const float* __restrict__ b, int64_t n, int64_t C) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = from_f<T>(to_f(y[i]) + b[i % C]);
}

// Launches kern<T, V> with V = 16-byte packs when n allows (pointers from the
// allocator are 512-byte aligned), else V = 1.

#define SENET_VEC_LAUNCH(KERNEL, T, n, stream, ...)                                        \
  do {                                                                                     \
    constexpr int V_ = vec_of<T>();                                                        \
    if ((n) % V_ == 0)                                                                     \
      KERNEL<T, V_><<<grid_for((n) / V_, kThreads), kThreads, 0, stream>>>(__VA_ARGS__, (n) / V_); \
    else                                                                                   \
      KERNEL<T, 1><<<grid_for((n), kThreads), kThreads, 0, stream>>>(__VA_ARGS__, (n));    \
  } while (0)

}  // namespace

Tensor relu_forward(const Tensor& x) {
  const char* op = "relu";
  Context& ctx = context(x.device().index, op);
  Tensor y = empty_tensor(x.shape, x.dtype, x.device(), op);
  const int64_t n = x.numel();
  if (n == 0) return y;
  SENET_CUDA_ACT_DISPATCH(x.dtype, op, T, SENET_VEC_LAUNCH(relu_kernel, T, n, ctx.stream, x.data<T>(), y.data<T>()));
  check_launch(op, "relu_kernel");
  return y;
}

Tensor relu_backward(const Tensor& dy, const Tensor& y) {
  const char* op = "reluBackward";
  Context& ctx = context(y.device().index, op);
  if (dy.dtype != y.dtype)
    fail(Code::DType, op, "dy", std::string("dtype ") + dtype_name(y.dtype) + " like y", dtype_name(dy.dtype));
  Tensor dx = empty_tensor(y.shape, y.dtype, y.device(), op);
  const int64_t n = y.numel();
  if (n == 0) return dx;
  SENET_CUDA_ACT_DISPATCH(y.dtype, op, T,
                          SENET_VEC_LAUNCH(relu_backward_kernel, T, n, ctx.stream, dy.data<T>(), y.data<T>(), dx.data<T>()));
  check_launch(op, "relu_backward_kernel");
  return dx;
}

Tensor add(const Tensor& a, const Tensor& b) {
  const char* op = "add";
  Context& ctx = context(a.device().index, op);
  if (a.dtype != b.dtype) fail(Code::DType, op, "b", std::string("dtype ") + dtype_name(a.dtype) + " like a", dtype_name(b.dtype));
  Tensor y = empty_tensor(a.shape, a.dtype, a.device(), op);
  const int64_t n = a.numel();
  if (n == 0) return y;
  SENET_CUDA_ACT_DISPATCH(a.dtype, op, T,
                          SENET_VEC_LAUNCH(add_kernel, T, n, ctx.stream, a.data<T>(), b.data<T>(), y.data<T>()));
  check_launch(op, "add_kernel");
  return y;
}

void add_inplace(const Tensor& y, const Tensor& x, float alpha) {
  const char* op = "addScaled_";
  Context& ctx = context(y.device().index, op);
  if (x.dtype != y.dtype) fail(Code::DType, op, "x", std::string("dtype ") + dtype_name(y.dtype) + " like y", dtype_name(x.dtype));
  const int64_t n = y.numel();
  if (n == 0) return;
  SENET_CUDA_ACT_DISPATCH(y.dtype, op, T,
                          SENET_VEC_LAUNCH(axpy_kernel, T, n, ctx.stream, y.data<T>(), x.data<T>(), alpha));
  check_launch(op, "axpy_kernel");
}

void fill(const Tensor& t, float value) {
  const char* op = "fill";
  Context& ctx = context(t.device().index, op);
  const int64_t n = t.numel();
  if (n == 0) return;
  const unsigned g = grid_for(n, kThreads);
  switch (t.dtype) {
    case DType::F32: fill_kernel<float><<<g, kThreads, 0, ctx.stream>>>(t.f32(), value, n); break;
    case DType::I32: fill_kernel<int32_t><<<g, kThreads, 0, ctx.stream>>>(t.data<int32_t>(), int32_t(value), n); break;
    case DType::U8: check(cudaMemsetAsync(t.storage->data(), int(value), size_t(n), ctx.stream), op, "cudaMemsetAsync"); break;
    case DType::BF16: {
      uint32_t fb;
      std::memcpy(&fb, &value, sizeof fb);
      const uint16_t bits = ix::bf16_from_float_bits(fb);
      fill_kernel<uint16_t><<<g, kThreads, 0, ctx.stream>>>(t.data<uint16_t>(), bits, n);
      break;
    }
  }
  check_launch(op, "fill_kernel");
}

Tensor copy(const Tensor& x) {
  const char* op = "clone";
  Context& ctx = context(x.device().index, op);
  Tensor y = empty_tensor(x.shape, x.dtype, x.device(), op);
  if (x.nbytes())
    check(cudaMemcpyAsync(y.storage->data(), x.storage->data(), x.nbytes(), cudaMemcpyDeviceToDevice, ctx.stream), op,
          "cudaMemcpyAsync");
  return y;
}

void add_bias_rows(const Tensor& y, const Tensor& b, const char* op) {
  Context& ctx = context(y.device().index, op);
  const int64_t n = y.numel(), C = b.numel();
  if (n == 0) return;
  SENET_CUDA_ACT_DISPATCH(y.dtype, op, T,
                          bias_rows_kernel<T><<<grid_for(n, kThreads), kThreads, 0, ctx.stream>>>(y.data<T>(), b.f32(), n, C));
  check_launch(op, "bias_rows_kernel");
}

void column_sums(const Tensor& x, int64_t C, float* out, const char* op) {
  Context& ctx = context(x.device().index, op);
  const int64_t rows = C > 0 ? x.numel() / C : 0;
  if (rows == 0) {
    check(cudaMemsetAsync(out, 0, size_t(C) * sizeof(float), ctx.stream), op, "cudaMemsetAsync");
    return;
  }
  SENET_CUDA_ACT_DISPATCH(x.dtype, op, T,
                          column_sums_launch<1>(PlainLoad<T>{x.data<T>(), rows, C, C % 4 == 0}, 1, rows, C, 1.0f, out,
                                                ctx.device, ctx.stream, ctx.sm_count, op));
}

}  // namespace senet::cuda
