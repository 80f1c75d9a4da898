// The 1x1 convolution weight gradient as a packed matrix product (AVX2 +
// FMA); see pwgrad.h for the scheme.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "cpu/pwgrad.h"

namespace senet::cpu::pwgrad {
namespace {

constexpr int64_t kMr = 6;    // rows of dw per register tile
constexpr int64_t kNr = 16;   // columns of dw per register tile
constexpr int64_t kKc = 256;  // output pixels per block (packed x block [I/16][kKc][16] per panel: 16 KiB in L1)
constexpr int64_t kMc = 96;   // rows of dy packed at a time ([kMc/6][kKc][6]: 96 KiB in L2)

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Floats of one packed x block (all of I, zero-padded to whole panels).
int64_t b_block_floats(const Geom& g) { return kKc * ceil_div(g.I, kNr) * kNr; }

// dw[r][c] += sum_k a[k][r] b[k][c] for r < mr, c < nc (a tile of 6 x 16;
// a and b packed, zero-padded past mr / nc).
inline void tile(int64_t kc, const float* a, const float* b, float* dw, int64_t ld, int64_t mr, int64_t nc) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k, a += kMr, b += kNr) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    __m256 s = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(s, b0, c00);
    c01 = _mm256_fmadd_ps(s, b1, c01);
    s = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(s, b0, c10);
    c11 = _mm256_fmadd_ps(s, b1, c11);
    s = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(s, b0, c20);
    c21 = _mm256_fmadd_ps(s, b1, c21);
    s = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(s, b0, c30);
    c31 = _mm256_fmadd_ps(s, b1, c31);
    s = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(s, b0, c40);
    c41 = _mm256_fmadd_ps(s, b1, c41);
    s = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(s, b0, c50);
    c51 = _mm256_fmadd_ps(s, b1, c51);
  }
  const __m256 acc[kMr][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (nc == kNr) {
    for (int64_t r = 0; r < mr; ++r) {
      float* d = dw + r * ld;
      _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), acc[r][0]));
      _mm256_storeu_ps(d + 8, _mm256_add_ps(_mm256_loadu_ps(d + 8), acc[r][1]));
    }
    return;
  }
  alignas(32) float t[kNr];
  for (int64_t r = 0; r < mr; ++r) {
    _mm256_store_ps(t, acc[r][0]);
    _mm256_store_ps(t + 8, acc[r][1]);
    for (int64_t c = 0; c < nc; ++c) dw[r * ld + c] += t[c];
  }
}

// The input pixel read for output pixel p, as a float offset into x.
struct Pixels {
  const Geom& g;
  int64_t offset(int64_t p) const {
    if (g.sh == 1 && g.sw == 1) return p * g.I;  // Ho == H, Wo == W
    const int64_t hw = g.Ho * g.Wo, n = p / hw, r = p % hw;
    return ((n * g.H + (r / g.Wo) * g.sh) * g.W + (r % g.Wo) * g.sw) * g.I;
  }
};

// Packs x's rows [p0, p0 + kb), panels [j0, j1) of 16 columns, to
// b[j - j0][k][16] (panel stride kb * 16).
void pack_x(const Geom& g, const float* x, int64_t p0, int64_t kb, int64_t j0, int64_t j1, float* b) {
  const Pixels px{g};
  for (int64_t k = 0; k < kb; ++k) {
    const float* src = x + px.offset(p0 + k);
    for (int64_t j = j0; j < j1; ++j) {
      float* d = b + ((j - j0) * kb + k) * kNr;
      const int64_t c0 = j * kNr, n = std::min(kNr, g.I - c0);
      if (n == kNr) {
        _mm256_storeu_ps(d, _mm256_loadu_ps(src + c0));
        _mm256_storeu_ps(d + 8, _mm256_loadu_ps(src + c0 + 8));
      } else {
        std::memcpy(d, src + c0, size_t(n) * sizeof(float));
        std::fill(d + n, d + kNr, 0.0f);
      }
    }
  }
}

