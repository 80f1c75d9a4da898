// Pooling: average windows through oneDNN; max pooling (with its argmax
// workspace for backward) and global average pooling (a per-channel mean
// over H*W, contiguous in NHWC) are our own loops.
#include <dnnl.hpp>

#include <algorithm>

#include "core/stream.h"
#include "cpu/dnnl_context.h"
#include "cpu/ops.h"

namespace senet::cpu {
namespace {

using pf = dnnl::pooling_forward;
using pb = dnnl::pooling_backward;

// Average pooling's primitives (max pooling is our own loop).
struct PoolPrims {
  pf fwd;
  pb bwd;
  memory::desc src, dst, fwd_sp, bwd_sp;
};

PrimitiveCache<PoolPrims>& cache() {
  static auto* c = new PrimitiveCache<PoolPrims>();
  return *c;
}

std::shared_ptr<PoolPrims> avg_prims(const Shape& x, const Shape& y, const Pool2dParams& p, bool need_bwd,
                                     const char* op) {
  auto k = key("avg", x, y, p.kh, p.kw, p.stride_h, p.stride_w, p.pad_t, p.pad_b, p.pad_l, p.pad_r,
               int64_t(p.count_include_pad), int64_t(need_bwd));
  return cache().get(k, [&] {
    return dnnl_call(op, [&] {
      auto r = std::make_shared<PoolPrims>();
      r->src = nhwc_md(x);
      r->dst = nhwc_md(y);
      const memory::dims strides{p.stride_h, p.stride_w}, kernel{p.kh, p.kw}, pl{p.pad_t, p.pad_l},
          pr{p.pad_b, p.pad_r};
      const auto a = p.count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                         : dnnl::algorithm::pooling_avg_exclude_padding;
      auto fd = pf::desc(dnnl::prop_kind::forward_training, a, r->src, r->dst, strides, kernel, pl, pr);
      auto fpd = pf::primitive_desc(fd, attr(), engine());
      r->fwd = pf(fpd);
      r->fwd_sp = fpd.scratchpad_desc();
      if (need_bwd) {
        auto bd = pb::desc(a, r->src, r->dst, strides, kernel, pl, pr);
        auto bpd = pb::primitive_desc(bd, attr(), engine(), fpd);
        r->bwd = pb(bpd);
        r->bwd_sp = bpd.scratchpad_desc();
      }
      return r;
    });
  });
}

}  // namespace

// Max pooling is our own loop, forward and backward: oneDNN 2.6's jit:avx2
// NHWC max pooling read ResNet-50's stem output ([16,114,114,64], 3x3
// stride 2) at 1.6 GB/s (40 ms). The workspace holds, per output element,
// the int32 tap index (kh*KW + kw within the window) of the first maximum,
// as the CUDA backend's. NaN propagates (torch.max_pool2d) or, with
// propagate_nan false, is skipped: a window of NaNs gives -inf (tfjs).
std::vector<Tensor> maxpool2d_forward(const Tensor& x, const Pool2dParams& p, const Shape& y_shape) {
  const char* op = "maxPool2d";
  Tensor y = empty_tensor(y_shape, DType::F32, x.device(), op);
  const int64_t n_out = y.numel();
  Tensor ws = empty_tensor({p.workspace ? 4 * n_out : 0}, DType::U8, x.device(), op);
  if (n_out == 0) return {y, ws};
  const int64_t H = x.shape[1], W = x.shape[2], C = x.shape[3], Ho = y_shape[1], Wo = y_shape[2];
  const bool with_ws = p.workspace;
  CpuStream::get().enqueue(op, [x, y, ws, p, H, W, C, Ho, Wo, with_ws] {
    const float* in = x.f32();
    float* out = y.f32();
    int32_t* arg = with_ws ? reinterpret_cast<int32_t*>(ws.data<uint8_t>()) : nullptr;
    const bool nan = p.propagate_nan;
    const int64_t rows = y.shape[0] * Ho;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t n = r / Ho, oh = r % Ho;
      const int64_t h0 = oh * p.stride_h - p.pad_t;
      const int64_t hb = std::max<int64_t>(h0, 0), he = std::min<int64_t>(h0 + p.kh, H);
      for (int64_t ow = 0; ow < Wo; ++ow) {
        const int64_t w0 = ow * p.stride_w - p.pad_l;
        const int64_t wb = std::max<int64_t>(w0, 0), we = std::min<int64_t>(w0 + p.kw, W);
        float* o = out + (r * Wo + ow) * C;
        int32_t* a = arg ? arg + (r * Wo + ow) * C : nullptr;
        bool first = true;
        for (int64_t h = hb; h < he; ++h)
          for (int64_t w = wb; w < we; ++w) {
            const float* v = in + ((n * H + h) * W + w) * C;
            const int32_t tap = int32_t((h - h0) * p.kw + (w - w0));
            if (first) {
              if (nan) std::copy_n(v, C, o);
              else for (int64_t c = 0; c < C; ++c) o[c] = v[c] == v[c] ? v[c] : -__builtin_inff();
              if (a) std::fill_n(a, C, tap);
              first = false;
              continue;
            }
            // Two loops on purpose: one loop with `if (a)` inside is not
            // unswitched by GCC 12 and ran the inference path 3.5x slower
            // (stem pooling 5.3 -> 19.4 ms).
            if (a) {
              for (int64_t c = 0; c < C; ++c) {
                const bool take = v[c] > o[c] || (nan && v[c] != v[c] && o[c] == o[c]);
                o[c] = take ? v[c] : o[c];
                a[c] = take ? tap : a[c];
              }
            } else {
              for (int64_t c = 0; c < C; ++c) {
                const bool take = v[c] > o[c] || (nan && v[c] != v[c] && o[c] == o[c]);
                o[c] = take ? v[c] : o[c];
              }
            }
          }
      }
    }
  });
  return {y, ws};
}

