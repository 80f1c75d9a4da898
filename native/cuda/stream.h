// Per-device state of the CUDA backend: the device's one stream, the cuDNN
// and cuBLAS handles bound to it, pinned staging buffers for host<->device
// copies, and the checks kernels report through (labels out of range).
//
// Execution model (DESIGN.md): an op validates and allocates on the calling
// (JS) thread and enqueues its kernels on the stream; nothing waits. A wait
// is a Fence: an event recorded after everything enqueued so far, plus the
// kernel checks enqueued before it. Waiting on a fence (toArray's worker
// thread, sync(), toArraySync()) blocks that thread only, then throws the
// first asynchronous error: a CUDA fault, or a check a kernel failed
// (SENET_KERNEL) -- each reported once, by the first fence that covers it.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/errors.h"

// Opaque library handles (cudnn.h / cublas_v2.h are included where used).
struct cudnnContext;
struct cublasContext;

namespace senet::cuda {

// A kernel-side check: the kernel atomicMin()s (index << 32 | uint32 value)
// of the first offending element into its slot, which starts at ~0.
struct PendingCheck {
  int slot;
  std::string op;
  int64_t classes;
};

class Context;

class Fence {
 public:
  Fence() = default;
  Fence(Fence&&) noexcept;
  Fence& operator=(Fence&&) noexcept;
  Fence(const Fence&) = delete;
  Fence& operator=(const Fence&) = delete;
  ~Fence();
  // Blocks until the work before the fence is done; throws its first error.
  void wait();

 private:
  friend class Context;
  void abandon() noexcept;
  Context* ctx_ = nullptr;
  cudaEvent_t ev_ = nullptr;
  std::vector<PendingCheck> checks_;
};

class Context {
 public:
  explicit Context(int device);  // throws SENET_CUDA
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const int device;
  cudaStream_t stream = nullptr;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  size_t total_memory = 0;

  // Created on first use (a second or so each), bound to `stream`.
  cudnnContext* cudnn(const char* op);
  cublasContext* cublas(const char* op);

  // Page-locked host buffers for copies; a buffer released with `pending`
  // is reused only once the copy enqueued from it has run.
  struct Staging {
    void* p = nullptr;
    size_t size = 0;
    cudaEvent_t ev = nullptr;
  };
  Staging acquire_staging(size_t bytes, const char* op);
  void release_staging(Staging s, bool pending);

  // A slot for a label check (device pointer, reset to ~0 on the stream).
  unsigned long long* label_check(const char* op, int64_t classes);

  // An event after everything enqueued so far, with the checks to evaluate.
  Fence fence(const char* op);

 private:
  friend class Fence;
  cudaEvent_t get_event(const char* op);
  void put_event(cudaEvent_t ev);
  void free_slots(const std::vector<PendingCheck>& checks);
  // Evaluates checks whose slots have been copied to the host mirror;
  // returns the first failure.
  std::optional<Error> evaluate(const std::vector<PendingCheck>& checks);

  std::mutex mu_;
  cudnnContext* cudnn_ = nullptr;
  cublasContext* cublas_ = nullptr;
  std::vector<Staging> staging_;
  size_t staging_bytes_ = 0;
  std::vector<cudaEvent_t> events_;
  static constexpr int kSlots = 1024;
  unsigned long long* slots_dev_ = nullptr;   // kSlots device words
  unsigned long long* slots_host_ = nullptr;  // pinned mirror
  std::vector<int> free_slots_;
  std::vector<PendingCheck> pending_;
  std::optional<Error> sticky_;  // a failure found outside a fence (slot overflow)
};

// Number of CUDA devices; 0 when there is no driver or no GPU (never throws).
int device_count();
// Why there is no device ("CUDA driver version is insufficient ...").
std::string no_device_reason();
// The context of `device` (created on first use; made current on the calling
// thread). Throws SENET_DEVICE when the device does not exist.
Context& context(int device, const char* op);
// nullptr when nothing has used the device yet.
Context* context_if_created(int device);

// Waits for every device's queued work; throws the first asynchronous error.
void sync_all();

}  // namespace senet::cuda
