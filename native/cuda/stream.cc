#include "cuda/stream.h"

#include <cstdlib>
#include <cstring>

#include "cuda/common.h"
#include "cuda/libs.h"

namespace senet::cuda {

// ---------------------------------------------------------------- errors

void throw_cuda(cudaError_t e, const std::string& op, const char* what) {
  cudaGetLastError();  // clear a non-sticky error so later calls can succeed
  const Code code = e == cudaErrorMemoryAllocation ? Code::OOM : Code::Cuda;
  throw Error(code, op + ": CUDA " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ") in " + what);
}

void throw_cudnn(cudnnStatus_t s, const std::string& op, const char* what) {
  char detail[512] = {0};
  cudnnGetLastErrorString(detail, sizeof detail);
  std::string msg = op + ": cuDNN " + cudnnGetErrorString(s) + " in " + what;
  if (detail[0]) msg += std::string(" (") + detail + ")";
  throw Error(s == CUDNN_STATUS_ALLOC_FAILED ? Code::OOM : Code::Cudnn, msg);
}

void throw_cublas(cublasStatus_t s, const std::string& op, const char* what) {
  throw Error(s == CUBLAS_STATUS_ALLOC_FAILED ? Code::OOM : Code::Cublas,
              op + ": cuBLAS " + cublasGetStatusName(s) + " (" + cublasGetStatusString(s) + ") in " + what);
}

bool allow_tf32() {
  static const bool v = [] {
    const char* e = std::getenv("SENET_CUDA_TF32");
    return e && *e && std::strcmp(e, "0") != 0;
  }();
  return v;
}

void set_device(int device, const char* op) {
  thread_local int current = -1;
  if (current == device) return;
  check(cudaSetDevice(device), op, "cudaSetDevice");
  current = device;
}

// ---------------------------------------------------------------- devices

namespace {

struct DeviceList {
  int count = 0;
  std::string reason;
};

const DeviceList& devices() {
  static const DeviceList d = [] {
    DeviceList r;
    const cudaError_t e = cudaGetDeviceCount(&r.count);
    if (e != cudaSuccess) {
      r.count = 0;
      r.reason = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
      cudaGetLastError();
    } else if (r.count == 0) {
      r.reason = "no CUDA-capable device is detected";
    }
    return r;
  }();
  return d;
}

constexpr int kMaxDevices = 64;
std::mutex g_ctx_mu;
Context* g_ctx[kMaxDevices] = {};

}  // namespace

int device_count() { return devices().count; }
std::string no_device_reason() { return devices().reason; }

Context& context(int device, const char* op) {
  const int n = device_count();
  if (device < 0 || device >= n || device >= kMaxDevices) {
    const std::string given = "cuda:" + std::to_string(device);
    if (n == 0) fail(Code::Device, op, "device", "a CUDA device, but this machine has none (" + no_device_reason() + ")", given);
    fail(Code::Device, op, "device", "one of cuda:0..cuda:" + std::to_string(n - 1), given);
  }
  Context* c;
  {
    std::lock_guard<std::mutex> lock(g_ctx_mu);
    if (!g_ctx[device]) g_ctx[device] = new Context(device);  // never destroyed (see allocator.cc)
    c = g_ctx[device];
  }
  set_device(device, op);
  return *c;
}

Context* context_if_created(int device) {
  if (device < 0 || device >= kMaxDevices) return nullptr;
  std::lock_guard<std::mutex> lock(g_ctx_mu);
  return g_ctx[device];
}

void sync_all() {
  std::optional<Error> first;
  for (int d = 0; d < kMaxDevices; ++d) {
    Context* c = context_if_created(d);
    if (!c) continue;
    try {
      Fence f = c->fence("sync");
      f.wait();
    } catch (const Error& e) {
      if (!first) first = e;
    }
  }
  if (first) throw *first;
}

// ---------------------------------------------------------------- context

Context::Context(int dev) : device(dev) {
  const char* op = "cuda init";
  set_device(dev, op);
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, dev), op, "cudaGetDeviceProperties");
  name = prop.name;
  cc_major = prop.major;
  cc_minor = prop.minor;
  sm_count = prop.multiProcessorCount;
  total_memory = prop.totalGlobalMem;
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), op, "cudaStreamCreateWithFlags");
  check(cudaMalloc(reinterpret_cast<void**>(&slots_dev_), kSlots * sizeof(unsigned long long)), op, "cudaMalloc");
  check(cudaHostAlloc(reinterpret_cast<void**>(&slots_host_), kSlots * sizeof(unsigned long long), cudaHostAllocDefault),
        op, "cudaHostAlloc");
  free_slots_.reserve(kSlots);
  for (int i = kSlots - 1; i >= 0; --i) free_slots_.push_back(i);
}

