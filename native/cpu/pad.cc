// Channel zero-padding (the identity shortcut of ResNet option A and the
// seed's SEResNeXt): y[..., before : before + C] = x, zeros around; backward
// takes the same slice of dy. Plain copies per pixel row.
#include <cstring>

#include "core/stream.h"
#include "cpu/ops.h"

namespace senet::cpu {

Tensor pad_channels(const Tensor& x, int64_t before, int64_t after) {
  const char* op = "padChannels";
  const int64_t C = x.shape[3], Co = before + C + after, rows = x.numel() / C;
  Shape ys = x.shape;
  ys[3] = Co;
  Tensor y = empty_tensor(ys, DType::F32, x.device(), op);
  CpuStream::get().enqueue(op, [x, y, rows, C, Co, before, after] {
    const float* in = x.f32();
    float* out = y.f32();
#pragma omp parallel for schedule(static) if (rows * Co > (1 << 16))
    for (int64_t r = 0; r < rows; ++r) {
      float* o = out + r * Co;
      std::memset(o, 0, size_t(before) * sizeof(float));
      std::memcpy(o + before, in + r * C, size_t(C) * sizeof(float));
      std::memset(o + before + C, 0, size_t(after) * sizeof(float));
    }
  });
  return y;
}

Tensor pad_channels_backward(const Tensor& dy, int64_t before, int64_t after) {
  const char* op = "padChannelsBackward";
  const int64_t Co = dy.shape[3], C = Co - before - after, rows = dy.numel() / Co;
  Shape xs = dy.shape;
  xs[3] = C;
  Tensor dx = empty_tensor(xs, DType::F32, dy.device(), op);
  CpuStream::get().enqueue(op, [dy, dx, rows, C, Co, before] {
    const float* in = dy.f32();
    float* out = dx.f32();
#pragma omp parallel for schedule(static) if (rows * Co > (1 << 16))
    for (int64_t r = 0; r < rows; ++r) std::memcpy(out + r * C, in + r * Co + before, size_t(C) * sizeof(float));
  });
  return dx;
}

}  // namespace senet::cpu
