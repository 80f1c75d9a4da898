// Size classes of the CUDA caching allocator (plain C++: the CPU build
// compiles it too, for the host checks in native/cuda/host_checks.cc).
//
// Requests are rounded up to a class and freed blocks are kept in one bin
// per class, so a training step that allocates the same shapes every
// iteration is served from the cache after the first step, and a slightly
// different shape (the last, smaller batch) still finds a block:
//   <= 64 KiB  multiples of 512 bytes (cuDNN/cuBLAS like 256-byte alignment)
//   above      four classes per power of two: 1.25, 1.5, 1.75, 2 x 2^k,
//              so at most 25% of a block is unused.
#pragma once

#include <cstddef>
#include <cstdint>

namespace senet::cuda {

constexpr size_t kSmallClassLimit = size_t(64) << 10;
constexpr size_t kMinBlock = 512;

inline int floor_log2(uint64_t v) {
  int k = -1;
  while (v) {
    v >>= 1;
    ++k;
  }
  return k;
}

inline size_t size_class(size_t bytes) {
  if (bytes <= kSmallClassLimit) return bytes == 0 ? kMinBlock : (bytes + kMinBlock - 1) / kMinBlock * kMinBlock;
  const int k = floor_log2(uint64_t(bytes - 1));  // 2^k < bytes <= 2^(k+1)
  const size_t step = size_t(1) << (k - 2);
  return (bytes + step - 1) / step * step;
}

}  // namespace senet::cuda
