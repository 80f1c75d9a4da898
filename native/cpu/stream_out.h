// Streaming (non-temporal) output for large elementwise results (CPU).
//
// A plain store to a line that is not in cache first reads it from memory
// ("read for ownership"): an elementwise op whose output is larger than the
// last-level cache moves 3 bytes over the memory bus per byte written and
// read once (relu: read x, read y, write y). Streaming stores skip the
// read, but only exist as vector intrinsics. So that every elementwise loop
// keeps its plain, compiler-vectorised form, the loop body writes a chunk
// into a small per-thread buffer that stays in L1, and the chunk is then
// streamed to the output. Outputs that fit in the cache keep plain stores:
// the next op reads them from there.
#pragma once

#include <immintrin.h>
#include <omp.h>

#include <cstdint>

#include "core/cpu_info.h"

namespace senet::cpu {

// Test/benchmark hook (_streamStores): -1 automatic, 0 never, 1 always.
void stream_stores_config(int mode);
int stream_stores_mode();

// Whether an output of `bytes` should be streamed.
inline bool stream_output(int64_t bytes) {
  const int m = stream_stores_mode();
  return m < 0 ? bytes > int64_t(l3_cache_bytes()) : m == 1;
}

// Computes out[lo, hi) by calling body(i0, i1, dst) for consecutive pieces,
// dst receiving elements i0..i1-1 (dst[0] is element i0). With `nt` the
// pieces go through an L1 buffer and are streamed to `out` (the part before
// the first 32-byte boundary and the tail are written directly).
template <class Body>
inline void write_range(float* out, int64_t lo, int64_t hi, bool nt, Body body) {
  if (!nt || hi - lo < 64) {
    if (hi > lo) body(lo, hi, out + lo);
    return;
  }
  int64_t i = lo;
  const int64_t head = int64_t((32 - (reinterpret_cast<uintptr_t>(out + i) & 31)) & 31) / int64_t(sizeof(float));
  if (head > 0) {
    body(i, i + head, out + i);
    i += head;
  }
  constexpr int64_t kChunk = 2048;  // 8 KiB
  alignas(32) float buf[kChunk];
  for (; i + 8 <= hi;) {
    const int64_t n = (hi - i) / 8 * 8 < kChunk ? (hi - i) / 8 * 8 : kChunk;
    body(i, i + n, buf);
    float* o = out + i;
    for (int64_t k = 0; k < n; k += 8) _mm256_stream_ps(o + k, _mm256_load_ps(buf + k));
    i += n;
  }
  if (i < hi) body(i, hi, out + i);
  _mm_sfence();
}

// Splits [0, n) into one contiguous range per OpenMP thread (multiples of
// 16 elements) and calls f(lo, hi) for each; one thread below min_parallel.
template <class F>
inline void parallel_ranges(int64_t n, int64_t min_parallel, F f) {
#pragma omp parallel if (n > min_parallel)
  {
    const int64_t T = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t chunk = ((n + T - 1) / T + 15) / 16 * 16;
    const int64_t lo = t * chunk < n ? t * chunk : n, hi = lo + chunk < n ? lo + chunk : n;
    if (hi > lo) f(lo, hi);
  }
}

// out[i] = f(i) for i in [0, n), split across the threads (one below
// min_parallel), streamed when the output is larger than the cache.
template <class F>
inline void map_out(float* out, int64_t n, int64_t min_parallel, F f) {
  const bool nt = stream_output(n * int64_t(sizeof(float)));
  parallel_ranges(n, min_parallel, [&](int64_t lo, int64_t hi) {
    write_range(out, lo, hi, nt, [&](int64_t i0, int64_t i1, float* d) {
      for (int64_t i = i0; i < i1; ++i) d[i - i0] = f(i);
    });
  });
}

}  // namespace senet::cpu
