#include "cuda/allocator.h"

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/common.h"
#include "cuda/size_class.h"
#include "cuda/stream.h"

namespace senet::cuda {
namespace {

struct DeviceCache {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> bins;  // class size -> free blocks
  AllocatorStats st;
};

constexpr int kMaxDevices = 64;

DeviceCache& cache(int device) {
  // Never destroyed: storages may be released during process teardown.
  static DeviceCache* caches[kMaxDevices] = {};
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (!caches[device]) caches[device] = new DeviceCache();
  return *caches[device];
}

// Frees every cached block; the caller holds c.mu and has synchronised.
void free_bins_locked(DeviceCache& c) {
  for (auto& kv : c.bins)
    for (void* p : kv.second) {
      cudaFree(p);
      c.st.reserved -= int64_t(kv.first);
      c.st.cached -= int64_t(kv.first);
      --c.st.cached_blocks;
    }
  c.bins.clear();
}

void note_in_use(DeviceCache& c, size_t cls) {
  c.st.in_use += int64_t(cls);
  if (c.st.in_use > c.st.peak_in_use) c.st.peak_in_use = c.st.in_use;
}

std::string oom_message(int device, size_t bytes, size_t cls, const char* op, const AllocatorStats& st) {
  size_t free_b = 0, total_b = 0;
  cudaMemGetInfo(&free_b, &total_b);
  cudaGetLastError();
  return std::string(op) + ": out of memory on cuda:" + std::to_string(device) + ": requested " +
         std::to_string(bytes) + " bytes (block of " + std::to_string(cls) + "), " + std::to_string(free_b) +
         " bytes free of " + std::to_string(total_b) + " after returning senet's cached blocks (" +
         std::to_string(st.in_use) + " bytes in use by senet)";
}

}  // namespace

void* allocate(int device, size_t bytes, const char* op) {
  if (device < 0 || device >= kMaxDevices)
    fail(Code::Device, op, "device", "a CUDA device index below " + std::to_string(kMaxDevices),
         "cuda:" + std::to_string(device));
  Context& ctx = context(device, op);  // the device exists, and is current
  const size_t cls = size_class(bytes);
  DeviceCache& c = cache(device);
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.bins.find(cls);
    if (it != c.bins.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.st.cached -= int64_t(cls);
      --c.st.cached_blocks;
      ++c.st.hits;
      note_in_use(c, cls);
      return p;
    }
    ++c.st.misses;
  }
  if (cls > ctx.total_memory) {
    std::lock_guard<std::mutex> lock(c.mu);
    throw Error(Code::OOM, std::string(op) + ": out of memory on cuda:" + std::to_string(device) + ": requested " +
                               std::to_string(bytes) + " bytes, the device has " +
                               std::to_string(ctx.total_memory) + " bytes");
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, cls);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: clear it
    // Return the cache to the driver and try once more. Cached blocks may
    // still be read by queued kernels: wait for them first.
    std::lock_guard<std::mutex> lock(c.mu);
    cudaStreamSynchronize(ctx.stream);
    free_bins_locked(c);
    ++c.st.cache_flushes;
    e = cudaMalloc(&p, cls);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      throw Error(Code::OOM, oom_message(device, bytes, cls, op, c.st));
    }
  }
  check(e, op, "cudaMalloc");
  std::lock_guard<std::mutex> lock(c.mu);
  c.st.reserved += int64_t(cls);
  if (c.st.reserved > c.st.peak_reserved) c.st.peak_reserved = c.st.reserved;
  note_in_use(c, cls);
  return p;
}

void release(int device, void* p, size_t bytes) {
  if (!p) return;
  const size_t cls = size_class(bytes);
  DeviceCache& c = cache(device);
  std::lock_guard<std::mutex> lock(c.mu);
  c.bins[cls].push_back(p);
  c.st.in_use -= int64_t(cls);
  c.st.cached += int64_t(cls);
  ++c.st.cached_blocks;
}

AllocatorStats allocator_stats(int device) {
  if (device < 0 || device >= kMaxDevices) return {};
  DeviceCache& c = cache(device);
  std::lock_guard<std::mutex> lock(c.mu);
  return c.st;
}

void empty_cache(int device) {
  Context* ctx = context_if_created(device);
  if (!ctx) return;
  set_device(device, "emptyCache");
  DeviceCache& c = cache(device);
  std::lock_guard<std::mutex> lock(c.mu);
  check(cudaStreamSynchronize(ctx->stream), "emptyCache", "cudaStreamSynchronize");
  free_bins_locked(c);
}

}  // namespace senet::cuda
