// Fully connected layer y = x W^T + b through oneDNN inner product
// (x [N,in], W [out,in] as PyTorch, b [out]).
#include <dnnl.hpp>

#include "core/stream.h"
#include "cpu/dnnl_context.h"
#include "cpu/ops.h"

namespace senet::cpu {
namespace {

using ipf = dnnl::inner_product_forward;
using ipd = dnnl::inner_product_backward_data;
using ipw = dnnl::inner_product_backward_weights;

struct Mds {
  memory::desc x, w, b, y;
};
Mds mds(int64_t N, int64_t I, int64_t O) {
  return {md({N, I}, tag::nc), md({O, I}, tag::oi), md({O}, tag::x), md({N, O}, tag::nc)};
}

ipf::primitive_desc fwd_pd(const Mds& m, bool bias) {
  auto d = bias ? ipf::desc(dnnl::prop_kind::forward_training, m.x, m.w, m.b, m.y)
                : ipf::desc(dnnl::prop_kind::forward_training, m.x, m.w, m.y);
  return ipf::primitive_desc(d, attr(), engine());
}

struct FwdPrims {
  ipf prim;
  Mds m;
  memory::desc sp;
};
struct BwdPrims {
  ipd data;
  ipw weights;
  Mds m;
  memory::desc data_sp, weights_sp;
};

PrimitiveCache<FwdPrims>& fwd_cache() {
  static auto* c = new PrimitiveCache<FwdPrims>();
  return *c;
}
PrimitiveCache<BwdPrims>& bwd_cache() {
  static auto* c = new PrimitiveCache<BwdPrims>();
  return *c;
}

}  // namespace

Tensor linear_forward(const Tensor& x, const Tensor& w, const std::optional<Tensor>& b) {
  const char* op = "linear";
  const int64_t N = x.shape[0], I = x.shape[1], O = w.shape[0];
  const bool has_bias = b.has_value();
  auto P = fwd_cache().get(key("fwd", N, I, O, int64_t(has_bias)), [&] {
    return dnnl_call(op, [&] {
      auto r = std::make_shared<FwdPrims>();
      r->m = mds(N, I, O);
      auto pd = fwd_pd(r->m, has_bias);
      r->prim = ipf(pd);
      r->sp = pd.scratchpad_desc();
      return r;
    });
  });
  Tensor y = empty_tensor({N, O}, DType::F32, x.device(), op);
  std::optional<Tensor> bias = b;
  CpuStream::get().enqueue(op, [P, x, w, bias, y, op] {
    dnnl_call(op, [&] {
      auto& s = stream();
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mem(P->m.x, x.f32())},
                                           {DNNL_ARG_WEIGHTS, mem(P->m.w, w.f32())},
                                           {DNNL_ARG_DST, mem(P->m.y, y.f32())}};
      if (bias) args.emplace(DNNL_ARG_BIAS, mem(P->m.b, bias->f32()));
      execute(P->prim, args, P->sp);
      s.wait();
    });
  });
  return y;
}

std::vector<Tensor> linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, bool need_dx, bool with_bias) {
  const char* op = "linearBackward";
  const int64_t N = x.shape[0], I = x.shape[1], O = w.shape[0];
  auto P = bwd_cache().get(key("bwd", N, I, O, int64_t(with_bias)), [&] {
    return dnnl_call(op, [&] {
      auto r = std::make_shared<BwdPrims>();
      r->m = mds(N, I, O);
      auto hint = fwd_pd(r->m, with_bias);
      auto dpd = ipd::primitive_desc(ipd::desc(r->m.x, r->m.w, r->m.y), attr(), engine(), hint);
      r->data = ipd(dpd);
      r->data_sp = dpd.scratchpad_desc();
      auto wd = with_bias ? ipw::desc(r->m.x, r->m.w, r->m.b, r->m.y) : ipw::desc(r->m.x, r->m.w, r->m.y);
      auto wpd = ipw::primitive_desc(wd, attr(), engine(), hint);
      r->weights = ipw(wpd);
      r->weights_sp = wpd.scratchpad_desc();
      return r;
    });
  });
  Tensor dx, db;
  if (need_dx) dx = empty_tensor({N, I}, DType::F32, x.device(), op);
  Tensor dw = empty_tensor({O, I}, DType::F32, x.device(), op);
  if (with_bias) db = empty_tensor({O}, DType::F32, x.device(), op);
  CpuStream::get().enqueue(op, [P, dy, x, w, dx, dw, db, op] {
    dnnl_call(op, [&] {
      auto& s = stream();
      if (dx.storage)
        execute(P->data,
                {{DNNL_ARG_DIFF_DST, mem(P->m.y, dy.f32())},
                 {DNNL_ARG_WEIGHTS, mem(P->m.w, w.f32())},
                 {DNNL_ARG_DIFF_SRC, mem(P->m.x, dx.f32())}},
                P->data_sp);
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mem(P->m.x, x.f32())},
                                           {DNNL_ARG_DIFF_DST, mem(P->m.y, dy.f32())},
                                           {DNNL_ARG_DIFF_WEIGHTS, mem(P->m.w, dw.f32())}};
      if (db.storage) args.emplace(DNNL_ARG_DIFF_BIAS, mem(P->m.b, db.f32()));
      execute(P->weights, args, P->weights_sp);
      s.wait();
    });
  });
  return {dx, dw, db};
}

}  // namespace senet::cpu
