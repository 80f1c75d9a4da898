// Typed readers for binding arguments and option objects, and the shape
// checks shared by the ops. Every failure names the op and the argument and
// says what was expected and what was given (SENET_* codes).
//
// lib/ops/*.ts validates first, with the same wording; these checks are the
// second line, for everything that could otherwise read or write out of
// bounds when the native module is called directly.
#pragma once

#include <napi.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/handle.h"
#include "core/tensor.h"

namespace senet {

class OpArgs {
 public:
  OpArgs(const Napi::CallbackInfo& info, const char* op) : info_(info), op_(op) {}
  const char* op() const { return op_; }
  Napi::Env env() const { return info_.Env(); }

  Tensor tensor(size_t i, const char* name, DType dtype = DType::F32) const;
  std::optional<Tensor> optional_tensor(size_t i, const char* name, DType dtype = DType::F32) const;
  Napi::Object options(size_t i) const;  // {} when undefined
  Shape shape(size_t i, const char* name) const;
  std::string string(size_t i, const char* name) const;
  Napi::Array array(size_t i, const char* name) const;
  double number(size_t i, const char* name) const;

 private:
  const Napi::CallbackInfo& info_;
  const char* op_;
};

std::string describe(const Napi::Value& v);  // "a string 'x'", "undefined", "an object"

// Reads a tensor from a JS value (element of an array argument).
Tensor tensor_from_value(const char* op, const std::string& name, const Napi::Value& v, DType dtype = DType::F32);
Shape shape_from_value(const char* op, const char* name, const Napi::Value& v);

int64_t opt_int(const char* op, const Napi::Object& o, const char* key, int64_t def, int64_t min, int64_t max);
std::vector<int64_t> opt_ints(const char* op, const Napi::Object& o, const char* key, size_t n,
                              std::vector<int64_t> def, int64_t min, int64_t max);
double opt_number(const char* op, const Napi::Object& o, const char* key, double def, double min, double max);
bool opt_bool(const char* op, const Napi::Object& o, const char* key, bool def);
std::string opt_enum(const char* op, const Napi::Object& o, const char* key, const char* def,
                     std::initializer_list<const char*> allowed);

// A test hook's kernel-choice option, 'auto' | 'on' | 'off' -> -1 | 1 | 0;
// nullopt when the key is absent. mode_name is the inverse.
std::optional<int> opt_mode(const char* op, const Napi::Object& o, const char* key);
const char* mode_name(int mode);

void check_rank(const char* op, const char* arg, const Tensor& t, int64_t rank, const char* layout);
void check_shape(const char* op, const char* arg, const Tensor& t, const Shape& expected);
void check_same_device(const char* op, std::initializer_list<std::pair<const char*, const Tensor*>> ts);
// For ops with no CUDA implementation (yet): a Device error naming op and argument.
void require_cpu(const char* op, const char* arg, const Tensor& t);
void check_device_supported(const char* op, const Tensor& t);  // cpu, or cuda in a CUDA build

inline Napi::Value wrap(Napi::Env env, Tensor t) { return TensorHandle::Wrap(env, std::move(t)); }

}  // namespace senet
