// Pooling on NHWC (float32 or bfloat16), one thread per element, channels
// innermost so a warp reads contiguous memory. Windows and their inverse
// (which outputs cover an input) are index.h's pool_window/pool_covering.
//
// Max pooling keeps, per output, the int32 offset (kh_i * KW + kw_i) of the
// first maximum in its window (NaN wins, as torch), in a uint8 workspace of
// 4 bytes per output element. Both backwards gather per input over the
// windows covering it (no atomics: deterministic). Average pooling divides by
// the window (count_include_pad) or by its valid part, as the CPU.
#include <cmath>

#include "cuda/ops.h"
#include "cuda/reduce.cuh"
#include "cuda/stream.h"

namespace senet::cuda {
namespace {

struct Geo {
  int64_t N, H, W, C, Ho, Wo;
  int64_t kh, kw, sh, sw, pt, pb, pl, pr;
  bool include_pad;
  bool propagate_nan;
};

Geo geo(const Shape& x, const Shape& y, const Pool2dParams& p) {
  return Geo{x[0], x[1], x[2], x[3], y[1], y[2], p.kh, p.kw, p.stride_h, p.stride_w,
             p.pad_t, p.pad_b, p.pad_l, p.pad_r, p.count_include_pad, p.propagate_nan};
}

template <class T>
__global__ void maxpool_fwd_kernel(const T* __restrict__ x, T* __restrict__ y, int32_t* __restrict__ ws, Geo g) {
  const int64_t n_out = g.N * g.Ho * g.Wo * g.C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n_out; i += int64_t(gridDim.x) * blockDim.x) {
    const ix::Nhwc p = ix::nhwc_coords(i, g.Ho, g.Wo, g.C);
    const int64_t n = p.n, oh = p.h, ow = p.w, c = p.c;
    const ix::Window wh = ix::pool_window(oh, g.kh, g.sh, g.pt, g.H, g.pb);
    const ix::Window ww = ix::pool_window(ow, g.kw, g.sw, g.pl, g.W, g.pr);
    const int64_t h0 = oh * g.sh - g.pt, w0 = ow * g.sw - g.pl;
    float best = 0.0f;
    int32_t arg = -1;
    for (int64_t h = wh.begin; h < wh.end; ++h)
      for (int64_t w = ww.begin; w < ww.end; ++w) {
        float v = to_f(x[((n * g.H + h) * g.W + w) * g.C + c]);
        if (!g.propagate_nan && isnan(v)) v = -INFINITY;  // tfjs: NaN is skipped
        if (arg < 0 || v > best || (isnan(v) && !isnan(best))) {
          best = v;
          arg = int32_t((h - h0) * g.kw + (w - w0));
        }
      }
    y[i] = from_f<T>(best);
    if (ws) ws[i] = arg;
  }
}

template <class T>
__global__ void maxpool_bwd_kernel(const T* __restrict__ dy, const int32_t* __restrict__ ws, T* __restrict__ dx, Geo g) {
  const int64_t n_in = g.N * g.H * g.W * g.C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n_in; i += int64_t(gridDim.x) * blockDim.x) {
    const ix::Nhwc p = ix::nhwc_coords(i, g.H, g.W, g.C);
    const int64_t n = p.n, h = p.h, w = p.w, c = p.c;
    const ix::Covering ch = ix::pool_covering(h, g.kh, g.sh, g.pt, g.Ho);
    const ix::Covering cw = ix::pool_covering(w, g.kw, g.sw, g.pl, g.Wo);
    float s = 0.0f;
    for (int64_t oh = ch.first; oh <= ch.last; ++oh)
      for (int64_t ow = cw.first; ow <= cw.last; ++ow) {
        const int64_t o = ((n * g.Ho + oh) * g.Wo + ow) * g.C + c;
        const int32_t mine = int32_t((h - (oh * g.sh - g.pt)) * g.kw + (w - (ow * g.sw - g.pl)));
        if (ws[o] == mine) s += to_f(dy[o]);
      }
    dx[i] = from_f<T>(s);
  }
}

