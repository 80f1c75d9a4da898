// The caching allocator of device memory (one per device).
//
// cudaMalloc and cudaFree synchronise the device and cost tens of
// microseconds to milliseconds; a training step allocates and frees hundreds
// of activations. Freed blocks therefore go to a bin of their size class
// (size_class.h) and are handed out again. Reuse needs no event: every
// kernel of a device runs on that device's one stream (stream.h), so work
// enqueued after a free is ordered after the work that used the block.
//
// When cudaMalloc fails, the allocator synchronises the device, returns the
// cached blocks to the driver and tries once more; then it throws SENET_OOM
// with the bytes requested and free. memory() reports reserved (held from
// the driver) vs in use (held by live storages and scratch); emptyCache()
// returns the cached blocks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace senet::cuda {

struct AllocatorStats {
  int64_t reserved = 0;       // bytes obtained from cudaMalloc and not yet freed
  int64_t in_use = 0;         // bytes (class sizes) handed out and not yet released
  int64_t cached = 0;         // reserved - in_use: free blocks in the bins
  int64_t cached_blocks = 0;
  int64_t peak_reserved = 0;
  int64_t peak_in_use = 0;
  int64_t hits = 0;           // allocations served from a bin
  int64_t misses = 0;         // allocations that called cudaMalloc
  int64_t cache_flushes = 0;  // cudaMalloc failures recovered by emptying the bins
};

// Throws SENET_OOM (or SENET_CUDA / SENET_DEVICE). `op` names the caller in errors.
void* allocate(int device, size_t bytes, const char* op);
void release(int device, void* p, size_t bytes);
AllocatorStats allocator_stats(int device);
// Synchronises the device and frees every cached block.
void empty_cache(int device);

// A temporary device buffer (kernel scratch, cuDNN workspace) returned to the
// cache when it goes out of scope: safe while kernels still use it, since
// later work on the stream is ordered after them.
class Scratch {
 public:
  Scratch() = default;
  Scratch(int device, size_t bytes, const char* op) : device_(device), bytes_(bytes) {
    if (bytes) p_ = allocate(device, bytes, op);
  }
  ~Scratch() { reset(); }
  Scratch(Scratch&& o) noexcept : device_(o.device_), bytes_(o.bytes_), p_(o.p_) { o.p_ = nullptr; }
  Scratch& operator=(Scratch&& o) noexcept {
    if (this != &o) {
      reset();
      device_ = o.device_, bytes_ = o.bytes_, p_ = o.p_;
      o.p_ = nullptr;
    }
    return *this;
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void reset() {
    if (p_) release(device_, p_, bytes_);
    p_ = nullptr;
  }
  template <class T = void>
  T* get() const { return static_cast<T*>(p_); }
  size_t bytes() const { return bytes_; }

 private:
  int device_ = 0;
  size_t bytes_ = 0;
  void* p_ = nullptr;
};

}  // namespace senet::cuda
