// Elementwise ops: plain loops the compiler vectorises; large outputs are
// streamed (cpu/stream_out.h). Add was oneDNN's binary primitive: our loop
// with streaming stores is as fast or faster and needs no primitive cache.
#include <atomic>
#include <cstring>

#include "core/stream.h"
#include "cpu/dnnl_context.h"
#include "cpu/ops.h"
#include "cpu/stream_out.h"

namespace senet::cpu {

namespace {
std::atomic<int> g_stream_mode{-1};
}  // namespace
void stream_stores_config(int mode) { g_stream_mode.store(mode < 0 ? -1 : mode > 0 ? 1 : 0); }
int stream_stores_mode() { return g_stream_mode.load(std::memory_order_relaxed); }

// ReLU is our own loop, not oneDNN's eltwise: oneDNN maps NaN to 0, which
// would hide a diverging run (weights NaN, loss finite). As torch.relu,
// max(0, NaN) = NaN; the gradient passes where y > 0 (not for NaN).
Tensor relu_forward(const Tensor& x) {
  const char* op = "relu";
  Tensor y = empty_tensor(x.shape, DType::F32, x.device(), op);
  const int64_t n = x.numel();
  if (n == 0) return y;
  CpuStream::get().enqueue(op, [x, y, n] {
    const float* in = x.f32();
    map_out(y.f32(), n, 1 << 16, [in](int64_t i) { return in[i] < 0.0f ? 0.0f : in[i]; });
  });
  return y;
}

Tensor relu_backward(const Tensor& dy, const Tensor& y) {
  const char* op = "reluBackward";
  Tensor dx = empty_tensor(y.shape, DType::F32, y.device(), op);
  const int64_t n = y.numel();
  if (n == 0) return dx;
  CpuStream::get().enqueue(op, [dy, y, dx, n] {
    const float* g = dy.f32();
    const float* out = y.f32();
    // g[i] loaded unconditionally: the select then vectorises (a load under
    // the condition compiled to a branch, mispredicted on half the elements).
    map_out(dx.f32(), n, 1 << 16, [g, out](int64_t i) {
      const float gi = g[i];
      return out[i] > 0.0f ? gi : 0.0f;
    });
  });
  return dx;
}

Tensor add(const Tensor& a, const Tensor& b) {
  const char* op = "add";
  Tensor y = empty_tensor(a.shape, DType::F32, a.device(), op);
  const int64_t n = a.numel();
  if (n == 0) return y;
  CpuStream::get().enqueue(op, [a, b, y, n] {
    const float* p = a.f32();
    const float* q = b.f32();
    float* out = y.f32();
    const bool nt = stream_output(n * int64_t(sizeof(float)));
    parallel_ranges(n, 1 << 16, [&](int64_t lo, int64_t hi) {
      int64_t i = lo;
      if (nt) {
        // Streamed directly: 1.2x the write_range buffer here (two inputs).
        for (; i < hi && (reinterpret_cast<uintptr_t>(out + i) & 31); ++i) out[i] = p[i] + q[i];
        for (; i + 8 <= hi; i += 8) _mm256_stream_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(p + i), _mm256_loadu_ps(q + i)));
        _mm_sfence();
      }
      for (; i < hi; ++i) out[i] = p[i] + q[i];
    });
  });
  return y;
}

void add_inplace(const Tensor& y, const Tensor& x, float alpha) {
  CpuStream::get().enqueue("addInPlace", [y, x, alpha] {
    float* py = y.f32();
    const float* px = x.f32();
    const int64_t n = y.numel();
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) py[i] += alpha * px[i];
  });
}

void fill(const Tensor& t, float value) {
  CpuStream::get().enqueue("fill", [t, value] {
    const int64_t n = t.numel();
    if (t.dtype == DType::F32) {
      float* p = t.f32();
#pragma omp parallel for schedule(static) if (n > (1 << 16))
      for (int64_t i = 0; i < n; ++i) p[i] = value;
    } else if (t.dtype == DType::I32) {
      int32_t* p = t.data<int32_t>();
      for (int64_t i = 0; i < n; ++i) p[i] = int32_t(value);
    } else {
      std::memset(t.storage->data(), int(value), t.nbytes());
    }
  });
}

Tensor copy(const Tensor& x) {
  Tensor y = empty_tensor(x.shape, x.dtype, x.device(), "clone");
  CpuStream::get().enqueue("clone", [x, y] { std::memcpy(y.storage->data(), x.storage->data(), x.nbytes()); });
  return y;
}

}  // namespace senet::cpu
