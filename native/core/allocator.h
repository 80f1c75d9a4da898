// Host memory for CPU tensors.
//
// A caching allocator: freed blocks are kept in exact-size bins (sizes are
// rounded up to 4 KiB, or to 2 MiB past 4 MiB) and handed out again. Large
// float tensors are allocated and freed every step of training; without the
// cache each allocation is a fresh mmap whose first touch page-faults
// (about 25k faults per 100 MB), which would cost more than the SE kernel
// itself. Blocks of 4 MiB and more are 2 MiB aligned and advised for
// transparent huge pages. The footprint (blocks in use plus cached) is
// bounded by the larger of SENET_CPU_CACHE_MB (default a quarter of physical
// memory) and the most the program has had in use at once since the start
// or the last emptyCache(), which gives every cached block back; a new
// block evicts cached ones of other sizes, largest first, to stay within.
#pragma once

#include <cstddef>
#include <cstdint>

namespace senet::host {

void* allocate(size_t bytes);  // nullptr when the system refuses
void release(void* p, size_t bytes);
size_t rounded_size(size_t bytes);

struct CacheStats {
  int64_t cached_bytes;
  int64_t cached_blocks;
  int64_t hits;
  int64_t misses;
};
CacheStats cache_stats();
void empty_cache();

uint64_t physical_memory_bytes();
uint64_t available_memory_bytes();

}  // namespace senet::host
