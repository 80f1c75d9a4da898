// maxPool2d(+Backward), avgPool2d(+Backward), globalAvgPool(+Backward) on NHWC.
// options: kernel [kh,kw], stride [sh,sw] (default = kernel), padding
// [top,bottom,left,right], countIncludePad (average only, default true).
#include "core/args.h"
#include "cpu/ops.h"
#include "ops/registry.h"

namespace senet {
namespace {

constexpr int64_t kMaxWindow = 1 << 16;

Pool2dParams pool_params(const char* op, const Napi::Object& o) {
  Pool2dParams p;
  if (o.Get("kernel").IsUndefined()) fail(Code::Arg, op, "kernel", "an array of 2 integers", "undefined");
  auto k = opt_ints(op, o, "kernel", 2, {1, 1}, 1, kMaxWindow);
  auto s = opt_ints(op, o, "stride", 2, k, 1, kMaxWindow);
  auto pad = opt_ints(op, o, "padding", 4, {0, 0, 0, 0}, 0, kMaxWindow);
  p.kh = k[0], p.kw = k[1];
  p.stride_h = s[0], p.stride_w = s[1];
  p.pad_t = pad[0], p.pad_b = pad[1], p.pad_l = pad[2], p.pad_r = pad[3];
  p.count_include_pad = opt_bool(op, o, "countIncludePad", true);
  p.workspace = opt_bool(op, o, "workspace", true);
  p.propagate_nan = opt_bool(op, o, "propagateNan", true);
  // Every window must overlap the input (a window of padding only has no max).
  if (p.pad_t >= p.kh || p.pad_b >= p.kh || p.pad_l >= p.kw || p.pad_r >= p.kw)
    fail(Code::Arg, op, "padding", "each side smaller than the kernel " + shape_str({p.kh, p.kw}),
         shape_str({p.pad_t, p.pad_b, p.pad_l, p.pad_r}));
  return p;
}

Shape pool_output(const char* op, const Shape& x, const Pool2dParams& p) {
  if (x.size() != 4) fail(Code::Shape, op, "x", "a rank-4 NHWC tensor", "shape " + shape_str(x));
  for (auto d : x)
    if (d <= 0) fail(Code::Shape, op, "x", "all dimensions > 0", "shape " + shape_str(x));
  const int64_t Ho = window_out(x[1], p.kh, p.stride_h, p.pad_t, p.pad_b, 1);
  const int64_t Wo = window_out(x[2], p.kw, p.stride_w, p.pad_l, p.pad_r, 1);
  if (Ho <= 0 || Wo <= 0)
    fail(Code::Shape, op, "x", "a padded input at least as large as the kernel " + shape_str({p.kh, p.kw}),
         "spatial size " + shape_str({x[1], x[2]}));
  return {x[0], Ho, Wo, x[3]};
}

}  // namespace

SENET_BINDING(maxPool2d) {
  OpArgs A(info, "maxPool2d");
  Tensor x = A.tensor(0, "x");
  const Pool2dParams p = pool_params(A.op(), A.options(1));
  const Shape y = pool_output(A.op(), x.shape, p);
  return outputs(info.Env(), SENET_DISPATCH(x, maxpool2d_forward, x, p, y));
}

// maxPool2dBackward(dy, workspace, xShape, options)
SENET_BINDING(maxPool2dBackward) {
  OpArgs A(info, "maxPool2dBackward");
  Tensor dy = A.tensor(0, "dy"), ws = A.tensor(1, "workspace", DType::U8);
  const Shape xs = A.shape(2, "xShape");
  const Pool2dParams p = pool_params(A.op(), A.options(3));
  check_same_device(A.op(), {{"dy", &dy}, {"workspace", &ws}});
  check_shape(A.op(), "dy", dy, pool_output(A.op(), xs, p));
  return wrap(info.Env(), SENET_DISPATCH(dy, maxpool2d_backward, dy, ws, xs, p));
}

SENET_BINDING(avgPool2d) {
  OpArgs A(info, "avgPool2d");
  Tensor x = A.tensor(0, "x");
  const Pool2dParams p = pool_params(A.op(), A.options(1));
  const Shape y = pool_output(A.op(), x.shape, p);
  return wrap(info.Env(), SENET_DISPATCH(x, avgpool2d_forward, x, p, y));
}

// avgPool2dBackward(dy, xShape, options)
SENET_BINDING(avgPool2dBackward) {
  OpArgs A(info, "avgPool2dBackward");
  Tensor dy = A.tensor(0, "dy");
  const Shape xs = A.shape(1, "xShape");
  const Pool2dParams p = pool_params(A.op(), A.options(2));
  check_shape(A.op(), "dy", dy, pool_output(A.op(), xs, p));
  return wrap(info.Env(), SENET_DISPATCH(dy, avgpool2d_backward, dy, xs, p));
}

SENET_BINDING(globalAvgPool) {
  OpArgs A(info, "globalAvgPool");
  Tensor x = A.tensor(0, "x");
  check_rank(A.op(), "x", x, 4, "NHWC");
  for (auto d : x.shape)
    if (d <= 0) fail(Code::Shape, A.op(), "x", "all dimensions > 0", "shape " + shape_str(x.shape));
  return wrap(info.Env(), SENET_DISPATCH(x, global_avgpool_forward, x));
}

// globalAvgPoolBackward(dy [N,C], xShape)
SENET_BINDING(globalAvgPoolBackward) {
  OpArgs A(info, "globalAvgPoolBackward");
  Tensor dy = A.tensor(0, "dy");
  const Shape xs = A.shape(1, "xShape");
  if (xs.size() != 4) fail(Code::Shape, A.op(), "xShape", "a rank-4 NHWC shape", shape_str(xs));
  for (auto d : xs)
    if (d <= 0) fail(Code::Shape, A.op(), "xShape", "all dimensions > 0", shape_str(xs));
  check_shape(A.op(), "dy", dy, {xs[0], xs[3]});
  return wrap(info.Env(), SENET_DISPATCH(dy, global_avgpool_backward, dy, xs));
}

void register_pool_ops(Napi::Env env, Napi::Object exports) {
  SENET_EXPORT(exports, env, maxPool2d);
  SENET_EXPORT(exports, env, maxPool2dBackward);
  SENET_EXPORT(exports, env, avgPool2d);
  SENET_EXPORT(exports, env, avgPool2dBackward);
  SENET_EXPORT(exports, env, globalAvgPool);
  SENET_EXPORT(exports, env, globalAvgPoolBackward);
}

}  // namespace senet
