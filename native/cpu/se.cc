// Dispatcher of the fused squeeze-excite op on CPU: allocates outputs, cuts
// the work (Plan) and runs the kernel of the selected ISA on the stream.
#include "cpu/se.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <numeric>

#include "core/cpu_info.h"
#include "core/stream.h"
#include "cpu/dnnl_context.h"
#include "cpu/ops.h"

namespace senet::cpu {
namespace {

// Test hooks (_seConfig): force the block budget and the store kind so small
// tests reach the multi-block and non-temporal paths.
std::atomic<int64_t> g_block_bytes{0};
std::atomic<int> g_nt{-1};

size_t block_budget() {
  if (const int64_t forced = g_block_bytes.load(); forced > 0) return size_t(forced);
  static size_t v = [] {
    const char* e = std::getenv("SENET_SE_BLOCK_BYTES");
    if (e && *e) return size_t(std::strtoull(e, nullptr, 10));
    // A quarter of the last-level cache, bounded: the block's U (or dy)
    // must survive in cache until the second pass, while R, y (or dR, dU)
    // stream past it.
    const size_t l3 = l3_cache_bytes();
    return std::min<size_t>(std::max<size_t>(l3 / 4, size_t(1) << 20), size_t(16) << 20);
  }();
  return v;
}

int vector_width(Isa isa) { return isa == Isa::Avx512 ? 16 : isa == Isa::Avx2 ? 8 : 1; }

se::Plan plan(int64_t N, int64_t HW, int64_t C, int threads, Isa isa) {
  se::Plan p{};
  const int64_t sample = HW * C * int64_t(sizeof(float));
  int64_t B = sample > 0 ? int64_t(block_budget()) / sample : N;
  B = std::max<int64_t>(1, std::min<int64_t>(B, N));
  // Units per block a multiple of the thread count (balanced static schedule).
  int64_t Q = threads / std::gcd<int64_t>(B, threads);
  Q = std::max<int64_t>(1, std::min<int64_t>(Q, HW));
  p.block = B;
  p.chunks = Q;
  // Each thread alone on whole samples when T of them fit the budget.
  p.own = int64_t(threads) * sample <= int64_t(block_budget());
  // Outputs larger than the cache would only evict useful lines: stream them.
  const int W = vector_width(isa);
  const int forced = g_nt.load();
  const bool want = forced >= 0 ? forced == 1 : N * sample > int64_t(l3_cache_bytes());
  p.nt = want && W > 1 && C % W == 0;
  return p;
}

using KernelFwd = void (*)(const se::Dims&, const se::Fwd&, const se::Plan&);
using KernelBwd = void (*)(const se::Dims&, const se::Bwd&, const se::Plan&);

KernelFwd fwd_kernel(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return se::avx512::forward;
    case Isa::Avx2: return se::avx2::forward;
    default: return se::scalar::forward;
  }
}
KernelBwd bwd_kernel(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return se::avx512::backward;
    case Isa::Avx2: return se::avx2::backward;
    default: return se::scalar::backward;
  }
}

// Scratch slots 1.. (0 belongs to the oneDNN weight reorders).
template <class T>
T* slot(int s, int64_t count) {
  return static_cast<T*>(scratch(s, size_t(std::max<int64_t>(count, 1)) * sizeof(T)));
}

}  // namespace

void se_config(int64_t block_bytes, int nt) {
  g_block_bytes.store(block_bytes);
  g_nt.store(nt);
}