__device__ __forceinline__ float avg_divisor(const ix::Window& wh, const ix::Window& ww, bool include_pad) {
  return include_pad ? float(wh.padded * ww.padded) : float((wh.end - wh.begin) * (ww.end - ww.begin));
}

template <class T>
__global__ void avgpool_fwd_kernel(const T* __restrict__ x, T* __restrict__ y, Geo g) {
  const int64_t n_out = g.N * g.Ho * g.Wo * g.C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n_out; i += int64_t(gridDim.x) * blockDim.x) {
    const ix::Nhwc p = ix::nhwc_coords(i, g.Ho, g.Wo, g.C);
    const int64_t n = p.n, oh = p.h, ow = p.w, c = p.c;
    const ix::Window wh = ix::pool_window(oh, g.kh, g.sh, g.pt, g.H, g.pb);
    const ix::Window ww = ix::pool_window(ow, g.kw, g.sw, g.pl, g.W, g.pr);
    float s = 0.0f;
    for (int64_t h = wh.begin; h < wh.end; ++h)
      for (int64_t w = ww.begin; w < ww.end; ++w) s += to_f(x[((n * g.H + h) * g.W + w) * g.C + c]);
    y[i] = from_f<T>(s / avg_divisor(wh, ww, g.include_pad));
  }
}

template <class T>
__global__ void avgpool_bwd_kernel(const T* __restrict__ dy, T* __restrict__ dx, Geo g) {
  const int64_t n_in = g.N * g.H * g.W * g.C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n_in; i += int64_t(gridDim.x) * blockDim.x) {
    const ix::Nhwc p = ix::nhwc_coords(i, g.H, g.W, g.C);
    const int64_t n = p.n, h = p.h, w = p.w, c = p.c;
    const ix::Covering ch = ix::pool_covering(h, g.kh, g.sh, g.pt, g.Ho);
    const ix::Covering cw = ix::pool_covering(w, g.kw, g.sw, g.pl, g.Wo);
    float s = 0.0f;
    for (int64_t oh = ch.first; oh <= ch.last; ++oh) {
      const ix::Window wh = ix::pool_window(oh, g.kh, g.sh, g.pt, g.H, g.pb);
      for (int64_t ow = cw.first; ow <= cw.last; ++ow) {
        const ix::Window ww = ix::pool_window(ow, g.kw, g.sw, g.pl, g.W, g.pr);
        s += to_f(dy[((n * g.Ho + oh) * g.Wo + ow) * g.C + c]) / avg_divisor(wh, ww, g.include_pad);
      }
    }
    dx[i] = from_f<T>(s);
  }
}

template <class T>
__global__ void gap_bwd_kernel(const float* __restrict__ dy, T* __restrict__ dx, int64_t n, int64_t HW, int64_t C,
                               float inv) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % C, b = i / (HW * C);
    dx[i] = from_f<T>(dy[b * C + c] * inv);
  }
}

constexpr int kThreads = 256;

}  // namespace

std::vector<Tensor> maxpool2d_forward(const Tensor& x, const Pool2dParams& p, const Shape& y_shape) {
  const char* op = "maxPool2d";
  Context& ctx = context(x.device().index, op);
  Tensor y = empty_tensor(y_shape, x.dtype, x.device(), op);
  Tensor ws = empty_tensor({p.workspace ? 4 * y.numel() : 0}, DType::U8, x.device(), op);
  const Geo g = geo(x.shape, y_shape, p);
  const int64_t n = y.numel();
  if (n == 0) return {y, ws};
  SENET_CUDA_ACT_DISPATCH(x.dtype, op, T,
                          maxpool_fwd_kernel<T><<<grid_for(n, kThreads), kThreads, 0, ctx.stream>>>(
                              x.data<T>(), y.data<T>(), p.workspace ? ws.data<int32_t>() : nullptr, g));
  check_launch(op, "maxpool_fwd_kernel");
  return {y, ws};
}

