// Elementwise ops. Add goes through oneDNN (binary) on the flattened
// tensor; ReLU and the small helpers (fill, axpy, copy) are plain loops the
// compiler vectorises.
#include <dnnl.hpp>

#include <cstring>

#include "core/stream.h"
#include "cpu/dnnl_context.h"
#include "cpu/ops.h"

namespace senet::cpu {
namespace {

struct AddPrims {
  dnnl::binary prim;
  memory::desc d, sp;
};

PrimitiveCache<AddPrims>& add_cache() {
  static auto* c = new PrimitiveCache<AddPrims>();
  return *c;
}

}  // namespace

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
    float* out = y.f32();
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) out[i] = in[i] < 0.0f ? 0.0f : in[i];
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
    float* d = dx.f32();
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) d[i] = out[i] > 0.0f ? g[i] : 0.0f;
  });
  return dx;
}

Tensor add(const Tensor& a, const Tensor& b) {
  const char* op = "add";
  Tensor y = empty_tensor(a.shape, DType::F32, a.device(), op);
  const int64_t n = a.numel();
  if (n == 0) return y;
  auto P = add_cache().get(key("add", n), [&] {
    return dnnl_call(op, [&] {
      auto r = std::make_shared<AddPrims>();
      r->d = md({n}, tag::a);
      auto pd = dnnl::binary::primitive_desc(dnnl::binary::desc(dnnl::algorithm::binary_add, r->d, r->d, r->d),
                                             attr(), engine());
      r->prim = dnnl::binary(pd);
      r->sp = pd.scratchpad_desc();
      return r;
    });
  });
  CpuStream::get().enqueue(op, [P, a, b, y, op] {
    dnnl_call(op, [&] {
      auto& s = stream();
      execute(P->prim, {{DNNL_ARG_SRC_0, mem(P->d, a.f32())},
                          {DNNL_ARG_SRC_1, mem(P->d, b.f32())},
                          {DNNL_ARG_DST, mem(P->d, y.f32())}}, P->sp);
      s.wait();
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
