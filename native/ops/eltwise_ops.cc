// relu, reluBackward, add (same shapes); scaleChannels, scaleChannelsBackward, reluBackwardChannelDot.
#include "core/args.h"
#include "cpu/ops.h"
#include "cpu/se.h"
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

namespace {
// u [N, ..., C] (rank >= 2, non-empty)
void check_u(const char* op, const Tensor& u) {
  if (u.rank() < 2 || u.numel() == 0)
    fail(Code::Shape, op, "u", "a non-empty tensor [N, ..., C] of rank >= 2", "shape " + shape_str(u.shape));
}

// u as above and s [N, C]
void check_scaled(const char* op, const Tensor& u, const Tensor& s) {
  check_u(op, u);
  check_shape(op, "s", s, {u.shape[0], u.shape.back()});
}
}  // namespace

// scaleChannels(u, s, r | null, bias | null, {relu}) -> y = u*s (+ bias) (+ r) (then relu), s and bias
// [N, C] per sample and channel
SENET_BINDING(scaleChannels) {
  OpArgs A(info, "scaleChannels");
  Tensor u = A.tensor(0, "u"), s = A.tensor(1, "s");
  auto r = A.optional_tensor(2, "r");
  auto bias = A.optional_tensor(3, "bias");
  const bool relu = opt_bool(A.op(), A.options(4), "relu", false);
  check_scaled(A.op(), u, s);
  if (r) check_shape(A.op(), "r", *r, u.shape);
  if (bias) check_shape(A.op(), "bias", *bias, s.shape);
  check_same_device(A.op(), {{"u", &u}, {"s", &s}, {"r", r ? &*r : nullptr}, {"bias", bias ? &*bias : nullptr}});
  require_cpu(A.op(), "u", u);
  return wrap(info.Env(), cpu::scale_channels(u, s, r, bias, relu));
}

// reluBackwardChannelDot(dy, y, u, mask | null, nan | null) -> [g = dy*[y > 0] (reluGrad's NaN rule),
// ds [N, C] = sum over each sample's rows of g*u]. mask and nan: squeezeExcite's, for y = relu(u*s + r)
// (the bits are read instead of y unless the flag says some y is NaN; the same g either way).
SENET_BINDING(reluBackwardChannelDot) {
  OpArgs A(info, "reluBackwardChannelDot");
  Tensor dy = A.tensor(0, "dy"), y = A.tensor(1, "y"), u = A.tensor(2, "u");
  auto mask = A.optional_tensor(3, "mask", DType::U8);
  auto nan = A.optional_tensor(4, "nan", DType::U8);
  check_u(A.op(), u);
  check_shape(A.op(), "dy", dy, u.shape);
  check_shape(A.op(), "y", y, u.shape);
  if (mask.has_value() != nan.has_value())
    fail(Code::Arg, A.op(), mask ? "nan" : "mask", "mask and nan both given (squeezeExcite's) or both null",
         mask ? "only mask" : "only nan");
  if (mask) {
    check_shape(A.op(), "mask", *mask, {u.numel() / u.shape.back() * cpu::se::mask_row_bytes(u.shape.back())});
    check_shape(A.op(), "nan", *nan, {1});
  }
  check_same_device(A.op(), {{"dy", &dy}, {"y", &y}, {"u", &u}, {"mask", mask ? &*mask : nullptr}, {"nan", nan ? &*nan : nullptr}});
  require_cpu(A.op(), "u", u);
  return outputs(info.Env(), cpu::relu_backward_channel_dot(dy, y, u, mask, nan));
}

// scaleChannelsBackward(dy, u, s) -> [du = dy*s, ds [N, C] = sum over each sample's rows of dy*u]
SENET_BINDING(scaleChannelsBackward) {
  OpArgs A(info, "scaleChannelsBackward");
  Tensor dy = A.tensor(0, "dy"), u = A.tensor(1, "u"), s = A.tensor(2, "s");
  check_scaled(A.op(), u, s);
  check_shape(A.op(), "dy", dy, u.shape);
  check_same_device(A.op(), {{"dy", &dy}, {"u", &u}, {"s", &s}});
  require_cpu(A.op(), "u", u);
  return outputs(info.Env(), cpu::scale_channels_backward(dy, u, s));
}

void register_eltwise_ops(Napi::Env env, Napi::Object exports) {
  SENET_EXPORT(exports, env, relu);
  SENET_EXPORT(exports, env, reluBackward);
  SENET_EXPORT(exports, env, add);
  SENET_EXPORT(exports, env, scaleChannels);
  SENET_EXPORT(exports, env, scaleChannelsBackward);
  SENET_EXPORT(exports, env, reluBackwardChannelDot);
}

}  // namespace senet
