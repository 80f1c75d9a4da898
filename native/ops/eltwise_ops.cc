// relu, reluBackward, add (same shapes).
#include "core/args.h"
#include "cpu/ops.h"
#include "ops/registry.h"

namespace senet {

SENET_BINDING(relu) {
  OpArgs A(info, "relu");
  Tensor x = A.tensor(0, "x");
  return wrap(info.Env(), SENET_DISPATCH(x, relu_forward, x));
}

// reluBackward(dy, y): dx = dy * [y > 0]
SENET_BINDING(reluBackward) {
  OpArgs A(info, "reluBackward");
  Tensor dy = A.tensor(0, "dy"), y = A.tensor(1, "y");
  check_same_device(A.op(), {{"dy", &dy}, {"y", &y}});
  check_shape(A.op(), "dy", dy, y.shape);
  return wrap(info.Env(), SENET_DISPATCH(y, relu_backward, dy, y));
}

SENET_BINDING(add) {
  OpArgs A(info, "add");
  Tensor a = A.tensor(0, "a"), b = A.tensor(1, "b");
  check_same_device(A.op(), {{"a", &a}, {"b", &b}});
  check_shape(A.op(), "b", b, a.shape);
  return wrap(info.Env(), SENET_DISPATCH(a, add, a, b));
}

void register_eltwise_ops(Napi::Env env, Napi::Object exports) {
  SENET_EXPORT(exports, env, relu);
  SENET_EXPORT(exports, env, reluBackward);
  SENET_EXPORT(exports, env, add);
}

}  // namespace senet