// Packs dy's rows [p0, p0 + kb), columns [o0, o0 + mb), to a[i][k][6]
// (tile stride kb * 6); adds the columns' sums into db when given. A whole
// tile is one 8-float copy (its last 2 floats are overwritten by the next
// row's; the buffer has room past the end), where 8 floats are there to read.
void pack_dy(const Geom& g, const float* dy, int64_t p0, int64_t kb, int64_t o0, int64_t mb, float* a, float* db) {
  const int64_t tiles = ceil_div(mb, kMr);
  for (int64_t i = 0; i < tiles; ++i) {
    const int64_t c = o0 + i * kMr, n = std::min(kMr, mb - i * kMr);
    const float* src = dy + p0 * g.O + c;
    float* d = a + i * kb * kMr;
    if (n == kMr && c + 8 <= g.O) {
      for (int64_t k = 0; k < kb; ++k, src += g.O, d += kMr) _mm256_storeu_ps(d, _mm256_loadu_ps(src));
    } else {
      for (int64_t k = 0; k < kb; ++k, src += g.O, d += kMr) {
        for (int64_t r = 0; r < n; ++r) d[r] = src[r];
        for (int64_t r = n; r < kMr; ++r) d[r] = 0.0f;
      }
    }
  }
  if (db)
    for (int64_t k = 0; k < kb; ++k) {
      const float* src = dy + (p0 + k) * g.O + o0;
      for (int64_t r = 0; r < mb; ++r) db[o0 + r] += src[r];
    }
}

// Threads form a grid of To (rows of dw) x Ti (columns), To <= the row
// tiles and Ti <= the column panels so that every thread has work (and the
// bias gradient, summed by the grid's first column, is summed); threads
// past To * Ti idle (tiny layers on many threads). A thread packs the x
// columns of its grid column and the dy rows of its grid row, so x is
// packed To times over and dy Ti times: the most threads, then the least
// copying (P * (To * I + Ti * O) floats).
struct Grid {
  int64_t To, Ti;
};
Grid split(const Geom& g, int64_t T) {
  const int64_t rows = ceil_div(g.O, kMr), panels = ceil_div(g.I, kNr);
  Grid best{1, 1};
  double cost = 0;
  for (int64_t used = T; used >= 1; --used) {
    bool found = false;
    for (int64_t to = 1; to <= used; ++to) {
      if (used % to || to > rows || used / to > panels) continue;
      const double c = double(to) * double(g.I) + double(used / to) * double(g.O);
      if (!found || c < cost) best = Grid{to, used / to}, cost = c, found = true;
    }
    if (found) return best;
  }
  return best;
}

}  // namespace

int64_t work_floats(const Geom& g, int64_t threads) {
  // per thread an x block and a dy block (+ 2: pack_dy's last 8-float copy)
  return threads * (b_block_floats(g) + kKc * kMc + 2);
}

void backward_weights(const Geom& g, const float* x, const float* dy, float* dw, float* db, float* work) {
  const int64_t P = g.N * g.Ho * g.Wo, I = g.I, O = g.O;
  const int64_t panels = ceil_div(I, kNr), row_tiles = ceil_div(O, kMr);
  const int64_t bfl = b_block_floats(g);
  std::fill(dw, dw + O * I, 0.0f);
  if (db) std::fill(db, db + O, 0.0f);
  if (P == 0) return;
  const int64_t blocks = ceil_div(P, kKc);
#pragma omp parallel
  {
    // This thread's rows of dw (whole register tiles) and columns (whole
    // panels): a grid of threads, see split(). It packs the blocks it reads
    // itself: a barrier per block to share them cost more than the copies
    // (threads wait passively, see README: execution model).
    const int64_t T = omp_get_num_threads(), t = omp_get_thread_num();
    const Grid grid = split(g, T);
    const int64_t To = grid.To, Ti = grid.Ti, tr = t < To * Ti ? t / Ti : To, tc = t % Ti;
    const int64_t r0 = std::min(O, row_tiles * tr / To * kMr), r1 = std::min(O, row_tiles * (tr + 1) / To * kMr);
    const int64_t j0 = panels * tc / Ti, j1 = panels * (tc + 1) / Ti;
    float* b = work + t * (bfl + kKc * kMc + 2);
    float* a = b + bfl;
    for (int64_t blk = 0; blk < blocks && r0 < r1 && j0 < j1; ++blk) {
      const int64_t p0 = blk * kKc, kb = std::min(kKc, P - p0);
      pack_x(g, x, p0, kb, j0, j1, b);
      for (int64_t o0 = r0; o0 < r1; o0 += kMc) {
        const int64_t mb = std::min(kMc, r1 - o0);
        pack_dy(g, dy, p0, kb, o0, mb, a, tc == 0 ? db : nullptr);
        for (int64_t j = j0; j < j1; ++j)
          for (int64_t i = 0; i * kMr < mb; ++i)
            tile(kb, a + i * kb * kMr, b + (j - j0) * kb * kNr, dw + (o0 + i * kMr) * I + j * kNr, I,
                 std::min(kMr, mb - i * kMr), std::min(kNr, I - j * kNr));
      }
    }
  }
}

}  // namespace senet::cpu::pwgrad
