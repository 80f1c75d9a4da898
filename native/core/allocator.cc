#include "core/allocator.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <iterator>
#include <map>
#include <mutex>
#include <vector>

namespace senet::host {
namespace {

constexpr size_t kSmallRound = 4096;
constexpr size_t kHuge = size_t(4) << 20;
constexpr size_t kHugeRound = size_t(2) << 20;

struct Cache {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> bins;  // exact rounded size -> free blocks
  size_t cached = 0;
  size_t limit = 0;
  size_t in_use = 0;       // rounded bytes handed out and not yet released
  size_t peak_in_use = 0;  // since the start or the last empty_cache()
  int64_t blocks = 0, hits = 0, misses = 0;
};

// The footprint (blocks in use + cached) may grow to the larger of the limit
// and the most the program has had in use at once: a training step whose
// working set is past the limit (SE-ResNeXt-50 at batch 16: 6.45 GB against
// 6 GB on a 24 GB machine) otherwise released blocks at the end of every
// step and page-faulted them back in the next (0.8-1 s of system time per
// 4-5 s step), where keeping them costs no more memory than the step itself
// needed. Called with the lock held.
size_t bound(const Cache& c) { return std::max(c.limit, c.peak_in_use); }

// A block of `size` handed out. Called with the lock held.
void taken(Cache& c, size_t size) {
  c.in_use += size;
  c.peak_in_use = std::max(c.peak_in_use, c.in_use);
}

Cache& cache() {
  // Never destroyed: storages may be released by the stream thread during
  // process teardown, after static destructors would have run.
  static Cache* c = [] {
    auto* c = new Cache();
    const char* env = std::getenv("SENET_CPU_CACHE_MB");
    if (env && *env) {
      c->limit = size_t(std::strtoull(env, nullptr, 10)) << 20;
    } else {
      c->limit = size_t(physical_memory_bytes() / 4);
    }
    return c;
  }();
  return *c;
}

void* system_allocate(size_t size) {
  void* p = nullptr;
  const size_t align = size >= kHuge ? kHugeRound : 64;
  if (posix_memalign(&p, align, size) != 0) return nullptr;
#ifdef MADV_HUGEPAGE
  if (size >= kHuge) madvise(p, size, MADV_HUGEPAGE);
#endif
  return p;
}

}  // namespace

size_t rounded_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  const size_t r = bytes >= kHuge ? kHugeRound : kSmallRound;
  return (bytes + r - 1) / r * r;
}

void* allocate(size_t bytes) {
  const size_t size = rounded_size(bytes);
  Cache& c = cache();
  std::vector<void*> evicted;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.bins.find(size);
    if (it != c.bins.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= size;
      --c.blocks;
      ++c.hits;
      taken(c, size);
      return p;
    }
    ++c.misses;
    // A new block: give back cached ones of other sizes, largest first,
    // until the footprint with it fits the bound (with the peak it makes).
    const size_t need = c.in_use + size, cap = std::max(bound(c), need);
    while (c.cached > 0 && need + c.cached > cap) {
      auto last = std::prev(c.bins.end());
      if (last->second.empty()) {  // (a bin a hit emptied)
        c.bins.erase(last);
        continue;
      }
      evicted.push_back(last->second.back());
      last->second.pop_back();
      c.cached -= last->first;
      --c.blocks;
      if (last->second.empty()) c.bins.erase(last);
    }
  }
  for (void* q : evicted) std::free(q);
  void* p = system_allocate(size);
  if (!p) {
    // Give the cached blocks back to the system and try once more.
    empty_cache();
    p = system_allocate(size);
  }
  if (p) {
    std::lock_guard<std::mutex> lock(c.mu);
    taken(c, size);
  }
  return p;
}

void release(void* p, size_t bytes) {
  if (!p) return;
  const size_t size = rounded_size(bytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.in_use -= size;
    // Moving a block from in use to the cache leaves the footprint as it
    // was, so it stays within bound(); it is only over it after
    // empty_cache() lowered the peak while this block was in use.
    if (c.in_use + c.cached + size <= bound(c)) {
      c.bins[size].push_back(p);
      c.cached += size;
      ++c.blocks;
      return;
    }
  }
  std::free(p);
}

CacheStats cache_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return CacheStats{int64_t(c.cached), c.blocks, c.hits, c.misses};
}

void empty_cache() {
  Cache& c = cache();
  std::map<size_t, std::vector<void*>> bins;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    bins.swap(c.bins);
    c.cached = 0;
    c.blocks = 0;
    c.peak_in_use = c.in_use;
  }
  for (auto& kv : bins)
    for (void* p : kv.second) std::free(p);
}

uint64_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return uint64_t(8) << 30;
  return uint64_t(pages) * uint64_t(page);
}

uint64_t available_memory_bytes() {
  // MemAvailable from /proc/meminfo (what the kernel could hand out now).
  FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return physical_memory_bytes();
  char line[256];
  uint64_t kb = 0;
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "MemAvailable:", 13) == 0) {
      kb = std::strtoull(line + 13, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return kb ? kb * 1024 : physical_memory_bytes();
}

}  // namespace senet::host
