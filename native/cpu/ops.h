// CPU implementations of the op families. Arguments are validated by the
// bindings (native/ops); these allocate outputs, enqueue the work on the CPU
// stream and return at once.
#pragma once

#include <optional>
#include <vector>

#include "core/params.h"
#include "core/tensor.h"

namespace senet::cpu {

// conv.cc -- oneDNN convolutions, NHWC activations, OHWI weights.
// op: the name errors carry (conv2dBackwardData runs some cases as a forward).
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const std::optional<Tensor>& b, const Conv2dParams& p,
                      const Shape& y_shape, const char* op = "conv2d");
Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, const Conv2dParams& p);
// Returns dw (and db when with_bias).
std::vector<Tensor> conv2d_backward_filter(const Tensor& dy, const Tensor& x, const Shape& w_shape, bool with_bias,
                                           const Conv2dParams& p);

// batchnorm.cc -- NHWC batch norm over N,H,W per channel.
// Returns y, batch mean, batch (biased) variance; updates running stats in place.
std::vector<Tensor> batchnorm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                    const std::optional<Tensor>& running_mean,
                                    const std::optional<Tensor>& running_var, const BatchNormParams& p);
Tensor batchnorm_infer(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                       const Tensor& var, const BatchNormParams& p);
// Returns dx, dgamma, dbeta.
std::vector<Tensor> batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                       const Tensor& var, const BatchNormParams& p);
// The backward of relu(batch norm of x) (batchnorm_train with p.relu): dy is
// the gradient of the relu's output; the relu's mask is recomputed from x,
// the statistics, gamma and beta, as the forward computed it.
std::vector<Tensor> batchnorm_relu_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                            const Tensor& beta, const Tensor& mean, const Tensor& var,
                                            const BatchNormParams& p);

// pool.cc
// Max pooling returns y and the workspace backward needs.
std::vector<Tensor> maxpool2d_forward(const Tensor& x, const Pool2dParams& p, const Shape& y_shape);
Tensor maxpool2d_backward(const Tensor& dy, const Tensor& workspace, const Shape& x_shape, const Pool2dParams& p);
Tensor avgpool2d_forward(const Tensor& x, const Pool2dParams& p, const Shape& y_shape);
Tensor avgpool2d_backward(const Tensor& dy, const Shape& x_shape, const Pool2dParams& p);
Tensor global_avgpool_forward(const Tensor& x);
Tensor global_avgpool_backward(const Tensor& dy, const Shape& x_shape);

// linear.cc -- y = x W^T + b with W [out, in].
Tensor linear_forward(const Tensor& x, const Tensor& w, const std::optional<Tensor>& b);
// Returns dx (when need_dx), dw, db (when with_bias); absent entries are empty tensors.
std::vector<Tensor> linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, bool need_dx, bool with_bias);

// eltwise.cc
Tensor relu_forward(const Tensor& x);
Tensor relu_backward(const Tensor& dy, const Tensor& y);
Tensor add(const Tensor& a, const Tensor& b);
void add_inplace(const Tensor& y, const Tensor& x, float alpha);  // y += alpha * x
void fill(const Tensor& t, float value);
Tensor copy(const Tensor& x);

// pad.cc -- zeros around the channels of an NHWC tensor, and the slice back.
Tensor pad_channels(const Tensor& x, int64_t before, int64_t after);
Tensor pad_channels_backward(const Tensor& dy, int64_t before, int64_t after);

// loss.cc -- mean softmax cross-entropy with label smoothing.
// Returns loss (shape []) and dlogits.
std::vector<Tensor> softmax_cross_entropy(const Tensor& logits, const Tensor& labels, double smoothing);

// sgd.cc -- fused multi-tensor SGD step, in place.
void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& buffers, const SgdParams& p);

// se.cc -- the fused squeeze-excite(-scale(-residual-ReLU)) op.
// Returns y, s [N,C], z [N,C], a [N,D], argmax [N,C] int32 (max squeeze,
// else empty), mask (residual: one bit per element of y > 0, else empty).
std::vector<Tensor> se_forward(const Tensor& u, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                               const Tensor& b2, const std::optional<Tensor>& shortcut, const SeParams& p);
// Test hook: block budget in bytes (0 = automatic), non-temporal stores
// (-1 automatic, 0 off, 1 on where aligned).
void se_config(int64_t block_bytes, int nt);
// Returns du, dshortcut (residual, else empty), dw1, db1, dw2, db2.
std::vector<Tensor> se_backward(const Tensor& dy, const Tensor& u, const Tensor& w1, const Tensor& w2,
                                const Tensor& s, const Tensor& z, const Tensor& a,
                                const std::optional<Tensor>& argmax, const std::optional<Tensor>& mask,
                                const SeParams& p);

