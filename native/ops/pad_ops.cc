// padChannels(x [N,H,W,C], before, after) -> [N,H,W,before+C+after];
// padChannelsBackward(dy, before, after) -> [N,H,W,C].
#include "core/args.h"
#include "cpu/ops.h"
#include "ops/registry.h"

namespace senet {
namespace {

std::pair<int64_t, int64_t> pads(const OpArgs& A, const Napi::CallbackInfo& info) {
  auto o = A.options(1);
  return {opt_int(A.op(), o, "before", 0, 0, int64_t(1) << 24), opt_int(A.op(), o, "after", 0, 0, int64_t(1) << 24)};
}

void check_nhwc(const char* op, const char* arg, const Tensor& t) {
  check_rank(op, arg, t, 4, "NHWC");
  for (auto d : t.shape)
    if (d <= 0) fail(Code::Shape, op, arg, "all dimensions > 0", "shape " + shape_str(t.shape));
}

}  // namespace

SENET_BINDING(padChannels) {
  OpArgs A(info, "padChannels");
  Tensor x = A.tensor(0, "x");
  check_nhwc(A.op(), "x", x);
  auto [before, after] = pads(A, info);
  return wrap(info.Env(), SENET_DISPATCH(x, pad_channels, x, before, after));
}

SENET_BINDING(padChannelsBackward) {
  OpArgs A(info, "padChannelsBackward");
  Tensor dy = A.tensor(0, "dy");
  check_nhwc(A.op(), "dy", dy);
  auto [before, after] = pads(A, info);
  if (before + after >= dy.shape[3])
    fail(Code::Shape, A.op(), "dy", "more than before + after = " + std::to_string(before + after) + " channels",
         "shape " + shape_str(dy.shape));
  return wrap(info.Env(), SENET_DISPATCH(dy, pad_channels_backward, dy, before, after));
}

void register_pad_ops(Napi::Env env, Napi::Object exports) {
  SENET_EXPORT(exports, env, padChannels);
  SENET_EXPORT(exports, env, padChannelsBackward);
}

}  // namespace senet