Tensor maxpool2d_backward(const Tensor& dy, const Tensor& workspace, const Shape& x_shape, const Pool2dParams& p) {
  const char* op = "maxPool2dBackward";
  if (workspace.numel() != 4 * dy.numel())
    fail(Code::Shape, op, "workspace",
         "the " + std::to_string(4 * dy.numel()) + "-byte workspace maxPool2d returned for these shapes",
         std::to_string(workspace.numel()) + " bytes");
  Tensor dx = empty_tensor(x_shape, DType::F32, dy.device(), op);
  const int64_t N = x_shape[0], H = x_shape[1], W = x_shape[2], C = x_shape[3], Ho = dy.shape[1], Wo = dy.shape[2];
  if (dx.numel() == 0) return dx;
  CpuStream::get().enqueue(op, [dy, workspace, dx, p, N, H, W, C, Ho, Wo] {
    const float* g = dy.f32();
    const int32_t* arg = reinterpret_cast<const int32_t*>(workspace.data<uint8_t>());
    float* d = dx.f32();
    // Windows of one sample overlap: a work item is (sample, 16 channels),
    // so no two threads add into the same element.
    constexpr int64_t kCb = 16;
    const int64_t cbs = (C + kCb - 1) / kCb;
#pragma omp parallel for schedule(static)
    for (int64_t it = 0; it < N * cbs; ++it) {
      const int64_t n = it / cbs, c0 = (it % cbs) * kCb, c1 = std::min(C, c0 + kCb);
      for (int64_t i = 0; i < H * W; ++i) std::fill(d + (n * H * W + i) * C + c0, d + (n * H * W + i) * C + c1, 0.0f);
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          const int64_t o = ((n * Ho + oh) * Wo + ow) * C;
          for (int64_t c = c0; c < c1; ++c) {
            const int32_t tap = arg[o + c];
            const int64_t h = oh * p.stride_h - p.pad_t + tap / p.kw, w = ow * p.stride_w - p.pad_l + tap % p.kw;
            d[((n * H + h) * W + w) * C + c] += g[o + c];
          }
        }
    }
  });
  return dx;
}

Tensor avgpool2d_forward(const Tensor& x, const Pool2dParams& p, const Shape& y_shape) {
  const char* op = "avgPool2d";
  auto P = avg_prims(x.shape, y_shape, p, false, op);
  Tensor y = empty_tensor(y_shape, DType::F32, x.device(), op);
  CpuStream::get().enqueue(op, [P, x, y, op] {
    dnnl_call(op, [&] {
      auto& s = stream();
      execute(P->fwd, {{DNNL_ARG_SRC, mem(P->src, x.f32())}, {DNNL_ARG_DST, mem(P->dst, y.f32())}}, P->fwd_sp);
      s.wait();
    });
  });
  return y;
}

Tensor avgpool2d_backward(const Tensor& dy, const Shape& x_shape, const Pool2dParams& p) {
  const char* op = "avgPool2dBackward";
  auto P = avg_prims(x_shape, dy.shape, p, true, op);
  Tensor dx = empty_tensor(x_shape, DType::F32, dy.device(), op);
  CpuStream::get().enqueue(op, [P, dy, dx, op] {
    dnnl_call(op, [&] {
      auto& s = stream();
      execute(P->bwd, {{DNNL_ARG_DIFF_DST, mem(P->dst, dy.f32())}, {DNNL_ARG_DIFF_SRC, mem(P->src, dx.f32())}}, P->bwd_sp);
      s.wait();
    });
  });
  return dx;
}

Tensor global_avgpool_forward(const Tensor& x) {
  const char* op = "globalAvgPool";
  const int64_t N = x.shape[0], HW = x.shape[1] * x.shape[2], C = x.shape[3];
  Tensor y = empty_tensor({N, C}, DType::F32, x.device(), op);
  CpuStream::get().enqueue(op, [x, y, N, HW, C] {
    const float* in = x.f32();
    float* out = y.f32();
    const float inv = HW > 0 ? 1.0f / float(HW) : 0.0f;
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      float* o = out + n * C;
      for (int64_t c = 0; c < C; ++c) o[c] = 0.0f;
      const float* p = in + n * HW * C;
      for (int64_t i = 0; i < HW; ++i, p += C)
        for (int64_t c = 0; c < C; ++c) o[c] += p[c];
      for (int64_t c = 0; c < C; ++c) o[c] *= inv;
    }
  });
  return y;
}

Tensor global_avgpool_backward(const Tensor& dy, const Shape& x_shape) {
  const char* op = "globalAvgPoolBackward";
  const int64_t N = x_shape[0], HW = x_shape[1] * x_shape[2], C = x_shape[3];
  Tensor dx = empty_tensor(x_shape, DType::F32, dy.device(), op);
  CpuStream::get().enqueue(op, [dy, dx, N, HW, C] {
    const float* g = dy.f32();
    float* out = dx.f32();
    const float inv = HW > 0 ? 1.0f / float(HW) : 0.0f;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        float* o = out + (n * HW + i) * C;
        const float* gn = g + n * C;
        for (int64_t c = 0; c < C; ++c) o[c] = gn[c] * inv;
      }
  });
  return dx;
}

}  // namespace senet::cpu
