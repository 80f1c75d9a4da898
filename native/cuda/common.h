// Host-side helpers of the CUDA backend: CUDA status -> senet::Error,
// device selection, launch-size helpers. Included by the .cc and .cu files
// of native/cuda (never by the CPU-only build).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <initializer_list>
#include <utility>
#include <cstdint>
#include <string>

#include "core/errors.h"
#include "core/tensor.h"

namespace senet::cuda {

// "<op>: CUDA <cudaErrorName> (<string>) in <what>"; SENET_OOM for
// cudaErrorMemoryAllocation, SENET_CUDA otherwise.
[[noreturn]] void throw_cuda(cudaError_t e, const std::string& op, const char* what);

inline void check(cudaError_t e, const std::string& op, const char* what) {
  if (e != cudaSuccess) throw_cuda(e, op, what);
}

// After a launch: a bad configuration (grid, shared memory) or an earlier
// asynchronous failure throws at the call.
inline void check_launch(const std::string& op, const char* kernel) { check(cudaGetLastError(), op, kernel); }

// Makes `device` current on the calling thread (the runtime's current device
// is per thread).
void set_device(int device, const char* op);

// Parameters, statistics and SE state are float32 even when the activations
// are bfloat16 (the bindings let bfloat16 CUDA tensors through wherever
// float32 is asked: core/args.cc); a null entry is skipped.
inline void require_f32(const char* op, std::initializer_list<std::pair<const char*, const Tensor*>> ts) {
  for (const auto& kv : ts)
    if (kv.second && kv.second->dtype != DType::F32)
      fail(Code::DType, op, kv.first, "dtype float32 (parameters and statistics stay float32 in mixed precision)",
           dtype_name(kv.second->dtype));
}

// Blocks for a grid-stride loop over n items: enough to fill the GPU, never
// more than the grid limit.
inline unsigned grid_for(int64_t n, int threads, int64_t max_blocks = int64_t(1) << 20) {
  const int64_t b = (n + threads - 1) / threads;
  return unsigned(std::max<int64_t>(1, std::min<int64_t>(b, max_blocks)));
}

}  // namespace senet::cuda