std::vector<Tensor> se_forward(const Tensor& u, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                               const Tensor& b2, const std::optional<Tensor>& shortcut, const SeParams& p) {
  const char* op = "squeezeExcite";
  const int64_t N = u.shape[0], HW = u.shape[1] * u.shape[2], C = u.shape[3], D = w1.shape[0];
  const Device dev = u.device();
  Tensor y = empty_tensor(u.shape, DType::F32, dev, op);
  Tensor s = empty_tensor({N, C}, DType::F32, dev, op);
  Tensor z = empty_tensor({N, C}, DType::F32, dev, op);
  Tensor a = empty_tensor({N, D}, DType::F32, dev, op);
  Tensor argmax, mask, nan;
  if (p.squeeze == SeSqueeze::Max) argmax = empty_tensor({N, C}, DType::I32, dev, op);
  if (p.residual) {
    mask = empty_tensor({N * HW * se::mask_row_bytes(C)}, DType::U8, dev, op);
    nan = empty_tensor({1}, DType::U8, dev, op);
  }
  const Isa isa = current_isa();
  std::optional<Tensor> r = shortcut;
  CpuStream::get().enqueue(op, [=] {
    if (nan.storage) nan.data<uint8_t>()[0] = 0;
    if (N == 0) return;
    const int T = omp_get_max_threads();
    se::Plan pl = plan(N, HW, C, T, isa);
    const int64_t rows = pl.block * pl.chunks + T;
    pl.part = slot<float>(1, rows * C);
    pl.part_idx = p.squeeze == SeSqueeze::Max ? slot<int32_t>(2, rows * C) : nullptr;
    pl.rowacc = slot<float>(3, int64_t(T) * C);
    se::Dims d{N, HW, C, D, p.squeeze, p.gate, p.residual};
    se::Fwd f{u.f32(), w1.f32(), b1.f32(), w2.f32(), b2.f32(), r ? r->f32() : nullptr,
              y.f32(), s.f32(),  z.f32(),  a.f32(),  argmax.storage ? argmax.data<int32_t>() : nullptr,
              mask.storage ? mask.data<uint8_t>() : nullptr, nan.storage ? nan.data<uint8_t>() : nullptr};
    fwd_kernel(isa)(d, f, pl);
  });
  return {y, s, z, a, argmax, mask, nan};
}

std::vector<Tensor> se_backward(const Tensor& dy, const Tensor& u, const Tensor& w1, const Tensor& w2,
                                const Tensor& s, const Tensor& z, const Tensor& a,
                                const std::optional<Tensor>& argmax, const std::optional<Tensor>& mask,
                                const SeParams& p) {
  const char* op = "squeezeExciteBackward";
  const int64_t N = u.shape[0], HW = u.shape[1] * u.shape[2], C = u.shape[3], D = w1.shape[0];
  const Device dev = u.device();
  Tensor du = empty_tensor(u.shape, DType::F32, dev, op);
  Tensor dr;
  if (p.residual) dr = empty_tensor(u.shape, DType::F32, dev, op);
  Tensor dw1 = empty_tensor({D, C}, DType::F32, dev, op);
  Tensor db1 = empty_tensor({D}, DType::F32, dev, op);
  Tensor dw2 = empty_tensor({C, D}, DType::F32, dev, op);
  Tensor db2 = empty_tensor({C}, DType::F32, dev, op);
  const Isa isa = current_isa();
  std::optional<Tensor> am = argmax, mk = mask;
  CpuStream::get().enqueue(op, [=] {
    if (N == 0) {
      std::fill_n(dw1.f32(), D * C, 0.0f);
      std::fill_n(db1.f32(), D, 0.0f);
      std::fill_n(dw2.f32(), C * D, 0.0f);
      std::fill_n(db2.f32(), C, 0.0f);
      return;
    }
    const int T = omp_get_max_threads();
    se::Plan pl = plan(N, HW, C, T, isa);
    pl.part = slot<float>(1, (pl.block * pl.chunks + T) * C);
    pl.rowacc = slot<float>(3, int64_t(T) * C);
    pl.dzs = slot<float>(4, (pl.block + T) * C);
    pl.dpre = slot<float>(5, N * C);
    pl.dh = slot<float>(6, N * D);
    se::Dims d{N, HW, C, D, p.squeeze, p.gate, p.residual};
    se::Bwd b{dy.f32(),  u.f32(),
              w1.f32(),  w2.f32(),
              s.f32(),   z.f32(),
              a.f32(),   am ? am->data<int32_t>() : nullptr,
              mk ? mk->data<uint8_t>() : nullptr,
              du.f32(),  dr.storage ? dr.f32() : nullptr,
              dw1.f32(), db1.f32(),
              dw2.f32(), db2.f32()};
    bwd_kernel(isa)(d, b, pl);
  });
  return {du, dr, dw1, db1, dw2, db2};
}

}  // namespace senet::cpu