cudnnContext* Context::cudnn(const char* op) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!cudnn_) {
    set_device(device, op);
    cudnnHandle_t h = nullptr;
    check_cudnn(cudnnCreate(&h), op, "cudnnCreate");
    check_cudnn(cudnnSetStream(h, stream), op, "cudnnSetStream");
    cudnn_ = h;
  }
  return cudnn_;
}

cublasContext* Context::cublas(const char* op) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!cublas_) {
    set_device(device, op);
    cublasHandle_t h = nullptr;
    check_cublas(cublasCreate(&h), op, "cublasCreate");
    check_cublas(cublasSetStream(h, stream), op, "cublasSetStream");
    check_cublas(cublasSetMathMode(h, allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH), op,
                 "cublasSetMathMode");
    cublas_ = h;
  }
  return cublas_;
}

namespace {
size_t staging_limit() {
  static const size_t v = [] {
    const char* e = std::getenv("SENET_CUDA_PINNED_MB");
    if (e && *e) return size_t(std::strtoull(e, nullptr, 10)) << 20;
    return size_t(1) << 30;
  }();
  return v;
}
}  // namespace

Context::Staging Context::acquire_staging(size_t bytes, const char* op) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    int best = -1;
    for (int i = 0; i < int(staging_.size()); ++i) {
      const Staging& s = staging_[size_t(i)];
      if (s.size < bytes || (best >= 0 && s.size >= staging_[size_t(best)].size)) continue;
      const cudaError_t q = cudaEventQuery(s.ev);
      if (q == cudaErrorNotReady) continue;
      if (q != cudaSuccess) throw_cuda(q, op, "cudaEventQuery");
      best = i;
    }
    if (best >= 0) {
      Staging s = staging_[size_t(best)];
      staging_.erase(staging_.begin() + best);
      staging_bytes_ -= s.size;
      return s;
    }
  }
  Staging s;
  s.size = std::max<size_t>((bytes + (size_t(1) << 20) - 1) >> 20 << 20, size_t(1) << 20);
  set_device(device, op);
  cudaError_t e = cudaHostAlloc(&s.p, s.size, cudaHostAllocDefault);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw Error(Code::OOM, std::string(op) + ": out of memory: could not pin " + std::to_string(s.size) +
                               " bytes of host memory for a copy to or from cuda:" + std::to_string(device));
  }
  check(e, op, "cudaHostAlloc");
  e = cudaEventCreateWithFlags(&s.ev, cudaEventDisableTiming);
  if (e != cudaSuccess) {
    cudaFreeHost(s.p);
    throw_cuda(e, op, "cudaEventCreate");
  }
  return s;
}

void Context::release_staging(Staging s, bool pending) {
  if (!s.p) return;
  if (pending) cudaEventRecord(s.ev, stream);
  std::lock_guard<std::mutex> lock(mu_);
  // Over the limit: free idle buffers, largest first, until the new one fits.
  while (staging_bytes_ + s.size > staging_limit() && !staging_.empty()) {
    size_t big = 0;
    for (size_t i = 1; i < staging_.size(); ++i)
      if (staging_[i].size > staging_[big].size) big = i;
    Staging old = staging_[big];
    staging_.erase(staging_.begin() + long(big));
    staging_bytes_ -= old.size;
    cudaEventSynchronize(old.ev);
    cudaEventDestroy(old.ev);
    cudaFreeHost(old.p);
  }
  if (s.size > staging_limit()) {
    cudaEventSynchronize(s.ev);
    cudaEventDestroy(s.ev);
    cudaFreeHost(s.p);
    return;
  }
  staging_.push_back(s);
  staging_bytes_ += s.size;
}

cudaEvent_t Context::get_event(const char* op) {
  if (!events_.empty()) {
    cudaEvent_t e = events_.back();
    events_.pop_back();
    return e;
  }
  cudaEvent_t e = nullptr;
  check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), op, "cudaEventCreate");
  return e;
}

void Context::put_event(cudaEvent_t ev) {
  if (ev) events_.push_back(ev);
}

void Context::free_slots(const std::vector<PendingCheck>& checks) {
  for (const auto& c : checks) free_slots_.push_back(c.slot);
}

