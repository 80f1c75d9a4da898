#include "core/handle.h"

#include <cstring>

#include "core/stream.h"

#ifdef SENET_WITH_CUDA
#include "cuda/device_memory.h"
#endif

namespace senet {

namespace {

// Identifies TensorHandle objects (napi_type_tag_object).
const napi_type_tag kTensorTag = {0x5e4e7a1b2c3d4e5fULL, 0x8a9bacbdcedfe0f1ULL};

// Carries a Tensor into the constructor from C++ (JS cannot make one).
struct Pending {
  Tensor t;
};

Napi::Value typed_array(Napi::Env env, DType dtype, Napi::ArrayBuffer ab, size_t n) {
  switch (dtype) {
    case DType::F32: return Napi::Float32Array::New(env, n, ab, 0);
    case DType::I32: return Napi::Int32Array::New(env, n, ab, 0);
    case DType::U8: return Napi::Uint8Array::New(env, n, ab, 0);
    case DType::BF16: return Napi::Uint16Array::New(env, n, ab, 0);
  }
  return env.Undefined();
}

class ReadWorker : public Napi::AsyncWorker {
 public:
  ReadWorker(Napi::Env env, Tensor t, uint64_t ticket)
      : Napi::AsyncWorker(env, "senet.toArray"), deferred_(Napi::Promise::Deferred::New(env)),
        t_(std::move(t)), ticket_(ticket), n_(size_t(t_.numel())) {
#ifdef SENET_WITH_CUDA
    // CUDA: the copy is enqueued now, after the work queued so far; the
    // worker thread waits for it (the event loop does not).
    if (t_.device().kind == Device::CUDA) cuda_read_ = cuda::begin_read(t_);
#endif
    auto ab = Napi::ArrayBuffer::New(env, std::max<size_t>(t_.nbytes(), 1));
    dst_ = ab.Data();
    buffer_ = Napi::Persistent(ab);
  }
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      if (t_.device().kind == Device::CPU) CpuStream::get().wait(ticket_);
#ifdef SENET_WITH_CUDA
      if (cuda_read_) {
        cuda::finish_read(*cuda_read_, dst_);
        return;
      }
#endif
      copy_to_host(t_, dst_);
    } catch (const Error& e) {
      err_ = e;
      SetError(e.what());
    } catch (const std::exception& e) {
      err_ = Error(Code::Internal, e.what());
      SetError(e.what());
    }
  }
  void OnOK() override {
    deferred_.Resolve(typed_array(Env(), t_.dtype, buffer_.Value(), n_));
    t_ = Tensor();
  }
  void OnError(const Napi::Error&) override {
    deferred_.Reject(js_error(Env(), err_).Value());
    t_ = Tensor();
  }

 private:
  Napi::Promise::Deferred deferred_;
  Tensor t_;
  uint64_t ticket_;
  size_t n_;
  void* dst_ = nullptr;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  Error err_{Code::Internal, ""};
#ifdef SENET_WITH_CUDA
  std::shared_ptr<cuda::PendingRead> cuda_read_;
#endif
};

}  // namespace

void copy_to_host(const Tensor& t, void* dst) {
  if (t.device().kind == Device::CPU) {
    std::memcpy(dst, t.storage->data(), t.nbytes());
    return;
  }
#ifdef SENET_WITH_CUDA
  cuda::read_sync(t, dst);
#else
  throw Error(Code::Device, "toArray: expected a cpu tensor (this build has no CUDA), got " + t.device().str());
#endif
}

Napi::Error js_error(Napi::Env env, const Error& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  err.Set("code", Napi::String::New(env, code_name(e.code())));
  return err;
}

