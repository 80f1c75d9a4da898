// unary(x, op, {alpha}), binary(a, b, op) with broadcasting, addN([x...]),
// clip(x, {min, max}). CPU only for now (no CUDA implementation yet).
#include <cmath>
#include <string>

#include "core/args.h"
#include "cpu/ops.h"
#include "ops/registry.h"

namespace senet {
namespace {

void check_rank_max(const char* op, const char* arg, const Tensor& t) {
  if (t.rank() > cpu::kMaxDims)
    fail(Code::Shape, op, arg, "at most " + std::to_string(cpu::kMaxDims) + " dimensions", "shape " + shape_str(t.shape));
}

cpu::UnaryOp unary_op(const char* op, const std::string& s) {
  using U = cpu::UnaryOp;
  static const std::pair<const char*, U> table[] = {
      {"neg", U::Neg},         {"abs", U::Abs},         {"square", U::Square},   {"sqrt", U::Sqrt},
      {"rsqrt", U::Rsqrt},     {"reciprocal", U::Reciprocal}, {"exp", U::Exp},   {"expm1", U::Expm1},
      {"log", U::Log},         {"log1p", U::Log1p},     {"sigmoid", U::Sigmoid}, {"tanh", U::Tanh},
      {"softplus", U::Softplus}, {"relu", U::Relu},     {"relu6", U::Relu6},     {"elu", U::Elu},
      {"selu", U::Selu},       {"leakyRelu", U::LeakyRelu}, {"step", U::Step}};
  std::string names;
  for (const auto& [name, v] : table) {
    if (s == name) return v;
    names += std::string(names.empty() ? "" : "|") + name;
  }
  fail(Code::Arg, op, "op", "one of " + names, "'" + s + "'");
}

cpu::BinaryOp binary_op(const char* op, const std::string& s) {
  using B = cpu::BinaryOp;
  static const std::pair<const char*, B> table[] = {
      {"add", B::Add},         {"sub", B::Sub},         {"mul", B::Mul},
      {"div", B::Div},         {"maximum", B::Maximum}, {"minimum", B::Minimum},
      {"squaredDifference", B::SquaredDifference},      {"prelu", B::Prelu},
      {"eluGrad", B::EluGrad},                          {"reluGrad", B::ReluGrad},
      {"squareGrad", B::SquareGrad},                    {"addRelu", B::AddRelu}};
  std::string names;
  for (const auto& [name, v] : table) {
    if (s == name) return v;
    names += std::string(names.empty() ? "" : "|") + name;
  }
  fail(Code::Arg, op, "op", "one of " + names, "'" + s + "'");
}

// NumPy broadcasting: dims aligned on the right must be equal or 1.
Shape broadcast_shape(const char* op, const Shape& a, const Shape& b) {
  const size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      fail(Code::Shape, op, "b", "a shape that broadcasts with a's " + shape_str(a), shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace

SENET_BINDING(unary) {
  OpArgs A(info, "unary");
  Tensor x = A.tensor(0, "x");
  const cpu::UnaryOp u = unary_op(A.op(), A.string(1, "op"));
  const double alpha = opt_number(A.op(), A.options(2), "alpha", 0.0, -3.4e38, 3.4e38);
  require_cpu(A.op(), "x", x);
  return wrap(info.Env(), cpu::unary(x, u, float(alpha)));
}

SENET_BINDING(binary) {
  OpArgs A(info, "binary");
  Tensor a = A.tensor(0, "a"), b = A.tensor(1, "b");
  const cpu::BinaryOp o = binary_op(A.op(), A.string(2, "op"));
  check_same_device(A.op(), {{"a", &a}, {"b", &b}});
  require_cpu(A.op(), "a", a);
  check_rank_max(A.op(), "a", a);
  check_rank_max(A.op(), "b", b);
  const Shape out = broadcast_shape(A.op(), a.shape, b.shape);
  return wrap(info.Env(), cpu::binary(a, b, o, out));
}

SENET_BINDING(addN) {
  OpArgs A(info, "addN");
  Napi::Array arr = A.array(0, "xs");
  if (arr.Length() == 0) fail(Code::Arg, A.op(), "xs", "at least one tensor", "an empty array");
  std::vector<Tensor> xs;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    const std::string name = "xs[" + std::to_string(i) + "]";
    xs.push_back(tensor_from_value(A.op(), name, arr.Get(i)));
    if (xs.back().device() != xs[0].device())
      fail(Code::Device, A.op(), name, "to be on " + xs[0].device().str() + " like xs[0]", xs.back().device().str());
    if (xs.back().shape != xs[0].shape)
      fail(Code::Shape, A.op(), name, "shape " + shape_str(xs[0].shape) + " like xs[0]", shape_str(xs.back().shape));
  }
  require_cpu(A.op(), "xs[0]", xs[0]);
  return wrap(info.Env(), cpu::add_n(xs));
}

SENET_BINDING(clip) {
  OpArgs A(info, "clip");
  Tensor x = A.tensor(0, "x");
  auto o = A.options(1);
  const double lo = opt_number(A.op(), o, "min", -3.4e38, -3.4e38, 3.4e38);
  const double hi = opt_number(A.op(), o, "max", 3.4e38, -3.4e38, 3.4e38);
  if (hi < lo) fail(Code::Arg, A.op(), "max", "a number >= min", describe(o.Get("max")));
  require_cpu(A.op(), "x", x);
  return wrap(info.Env(), cpu::clip(x, float(lo), float(hi)));
}

void register_math_ops(Napi::Env env, Napi::Object exports) {
  SENET_EXPORT(exports, env, unary);
  SENET_EXPORT(exports, env, binary);
  SENET_EXPORT(exports, env, addN);
  SENET_EXPORT(exports, env, clip);
}

}  // namespace senet