std::optional<Error> Context::evaluate(const std::vector<PendingCheck>& checks) {
  std::optional<Error> first;
  for (const auto& c : checks) {
    const unsigned long long v = reinterpret_cast<volatile unsigned long long*>(slots_host_)[c.slot];
    if (v == ~0ull || first) continue;
    const uint64_t index = v >> 32;
    const int32_t label = int32_t(uint32_t(v & 0xffffffffu));
    first.emplace(Code::Kernel, c.op + ": expected labels in [0, " + std::to_string(c.classes) + "), got " +
                                    std::to_string(label) + " at index " + std::to_string(index));
  }
  return first;
}

unsigned long long* Context::label_check(const char* op, int64_t classes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (free_slots_.empty()) {
    // Many checks and no wait: evaluate them now; a failure waits for the next fence.
    for (const auto& c : pending_)
      check(cudaMemcpyAsync(slots_host_ + c.slot, slots_dev_ + c.slot, sizeof(unsigned long long),
                            cudaMemcpyDeviceToHost, stream),
            op, "cudaMemcpyAsync");
    check(cudaStreamSynchronize(stream), op, "cudaStreamSynchronize");
    auto err = evaluate(pending_);
    if (err && !sticky_) sticky_ = err;
    free_slots(pending_);
    pending_.clear();
  }
  const int slot = free_slots_.back();
  check(cudaMemsetAsync(slots_dev_ + slot, 0xff, sizeof(unsigned long long), stream), op, "cudaMemsetAsync");
  free_slots_.pop_back();
  pending_.push_back(PendingCheck{slot, op, classes});
  return slots_dev_ + slot;
}

Fence Context::fence(const char* op) {
  set_device(device, op);
  Fence f;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& c : pending_)
    check(cudaMemcpyAsync(slots_host_ + c.slot, slots_dev_ + c.slot, sizeof(unsigned long long),
                          cudaMemcpyDeviceToHost, stream),
          op, "cudaMemcpyAsync");
  cudaEvent_t ev = get_event(op);
  const cudaError_t e = cudaEventRecord(ev, stream);
  if (e != cudaSuccess) {
    put_event(ev);
    throw_cuda(e, op, "cudaEventRecord");
  }
  f.ctx_ = this;
  f.ev_ = ev;
  f.checks_ = std::move(pending_);
  pending_.clear();
  return f;
}

// ---------------------------------------------------------------- fence

Fence::Fence(Fence&& o) noexcept : ctx_(o.ctx_), ev_(o.ev_), checks_(std::move(o.checks_)) {
  o.ctx_ = nullptr;
  o.ev_ = nullptr;
}

Fence& Fence::operator=(Fence&& o) noexcept {
  if (this != &o) {
    abandon();
    ctx_ = o.ctx_;
    ev_ = o.ev_;
    checks_ = std::move(o.checks_);
    o.ctx_ = nullptr;
    o.ev_ = nullptr;
  }
  return *this;
}

Fence::~Fence() { abandon(); }

void Fence::abandon() noexcept {
  if (!ctx_) return;
  // Never waited: the checks go back to the context for the next fence.
  std::lock_guard<std::mutex> lock(ctx_->mu_);
  ctx_->put_event(ev_);
  for (auto& c : checks_) ctx_->pending_.push_back(std::move(c));
  checks_.clear();
  ctx_ = nullptr;
  ev_ = nullptr;
}

void Fence::wait() {
  if (!ctx_) return;
  Context* ctx = ctx_;
  ctx_ = nullptr;
  const cudaError_t e = cudaEventSynchronize(ev_);
  std::optional<Error> err;
  if (e != cudaSuccess) {
    cudaGetLastError();
    err.emplace(Code::Cuda, std::string("cuda:") + std::to_string(ctx->device) + ": CUDA " + cudaGetErrorName(e) +
                                " (" + cudaGetErrorString(e) + ") reported by work queued before this wait");
  } else {
    err = ctx->evaluate(checks_);
  }
  {
    std::lock_guard<std::mutex> lock(ctx->mu_);
    ctx->free_slots(checks_);
    ctx->put_event(ev_);
    if (ctx->sticky_) {
      if (!err) err = ctx->sticky_;
      ctx->sticky_.reset();
    }
  }
  checks_.clear();
  ev_ = nullptr;
  if (err) throw *err;
}

}  // namespace senet::cuda