Tensor maxpool2d_backward(const Tensor& dy, const Tensor& workspace, const Shape& x_shape, const Pool2dParams& p) {
  const char* op = "maxPool2dBackward";
  Context& ctx = context(dy.device().index, op);
  if (workspace.numel() != 4 * dy.numel())
    fail(Code::Shape, op, "workspace",
         "the " + std::to_string(4 * dy.numel()) + "-byte workspace maxPool2d returned for these shapes",
         std::to_string(workspace.numel()) + " bytes");
  Tensor dx = empty_tensor(x_shape, dy.dtype, dy.device(), op);
  const Geo g = geo(x_shape, dy.shape, p);
  const int64_t n = dx.numel();
  if (n == 0) return dx;
  SENET_CUDA_ACT_DISPATCH(dy.dtype, op, T,
                          maxpool_bwd_kernel<T><<<grid_for(n, kThreads), kThreads, 0, ctx.stream>>>(
                              dy.data<T>(), workspace.data<int32_t>(), dx.data<T>(), g));
  check_launch(op, "maxpool_bwd_kernel");
  return dx;
}

Tensor avgpool2d_forward(const Tensor& x, const Pool2dParams& p, const Shape& y_shape) {
  const char* op = "avgPool2d";
  Context& ctx = context(x.device().index, op);
  Tensor y = empty_tensor(y_shape, x.dtype, x.device(), op);
  const Geo g = geo(x.shape, y_shape, p);
  const int64_t n = y.numel();
  if (n == 0) return y;
  SENET_CUDA_ACT_DISPATCH(x.dtype, op, T,
                          avgpool_fwd_kernel<T><<<grid_for(n, kThreads), kThreads, 0, ctx.stream>>>(x.data<T>(),
                                                                                                   y.data<T>(), g));
  check_launch(op, "avgpool_fwd_kernel");
  return y;
}

Tensor avgpool2d_backward(const Tensor& dy, const Shape& x_shape, const Pool2dParams& p) {
  const char* op = "avgPool2dBackward";
  Context& ctx = context(dy.device().index, op);
  Tensor dx = empty_tensor(x_shape, dy.dtype, dy.device(), op);
  const Geo g = geo(x_shape, dy.shape, p);
  const int64_t n = dx.numel();
  if (n == 0) return dx;
  SENET_CUDA_ACT_DISPATCH(dy.dtype, op, T,
                          avgpool_bwd_kernel<T><<<grid_for(n, kThreads), kThreads, 0, ctx.stream>>>(dy.data<T>(),
                                                                                                   dx.data<T>(), g));
  check_launch(op, "avgpool_bwd_kernel");
  return dx;
}

// [N,H,W,C] (float32 or bfloat16) -> [N,C] float32: a column reduction per sample.
Tensor global_avgpool_forward(const Tensor& x) {
  const char* op = "globalAvgPool";
  Context& ctx = context(x.device().index, op);
  const int64_t N = x.shape[0], HW = x.shape[1] * x.shape[2], C = x.shape[3];
  Tensor y = empty_tensor({N, C}, DType::F32, x.device(), op);
  if (y.numel() == 0) return y;
  const float inv = HW > 0 ? 1.0f / float(HW) : 0.0f;
  SENET_CUDA_ACT_DISPATCH(x.dtype, op, T,
                          column_sums_launch<1>(PlainLoad<T>{x.data<T>(), HW, C, C % 4 == 0}, N, HW, C, inv, y.f32(),
                                                ctx.device, ctx.stream, ctx.sm_count, op));
  return y;
}

// dy [N,C] float32 -> dx [N,H,W,C] float32.
Tensor global_avgpool_backward(const Tensor& dy, const Shape& x_shape) {
  const char* op = "globalAvgPoolBackward";
  Context& ctx = context(dy.device().index, op);
  require_f32(op, {{"dy", &dy}});
  const int64_t HW = x_shape[1] * x_shape[2], C = x_shape[3];
  Tensor dx = empty_tensor(x_shape, DType::F32, dy.device(), op);
  const int64_t n = dx.numel();
  if (n == 0) return dx;
  const float inv = HW > 0 ? 1.0f / float(HW) : 0.0f;
  gap_bwd_kernel<float><<<grid_for(n, kThreads), kThreads, 0, ctx.stream>>>(dy.f32(), dx.f32(), n, HW, C, inv);
  check_launch(op, "gap_bwd_kernel");
  return dx;
}

}  // namespace senet::cuda
