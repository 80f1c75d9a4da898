// Convolutions through oneDNN: NHWC activations used in place, OHWI weights
// (grouped: GOHWI) reordered per call into the layout the chosen
// implementation prefers (weights are small; activations never move).
#include <dnnl.hpp>

#include "core/stream.h"
#include "cpu/dnnl_context.h"
#include "cpu/ops.h"

namespace senet::cpu {
namespace {

struct ConvGeometry {
  memory::desc src, dst, user_w, any_w, bias;
  memory::dims strides, dilates, pad_l, pad_r;
};

ConvGeometry geometry(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p) {
  ConvGeometry g;
  g.src = nhwc_md(x);
  g.dst = nhwc_md(y);
  const int64_t O = w[0], KH = w[1], KW = w[2], Ig = w[3], G = p.groups;
  if (G == 1) {
    g.user_w = md({O, Ig, KH, KW}, tag::ohwi);
    g.any_w = md({O, Ig, KH, KW}, tag::any);
  } else {
    g.user_w = md({G, O / G, Ig, KH, KW}, tag::gohwi);
    g.any_w = md({G, O / G, Ig, KH, KW}, tag::any);
  }
  g.bias = md({O}, tag::x);
  g.strides = {p.stride_h, p.stride_w};
  g.dilates = {p.dil_h - 1, p.dil_w - 1};  // oneDNN counts the holes
  g.pad_l = {p.pad_t, p.pad_l};
  g.pad_r = {p.pad_b, p.pad_r};
  return g;
}

std::string conv_key(const char* kind, const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p,
                     bool bias) {
  return key(kind, x, w, y, p.stride_h, p.stride_w, p.pad_t, p.pad_b, p.pad_l, p.pad_r, p.dil_h, p.dil_w,
             p.groups, int64_t(bias));
}

dnnl::convolution_forward::primitive_desc fwd_pd(const ConvGeometry& g, bool bias) {
  using cf = dnnl::convolution_forward;
  auto d = bias ? cf::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, g.src, g.any_w,
                           g.bias, g.dst, g.strides, g.dilates, g.pad_l, g.pad_r)
                : cf::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, g.src, g.any_w,
                           g.dst, g.strides, g.dilates, g.pad_l, g.pad_r);
  return cf::primitive_desc(d, attr(), engine());
}

struct FwdPrims {
  dnnl::convolution_forward prim;
  memory::desc src, dst, user_w, w, bias, sp, w_sp;
  bool reorder_w = false;
  dnnl::reorder w_reorder;
};

struct BwdDataPrims {
  dnnl::convolution_backward_data prim;
  memory::desc diff_src, diff_dst, user_w, w, sp, w_sp;
  bool reorder_w = false;
  dnnl::reorder w_reorder;
};

struct BwdFilterPrims {
  dnnl::convolution_backward_weights prim;
  memory::desc src, diff_dst, user_w, diff_w, bias, sp, w_sp;
  bool reorder_w = false;
  dnnl::reorder w_reorder;  // from the implementation's layout to OHWI
};

PrimitiveCache<FwdPrims>& fwd_cache() {
  static auto* c = new PrimitiveCache<FwdPrims>();
  return *c;
}
PrimitiveCache<BwdDataPrims>& bwd_data_cache() {
  static auto* c = new PrimitiveCache<BwdDataPrims>();
  return *c;
}
PrimitiveCache<BwdFilterPrims>& bwd_filter_cache() {
  static auto* c = new PrimitiveCache<BwdFilterPrims>();
  return *c;
}

}  // namespace

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const std::optional<Tensor>& b, const Conv2dParams& p,
                      const Shape& y_shape) {
  const bool has_bias = b.has_value();
  // Outputs first: an impossible size fails with SENET_OOM before oneDNN sees it.
  Tensor y = empty_tensor(y_shape, DType::F32, x.device(), "conv2d");
  auto P = fwd_cache().get(conv_key("fwd", x.shape, w.shape, y_shape, p, has_bias), [&] {
    return dnnl_call("conv2d", [&] {
      auto g = geometry(x.shape, w.shape, y_shape, p);
      auto pd = fwd_pd(g, has_bias);
      auto r = std::make_shared<FwdPrims>();
      r->prim = dnnl::convolution_forward(pd);
      r->sp = pd.scratchpad_desc();
      r->src = g.src;
      r->dst = g.dst;
      r->user_w = g.user_w;
      r->w = pd.weights_desc();
      r->bias = g.bias;
      r->reorder_w = r->w != g.user_w;
      if (r->reorder_w) {
        auto rpd = dnnl::reorder::primitive_desc(engine(), g.user_w, engine(), r->w, attr());
        r->w_reorder = dnnl::reorder(rpd);
        r->w_sp = rpd.scratchpad_desc();
      }
      return r;
    });
  });
  std::optional<Tensor> bias = b;
  CpuStream::get().enqueue("conv2d", [P, x, w, bias, y] {
    dnnl_call("conv2d", [&] {
      auto& s = stream();
      memory wm = mem(P->user_w, w.f32());
      if (P->reorder_w) {
        memory wr = mem(P->w, scratch(0, P->w.get_size()));
        execute(P->w_reorder, {{DNNL_ARG_FROM, wm}, {DNNL_ARG_TO, wr}}, P->w_sp);
        wm = wr;
      }
      std::unordered_map<int, memory> args{
          {DNNL_ARG_SRC, mem(P->src, x.f32())}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, mem(P->dst, y.f32())}};
      if (bias) args.emplace(DNNL_ARG_BIAS, mem(P->bias, bias->f32()));
      execute(P->prim, args, P->sp);
      s.wait();
    });
  });
  return y;
}

Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, const Conv2dParams& p) {
  Tensor dx = empty_tensor(x_shape, DType::F32, dy.device(), "conv2dBackwardData");
  auto P = bwd_data_cache().get(conv_key("bwd_data", x_shape, w.shape, dy.shape, p, false), [&] {
    return dnnl_call("conv2dBackwardData", [&] {
      auto g = geometry(x_shape, w.shape, dy.shape, p);
      auto hint = fwd_pd(g, false);
      using cb = dnnl::convolution_backward_data;
      auto d = cb::desc(dnnl::algorithm::convolution_direct, g.src, g.any_w, g.dst, g.strides, g.dilates, g.pad_l,
                        g.pad_r);
      auto pd = cb::primitive_desc(d, attr(), engine(), hint);
      auto r = std::make_shared<BwdDataPrims>();
      r->prim = cb(pd);
      r->sp = pd.scratchpad_desc();
      r->diff_src = g.src;
      r->diff_dst = g.dst;
      r->user_w = g.user_w;
      r->w = pd.weights_desc();
      r->reorder_w = r->w != g.user_w;
      if (r->reorder_w) {
        auto rpd = dnnl::reorder::primitive_desc(engine(), g.user_w, engine(), r->w, attr());
        r->w_reorder = dnnl::reorder(rpd);
        r->w_sp = rpd.scratchpad_desc();
      }
      return r;
    });
  });
  CpuStream::get().enqueue("conv2dBackwardData", [P, dy, w, dx] {
    dnnl_call("conv2dBackwardData", [&] {
      auto& s = stream();
      memory wm = mem(P->user_w, w.f32());
      if (P->reorder_w) {
        memory wr = mem(P->w, scratch(0, P->w.get_size()));
        execute(P->w_reorder, {{DNNL_ARG_FROM, wm}, {DNNL_ARG_TO, wr}}, P->w_sp);
        wm = wr;
      }
      execute(P->prim,
              {{DNNL_ARG_DIFF_DST, mem(P->diff_dst, dy.f32())},
               {DNNL_ARG_WEIGHTS, wm},
               {DNNL_ARG_DIFF_SRC, mem(P->diff_src, dx.f32())}},
              P->sp);
      s.wait();
    });
  });
  return dx;
}

