// The fused squeeze-excite op.
//   squeezeExcite(u, w1, b1, w2, b2, shortcut | null, {squeeze, gate})
//     -> [y, s, z, a, argmax | null, mask | null, nan | null]
//     (mask: bit c of row p is [y > 0]; nan [1] u8: 1 when some y is NaN; cpu
//     only, the CUDA op returns the first six)
//   squeezeExciteBackward(dy, u, w1, w2, s, z, a, argmax | null, mask | null,
//                         {squeeze, gate, residual})
//     -> [du, dshortcut | null, dw1, db1, dw2, db2]
// u [N,H,W,C] NHWC; w1 [D,C], b1 [D], w2 [C,D], b2 [C]; with a shortcut the
// op computes y = relu(u*s + shortcut), else y = u*s.
#include "core/args.h"
#include "core/stream.h"
#include "cpu/ops.h"
#include "cpu/se.h"
#include "ops/registry.h"

namespace senet {
namespace {

SeParams se_params(const char* op, const Napi::Object& o, bool residual) {
  SeParams p;
  p.squeeze = opt_enum(op, o, "squeeze", "avg", {"avg", "max"}) == "max" ? SeSqueeze::Max : SeSqueeze::Avg;
  const std::string g = opt_enum(op, o, "gate", "sigmoid", {"sigmoid", "tanh", "relu"});
  p.gate = g == "tanh" ? SeGate::Tanh : g == "relu" ? SeGate::Relu : SeGate::Sigmoid;
  p.residual = residual;
  return p;
}

// Checks u and the MLP weights; returns D.
int64_t check_se(const char* op, const Tensor& u, const Tensor& w1, const Tensor* b1, const Tensor& w2,
                 const Tensor* b2) {
  check_rank(op, "u", u, 4, "NHWC");
  for (auto d : u.shape)
    if (d <= 0) fail(Code::Shape, op, "u", "all dimensions > 0", "shape " + shape_str(u.shape));
  if (u.shape[1] * u.shape[2] > (int64_t(1) << 31) - 1)
    fail(Code::Shape, op, "u", "H*W below 2^31", "shape " + shape_str(u.shape));
  const int64_t C = u.shape[3];
  check_rank(op, "w1", w1, 2, "[hidden, C]");
  const int64_t D = w1.shape[0];
  if (D <= 0 || w1.shape[1] != C)
    fail(Code::Shape, op, "w1", "[hidden >= 1, " + std::to_string(C) + "] (u has " + std::to_string(C) + " channels)",
         "shape " + shape_str(w1.shape));
  if (b1) check_shape(op, "b1", *b1, {D});
  check_shape(op, "w2", w2, {C, D});
  if (b2) check_shape(op, "b2", *b2, {C});
  return D;
}

}  // namespace

SENET_BINDING(squeezeExcite) {
  OpArgs A(info, "squeezeExcite");
  Tensor u = A.tensor(0, "u"), w1 = A.tensor(1, "w1"), b1 = A.tensor(2, "b1"), w2 = A.tensor(3, "w2"),
         b2 = A.tensor(4, "b2");
  auto r = A.optional_tensor(5, "shortcut");
  const SeParams p = se_params(A.op(), A.options(6), r.has_value());
  check_same_device(A.op(), {{"u", &u}, {"w1", &w1}, {"b1", &b1}, {"w2", &w2}, {"b2", &b2},
                             {"shortcut", r ? &*r : nullptr}});
  check_se(A.op(), u, w1, &b1, w2, &b2);
  if (r) check_shape(A.op(), "shortcut", *r, u.shape);
  return outputs(info.Env(), SENET_DISPATCH(u, se_forward, u, w1, b1, w2, b2, r, p));
}

SENET_BINDING(squeezeExciteBackward) {
  OpArgs A(info, "squeezeExciteBackward");
  Tensor dy = A.tensor(0, "dy"), u = A.tensor(1, "u"), w1 = A.tensor(2, "w1"), w2 = A.tensor(3, "w2");
  Tensor s = A.tensor(4, "s"), z = A.tensor(5, "z"), a = A.tensor(6, "a");
  auto am = A.optional_tensor(7, "argmax", DType::I32);
  auto mk = A.optional_tensor(8, "mask", DType::U8);
  auto o = A.options(9);
  const SeParams p = se_params(A.op(), o, opt_bool(A.op(), o, "residual", false));
  check_same_device(A.op(), {{"dy", &dy}, {"u", &u}, {"w1", &w1}, {"w2", &w2}, {"s", &s}, {"z", &z}, {"a", &a},
                             {"argmax", am ? &*am : nullptr}, {"mask", mk ? &*mk : nullptr}});
  const int64_t D = check_se(A.op(), u, w1, nullptr, w2, nullptr);
  const int64_t N = u.shape[0], C = u.shape[3], HW = u.shape[1] * u.shape[2];
  check_shape(A.op(), "dy", dy, u.shape);
  check_shape(A.op(), "s", s, {N, C});
  check_shape(A.op(), "z", z, {N, C});
  check_shape(A.op(), "a", a, {N, D});
  if (p.squeeze == SeSqueeze::Max) {
    if (!am) fail(Code::Arg, A.op(), "argmax", "the argmax tensor squeezeExcite returned for squeeze 'max'", "null");
    check_shape(A.op(), "argmax", *am, {N, C});
  }
  if (p.residual) {
    if (!mk) fail(Code::Arg, A.op(), "mask", "the mask tensor squeezeExcite returned with a shortcut", "null");
    check_shape(A.op(), "mask", *mk, {N * HW * cpu::se::mask_row_bytes(C)});
  }
  return outputs(info.Env(), SENET_DISPATCH(u, se_backward, dy, u, w1, w2, s, z, a, am, mk, p));
}

// _seConfig({blockBytes, nt}): test hook for the CPU kernel's cutting.
SENET_BINDING(_seConfig) {
  OpArgs A(info, "_seConfig");
  auto o = A.options(0);
  const int64_t block = opt_int(A.op(), o, "blockBytes", 0, 0, int64_t(1) << 40);
  const int nt = opt_mode(A.op(), o, "nt").value_or(-1);
  CpuStream::get().sync();
  cpu::se_config(block, nt);
  return info.Env().Undefined();
}

void register_se_ops(Napi::Env env, Napi::Object exports) {
  SENET_EXPORT(exports, env, _seConfig);
  SENET_EXPORT(exports, env, squeezeExcite);
  SENET_EXPORT(exports, env, squeezeExciteBackward);
}

}  // namespace senet
