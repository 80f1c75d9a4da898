// transpose(x, perm), tile(x, reps), pad(x, before, after, value), slice(x, begin, size, strides).
// CPU only for now (no CUDA implementation yet).
#include <string>

#include "core/args.h"
#include "cpu/ops.h"
#include "ops/registry.h"

namespace senet {
namespace {

// An array of `n` integers in [min, max].
std::vector<int64_t> ints(const OpArgs& A, size_t i, const char* name, size_t n, int64_t min, int64_t max) {
  Napi::Array a = A.array(i, name);
  if (a.Length() != n)
    fail(Code::Arg, A.op(), name, "an array of " + std::to_string(n) + " integers (one per dimension of x)",
         "an array of length " + std::to_string(a.Length()));
  std::vector<int64_t> out(n);
  for (uint32_t k = 0; k < n; ++k) {
    Napi::Value v = a.Get(k);
    const std::string item = std::string(name) + "[" + std::to_string(k) + "]";
    if (!v.IsNumber()) fail(Code::Arg, A.op(), item, "an integer", describe(v));
    const double d = v.As<Napi::Number>().DoubleValue();
    if (d != double(int64_t(d)) || d < double(min) || d > double(max))
      fail(Code::Arg, A.op(), item, "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]",
           describe(v));
    out[k] = int64_t(d);
  }
  return out;
}

}  // namespace

SENET_BINDING(transpose) {
  OpArgs A(info, "transpose");
  Tensor x = A.tensor(0, "x");
  require_cpu(A.op(), "x", x);
  const size_t r = x.shape.size();
  auto perm = ints(A, 1, "perm", r, 0, int64_t(r) - 1);
  std::vector<bool> seen(r, false);
  for (size_t i = 0; i < r; ++i) {
    if (seen[size_t(perm[i])])
      fail(Code::Arg, A.op(), "perm", "a permutation of 0.." + std::to_string(r - 1), "axis " +
           std::to_string(perm[i]) + " twice");
    seen[size_t(perm[i])] = true;
  }
  return wrap(info.Env(), cpu::transpose(x, perm));
}

SENET_BINDING(tile) {
  OpArgs A(info, "tile");
  Tensor x = A.tensor(0, "x");
  require_cpu(A.op(), "x", x);
  auto reps = ints(A, 1, "reps", x.shape.size(), 0, kMaxElements);
  Shape ys(x.shape.size());
  for (size_t i = 0; i < ys.size(); ++i) ys[i] = x.shape[i] * reps[i];
  checked_numel(ys, A.op(), "reps");
  return wrap(info.Env(), cpu::tile(x, reps));
}

SENET_BINDING(pad) {
  OpArgs A(info, "pad");
  Tensor x = A.tensor(0, "x");
  require_cpu(A.op(), "x", x);
  auto before = ints(A, 1, "before", x.shape.size(), 0, int64_t(1) << 32);
  auto after = ints(A, 2, "after", x.shape.size(), 0, int64_t(1) << 32);
  const double value = A.number(3, "value");
  Shape ys(x.shape.size());
  for (size_t i = 0; i < ys.size(); ++i) ys[i] = before[i] + x.shape[i] + after[i];
  checked_numel(ys, A.op(), "before");
  return wrap(info.Env(), cpu::pad(x, before, after, float(value)));
}

// slice(x, begin, size, strides): y[i...] = x[begin + i * strides], i < size
SENET_BINDING(slice) {
  OpArgs A(info, "slice");
  Tensor x = A.tensor(0, "x");
  require_cpu(A.op(), "x", x);
  const size_t r = x.shape.size();
  auto begin = ints(A, 1, "begin", r, 0, kMaxElements);
  auto size = ints(A, 2, "size", r, 0, kMaxElements);
  auto strides = ints(A, 3, "strides", r, 1, kMaxElements);
  for (size_t i = 0; i < r; ++i)
    if (size[i] > 0 && begin[i] + (size[i] - 1) * strides[i] >= x.shape[i])
      fail(Code::Shape, A.op(), "size", "a slice inside x " + shape_str(x.shape) + " (axis " + std::to_string(i) +
                                            ": begin " + std::to_string(begin[i]) + ", stride " +
                                            std::to_string(strides[i]) + ")",
           std::to_string(size[i]) + " elements along axis " + std::to_string(i));
  return wrap(info.Env(), cpu::slice(x, begin, size, strides));
}

void register_layout_ops(Napi::Env env, Napi::Object exports) {
  SENET_EXPORT(exports, env, slice);
  SENET_EXPORT(exports, env, transpose);
  SENET_EXPORT(exports, env, tile);
  SENET_EXPORT(exports, env, pad);
}

}  // namespace senet