Napi::Function TensorHandle::Define(Napi::Env env) {
  return DefineClass(env, "TensorHandle",
                     {
                         InstanceMethod<&TensorHandle::Release>("release"),
                         InstanceAccessor<&TensorHandle::GetShape>("shape"),
                         InstanceAccessor<&TensorHandle::GetDType>("dtype"),
                         InstanceAccessor<&TensorHandle::GetDevice>("device"),
                         InstanceAccessor<&TensorHandle::GetReleased>("released"),
                         InstanceAccessor<&TensorHandle::GetStorageId>("storageId"),
                         InstanceMethod<&TensorHandle::ToArraySync>("toArraySync"),
                         InstanceMethod<&TensorHandle::ToArray>("toArray"),
                     });
}

Napi::Object TensorHandle::Wrap(Napi::Env env, Tensor t) {
  Pending p{std::move(t)};
  auto* data = env.GetInstanceData<AddonData>();
  Napi::Object obj = data->tensor_ctor.New({Napi::External<Pending>::New(env, &p)});
  obj.TypeTag(&kTensorTag);
  return obj;
}

TensorHandle* TensorHandle::From(const Napi::Value& v) {
  if (!v.IsObject()) return nullptr;
  Napi::Object o = v.As<Napi::Object>();
  if (!o.CheckTypeTag(&kTensorTag)) return nullptr;
  return Napi::ObjectWrap<TensorHandle>::Unwrap(o);
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw js_error(info.Env(), Error(Code::Arg, "TensorHandle: tensors are created by senet functions, not by new"));
  }
  auto* p = info[0].As<Napi::External<Pending>>().Data();
  t_ = std::move(p->t);
  live_ = true;
  auto& c = memory_counters(t_.device().kind);
  c.handles.fetch_add(1);
  c.handle_bytes.fetch_add(int64_t(t_.nbytes()));
}

void TensorHandle::drop() {
  if (!live_) return;
  live_ = false;
  auto& c = memory_counters(t_.device().kind);
  c.handles.fetch_sub(1);
  c.handle_bytes.fetch_sub(int64_t(t_.nbytes()));
  t_.storage.reset();
}

TensorHandle::~TensorHandle() { drop(); }

Napi::Value TensorHandle::Release(const Napi::CallbackInfo& info) {
  drop();
  return info.Env().Undefined();
}

Napi::Value TensorHandle::GetShape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto arr = Napi::Array::New(env, t_.shape.size());
  for (size_t i = 0; i < t_.shape.size(); ++i) arr.Set(uint32_t(i), Napi::Number::New(env, double(t_.shape[i])));
  return arr;
}

Napi::Value TensorHandle::GetDType(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), dtype_name(t_.dtype));
}

Napi::Value TensorHandle::GetDevice(const Napi::CallbackInfo& info) {
  if (!live_) return Napi::String::New(info.Env(), "disposed");
  return Napi::String::New(info.Env(), t_.device().str());
}

Napi::Value TensorHandle::GetReleased(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !live_);
}

Napi::Value TensorHandle::GetStorageId(const Napi::CallbackInfo& info) {
  // Identity of the underlying storage (views share it); for tests.
  return Napi::Number::New(info.Env(), live_ ? double(reinterpret_cast<uintptr_t>(t_.storage.get()) >> 4) : 0.0);
}

Napi::Value TensorHandle::ToArraySync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    if (!live_) throw Error(Code::Disposed, "toArraySync: expected a live tensor, got a disposed tensor");
    Tensor t = t_;
    if (t.device().kind == Device::CPU) CpuStream::get().sync();
    auto ab = Napi::ArrayBuffer::New(env, std::max<size_t>(t.nbytes(), 1));
    copy_to_host(t, ab.Data());
    return typed_array(env, t.dtype, ab, size_t(t.numel()));
  });
}

Napi::Value TensorHandle::ToArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    if (!live_) throw Error(Code::Disposed, "toArray: expected a live tensor, got a disposed tensor");
    const uint64_t ticket = CpuStream::get().last_ticket();
    auto* w = new ReadWorker(env, t_, ticket);
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  });
}

}  // namespace senet
