// matmul(a, b, bias | null, {transposeA, transposeB}):
// a [M, K] or [Ba, M, K] ([.., K, M] with transposeA), b [K, N] or [Bb, K, N]
// ([.., N, K] with transposeB), Ba and Bb equal or one of them 1, bias [N].
// y is [M, N] when both are rank 2, else [max(Ba, Bb), M, N].
// CPU only for now (no CUDA implementation yet).
#include "core/args.h"
#include "cpu/ops.h"
#include "ops/registry.h"

namespace senet {

SENET_BINDING(matmul) {
  OpArgs A(info, "matmul");
  Tensor a = A.tensor(0, "a"), b = A.tensor(1, "b");
  auto bias = A.optional_tensor(2, "bias");
  auto o = A.options(3);
  cpu::MatmulParams p;
  p.transpose_a = opt_bool(A.op(), o, "transposeA", false);
  p.transpose_b = opt_bool(A.op(), o, "transposeB", false);
  check_same_device(A.op(), {{"a", &a}, {"b", &b}, {"bias", bias ? &*bias : nullptr}});
  if (a.device().kind != Device::CPU)
    fail(Code::Device, A.op(), "a", "a cpu tensor (this op has no CUDA implementation yet)", a.device().str());
  if (a.rank() != 2 && a.rank() != 3)
    fail(Code::Shape, A.op(), "a", "a rank-2 [M, K] or rank-3 [batch, M, K] tensor", "shape " + shape_str(a.shape));
  if (b.rank() != 2 && b.rank() != 3)
    fail(Code::Shape, A.op(), "b", "a rank-2 [K, N] or rank-3 [batch, K, N] tensor", "shape " + shape_str(b.shape));
  const int64_t ra = a.rank(), rb = b.rank();
  p.batch_a = ra == 3 ? a.shape[0] : 1;
  p.batch_b = rb == 3 ? b.shape[0] : 1;
  p.m = p.transpose_a ? a.shape[size_t(ra - 1)] : a.shape[size_t(ra - 2)];
  p.k = p.transpose_a ? a.shape[size_t(ra - 2)] : a.shape[size_t(ra - 1)];
  const int64_t kb = p.transpose_b ? b.shape[size_t(rb - 1)] : b.shape[size_t(rb - 2)];
  p.n = p.transpose_b ? b.shape[size_t(rb - 2)] : b.shape[size_t(rb - 1)];
  if (kb != p.k)
    fail(Code::Shape, A.op(), "b", "an inner dimension of " + std::to_string(p.k) + " to match a " +
                                       shape_str(a.shape) + (p.transpose_a ? " (transposed)" : ""),
         "shape " + shape_str(b.shape) + (p.transpose_b ? " (transposed)" : ""));
  if (p.batch_a != p.batch_b && p.batch_a != 1 && p.batch_b != 1)
    fail(Code::Shape, A.op(), "b", "a batch of " + std::to_string(p.batch_a) + " (a's) or 1",
         "shape " + shape_str(b.shape));
  if (bias) check_shape(A.op(), "bias", *bias, {p.n});
  Shape y = (ra == 3 || rb == 3) ? Shape{std::max(p.batch_a, p.batch_b), p.m, p.n} : Shape{p.m, p.n};
  return wrap(info.Env(), cpu::matmul(a, b, bias, p, y));
}

void register_matmul_ops(Napi::Env env, Napi::Object exports) { SENET_EXPORT(exports, env, matmul); }

}  // namespace senet
