// reduce(x, axes, op) -> x without the reduced axes; softmax(x) over the
// last axis. CPU only for now (no CUDA implementation yet).
#include <string>

#include "core/args.h"
#include "cpu/ops.h"
#include "ops/registry.h"

namespace senet {
// reduce(x, axes: number[], op: 'sum'|'mean'|'max'|'min')
SENET_BINDING(reduce) {
  OpArgs A(info, "reduce");
  Tensor x = A.tensor(0, "x");
  Napi::Array axes = A.array(1, "axes");
  const std::string s = A.string(2, "op");
  cpu::ReduceOp op;
  if (s == "sum") op = cpu::ReduceOp::Sum;
  else if (s == "mean") op = cpu::ReduceOp::Mean;
  else if (s == "max") op = cpu::ReduceOp::Max;
  else if (s == "min") op = cpu::ReduceOp::Min;
  else fail(Code::Arg, A.op(), "op", "one of sum|mean|max|min", "'" + s + "'");
  require_cpu(A.op(), "x", x);
  const int64_t r = x.rank();
  std::vector<bool> flags(size_t(r), false);
  for (uint32_t i = 0; i < axes.Length(); ++i) {
    Napi::Value v = axes.Get(i);
    const std::string name = "axes[" + std::to_string(i) + "]";
    if (!v.IsNumber()) fail(Code::Arg, A.op(), name, "an integer axis", describe(v));
    const double d = v.As<Napi::Number>().DoubleValue();
    if (d != double(int64_t(d)) || d < 0 || d >= double(r))
      fail(Code::Arg, A.op(), name, "an axis in [0, " + std::to_string(r - 1) + "] of x " + shape_str(x.shape),
           describe(v));
    if (flags[size_t(d)]) fail(Code::Arg, A.op(), name, "an axis not already listed", describe(v));
    flags[size_t(d)] = true;
  }
  Shape out;
  for (int64_t i = 0; i < r; ++i)
    if (!flags[size_t(i)]) out.push_back(x.shape[size_t(i)]);
  return wrap(info.Env(), cpu::reduce(x, flags, op, out));
}

SENET_BINDING(softmax) {
  OpArgs A(info, "softmax");
  Tensor x = A.tensor(0, "x");
  if (x.rank() < 1) fail(Code::Shape, A.op(), "x", "a tensor of rank >= 1", "shape " + shape_str(x.shape));
  require_cpu(A.op(), "x", x);
  return wrap(info.Env(), cpu::softmax(x));
}

// batchNormGradSums(dy, x, mean [C]) -> [sum(dy), sum(dy * (x - mean))] per channel of the last axis
SENET_BINDING(batchNormGradSums) {
  OpArgs A(info, "batchNormGradSums");
  Tensor dy = A.tensor(0, "dy"), x = A.tensor(1, "x"), mean = A.tensor(2, "mean");
  check_same_device(A.op(), {{"dy", &dy}, {"x", &x}, {"mean", &mean}});
  require_cpu(A.op(), "x", x);
  if (x.rank() < 1 || x.shape.back() <= 0)
    fail(Code::Shape, A.op(), "x", "a tensor with channels on its last axis", "shape " + shape_str(x.shape));
  check_shape(A.op(), "dy", dy, x.shape);
  check_shape(A.op(), "mean", mean, {x.shape.back()});
  return outputs(info.Env(), cpu::batchnorm_grad_sums(dy, x, mean));
}

// centeredVariance(x, mean [C]) -> [C]: mean of (x - mean)^2 over every axis but the last
SENET_BINDING(centeredVariance) {
  OpArgs A(info, "centeredVariance");
  Tensor x = A.tensor(0, "x"), mean = A.tensor(1, "mean");
  check_same_device(A.op(), {{"x", &x}, {"mean", &mean}});
  require_cpu(A.op(), "x", x);
  if (x.rank() < 1 || x.shape.back() <= 0 || x.numel() == 0)
    fail(Code::Shape, A.op(), "x", "a non-empty tensor with channels on its last axis", "shape " + shape_str(x.shape));
  check_shape(A.op(), "mean", mean, {x.shape.back()});
  return wrap(info.Env(), cpu::centered_variance(x, mean));
}

void register_reduce_ops(Napi::Env env, Napi::Object exports) {
  SENET_EXPORT(exports, env, reduce);
  SENET_EXPORT(exports, env, softmax);
  SENET_EXPORT(exports, env, batchNormGradSums);
  SENET_EXPORT(exports, env, centeredVariance);
}

}  // namespace senet
