// The JS face of a Tensor: a small ObjectWrap holding the Tensor (shared
// storage). lib/tensor.ts wraps it in the public Tensor class; nothing else
// in JS sees it. Handles are recognised by a Node-API type tag, so a plain
// object that happens to look like a tensor is refused, never dereferenced.
#pragma once

#include <napi.h>

#include "core/tensor.h"

namespace senet {

class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, Tensor t);
  // nullptr when `v` is not a tensor handle.
  static TensorHandle* From(const Napi::Value& v);

  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;

  const Tensor& tensor() const { return t_; }
  bool released() const { return !live_; }

 private:
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value GetShape(const Napi::CallbackInfo& info);
  Napi::Value GetDType(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  Napi::Value GetReleased(const Napi::CallbackInfo& info);
  Napi::Value GetStorageId(const Napi::CallbackInfo& info);
  Napi::Value ToArraySync(const Napi::CallbackInfo& info);
  Napi::Value ToArray(const Napi::CallbackInfo& info);
  void drop();

  Tensor t_;
  bool live_ = false;
};

// Per-env state (env.SetInstanceData): the handle constructor.
struct AddonData {
  Napi::FunctionReference tensor_ctor;
};

// Converts a senet::Error into a JS Error carrying `code`.
Napi::Error js_error(Napi::Env env, const Error& e);

// Runs `fn` and converts every C++ exception into a JS exception, so no
// error raised in native code can terminate the process.
template <class F>
Napi::Value guard(Napi::Env env, F&& fn) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const Error& e) {
    throw js_error(env, e);
  } catch (const std::bad_alloc&) {
    throw js_error(env, Error(Code::OOM, "out of memory (std::bad_alloc)"));
  } catch (const std::exception& e) {
    throw js_error(env, Error(Code::Internal, std::string("internal error: ") + e.what()));
  }
}

// Wraps a binding so its body runs under guard().
#define SENET_BINDING(name)                                                            \
  static Napi::Value name##_impl(const Napi::CallbackInfo& info);                      \
  static Napi::Value name(const Napi::CallbackInfo& info) {                            \
    return ::senet::guard(info.Env(), [&]() -> Napi::Value { return name##_impl(info); }); \
  }                                                                                    \
  static Napi::Value name##_impl(const Napi::CallbackInfo& info)

// Copies a tensor's bytes to host memory `dst` (the caller has waited on the
// stream). Dispatches on the device.
void copy_to_host(const Tensor& t, void* dst);

}  // namespace senet
