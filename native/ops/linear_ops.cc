// linear(x [N,in], w [out,in], b [out] | null) and linearBackward.
#include "core/args.h"
#include "cpu/ops.h"
#include "ops/registry.h"

namespace senet {
namespace {

void check_linear(const char* op, const Tensor& x, const Tensor& w) {
  check_rank(op, "x", x, 2, "[N, in]");
  check_rank(op, "w", w, 2, "[out, in]");
  for (auto d : x.shape)
    if (d <= 0) fail(Code::Shape, op, "x", "all dimensions > 0", "shape " + shape_str(x.shape));
  if (w.shape[0] <= 0) fail(Code::Shape, op, "w", "all dimensions > 0", "shape " + shape_str(w.shape));
  if (w.shape[1] != x.shape[1])
    fail(Code::Shape, op, "w", "[out, " + std::to_string(x.shape[1]) + "] to match x's " +
                                   std::to_string(x.shape[1]) + " features",
         "shape " + shape_str(w.shape));
}

}  // namespace

SENET_BINDING(linear) {
  OpArgs A(info, "linear");
  Tensor x = A.tensor(0, "x"), w = A.tensor(1, "w");
  auto b = A.optional_tensor(2, "b");
  check_same_device(A.op(), {{"x", &x}, {"w", &w}, {"b", b ? &*b : nullptr}});
  check_linear(A.op(), x, w);
  if (b) check_shape(A.op(), "b", *b, {w.shape[0]});
  return wrap(info.Env(), SENET_DISPATCH(x, linear_forward, x, w, b));
}

// linearBackward(dy, x, w, {needDx, withBias}) -> [dx | null, dw, db | null]
SENET_BINDING(linearBackward) {
  OpArgs A(info, "linearBackward");
  Tensor dy = A.tensor(0, "dy"), x = A.tensor(1, "x"), w = A.tensor(2, "w");
  auto o = A.options(3);
  const bool need_dx = opt_bool(A.op(), o, "needDx", true), with_bias = opt_bool(A.op(), o, "withBias", true);
  check_same_device(A.op(), {{"dy", &dy}, {"x", &x}, {"w", &w}});
  check_linear(A.op(), x, w);
  check_shape(A.op(), "dy", dy, {x.shape[0], w.shape[0]});
  return outputs(info.Env(), SENET_DISPATCH(x, linear_backward, dy, x, w, need_dx, with_bias));
}

void register_linear_ops(Napi::Env env, Napi::Object exports) {
  SENET_EXPORT(exports, env, linear);
  SENET_EXPORT(exports, env, linearBackward);
}

}  // namespace senet
