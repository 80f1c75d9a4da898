#include "cuda/device_memory.h"

#include <cublas_v2.h>
#include <cudnn.h>

#include <cstring>

#include "cuda/allocator.h"
#include "cuda/common.h"
#include "cuda/stream.h"

namespace senet::cuda {

void* device_allocate(size_t bytes, int device, const char* op) { return allocate(device, bytes, op); }

void device_release(void* p, size_t bytes, int device) { release(device, p, bytes); }

void upload(const Tensor& t, const void* src) { upload_raw(t.device().index, t.storage->data(), src, t.nbytes(), "tensor"); }

void upload_raw(int device, void* dst, const void* src, size_t bytes, const char* op) {
  if (bytes == 0) return;
  Context& ctx = context(device, op);
  Context::Staging s = ctx.acquire_staging(bytes, op);
  std::memcpy(s.p, src, bytes);
  const cudaError_t e = cudaMemcpyAsync(dst, s.p, bytes, cudaMemcpyHostToDevice, ctx.stream);
  ctx.release_staging(s, e == cudaSuccess);
  check(e, op, "cudaMemcpyAsync");
}

class PendingRead {
 public:
  Context* ctx = nullptr;
  Context::Staging staging;
  size_t bytes = 0;
  Fence fence;
  ~PendingRead() {
    if (ctx && staging.p) ctx->release_staging(staging, false);
  }
};

std::shared_ptr<PendingRead> begin_read(const Tensor& t) {
  const char* op = "toArray";
  auto r = std::make_shared<PendingRead>();
  Context& ctx = context(t.device().index, op);
  r->ctx = &ctx;
  r->bytes = t.nbytes();
  if (r->bytes) {
    r->staging = ctx.acquire_staging(r->bytes, op);
    check(cudaMemcpyAsync(r->staging.p, t.storage->data(), r->bytes, cudaMemcpyDeviceToHost, ctx.stream), op,
          "cudaMemcpyAsync");
  }
  r->fence = ctx.fence(op);
  return r;
}

void finish_read(PendingRead& r, void* dst) {
  r.fence.wait();
  if (r.bytes) std::memcpy(dst, r.staging.p, r.bytes);
}

void read_sync(const Tensor& t, void* dst) {
  auto r = begin_read(t);
  finish_read(*r, dst);
}

void sync_all_devices() { sync_all(); }

std::vector<std::string> device_names() {
  std::vector<std::string> out;
  for (int d = 0; d < device_count(); ++d) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, d) == cudaSuccess) out.push_back(p.name);
    else out.push_back("?");
  }
  cudaGetLastError();
  return out;
}

std::string library_versions() {
  int rt = 0, drv = 0;
  cudaRuntimeGetVersion(&rt);
  cudaDriverGetVersion(&drv);
  cudaGetLastError();
  const size_t dnn = cudnnGetVersion();
  int cublas_v = 0;
  cublasGetProperty(MAJOR_VERSION, &cublas_v);
  int cublas_minor = 0;
  cublasGetProperty(MINOR_VERSION, &cublas_minor);
  auto ver = [](int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); };
  std::string s = "CUDA runtime " + ver(rt) + ", driver " + (drv ? ver(drv) : std::string("none"));
  s += ", cuDNN " + std::to_string(dnn / 10000) + "." + std::to_string((dnn % 10000) / 100) + "." +
       std::to_string(dnn % 100);
  s += ", cuBLAS " + std::to_string(cublas_v) + "." + std::to_string(cublas_minor);
  return s;
}

DeviceMemoryStats memory_stats(int device) {
  const AllocatorStats a = allocator_stats(device);
  DeviceMemoryStats m{a.reserved, a.in_use, a.cached, a.cached_blocks, a.peak_reserved, a.peak_in_use,
                      a.hits,     a.misses, a.cache_flushes, 0, 0};
  if (context_if_created(device)) {
    size_t f = 0, t = 0;
    set_device(device, "memory");
    if (cudaMemGetInfo(&f, &t) == cudaSuccess) {
      m.device_free = int64_t(f);
      m.device_total = int64_t(t);
    }
    cudaGetLastError();
  }
  return m;
}

void empty_cache_all() {
  for (int d = 0; d < device_count(); ++d) empty_cache(d);
}

double copy_bandwidth(int device, size_t bytes, int reps) {
  const char* op = "copyBandwidth";
  Context& ctx = context(device, op);
  Scratch a(device, bytes, op), b(device, bytes, op);
  check(cudaMemsetAsync(a.get(), 1, bytes, ctx.stream), op, "cudaMemsetAsync");
  check(cudaMemsetAsync(b.get(), 2, bytes, ctx.stream), op, "cudaMemsetAsync");
  cudaEvent_t e0, e1;
  check(cudaEventCreate(&e0), op, "cudaEventCreate");
  check(cudaEventCreate(&e1), op, "cudaEventCreate");
  double best = 0.0;
  for (int r = 0; r < reps; ++r) {
    cudaEventRecord(e0, ctx.stream);
    cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, ctx.stream);
    cudaEventRecord(e1, ctx.stream);
    const cudaError_t e = cudaEventSynchronize(e1);
    if (e != cudaSuccess) {
      cudaEventDestroy(e0);
      cudaEventDestroy(e1);
      throw_cuda(e, op, "cudaMemcpyAsync");
    }
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    if (ms > 0) best = std::max(best, 2.0 * double(bytes) / (double(ms) * 1e-3) / 1e9);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return best;
}

}  // namespace senet::cuda
