#include "core/args.h"

#include <cmath>
#include <sstream>

namespace senet {

std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsBoolean()) return std::string("boolean ") + (v.As<Napi::Boolean>().Value() ? "true" : "false");
  if (v.IsNumber()) return "number " + v.ToString().Utf8Value();  // JavaScript's own formatting
  if (v.IsString()) return "string '" + v.As<Napi::String>().Utf8Value() + "'";
  if (v.IsArray()) return "an array of length " + std::to_string(v.As<Napi::Array>().Length());
  if (TensorHandle::From(v)) return "a tensor";
  if (v.IsFunction()) return "a function";
  return "an object";
}

Tensor tensor_from_value(const char* op, const std::string& name, const Napi::Value& v, DType dtype) {
  TensorHandle* h = TensorHandle::From(v);
  if (!h) fail(Code::Arg, op, name, "a Tensor", describe(v));
  if (h->released()) fail(Code::Disposed, op, name, "a live tensor", "a disposed tensor");
  const Tensor& t = h->tensor();
  // Mixed precision: where float32 is asked, a CUDA tensor may be bfloat16
  // (the CUDA op checks which of its arguments may be; the CPU is float32 only).
  const bool bf16_ok = dtype == DType::F32 && t.dtype == DType::BF16 && t.device().kind == Device::CUDA;
  if (t.dtype != dtype && !bf16_ok)
    fail(Code::DType, op, name, std::string("dtype ") + dtype_name(dtype), dtype_name(t.dtype));
  check_device_supported(op, t);
  return t;
}

Tensor OpArgs::tensor(size_t i, const char* name, DType dtype) const {
  return tensor_from_value(op_, name, info_[i], dtype);
}

std::optional<Tensor> OpArgs::optional_tensor(size_t i, const char* name, DType dtype) const {
  if (i >= info_.Length() || info_[i].IsNull() || info_[i].IsUndefined()) return std::nullopt;
  return tensor(i, name, dtype);
}

Napi::Object OpArgs::options(size_t i) const {
  if (i >= info_.Length() || info_[i].IsUndefined()) return Napi::Object::New(info_.Env());
  if (!info_[i].IsObject() || info_[i].IsArray()) fail(Code::Arg, op_, "options", "an object", describe(info_[i]));
  return info_[i].As<Napi::Object>();
}

static int64_t to_int(const char* op, const std::string& name, const Napi::Value& v, int64_t min, int64_t max) {
  if (!v.IsNumber()) fail(Code::Arg, op, name, "an integer", describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d))
    fail(Code::Arg, op, name, "an integer", describe(v));
  if (d < double(min) || d > double(max)) {
    std::ostringstream e;
    e << "an integer in [" << min << ", " << max << "]";
    fail(Code::Arg, op, name, e.str(), describe(v));
  }
  return int64_t(d);
}

Shape shape_from_value(const char* op, const char* name, const Napi::Value& v) {
  if (!v.IsArray()) fail(Code::Shape, op, name, "an array of dimensions", describe(v));
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > 8) fail(Code::Shape, op, name, "at most 8 dimensions", std::to_string(a.Length()));
  Shape s(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value d = a.Get(i);
    if (!d.IsNumber()) fail(Code::Shape, op, std::string(name) + "[" + std::to_string(i) + "]", "a dimension", describe(d));
    const double x = d.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(x) || x != std::floor(x) || x < 0 || x > double(kMaxElements))
      fail(Code::Shape, op, std::string(name) + "[" + std::to_string(i) + "]",
           "a non-negative integer dimension", describe(d));
    s[i] = int64_t(x);
  }
  checked_numel(s, op, name);
  return s;
}

Shape OpArgs::shape(size_t i, const char* name) const { return shape_from_value(op_, name, info_[i]); }

std::string OpArgs::string(size_t i, const char* name) const {
  if (!info_[i].IsString()) fail(Code::Arg, op_, name, "a string", describe(info_[i]));
  return info_[i].As<Napi::String>().Utf8Value();
}

Napi::Array OpArgs::array(size_t i, const char* name) const {
  if (!info_[i].IsArray()) fail(Code::Arg, op_, name, "an array", describe(info_[i]));
  return info_[i].As<Napi::Array>();
}