std::vector<Tensor> conv2d_backward_filter(const Tensor& dy, const Tensor& x, const Shape& w_shape, bool with_bias,
                                           const Conv2dParams& p) {
  auto P = bwd_filter_cache().get(conv_key("bwd_filter", x.shape, w_shape, dy.shape, p, with_bias), [&] {
    return dnnl_call("conv2dBackwardFilter", [&] {
      auto g = geometry(x.shape, w_shape, dy.shape, p);
      auto hint = fwd_pd(g, with_bias);
      using cb = dnnl::convolution_backward_weights;
      auto d = with_bias ? cb::desc(dnnl::algorithm::convolution_direct, g.src, g.any_w, g.bias, g.dst, g.strides,
                                    g.dilates, g.pad_l, g.pad_r)
                         : cb::desc(dnnl::algorithm::convolution_direct, g.src, g.any_w, g.dst, g.strides, g.dilates,
                                    g.pad_l, g.pad_r);
      auto pd = cb::primitive_desc(d, attr(), engine(), hint);
      auto r = std::make_shared<BwdFilterPrims>();
      r->prim = cb(pd);
      r->sp = pd.scratchpad_desc();
      r->src = g.src;
      r->diff_dst = g.dst;
      r->user_w = g.user_w;
      r->diff_w = pd.diff_weights_desc();
      r->bias = g.bias;
      r->reorder_w = r->diff_w != g.user_w;
      if (r->reorder_w) {
        auto rpd = dnnl::reorder::primitive_desc(engine(), r->diff_w, engine(), g.user_w, attr());
        r->w_reorder = dnnl::reorder(rpd);
        r->w_sp = rpd.scratchpad_desc();
      }
      return r;
    });
  });
  std::vector<Tensor> out;
  out.push_back(empty_tensor(w_shape, DType::F32, x.device(), "conv2dBackwardFilter"));
  if (with_bias) out.push_back(empty_tensor({w_shape[0]}, DType::F32, x.device(), "conv2dBackwardFilter"));
  Tensor dw = out[0];
  std::optional<Tensor> db;
  if (with_bias) db = out[1];
  CpuStream::get().enqueue("conv2dBackwardFilter", [P, dy, x, dw, db] {
    dnnl_call("conv2dBackwardFilter", [&] {
      auto& s = stream();
      memory user = mem(P->user_w, dw.f32());
      memory dwm = P->reorder_w ? mem(P->diff_w, scratch(0, P->diff_w.get_size())) : user;
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mem(P->src, x.f32())},
                                           {DNNL_ARG_DIFF_DST, mem(P->diff_dst, dy.f32())},
                                           {DNNL_ARG_DIFF_WEIGHTS, dwm}};
      if (db) args.emplace(DNNL_ARG_DIFF_BIAS, mem(P->bias, db->f32()));
      execute(P->prim, args, P->sp);
      if (P->reorder_w) execute(P->w_reorder, {{DNNL_ARG_FROM, dwm}, {DNNL_ARG_TO, user}}, P->w_sp);
      s.wait();
    });
  });
  return out;
}

}  // namespace senet::cpu
