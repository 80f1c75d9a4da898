// Tensor creation and data movement: fromData, full, randn, randu, reshape,
// clone, fill_, addScaled_.
#include <cmath>
#include <cstring>

#include "core/args.h"
#include "cpu/ops.h"
#include "ops/registry.h"

#ifdef SENET_WITH_CUDA
#include "cuda/device_memory.h"
#endif

namespace senet {
namespace {

// The dtype of a tensor argument, for ops that accept any dtype.
DType own_dtype(const Napi::Value& v) {
  TensorHandle* h = TensorHandle::From(v);
  return h && !h->released() ? h->tensor().dtype : DType::F32;
}

Device read_device(const Napi::CallbackInfo& info, size_t i, const char* op) {
  if (i >= info.Length() || info[i].IsUndefined()) return Device{};
  if (!info[i].IsString()) fail(Code::Device, op, "device", "'cpu' or 'cuda:N'", describe(info[i]));
  Device d = parse_device(info[i].As<Napi::String>().Utf8Value(), op, "device");
#ifndef SENET_WITH_CUDA
  if (d.kind != Device::CPU) fail(Code::Device, op, "device", "cpu (this build of senet has no CUDA)", d.str());
#endif
  return d;
}

DType read_dtype(const Napi::CallbackInfo& info, size_t i, const char* op) {
  if (i >= info.Length() || info[i].IsUndefined()) return DType::F32;
  if (!info[i].IsString()) fail(Code::DType, op, "dtype", "a dtype name", describe(info[i]));
  return parse_dtype(info[i].As<Napi::String>().Utf8Value(), op, "dtype");
}

uint64_t read_seed(const Napi::CallbackInfo& info, size_t i, const char* op) {
  if (!info[i].IsNumber()) fail(Code::Arg, op, "seed", "a non-negative integer", describe(info[i]));
  const double s = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(s) || s < 0 || s != std::floor(s) || s > 9007199254740991.0)
    fail(Code::Arg, op, "seed", "a non-negative integer below 2^53", describe(info[i]));
  return uint64_t(s);
}

// Integer fills must be integers in range (a NaN or 1e30 cast to int32 is undefined behaviour).
void check_fill_value(const char* op, DType dtype, double v, const Napi::Value& given) {
  if (dtype == DType::I32 && !(v == std::floor(v) && v >= -2147483648.0 && v <= 2147483647.0))
    fail(Code::Arg, op, "value", "an integer in the int32 range for an int32 tensor", describe(given));
  if (dtype == DType::U8 && !(v == std::floor(v) && v >= 0 && v <= 255))
    fail(Code::Arg, op, "value", "an integer in [0, 255] for a uint8 tensor", describe(given));
}

// Host -> device copy of freshly allocated storage.
void upload(const Tensor& t, const void* src) {
  if (t.device().kind == Device::CPU) {
    std::memcpy(t.storage->data(), src, t.nbytes());
    return;
  }
#ifdef SENET_WITH_CUDA
  cuda::upload(t, src);  // through pinned staging: src may be reused at once
#else
  fail(Code::Device, "fromData", "device", "cpu", t.device().str());
#endif
}

}  // namespace

// fromData(typedArray, shape, dtype, device)
SENET_BINDING(fromData) {
  OpArgs A(info, "tensor");
  const Shape shape = A.shape(1, "shape");
  const DType dtype = read_dtype(info, 2, A.op());
  const Device dev = read_device(info, 3, A.op());
  if (!info[0].IsTypedArray()) fail(Code::Arg, A.op(), "data", "a TypedArray", describe(info[0]));
  auto ta = info[0].As<Napi::TypedArray>();
  napi_typedarray_type want = napi_float32_array;
  const char* want_name = "Float32Array";
  if (dtype == DType::I32) want = napi_int32_array, want_name = "Int32Array";
  if (dtype == DType::U8) want = napi_uint8_array, want_name = "Uint8Array";
  if (dtype == DType::BF16) want = napi_uint16_array, want_name = "Uint16Array";
  if (ta.TypedArrayType() != want)
    fail(Code::DType, A.op(), "data", std::string("a ") + want_name + " for dtype " + dtype_name(dtype),
         "another TypedArray type");
  const int64_t n = checked_numel(shape, A.op(), "shape");
  if (int64_t(ta.ElementLength()) != n)
    fail(Code::Shape, A.op(), "data", std::to_string(n) + " elements for shape " + shape_str(shape),
         std::to_string(ta.ElementLength()));
  Tensor t = empty_tensor(shape, dtype, dev, A.op());
  const uint8_t* src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  upload(t, src);
  return wrap(info.Env(), t);
}

