// CUDA implementations of the op families: the same functions, signatures
// and semantics as native/cpu/ops.h (the contract), dispatched by
// SENET_DISPATCH (ops/registry.h) on the device of the first tensor.
// Arguments are validated by the bindings; these allocate the outputs on the
// tensors' device, enqueue kernels on the device's stream and return at once.
//
// Activations may be float32, or bfloat16 where noted (mixed precision:
// weights, statistics, SE state and reductions stay float32).
#pragma once

#include <optional>
#include <vector>

#include "core/params.h"
#include "core/tensor.h"

namespace senet::cuda {

// conv.cc -- cuDNN, NHWC activations, OHWI weights; x/dy float32 or bfloat16
// (bfloat16: tensor cores, float32 accumulation, float32 weights converted
// per call; dw is float32).
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const std::optional<Tensor>& b, const Conv2dParams& p,
                      const Shape& y_shape);
Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, const Conv2dParams& p);
std::vector<Tensor> conv2d_backward_filter(const Tensor& dy, const Tensor& x, const Shape& w_shape, bool with_bias,
                                           const Conv2dParams& p);

// batchnorm.cu -- our kernels, float32 statistics (x, y, dy, dx may be bfloat16).
std::vector<Tensor> batchnorm_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                    const std::optional<Tensor>& running_mean,
                                    const std::optional<Tensor>& running_var, const BatchNormParams& p);
Tensor batchnorm_infer(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                       const Tensor& var, const BatchNormParams& p);
std::vector<Tensor> batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                       const Tensor& var, const BatchNormParams& p);

// pool.cu -- max pooling's workspace is int32 window offsets (4 bytes per
// output element) in a uint8 tensor.
std::vector<Tensor> maxpool2d_forward(const Tensor& x, const Pool2dParams& p, const Shape& y_shape);
Tensor maxpool2d_backward(const Tensor& dy, const Tensor& workspace, const Shape& x_shape, const Pool2dParams& p);
Tensor avgpool2d_forward(const Tensor& x, const Pool2dParams& p, const Shape& y_shape);
Tensor avgpool2d_backward(const Tensor& dy, const Shape& x_shape, const Pool2dParams& p);
Tensor global_avgpool_forward(const Tensor& x);
Tensor global_avgpool_backward(const Tensor& dy, const Shape& x_shape);

// linear.cc -- cuBLAS.
Tensor linear_forward(const Tensor& x, const Tensor& w, const std::optional<Tensor>& b);
std::vector<Tensor> linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, bool need_dx, bool with_bias);

// eltwise.cu
Tensor relu_forward(const Tensor& x);
Tensor relu_backward(const Tensor& dy, const Tensor& y);
Tensor add(const Tensor& a, const Tensor& b);
void add_inplace(const Tensor& y, const Tensor& x, float alpha);
void fill(const Tensor& t, float value);
Tensor copy(const Tensor& x);

// pad.cu
Tensor pad_channels(const Tensor& x, int64_t before, int64_t after);
Tensor pad_channels_backward(const Tensor& dy, int64_t before, int64_t after);

// loss.cu -- labels out of range are reported at the next wait (SENET_KERNEL).
std::vector<Tensor> softmax_cross_entropy(const Tensor& logits, const Tensor& labels, double smoothing);

// sgd.cu -- one launch for all tensors.
void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              const std::vector<Tensor>& buffers, const SgdParams& p);

// se.cu -- the fused squeeze-excite op; same outputs and saved state as the CPU
// (mask: one bit per element of y > 0, ceil(C/8) bytes per pixel row).
std::vector<Tensor> se_forward(const Tensor& u, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                               const Tensor& b2, const std::optional<Tensor>& shortcut, const SeParams& p);
std::vector<Tensor> se_backward(const Tensor& dy, const Tensor& u, const Tensor& w1, const Tensor& w2,
                                const Tensor& s, const Tensor& z, const Tensor& a,
                                const std::optional<Tensor>& argmax, const std::optional<Tensor>& mask,
                                const SeParams& p);

// randn.cu -- the CPU's Philox4x32-10 streams, element for element.
void fill_randn(const Tensor& t, uint64_t seed, double mean, double std);
void fill_uniform(const Tensor& t, uint64_t seed, double lo, double hi);

// cast.cu -- float32 <-> bfloat16 (round to nearest even; NaN stays NaN).
Tensor cast(const Tensor& x, DType to);

// Internal helpers shared by the families (eltwise.cu).
// y[r, c] += b[c] over rows of C channels (y float32 or bfloat16).
void add_bias_rows(const Tensor& y, const Tensor& b, const char* op);
// out[c] = sum over rows of x[r, c] (x float32 or bfloat16, out float32), fixed order.
void column_sums(const Tensor& x, int64_t C, float* out, const char* op);
// A bfloat16 copy of n float32 elements into a device buffer.
void to_bf16(const float* src, void* dst, int64_t n, int device, const char* op);
void from_bf16(const void* src, float* dst, int64_t n, int device, const char* op);
// Zero padding around H and W (asymmetric convolution padding, which cuDNN
// lacks): [N,H,W,C] -> [N,H+t+b,W+l+r,C]; crop_spatial takes the window back.
Tensor pad_spatial(const Tensor& x, int64_t t, int64_t b, int64_t l, int64_t r, const char* op);
Tensor crop_spatial(const Tensor& x, int64_t t, int64_t l, int64_t H, int64_t W, const char* op);

}  // namespace senet::cuda
