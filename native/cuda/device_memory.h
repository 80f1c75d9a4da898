// What native/core needs from the CUDA backend: device storage (tensor.cc),
// host<->device copies (handle.cc, ops/tensor_ops.cc), waits and memory
// statistics (ops/runtime_ops.cc). No CUDA types: core code includes this
// without the CUDA headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace senet::cuda {

// Storage of CUDA tensors, from the caching allocator (allocator.h).
void* device_allocate(size_t bytes, int device, const char* op);
void device_release(void* p, size_t bytes, int device);

// Copies `t.nbytes()` bytes from host memory into t: through a pinned
// staging buffer, asynchronously (src may be reused as soon as this returns).
void upload(const Tensor& t, const void* src);

// Copies `bytes` of host memory to device memory `dst` on the device's stream
// (through pinned staging: src may be reused when this returns). For small
// tables the kernels read (SGD's tensor list).
void upload_raw(int device, void* dst, const void* src, size_t bytes, const char* op);

// A device->host copy in flight: begin_read() (JS thread) enqueues the copy
// into pinned memory after the work already queued; finish_read() (any
// thread) waits for it, throws the first asynchronous error, and copies the
// bytes to dst.
class PendingRead;
std::shared_ptr<PendingRead> begin_read(const Tensor& t);
void finish_read(PendingRead& r, void* dst);
void read_sync(const Tensor& t, void* dst);

// Waits for the queued work of every device (throws the first asynchronous error).
void sync_all_devices();

int device_count();
std::vector<std::string> device_names();  // "NVIDIA H100 80GB HBM3", per device
std::string no_device_reason();
std::string library_versions();           // "CUDA runtime 13.0, cuDNN 9.x.y, cuBLAS 13.x"

struct DeviceMemoryStats {
  int64_t reserved, in_use, cached, cached_blocks, peak_reserved, peak_in_use, hits, misses, flushes;
  int64_t device_free, device_total;  // cudaMemGetInfo (0 when the device was never used)
};
DeviceMemoryStats memory_stats(int device);
void empty_cache_all();

// Copy bandwidth of device memory: best-of-reps GB/s of a device-to-device
// copy of `bytes`, counting bytes read plus written.
double copy_bandwidth(int device, size_t bytes, int reps);

}  // namespace senet::cuda
