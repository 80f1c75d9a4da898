// Pooling: max and average windows through oneDNN (max pooling keeps
// oneDNN's workspace of argmax positions for backward); global average
// pooling is our own loop (a per-channel mean over H*W, contiguous in NHWC).
#include <dnnl.hpp>

#include "core/stream.h"
#include "cpu/dnnl_context.h"
#include "cpu/ops.h"

namespace senet::cpu {
namespace {

using pf = dnnl::pooling_forward;
using pb = dnnl::pooling_backward;

struct PoolPrims {
  pf fwd;
  pb bwd;
  bool has_bwd = false;
  memory::desc src, dst, ws, fwd_sp, bwd_sp;
};

PrimitiveCache<PoolPrims>& cache() {
  static auto* c = new PrimitiveCache<PoolPrims>();
  return *c;
}

dnnl::algorithm algo(bool max, bool include_pad) {
  if (max) return dnnl::algorithm::pooling_max;
  return include_pad ? dnnl::algorithm::pooling_avg_include_padding : dnnl::algorithm::pooling_avg_exclude_padding;
}

std::shared_ptr<PoolPrims> get(const Shape& x, const Shape& y, const Pool2dParams& p, bool max, bool need_bwd,
                               const char* op) {
  auto k = key(max ? "max" : "avg", x, y, p.kh, p.kw, p.stride_h, p.stride_w, p.pad_t, p.pad_b, p.pad_l, p.pad_r,
               int64_t(p.count_include_pad), int64_t(need_bwd));
  return cache().get(k, [&] {
    return dnnl_call(op, [&] {
      auto r = std::make_shared<PoolPrims>();
      r->src = nhwc_md(x);
      r->dst = nhwc_md(y);
      const memory::dims strides{p.stride_h, p.stride_w}, kernel{p.kh, p.kw}, pl{p.pad_t, p.pad_l},
          pr{p.pad_b, p.pad_r};
      const auto a = algo(max, p.count_include_pad);
      auto fd = pf::desc(dnnl::prop_kind::forward_training, a, r->src, r->dst, strides, kernel, pl, pr);
      auto fpd = pf::primitive_desc(fd, attr(), engine());
      r->fwd = pf(fpd);
      r->fwd_sp = fpd.scratchpad_desc();
      r->ws = fpd.workspace_desc();
      if (need_bwd) {
        auto bd = pb::desc(a, r->src, r->dst, strides, kernel, pl, pr);
        auto bpd = pb::primitive_desc(bd, attr(), engine(), fpd);
        r->bwd = pb(bpd);
        r->bwd_sp = bpd.scratchpad_desc();
        r->has_bwd = true;
      }
      return r;
    });
  });
}

}  // namespace

std::vector<Tensor> maxpool2d_forward(const Tensor& x, const Pool2dParams& p, const Shape& y_shape) {
  const char* op = "maxPool2d";
  auto P = get(x.shape, y_shape, p, true, false, op);
  Tensor y = empty_tensor(y_shape, DType::F32, x.device(), op);
  Tensor ws;
  ws.dtype = DType::U8;
  ws.shape = {int64_t(P->ws.get_size())};
  ws.storage = Storage::allocate(P->ws.get_size(), x.device(), op);
  CpuStream::get().enqueue(op, [P, x, y, ws, op] {
    dnnl_call(op, [&] {
      auto& s = stream();
      execute(P->fwd, {{DNNL_ARG_SRC, mem(P->src, x.f32())},
                         {DNNL_ARG_DST, mem(P->dst, y.f32())},
                         {DNNL_ARG_WORKSPACE, mem(P->ws, ws.data<uint8_t>())}}, P->fwd_sp);
      s.wait();
    });
  });
  return {y, ws};
}

Tensor maxpool2d_backward(const Tensor& dy, const Tensor& workspace, const Shape& x_shape, const Pool2dParams& p) {
  const char* op = "maxPool2dBackward";
  auto P = get(x_shape, dy.shape, p, true, true, op);
  if (size_t(workspace.numel()) != P->ws.get_size())
    fail(Code::Shape, op, "workspace", "the " + std::to_string(P->ws.get_size()) +
                                            "-byte workspace maxPool2d returned for these shapes",
         std::to_string(workspace.numel()) + " bytes");
  Tensor dx = empty_tensor(x_shape, DType::F32, dy.device(), op);
  CpuStream::get().enqueue(op, [P, dy, workspace, dx, op] {
    dnnl_call(op, [&] {
      auto& s = stream();
      execute(P->bwd, {{DNNL_ARG_DIFF_DST, mem(P->dst, dy.f32())},
                         {DNNL_ARG_WORKSPACE, mem(P->ws, workspace.data<uint8_t>())},
                         {DNNL_ARG_DIFF_SRC, mem(P->src, dx.f32())}}, P->bwd_sp);
      s.wait();
    });
  });
  return dx;
}

Tensor avgpool2d_forward(const Tensor& x, const Pool2dParams& p, const Shape& y_shape) {
  const char* op = "avgPool2d";
  auto P = get(x.shape, y_shape, p, false, false, op);
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
  auto P = get(x_shape, dy.shape, p, false, true, op);
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
