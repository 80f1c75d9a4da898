// Batched matrix product through oneDNN's matmul primitive:
// y[b] = op(a[b]) op(b[b]) (+ bias), op = optional transpose.
// a is [Ba, M, K] ([Ba, K, M] when transposed), b is [Bb, K, N] ([Bb, N, K]
// when transposed), Ba and Bb equal or one of them 1 (broadcast); y is
// [max(Ba, Bb), M, N]; bias [N] is added to every row. Transposes are
// memory descriptors with swapped strides: no copies.
#include <dnnl.hpp>

#include "core/stream.h"
#include "cpu/dnnl_context.h"
#include "cpu/ops.h"

namespace senet::cpu {
namespace {

struct MatmulPrims {
  dnnl::matmul prim;
  memory::desc a, b, bias, y, sp;
};

PrimitiveCache<MatmulPrims>& cache() {
  static auto* c = new PrimitiveCache<MatmulPrims>();
  return *c;
}

// [B, R, C] logical, stored [B, C, R] when transposed.
memory::desc strided(int64_t B, int64_t R, int64_t C, bool transposed) {
  if (transposed) return memory::desc({B, R, C}, dt::f32, memory::dims{R * C, 1, R});
  return memory::desc({B, R, C}, dt::f32, memory::dims{R * C, C, 1});
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, const std::optional<Tensor>& bias, const MatmulParams& p,
              const Shape& y_shape) {
  const char* op = "matmul";
  Tensor y = empty_tensor(y_shape, DType::F32, a.device(), op);
  const int64_t Ba = p.batch_a, Bb = p.batch_b, B = std::max(Ba, Bb), M = p.m, K = p.k, N = p.n;
  if (y.numel() == 0) return y;
  if (K == 0) {
    // An empty sum: zeros (plus the bias).
    if (!bias) {
      fill(y, 0.0f);
      return y;
    }
    Tensor bb = *bias;
    CpuStream::get().enqueue(op, [y, bb, N] {
      float* out = y.f32();
      const float* pb = bb.f32();
      const int64_t n = y.numel();
      for (int64_t i = 0; i < n; ++i) out[i] = pb[i % N];
    });
    return y;
  }
  const bool has_bias = bias.has_value();
  auto P = cache().get(key("mm", Ba, Bb, M, K, N, int64_t(p.transpose_a), int64_t(p.transpose_b), int64_t(has_bias)),
                       [&] {
                         return dnnl_call(op, [&] {
                           auto r = std::make_shared<MatmulPrims>();
                           r->a = strided(Ba, M, K, p.transpose_a);
                           r->b = strided(Bb, K, N, p.transpose_b);
                           r->y = memory::desc({B, M, N}, dt::f32, memory::dims{M * N, N, 1});
                           r->bias = memory::desc({1, 1, N}, dt::f32, memory::dims{N, N, 1});
                           auto d = has_bias ? dnnl::matmul::desc(r->a, r->b, r->bias, r->y)
                                             : dnnl::matmul::desc(r->a, r->b, r->y);
                           auto pd = dnnl::matmul::primitive_desc(d, attr(), engine());
                           r->prim = dnnl::matmul(pd);
                           r->sp = pd.scratchpad_desc();
                           return r;
                         });
                       });
  std::optional<Tensor> bb = bias;
  CpuStream::get().enqueue(op, [P, a, b, bb, y, op] {
    dnnl_call(op, [&] {
      auto& s = stream();
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, mem(P->a, a.f32())},
                                           {DNNL_ARG_WEIGHTS, mem(P->b, b.f32())},
                                           {DNNL_ARG_DST, mem(P->y, y.f32())}};
      if (bb) args.emplace(DNNL_ARG_BIAS, mem(P->bias, bb->f32()));
      execute(P->prim, args, P->sp);
      s.wait();
    });
  });
  return y;
}

}  // namespace senet::cpu
