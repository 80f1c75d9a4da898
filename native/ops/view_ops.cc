// Zero-copy host views of cpu tensors (once the work queued before the
// call has run):
//   hostView(x)             a TypedArray over x's memory; the view keeps the
//                           storage alive until the garbage collector frees it.
//   hostViewBorrow(x)       [TypedArray, token]: the same, plus a token for
//   releaseHostView(v, t)   which detaches the view (it becomes empty) and
//                           drops its hold on the storage at once, so the
//                           memory returns to senet's allocator without
//                           waiting for a garbage collection.
// The TensorFlow.js backend lends borrowed views to tfjs's JavaScript kernels
// and releases them when the tfjs tensor is disposed. Writing through a view
// while queued ops read the tensor is the caller's race.
#include <mutex>
#include <unordered_map>

#include "core/args.h"
#include "core/stream.h"
#include "ops/registry.h"

namespace senet {
namespace {

struct ViewHold {
  std::shared_ptr<Storage> storage;
  uint64_t token = 0;  // 0: not borrowed
};

std::mutex& borrowed_mu() {
  static auto* m = new std::mutex();
  return *m;
}
std::unordered_map<uint64_t, ViewHold*>& borrowed() {
  static auto* m = new std::unordered_map<uint64_t, ViewHold*>();
  return *m;
}
uint64_t g_next_token = 1;

Napi::Value typed(Napi::Env env, DType dtype, Napi::ArrayBuffer ab, size_t n) {
  switch (dtype) {
    case DType::F32: return Napi::Float32Array::New(env, n, ab, 0);
    case DType::I32: return Napi::Int32Array::New(env, n, ab, 0);
    case DType::U8: return Napi::Uint8Array::New(env, n, ab, 0);
    case DType::BF16: return Napi::Uint16Array::New(env, n, ab, 0);
  }
  return env.Undefined();
}

void finalize(Napi::Env, void*, ViewHold* hold) {
  if (hold->token) {
    std::lock_guard<std::mutex> lock(borrowed_mu());
    auto it = borrowed().find(hold->token);
    if (it != borrowed().end() && it->second == hold) borrowed().erase(it);
  }
  delete hold;
}

// A view of the tensor argument; `token` 0 for a garbage-collected view.
Napi::Value make_view(const Napi::CallbackInfo& info, const char* op, bool borrow, uint64_t* token) {
  OpArgs A(info, op);
  TensorHandle* h = TensorHandle::From(info[0]);
  const DType dtype = h && !h->released() ? h->tensor().dtype : DType::F32;
  Tensor t = A.tensor(0, "x", dtype);
  if (t.device().kind != Device::CPU)
    fail(Code::Device, A.op(), "x", "a cpu tensor (copy others with toArray)", t.device().str());
  CpuStream::get().sync();
  Napi::Env env = info.Env();
  const size_t n = size_t(t.numel());
  *token = 0;
  if (n == 0) return typed(env, dtype, Napi::ArrayBuffer::New(env, 0), 0);
  void* data = t.storage->data();  // (may take the block, and throw, before anything is registered)
  auto* hold = new ViewHold{t.storage, 0};
  if (borrow) {
    std::lock_guard<std::mutex> lock(borrowed_mu());
    hold->token = g_next_token++;
    borrowed().emplace(hold->token, hold);
    *token = hold->token;
  }
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, data, t.nbytes(), finalize, hold);
  return typed(env, dtype, ab, n);
}

}  // namespace

SENET_BINDING(hostView) {
  uint64_t token;
  return make_view(info, "hostView", false, &token);
}

// hostViewBorrow(x) -> [view, token]
SENET_BINDING(hostViewBorrow) {
  uint64_t token;
  Napi::Value v = make_view(info, "hostViewBorrow", true, &token);
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, v);
  out.Set(1u, Napi::Number::New(info.Env(), double(token)));
  return out;
}

// releaseHostView(view, token): detaches the view and frees its hold (idempotent).
SENET_BINDING(releaseHostView) {
  OpArgs A(info, "releaseHostView");
  if (!info[0].IsTypedArray()) fail(Code::Arg, A.op(), "view", "a TypedArray from hostViewBorrow", describe(info[0]));
  const double d = A.number(1, "token");
  if (d < 0 || d != double(uint64_t(d))) fail(Code::Arg, A.op(), "token", "a token from hostViewBorrow", describe(info[1]));
  const uint64_t token = uint64_t(d);
  if (token == 0) return info.Env().Undefined();  // an empty view: nothing is held
  ViewHold* hold = nullptr;
  {
    std::lock_guard<std::mutex> lock(borrowed_mu());
    auto it = borrowed().find(token);
    if (it == borrowed().end()) return info.Env().Undefined();  // released already
    hold = it->second;
    Napi::ArrayBuffer ab = info[0].As<Napi::TypedArray>().ArrayBuffer();
    if (ab.Data() != hold->storage->data())
      fail(Code::Arg, A.op(), "view", "the view hostViewBorrow returned with this token", "another TypedArray");
    borrowed().erase(it);
    ab.Detach();
  }
  hold->storage.reset();  // the finalizer frees `hold` itself
  return info.Env().Undefined();
}

void register_view_ops(Napi::Env env, Napi::Object exports) {
  SENET_EXPORT(exports, env, hostView);
  SENET_EXPORT(exports, env, hostViewBorrow);
  SENET_EXPORT(exports, env, releaseHostView);
}

}  // namespace senet
