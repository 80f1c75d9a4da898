// Parameters of the op families, shared by the bindings (native/ops), the
// CPU implementations (native/cpu) and the CUDA ones (native/cuda).
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace senet {

struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_t = 0, pad_b = 0, pad_l = 0, pad_r = 0;
  int64_t dil_h = 1, dil_w = 1;  // 1 = no dilation (PyTorch convention)
  int64_t groups = 1;
};

// Output size of a strided window (conv or pool); may be <= 0 for bad input.
inline int64_t window_out(int64_t in, int64_t k, int64_t stride, int64_t pad_lo, int64_t pad_hi, int64_t dil) {
  const int64_t span = dil * (k - 1) + 1;
  const int64_t padded = in + pad_lo + pad_hi;
  if (padded < span) return 0;
  return (padded - span) / stride + 1;
}

struct BatchNormParams {
  double eps = 1e-5;
  double momentum = 0.1;  // PyTorch convention: running = (1-m)*running + m*batch
  bool relu = false;      // y = relu(batch norm of x) (CPU only)
};

struct Pool2dParams {
  int64_t kh = 1, kw = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_t = 0, pad_b = 0, pad_l = 0, pad_r = 0;
  bool count_include_pad = true;  // average pooling only
  bool workspace = true;          // max pooling forward: also return the argmax workspace
  bool propagate_nan = true;      // max pooling: NaN wins (torch); false: NaN is skipped (tfjs)
};

struct SgdParams {
  double lr = 0.1, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false;
  bool first_step = false;  // PyTorch: the momentum buffer starts as the first (decayed) gradient
};

enum class SeSqueeze { Avg = 0, Max = 1 };
enum class SeGate { Sigmoid = 0, Tanh = 1, Relu = 2 };

struct SeParams {
  SeSqueeze squeeze = SeSqueeze::Avg;
  SeGate gate = SeGate::Sigmoid;
  bool residual = false;  // y = relu(u*s + shortcut)
};

}  // namespace senet
