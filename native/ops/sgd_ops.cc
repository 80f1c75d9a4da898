// sgdStep(params[], grads[], buffers[] | null, options): fused multi-tensor
// SGD, in place. options: lr, momentum, dampening, weightDecay, nesterov,
// firstStep.
#include <set>

#include "core/args.h"
#include "cpu/ops.h"
#include "ops/registry.h"

namespace senet {

SENET_BINDING(sgdStep) {
  OpArgs A(info, "sgdStep");
  Napi::Array ps = A.array(0, "params"), gs = A.array(1, "grads");
  const bool has_buf = !(info[2].IsNull() || info[2].IsUndefined());
  auto o = A.options(3);
  SgdParams p;
  p.lr = opt_number(A.op(), o, "lr", 0.1, 0.0, 1e6);
  p.momentum = opt_number(A.op(), o, "momentum", 0.0, 0.0, 1.0);
  p.dampening = opt_number(A.op(), o, "dampening", 0.0, 0.0, 1.0);
  p.weight_decay = opt_number(A.op(), o, "weightDecay", 0.0, 0.0, 1e6);
  p.nesterov = opt_bool(A.op(), o, "nesterov", false);
  p.first_step = opt_bool(A.op(), o, "firstStep", false);
  if (p.nesterov && (p.momentum <= 0.0 || p.dampening != 0.0))
    fail(Code::Arg, A.op(), "nesterov", "momentum > 0 and dampening 0 (as PyTorch)",
         "momentum " + describe(o.Get("momentum")) + ", dampening " + describe(o.Get("dampening")));
  if (p.momentum > 0.0 && !has_buf)
    fail(Code::Arg, A.op(), "buffers", "one momentum buffer per parameter when momentum > 0", "null");
  if (gs.Length() != ps.Length())
    fail(Code::Shape, A.op(), "grads", std::to_string(ps.Length()) + " tensors (one per parameter)",
         std::to_string(gs.Length()));
  Napi::Array bs = has_buf ? A.array(2, "buffers") : Napi::Array::New(info.Env());
  if (has_buf && bs.Length() != ps.Length())
    fail(Code::Shape, A.op(), "buffers", std::to_string(ps.Length()) + " tensors (one per parameter)",
         std::to_string(bs.Length()));
  std::vector<Tensor> params, grads, bufs;
  std::set<const Storage*> written;
  for (uint32_t i = 0; i < ps.Length(); ++i) {
    const std::string k = "[" + std::to_string(i) + "]";
    Tensor w = tensor_from_value(A.op(), "params" + k, ps.Get(i));
    Tensor g = tensor_from_value(A.op(), "grads" + k, gs.Get(i));
    check_shape(A.op(), ("grads" + k).c_str(), g, w.shape);
    check_same_device(A.op(), {{"params[0]", params.empty() ? &w : &params[0]}, {"params[i]", &w}, {"grads[i]", &g}});
    if (!written.insert(w.storage.get()).second)
      fail(Code::Arg, A.op(), "params" + k, "a tensor not listed twice", "a repeated parameter");
    if (has_buf) {
      Tensor b = tensor_from_value(A.op(), "buffers" + k, bs.Get(i));
      check_shape(A.op(), ("buffers" + k).c_str(), b, w.shape);
      check_same_device(A.op(), {{"params[i]", &w}, {"buffers[i]", &b}});
      if (b.storage == w.storage || b.storage == g.storage || !written.insert(b.storage.get()).second)
        fail(Code::Arg, A.op(), "buffers" + k, "its own storage", "a tensor shared with another argument");
      bufs.push_back(b);
    }
    params.push_back(w);
    grads.push_back(g);
  }
  if (params.empty()) return info.Env().Undefined();
  SENET_DISPATCH(params[0], sgd_step, params, grads, bufs, p);
  return info.Env().Undefined();
}

void register_sgd_ops(Napi::Env env, Napi::Object exports) { SENET_EXPORT(exports, env, sgdStep); }

}  // namespace senet
