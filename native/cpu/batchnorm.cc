// Batch normalisation over N,H,W per channel of an NHWC tensor, through
// oneDNN (training with batch statistics, inference with given statistics,
// backward). oneDNN returns the biased batch variance; the running variance
// is updated with the unbiased one, as PyTorch does.
#include <dnnl.hpp>

#include "core/stream.h"
#include "cpu/dnnl_context.h"
#include "cpu/ops.h"

namespace senet::cpu {
namespace {

using nf = dnnl::normalization_flags;
using bnf = dnnl::batch_normalization_forward;
using bnb = dnnl::batch_normalization_backward;

bnf::primitive_desc fwd_pd(const Shape& x, double eps, bool training) {
  const auto flags = training ? (nf::use_scale | nf::use_shift) : (nf::use_scale | nf::use_shift | nf::use_global_stats);
  auto d = bnf::desc(training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference, nhwc_md(x),
                     float(eps), flags);
  return bnf::primitive_desc(d, attr(), engine());
}

struct FwdPrims {
  bnf prim;
  memory::desc data, vec, sp;
};
struct BwdPrims {
  bnb prim;
  memory::desc data, vec, sp;
};

PrimitiveCache<FwdPrims>& fwd_cache() {
  static auto* c = new PrimitiveCache<FwdPrims>();
  return *c;
}
PrimitiveCache<BwdPrims>& bwd_cache() {
  static auto* c = new PrimitiveCache<BwdPrims>();
  return *c;
}

std::shared_ptr<FwdPrims> get_fwd(const Shape& x, double eps, bool training, const char* op) {
  return fwd_cache().get(key(training ? "train" : "infer", x, std::to_string(eps)), [&] {
    return dnnl_call(op, [&] {
      auto r = std::make_shared<FwdPrims>();
      auto pd = fwd_pd(x, eps, training);
      r->prim = bnf(pd);
      r->sp = pd.scratchpad_desc();
      r->data = nhwc_md(x);
      r->vec = md({x[3]}, tag::x);
      return r;
    });
  });
}

}  // namespace

std::vector<Tensor> batchnorm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                    const std::optional<Tensor>& running_mean,
                                    const std::optional<Tensor>& running_var, const BatchNormParams& p) {
  const char* op = "batchNormTrain";
  auto P = get_fwd(x.shape, p.eps, true, op);
  const int64_t C = x.shape[3];
  Tensor y = empty_tensor(x.shape, DType::F32, x.device(), op);
  Tensor mean = empty_tensor({C}, DType::F32, x.device(), op);
  Tensor var = empty_tensor({C}, DType::F32, x.device(), op);
  const int64_t count = x.shape[0] * x.shape[1] * x.shape[2];
  const float m = float(p.momentum);
  auto rm = running_mean, rv = running_var;
  CpuStream::get().enqueue(op, [P, x, gamma, beta, y, mean, var, rm, rv, C, count, m, op] {
    dnnl_call(op, [&] {
      auto& s = stream();
      execute(P->prim, {{DNNL_ARG_SRC, mem(P->data, x.f32())},
                          {DNNL_ARG_SCALE, mem(P->vec, gamma.f32())},
                          {DNNL_ARG_SHIFT, mem(P->vec, beta.f32())},
                          {DNNL_ARG_DST, mem(P->data, y.f32())},
                          {DNNL_ARG_MEAN, mem(P->vec, mean.f32())},
                          {DNNL_ARG_VARIANCE, mem(P->vec, var.f32())}}, P->sp);
      s.wait();
    });
    // Running statistics (PyTorch): unbiased variance, momentum on the new value.
    const float unbias = count > 1 ? float(double(count) / double(count - 1)) : 1.0f;
    if (rm) {
      float* r = rm->f32();
      const float* b = mean.f32();
      for (int64_t c = 0; c < C; ++c) r[c] = (1.0f - m) * r[c] + m * b[c];
    }
    if (rv) {
      float* r = rv->f32();
      const float* b = var.f32();
      for (int64_t c = 0; c < C; ++c) r[c] = (1.0f - m) * r[c] + m * b[c] * unbias;
    }
  });
  return {y, mean, var};
}

Tensor batchnorm_infer(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                       const Tensor& var, const BatchNormParams& p) {
  const char* op = "batchNormInference";
  auto P = get_fwd(x.shape, p.eps, false, op);
  Tensor y = empty_tensor(x.shape, DType::F32, x.device(), op);
  CpuStream::get().enqueue(op, [P, x, gamma, beta, mean, var, y, op] {
    dnnl_call(op, [&] {
      auto& s = stream();
      execute(P->prim, {{DNNL_ARG_SRC, mem(P->data, x.f32())},
                          {DNNL_ARG_SCALE, mem(P->vec, gamma.f32())},
                          {DNNL_ARG_SHIFT, mem(P->vec, beta.f32())},
                          {DNNL_ARG_MEAN, mem(P->vec, mean.f32())},
                          {DNNL_ARG_VARIANCE, mem(P->vec, var.f32())},
                          {DNNL_ARG_DST, mem(P->data, y.f32())}}, P->sp);
      s.wait();
    });
  });
  return y;
}

std::vector<Tensor> batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                       const Tensor& var, const BatchNormParams& p) {
  const char* op = "batchNormBackward";
  auto P = bwd_cache().get(key("bwd", x.shape, std::to_string(p.eps)), [&] {
    return dnnl_call(op, [&] {
      auto hint = fwd_pd(x.shape, p.eps, true);
      auto d = bnb::desc(dnnl::prop_kind::backward, nhwc_md(x.shape), nhwc_md(x.shape), float(p.eps),
                         nf::use_scale | nf::use_shift);
      auto r = std::make_shared<BwdPrims>();
      auto pd = bnb::primitive_desc(d, attr(), engine(), hint);
      r->prim = bnb(pd);
      r->sp = pd.scratchpad_desc();
      r->data = nhwc_md(x.shape);
      r->vec = md({x.shape[3]}, tag::x);
      return r;
    });
  });
  const int64_t C = x.shape[3];
  Tensor dx = empty_tensor(x.shape, DType::F32, x.device(), op);
  Tensor dgamma = empty_tensor({C}, DType::F32, x.device(), op);
  Tensor dbeta = empty_tensor({C}, DType::F32, x.device(), op);
  CpuStream::get().enqueue(op, [P, dy, x, gamma, mean, var, dx, dgamma, dbeta, op] {
    dnnl_call(op, [&] {
      auto& s = stream();
      execute(P->prim, {{DNNL_ARG_SRC, mem(P->data, x.f32())},
                          {DNNL_ARG_DIFF_DST, mem(P->data, dy.f32())},
                          {DNNL_ARG_MEAN, mem(P->vec, mean.f32())},
                          {DNNL_ARG_VARIANCE, mem(P->vec, var.f32())},
                          {DNNL_ARG_SCALE, mem(P->vec, gamma.f32())},
                          // oneDNN 2.6 asks for a shift input when use_shift is set, though no
                          // gradient depends on it; gamma's buffer (same shape) stands in.
                          {DNNL_ARG_SHIFT, mem(P->vec, gamma.f32())},
                          {DNNL_ARG_DIFF_SRC, mem(P->data, dx.f32())},
                          {DNNL_ARG_DIFF_SCALE, mem(P->vec, dgamma.f32())},
                          {DNNL_ARG_DIFF_SHIFT, mem(P->vec, dbeta.f32())}}, P->sp);
      s.wait();
    });
  });
  return {dx, dgamma, dbeta};
}

}  // namespace senet::cpu