// randn.cc -- seeded normal / uniform fill (Philox4x32-10, Box-Muller).
void fill_randn(const Tensor& t, uint64_t seed, double mean, double std);
void fill_uniform(const Tensor& t, uint64_t seed, double lo, double hi);

// math.cc -- elementwise with broadcasting (the tfjs backend's elementwise kernels).
constexpr int kMaxDims = 8;
enum class UnaryOp { Neg, Abs, Square, Sqrt, Rsqrt, Reciprocal, Exp, Expm1, Log, Log1p, Sigmoid, Tanh, Softplus, Relu, Relu6, Elu, Selu, LeakyRelu, Step };
enum class BinaryOp { Add, Sub, Mul, Div, Maximum, Minimum, SquaredDifference, Prelu, EluGrad, ReluGrad, SquareGrad, AddRelu };
Tensor unary(const Tensor& x, UnaryOp op, float alpha);
Tensor binary(const Tensor& a, const Tensor& b, BinaryOp op, const Shape& out_shape);
Tensor add_n(const std::vector<Tensor>& xs);
Tensor clip(const Tensor& x, float lo, float hi);
// scale.cc -- u [N, ..., C] times s [N, C] per (sample, channel), + bias [N, C], + r, then relu (each
// optional); its gradient: du = dy*s, ds[n, c] = sum of dy*u over the sample's rows; and relu's gradient
// from its output y with the same sums of it against u: [g = dy*[y > 0], ds = sum of g*u].
Tensor scale_channels(const Tensor& u, const Tensor& s, const std::optional<Tensor>& r, const std::optional<Tensor>& bias,
                      bool relu);
std::vector<Tensor> scale_channels_backward(const Tensor& dy, const Tensor& u, const Tensor& s);
// mask, nan: squeezeExcite's for y = relu(u*s + r) (read instead of y while nan[0] == 0)
std::vector<Tensor> relu_backward_channel_dot(const Tensor& dy, const Tensor& y, const Tensor& u,
                                              const std::optional<Tensor>& mask, const std::optional<Tensor>& nan);
// reduce.cc -- sum/mean/max/min over the axes flagged true; softmax over the last axis.
enum class ReduceOp { Sum, Mean, Max, Min };
Tensor reduce(const Tensor& x, const std::vector<bool>& axes, ReduceOp op, const Shape& out_shape);
Tensor softmax(const Tensor& x);
// Per last-axis channel c: sums of dy and of dy * (x - mean[c]) (batch norm's gradient), in one pass.
std::vector<Tensor> batchnorm_grad_sums(const Tensor& dy, const Tensor& x, const Tensor& mean);
// Per last-axis channel c: the mean over the other axes of (x - mean[c])^2 (rows > 0).
Tensor centered_variance(const Tensor& x, const Tensor& mean);
// layout.cc -- transpose, tile, constant pad.
Tensor transpose(const Tensor& x, const std::vector<int64_t>& perm);
Tensor tile(const Tensor& x, const std::vector<int64_t>& reps);
Tensor pad(const Tensor& x, const std::vector<int64_t>& before, const std::vector<int64_t>& after, float value);
// y[i...] = x[begin + i * strides] for i < size (strides >= 1).
Tensor slice(const Tensor& x, const std::vector<int64_t>& begin, const std::vector<int64_t>& size, const std::vector<int64_t>& strides);
// matmul.cc -- batched matmul with transposes and batch broadcast (oneDNN).
struct MatmulParams { int64_t batch_a = 1, batch_b = 1, m = 0, k = 0, n = 0; bool transpose_a = false, transpose_b = false; };
Tensor matmul(const Tensor& a, const Tensor& b, const std::optional<Tensor>& bias, const MatmulParams& p, const Shape& y_shape);

}  // namespace senet::cpu
