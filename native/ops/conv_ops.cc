// conv2d, conv2dBackwardData, conv2dBackwardFilter.
// x [N,H,W,Ci] NHWC, w [Co,KH,KW,Ci/groups] OHWI, b [Co], y [N,Ho,Wo,Co].
// options: stride [sh,sw], padding [top,bottom,left,right], dilation [dh,dw], groups.
#include "core/args.h"
#include "core/stream.h"
#include "cpu/dconv.h"
#include "cpu/gconv.h"
#include "cpu/pwgrad.h"
#include "cpu/ops.h"
#include "ops/registry.h"

namespace senet {
namespace {

constexpr int64_t kMaxWindow = 1 << 16;

Conv2dParams conv_params(const char* op, const Napi::Object& o) {
  Conv2dParams p;
  auto s = opt_ints(op, o, "stride", 2, {1, 1}, 1, kMaxWindow);
  auto pad = opt_ints(op, o, "padding", 4, {0, 0, 0, 0}, 0, kMaxWindow);
  auto d = opt_ints(op, o, "dilation", 2, {1, 1}, 1, kMaxWindow);
  p.stride_h = s[0], p.stride_w = s[1];
  p.pad_t = pad[0], p.pad_b = pad[1], p.pad_l = pad[2], p.pad_r = pad[3];
  p.dil_h = d[0], p.dil_w = d[1];
  p.groups = opt_int(op, o, "groups", 1, 1, kMaxElements);
  return p;
}

void check_dims_positive(const char* op, const char* arg, const Shape& s) {
  for (auto d : s)
    if (d <= 0) fail(Code::Shape, op, arg, "all dimensions > 0", "shape " + shape_str(s));
}

// Validates x/w against each other and returns y's shape.
Shape conv_output(const char* op, const Shape& x, const Shape& w, const Conv2dParams& p) {
  if (x.size() != 4) fail(Code::Shape, op, "x", "a rank-4 NHWC tensor", "shape " + shape_str(x));
  if (w.size() != 4) fail(Code::Shape, op, "w", "a rank-4 OHWI tensor", "shape " + shape_str(w));
  check_dims_positive(op, "x", x);
  check_dims_positive(op, "w", w);
  const int64_t Ci = x[3], Co = w[0], G = p.groups;
  if (Ci % G != 0)
    fail(Code::Shape, op, "groups", "a divisor of the " + std::to_string(Ci) + " input channels", std::to_string(G));
  if (Co % G != 0)
    fail(Code::Shape, op, "groups", "a divisor of the " + std::to_string(Co) + " output channels", std::to_string(G));
  if (w[3] != Ci / G)
    fail(Code::Shape, op, "w", "OHWI with " + std::to_string(Ci / G) + " input channels per group (x has " +
                                   std::to_string(Ci) + " channels, groups " + std::to_string(G) + ")",
         "shape " + shape_str(w));
  const int64_t Ho = window_out(x[1], w[1], p.stride_h, p.pad_t, p.pad_b, p.dil_h);
  const int64_t Wo = window_out(x[2], w[2], p.stride_w, p.pad_l, p.pad_r, p.dil_w);
  if (Ho <= 0 || Wo <= 0)
    fail(Code::Shape, op, "x", "a padded input at least as large as the dilated kernel " +
                                   shape_str({w[1], w[2]}),
         "spatial size " + shape_str({x[1], x[2]}));
  return {x[0], Ho, Wo, Co};
}

}  // namespace

// conv2d(x, w, b | null, options)
SENET_BINDING(conv2d) {
  OpArgs A(info, "conv2d");
  Tensor x = A.tensor(0, "x"), w = A.tensor(1, "w");
  auto b = A.optional_tensor(2, "b");
  const Conv2dParams p = conv_params(A.op(), A.options(3));
  check_same_device(A.op(), {{"x", &x}, {"w", &w}, {"b", b ? &*b : nullptr}});
  const Shape y = conv_output(A.op(), x.shape, w.shape, p);
  if (b) check_shape(A.op(), "b", *b, {w.shape[0]});
  return wrap(info.Env(), SENET_DISPATCH(x, conv2d_forward, x, w, b, p, y));
}

// conv2dBackwardData(dy, w, xShape, options) -> dx
SENET_BINDING(conv2dBackwardData) {
  OpArgs A(info, "conv2dBackwardData");
  Tensor dy = A.tensor(0, "dy"), w = A.tensor(1, "w");
  const Shape xs = A.shape(2, "xShape");
  const Conv2dParams p = conv_params(A.op(), A.options(3));
  check_same_device(A.op(), {{"dy", &dy}, {"w", &w}});
  const Shape y = conv_output(A.op(), xs, w.shape, p);
  check_shape(A.op(), "dy", dy, y);
  return wrap(info.Env(), SENET_DISPATCH(dy, conv2d_backward_data, dy, w, xs, p));
}

// conv2dBackwardFilter(dy, x, wShape, withBias, options) -> [dw, db | null]
SENET_BINDING(conv2dBackwardFilter) {
  OpArgs A(info, "conv2dBackwardFilter");
  Tensor dy = A.tensor(0, "dy"), x = A.tensor(1, "x");
  const Shape ws = A.shape(2, "wShape");
  if (!info[3].IsBoolean()) fail(Code::Arg, A.op(), "withBias", "a boolean", describe(info[3]));
  const bool with_bias = info[3].As<Napi::Boolean>().Value();
  const Conv2dParams p = conv_params(A.op(), A.options(4));
  check_same_device(A.op(), {{"dy", &dy}, {"x", &x}});
  const Shape y = conv_output(A.op(), x.shape, ws, p);
  check_shape(A.op(), "dy", dy, y);
  auto out = SENET_DISPATCH(dy, conv2d_backward_filter, dy, x, ws, with_bias, p);
  if (!with_bias) out.push_back(Tensor());
  return outputs(info.Env(), out);
}

// _gconvConfig({mode?, dense?, winograd?, bwdAsFwd?: 'auto' | 'on' | 'off',
// winogradTile?: 'auto' | 2 | 4}) -> {mode, calls, dense, denseCalls,
// winograd, winogradCalls, winogradTile, winograd4Calls, bwdAsFwd,
// bwdAsFwdCalls}: test and benchmark hook choosing between oneDNN and the
// direct grouped kernels (mode, as SENET_GCONV=1/0), the direct dense
// forward kernel (dense, as SENET_DCONV=1/0), the Winograd forward and
// weight gradient (winograd, as SENET_WINOGRAD=1/0; it comes before the dense
// kernel where both may run) and their tile (F(2x2) or F(4x4, 3x3)) and backward data of stride-1 dense
// convolutions as the forward of the flipped filter (bwdAsFwd, as
// SENET_BWD_AS_FWD=1/0); without options it only reports. The *Calls
// fields count the ops dispatched to each so far.
SENET_BINDING(_gconvConfig) {
  OpArgs A(info, "_gconvConfig");
  auto o = A.options(0);
  const auto mode = opt_mode(A.op(), o, "mode"), dense = opt_mode(A.op(), o, "dense"),
             wino = opt_mode(A.op(), o, "winograd"), flip = opt_mode(A.op(), o, "bwdAsFwd"),
             pw = opt_mode(A.op(), o, "pointwise");
  std::optional<int> tile;
  if (o.Has("winogradTile")) {
    const Napi::Value v = o.Get("winogradTile");
    if (v.IsString() && v.As<Napi::String>().Utf8Value() == "auto") tile = 0;
    else if (v.IsNumber() && (v.As<Napi::Number>().DoubleValue() == 2 || v.As<Napi::Number>().DoubleValue() == 4))
      tile = int(v.As<Napi::Number>().DoubleValue());
    else fail(Code::Arg, A.op(), "winogradTile", "one of 'auto', 2, 4", describe(v));
  }
  if (mode || dense || wino || flip || tile || pw) CpuStream::get().sync();
  if (pw) cpu::pwgrad_config(*pw);
  if (tile) cpu::winograd_tile_config(*tile);
  if (mode) cpu::gconv_config(*mode);
  if (dense) cpu::dconv_config(*dense);
  if (wino) cpu::winograd_config(*wino);
  if (flip) cpu::bwd_as_fwd_config(*flip);
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("mode", mode_name(cpu::gconv_mode()));
  r.Set("calls", double(cpu::gconv_calls()));
  r.Set("dense", mode_name(cpu::dconv_mode()));
  r.Set("denseCalls", double(cpu::dconv_calls()));
  r.Set("winograd", mode_name(cpu::winograd_mode()));
  r.Set("winogradCalls", double(cpu::winograd_calls()));
  if (cpu::winograd_tile_mode()) r.Set("winogradTile", double(cpu::winograd_tile_mode()));
  else r.Set("winogradTile", "auto");
  r.Set("winograd4Calls", double(cpu::winograd4_calls()));
  r.Set("bwdAsFwd", mode_name(cpu::bwd_as_fwd_mode()));
  r.Set("bwdAsFwdCalls", double(cpu::bwd_as_fwd_calls()));
  r.Set("pointwise", mode_name(cpu::pwgrad_mode()));
  r.Set("pointwiseCalls", double(cpu::pwgrad_calls()));
  return r;
}

void register_conv_ops(Napi::Env env, Napi::Object exports) {
  SENET_EXPORT(exports, env, _gconvConfig);
  SENET_EXPORT(exports, env, conv2d);
  SENET_EXPORT(exports, env, conv2dBackwardData);
  SENET_EXPORT(exports, env, conv2dBackwardFilter);
}

}  // namespace senet
