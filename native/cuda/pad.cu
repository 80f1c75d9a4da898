// Channel zero padding (ResNet option-A shortcuts) and its backward slice;
// spatial zero padding and cropping for convolutions with asymmetric padding.
#include "cuda/ops.h"
#include "cuda/kernel_util.cuh"
#include "cuda/stream.h"

namespace senet::cuda {
namespace {

template <class T>
__global__ void pad_channels_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, int64_t C, int64_t Co,
                                    int64_t before) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / Co, c = i % Co - before;
    y[i] = (c >= 0 && c < C) ? x[r * C + c] : from_f<T>(0.0f);
  }
}

template <class T>
__global__ void slice_channels_kernel(const T* __restrict__ dy, T* __restrict__ dx, int64_t n, int64_t C, int64_t Co,
                                      int64_t before) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / C, c = i % C;
    dx[i] = dy[r * Co + before + c];
  }
}

// y [N,Hp,Wp,C] from x [N,H,W,C] placed at (t, l); zeros elsewhere.
template <class T>
__global__ void pad_spatial_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, int64_t H, int64_t W,
                                   int64_t Hp, int64_t Wp, int64_t C, int64_t t, int64_t l) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % C;
    int64_t r = i / C;
    const int64_t w = r % Wp - l;
    r /= Wp;
    const int64_t h = r % Hp - t;
    const int64_t b = r / Hp;
    y[i] = (h >= 0 && h < H && w >= 0 && w < W) ? x[((b * H + h) * W + w) * C + c] : from_f<T>(0.0f);
  }
}

// y [N,H,W,C] = x [N,Hp,Wp,C] at offset (t, l).
template <class T>
__global__ void crop_spatial_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, int64_t H, int64_t W,
                                    int64_t Hp, int64_t Wp, int64_t C, int64_t t, int64_t l) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % C;
    int64_t r = i / C;
    const int64_t w = r % W;
    r /= W;
    const int64_t h = r % H;
    const int64_t b = r / H;
    y[i] = x[((b * Hp + h + t) * Wp + w + l) * C + c];
  }
}

}  // namespace

Tensor pad_channels(const Tensor& x, int64_t before, int64_t after) {
  const char* op = "padChannels";
  Context& ctx = context(x.device().index, op);
  const int64_t C = x.shape[3], Co = before + C + after;
  Shape ys = x.shape;
  ys[3] = Co;
  Tensor y = empty_tensor(ys, x.dtype, x.device(), op);
  const int64_t n = y.numel();
  if (n == 0) return y;
  SENET_CUDA_ACT_DISPATCH(x.dtype, op, T,
                          pad_channels_kernel<T><<<grid_for(n, 256), 256, 0, ctx.stream>>>(x.data<T>(), y.data<T>(), n,
                                                                                            C, Co, before));
  check_launch(op, "pad_channels_kernel");
  return y;
}

Tensor pad_channels_backward(const Tensor& dy, int64_t before, int64_t after) {
  const char* op = "padChannelsBackward";
  Context& ctx = context(dy.device().index, op);
  const int64_t Co = dy.shape[3], C = Co - before - after;
  Shape xs = dy.shape;
  xs[3] = C;
  Tensor dx = empty_tensor(xs, dy.dtype, dy.device(), op);
  const int64_t n = dx.numel();
  if (n == 0) return dx;
  SENET_CUDA_ACT_DISPATCH(dy.dtype, op, T,
                          slice_channels_kernel<T><<<grid_for(n, 256), 256, 0, ctx.stream>>>(dy.data<T>(), dx.data<T>(),
                                                                                              n, C, Co, before));
  check_launch(op, "slice_channels_kernel");
  return dx;
}

Tensor pad_spatial(const Tensor& x, int64_t t, int64_t b, int64_t l, int64_t r, const char* op) {
  Context& ctx = context(x.device().index, op);
  const int64_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3];
  Tensor y = empty_tensor({N, H + t + b, W + l + r, C}, x.dtype, x.device(), op);
  const int64_t n = y.numel();
  if (n == 0) return y;
  SENET_CUDA_ACT_DISPATCH(x.dtype, op, T,
                          pad_spatial_kernel<T><<<grid_for(n, 256), 256, 0, ctx.stream>>>(
                              x.data<T>(), y.data<T>(), n, H, W, H + t + b, W + l + r, C, t, l));
  check_launch(op, "pad_spatial_kernel");
  return y;
}

Tensor crop_spatial(const Tensor& x, int64_t t, int64_t l, int64_t H, int64_t W, const char* op) {
  Context& ctx = context(x.device().index, op);
  const int64_t N = x.shape[0], Hp = x.shape[1], Wp = x.shape[2], C = x.shape[3];
  Tensor y = empty_tensor({N, H, W, C}, x.dtype, x.device(), op);
  const int64_t n = y.numel();
  if (n == 0) return y;
  SENET_CUDA_ACT_DISPATCH(x.dtype, op, T,
                          crop_spatial_kernel<T><<<grid_for(n, 256), 256, 0, ctx.stream>>>(x.data<T>(), y.data<T>(), n,
                                                                                            H, W, Hp, Wp, C, t, l));
  check_launch(op, "crop_spatial_kernel");
  return y;
}

}  // namespace senet::cuda