// full(shape, value, dtype, device)
SENET_BINDING(full) {
  OpArgs A(info, "full");
  const Shape shape = A.shape(0, "shape");
  const double v = A.number(1, "value");
  const DType dtype = read_dtype(info, 2, A.op());
  const Device dev = read_device(info, 3, A.op());
  check_fill_value(A.op(), dtype, v, info[1]);
  Tensor t = empty_tensor(shape, dtype, dev, A.op());
  if (t.numel() > 0) SENET_DISPATCH(t, fill, t, float(v));
  return wrap(info.Env(), t);
}

// randn(shape, seed, mean, std, device)
SENET_BINDING(randn) {
  OpArgs A(info, "randn");
  const Shape shape = A.shape(0, "shape");
  const uint64_t seed = read_seed(info, 1, A.op());
  const double mean = A.number(2, "mean"), sd = A.number(3, "std");
  if (!std::isfinite(mean)) fail(Code::Arg, A.op(), "mean", "a finite number", describe(info[2]));
  if (!std::isfinite(sd) || sd < 0) fail(Code::Arg, A.op(), "std", "a finite number >= 0", describe(info[3]));
  const Device dev = read_device(info, 4, A.op());
  Tensor t = empty_tensor(shape, DType::F32, dev, A.op());
  if (t.numel() > 0) SENET_DISPATCH(t, fill_randn, t, seed, mean, sd);
  return wrap(info.Env(), t);
}

// randu(shape, seed, lo, hi, device)
SENET_BINDING(randu) {
  OpArgs A(info, "randu");
  const Shape shape = A.shape(0, "shape");
  const uint64_t seed = read_seed(info, 1, A.op());
  const double lo = A.number(2, "low"), hi = A.number(3, "high");
  if (!std::isfinite(lo) || !std::isfinite(hi) || hi < lo)
    fail(Code::Arg, A.op(), "high", "a finite number >= low", describe(info[3]));
  const Device dev = read_device(info, 4, A.op());
  Tensor t = empty_tensor(shape, DType::F32, dev, A.op());
  if (t.numel() > 0) SENET_DISPATCH(t, fill_uniform, t, seed, lo, hi);
  return wrap(info.Env(), t);
}

// reshape(t, shape): a view sharing storage
SENET_BINDING(reshape) {
  OpArgs A(info, "reshape");
  Tensor t = A.tensor(0, "x", own_dtype(info[0]));
  const Shape shape = A.shape(1, "shape");
  const int64_t n = checked_numel(shape, A.op(), "shape");
  if (n != t.numel())
    fail(Code::Shape, A.op(), "shape", "a shape with " + std::to_string(t.numel()) + " elements (x is " +
                                           shape_str(t.shape) + ")",
         shape_str(shape));
  Tensor v = t;
  v.shape = shape;
  return wrap(info.Env(), v);
}

// clone(t)
SENET_BINDING(clone) {
  OpArgs A(info, "clone");
  Tensor t = A.tensor(0, "x", own_dtype(info[0]));
  return wrap(info.Env(), SENET_DISPATCH(t, copy, t));
}

// fill_(t, value): in place
SENET_BINDING(fill_) {
  OpArgs A(info, "fill_");
  Tensor t = A.tensor(0, "x", own_dtype(info[0]));
  const double v = A.number(1, "value");
  check_fill_value(A.op(), t.dtype, v, info[1]);
  if (t.numel() > 0) SENET_DISPATCH(t, fill, t, float(v));
  return info.Env().Undefined();
}

// addScaled_(y, x, alpha): y += alpha * x, in place
SENET_BINDING(addScaled_) {
  OpArgs A(info, "addScaled_");
  Tensor y = A.tensor(0, "y"), x = A.tensor(1, "x");
  const double alpha = A.number(2, "alpha");
  if (!std::isfinite(alpha)) fail(Code::Arg, A.op(), "alpha", "a finite number", describe(info[2]));
  check_same_device(A.op(), {{"y", &y}, {"x", &x}});
  check_shape(A.op(), "x", x, y.shape);
  if (y.numel() > 0) SENET_DISPATCH(y, add_inplace, y, x, float(alpha));
  return info.Env().Undefined();
}

void register_tensor_ops(Napi::Env env, Napi::Object exports) {
  SENET_EXPORT(exports, env, fromData);
  SENET_EXPORT(exports, env, full);
  SENET_EXPORT(exports, env, randn);
  SENET_EXPORT(exports, env, randu);
  SENET_EXPORT(exports, env, reshape);
  SENET_EXPORT(exports, env, clone);
  SENET_EXPORT(exports, env, fill_);
  SENET_EXPORT(exports, env, addScaled_);
}

}  // namespace senet