double OpArgs::number(size_t i, const char* name) const {
  if (!info_[i].IsNumber()) fail(Code::Arg, op_, name, "a number", describe(info_[i]));
  return info_[i].As<Napi::Number>().DoubleValue();
}

int64_t opt_int(const char* op, const Napi::Object& o, const char* key, int64_t def, int64_t min, int64_t max) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  return to_int(op, key, v, min, max);
}

std::vector<int64_t> opt_ints(const char* op, const Napi::Object& o, const char* key, size_t n,
                              std::vector<int64_t> def, int64_t min, int64_t max) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  if (!v.IsArray() || v.As<Napi::Array>().Length() != n)
    fail(Code::Arg, op, key, "an array of " + std::to_string(n) + " integers", describe(v));
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out(n);
  for (uint32_t i = 0; i < n; ++i)
    out[i] = to_int(op, std::string(key) + "[" + std::to_string(i) + "]", a.Get(i), min, max);
  return out;
}

double opt_number(const char* op, const Napi::Object& o, const char* key, double def, double min, double max) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  if (!v.IsNumber()) fail(Code::Arg, op, key, "a number", describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < min || d > max) {
    std::ostringstream e;
    e << "a finite number in [" << min << ", " << max << "]";
    fail(Code::Arg, op, key, e.str(), describe(v));
  }
  return d;
}

bool opt_bool(const char* op, const Napi::Object& o, const char* key, bool def) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  if (!v.IsBoolean()) fail(Code::Arg, op, key, "a boolean", describe(v));
  return v.As<Napi::Boolean>().Value();
}

std::string opt_enum(const char* op, const Napi::Object& o, const char* key, const char* def,
                     std::initializer_list<const char*> allowed) {
  Napi::Value v = o.Get(key);
  std::string s = def;
  std::string choices;
  for (const char* a : allowed) choices += std::string(choices.empty() ? "" : "|") + a;
  if (!v.IsUndefined()) {
    if (!v.IsString()) fail(Code::Arg, op, key, "one of " + choices, describe(v));
    s = v.As<Napi::String>().Utf8Value();
  }
  for (const char* a : allowed)
    if (s == a) return s;
  fail(Code::Arg, op, key, "one of " + choices, "'" + s + "'");
}

std::optional<int> opt_mode(const char* op, const Napi::Object& o, const char* key) {
  if (!o.Has(key)) return std::nullopt;
  const std::string m = opt_enum(op, o, key, "auto", {"auto", "on", "off"});
  return m == "auto" ? -1 : m == "on" ? 1 : 0;
}

const char* mode_name(int mode) { return mode < 0 ? "auto" : mode > 0 ? "on" : "off"; }

void check_rank(const char* op, const char* arg, const Tensor& t, int64_t rank, const char* layout) {
  if (t.rank() != rank)
    fail(Code::Shape, op, arg, std::string("a rank-") + std::to_string(rank) + " " + layout + " tensor",
         "shape " + shape_str(t.shape));
}

void check_shape(const char* op, const char* arg, const Tensor& t, const Shape& expected) {
  if (t.shape != expected) fail(Code::Shape, op, arg, "shape " + shape_str(expected), shape_str(t.shape));
}

void require_cpu(const char* op, const char* arg, const Tensor& t) {
  if (t.device().kind != Device::CPU)
    fail(Code::Device, op, arg, "a cpu tensor (this op has no CUDA implementation yet)", t.device().str());
}

void check_same_device(const char* op, std::initializer_list<std::pair<const char*, const Tensor*>> ts) {
  const std::pair<const char*, const Tensor*>* first = nullptr;
  for (const auto& p : ts) {
    if (!p.second) continue;
    if (!first) {
      first = &p;
      continue;
    }
    if (p.second->device() != first->second->device())
      fail(Code::Device, op, p.first,
           "to be on " + first->second->device().str() + " like " + first->first, p.second->device().str());
  }
}

void check_device_supported(const char* op, const Tensor& t) {
#ifndef SENET_WITH_CUDA
  if (t.device().kind != Device::CPU)
    fail(Code::Device, op, "device", "cpu (this build of senet has no CUDA)", t.device().str());
#else
  (void)op;
  (void)t;
#endif
}

}  // namespace senet
