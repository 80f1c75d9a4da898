// batchNormTrain, batchNormInference, batchNormBackward over NHWC x [N,H,W,C]
// with per-channel vectors [C]. options: eps, momentum; relu (training
// forward, inference and backward, CPU only): the op is relu(batch norm of x).
#include "core/args.h"
#include "cpu/ops.h"
#include "ops/registry.h"

namespace senet {
namespace {

BatchNormParams bn_params(const char* op, const Napi::Object& o) {
  BatchNormParams p;
  p.eps = opt_number(op, o, "eps", 1e-5, 1e-12, 1.0);
  p.momentum = opt_number(op, o, "momentum", 0.1, 0.0, 1.0);
  p.relu = opt_bool(op, o, "relu", false);
  return p;
}

void check_x(const char* op, const char* arg, const Tensor& x) {
  check_rank(op, arg, x, 4, "NHWC");
  for (auto d : x.shape)
    if (d <= 0) fail(Code::Shape, op, arg, "all dimensions > 0", "shape " + shape_str(x.shape));
}

void check_vec(const char* op, const char* arg, const Tensor& v, int64_t C) { check_shape(op, arg, v, {C}); }

// The fused relu has CPU kernels only.
void relu_on_cpu(const char* op, const Tensor& x) {
  if (x.device().kind != Device::CPU)
    fail(Code::Device, op, "options.relu", "x on the cpu (the fused relu has no CUDA kernel; run relu after it)",
         "x on " + x.device().str());
}

}  // namespace

// batchNormTrain(x, gamma, beta, runningMean | null, runningVar | null, options) -> [y, mean, var]
SENET_BINDING(batchNormTrain) {
  OpArgs A(info, "batchNormTrain");
  Tensor x = A.tensor(0, "x"), g = A.tensor(1, "gamma"), b = A.tensor(2, "beta");
  auto rm = A.optional_tensor(3, "runningMean"), rv = A.optional_tensor(4, "runningVar");
  const BatchNormParams p = bn_params(A.op(), A.options(5));
  check_x(A.op(), "x", x);
  const int64_t C = x.shape[3];
  check_vec(A.op(), "gamma", g, C);
  check_vec(A.op(), "beta", b, C);
  if (rm) check_vec(A.op(), "runningMean", *rm, C);
  if (rv) check_vec(A.op(), "runningVar", *rv, C);
  if (x.shape[0] * x.shape[1] * x.shape[2] < 2)
    fail(Code::Shape, A.op(), "x", "more than one value per channel in training (N*H*W > 1, as PyTorch)",
         "shape " + shape_str(x.shape));
  check_same_device(A.op(), {{"x", &x}, {"gamma", &g}, {"beta", &b}, {"runningMean", rm ? &*rm : nullptr},
                             {"runningVar", rv ? &*rv : nullptr}});
  if (p.relu) relu_on_cpu(A.op(), x);
  return outputs(info.Env(), SENET_DISPATCH(x, batchnorm_train, x, g, b, rm, rv, p));
}

// batchNormInference(x, gamma, beta, mean, var, options) -> y
SENET_BINDING(batchNormInference) {
  OpArgs A(info, "batchNormInference");
  Tensor x = A.tensor(0, "x"), g = A.tensor(1, "gamma"), b = A.tensor(2, "beta");
  Tensor m = A.tensor(3, "mean"), v = A.tensor(4, "var");
  const BatchNormParams p = bn_params(A.op(), A.options(5));
  check_x(A.op(), "x", x);
  const int64_t C = x.shape[3];
  check_vec(A.op(), "gamma", g, C);
  check_vec(A.op(), "beta", b, C);
  check_vec(A.op(), "mean", m, C);
  check_vec(A.op(), "var", v, C);
  check_same_device(A.op(), {{"x", &x}, {"gamma", &g}, {"beta", &b}, {"mean", &m}, {"var", &v}});
  if (p.relu) relu_on_cpu(A.op(), x);
  return wrap(info.Env(), SENET_DISPATCH(x, batchnorm_infer, x, g, b, m, v, p));
}

// batchNormBackward(dy, x, gamma, mean, var, options, beta | undefined) ->
// [dx, dgamma, dbeta]; with options.relu, dy is the gradient of relu(batch
// norm of x) and beta (required) the forward's, for the relu's mask.
SENET_BINDING(batchNormBackward) {
  OpArgs A(info, "batchNormBackward");
  Tensor dy = A.tensor(0, "dy"), x = A.tensor(1, "x"), g = A.tensor(2, "gamma");
  Tensor m = A.tensor(3, "mean"), v = A.tensor(4, "var");
  const BatchNormParams p = bn_params(A.op(), A.options(5));
  std::optional<Tensor> b;
  if (p.relu) b = A.tensor(6, "beta");
  check_x(A.op(), "x", x);
  check_shape(A.op(), "dy", dy, x.shape);
  const int64_t C = x.shape[3];
  check_vec(A.op(), "gamma", g, C);
  if (b) check_vec(A.op(), "beta", *b, C);
  check_vec(A.op(), "mean", m, C);
  check_vec(A.op(), "var", v, C);
  check_same_device(A.op(), {{"dy", &dy}, {"x", &x}, {"gamma", &g}, {"beta", b ? &*b : nullptr}, {"mean", &m}, {"var", &v}});
  if (b) {
    relu_on_cpu(A.op(), x);
    return outputs(info.Env(), cpu::batchnorm_relu_backward(dy, x, g, *b, m, v, p));
  }
  return outputs(info.Env(), SENET_DISPATCH(x, batchnorm_backward, dy, x, g, m, v, p));
}

void register_batchnorm_ops(Napi::Env env, Napi::Object exports) {
  SENET_EXPORT(exports, env, batchNormTrain);
  SENET_EXPORT(exports, env, batchNormInference);
  SENET_EXPORT(exports, env, batchNormBackward);
}

}  // namespace senet
