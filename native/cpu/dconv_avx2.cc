// Direct NHWC dense convolution forward, AVX2 + FMA (see dconv.h).
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "cpu/dconv.h"

namespace senet::cpu::dconv {
namespace {

constexpr int64_t kBlock = 16;  // output channels per block (two vectors)
constexpr int kMaxTile = 6;
// Weights are prefetched 16 input channels (1 KiB) ahead: the packed block
// of a tile (KH*KW*C*64 bytes, 147 KiB for 3x3x256) streams from L2 once per
// tile. Interleaved A/B on [16,14,14,256] 3x3: 1.17x over oneDNN with it,
// 1.03x without (noisy machine; the distance 8 gave 1.05x).
constexpr int64_t kPrefetch = 16;     // output pixels per tile: 6 x 2 accumulators + 2 weights + 1 broadcast <= 16 registers

struct Padded {
  int64_t Hp, Wp;
  bool needed;
};

Padded padded(const Geom& g) {
  const int64_t pb = std::max<int64_t>(0, (g.Ho - 1) * g.sh + g.KH - (g.H + g.pt));
  const int64_t pr = std::max<int64_t>(0, (g.Wo - 1) * g.sw + g.KW - (g.W + g.pl));
  return Padded{g.H + g.pt + pb, g.W + g.pl + pr, g.pt > 0 || g.pl > 0 || pb > 0 || pr > 0};
}

int64_t blocks(const Geom& g) { return (g.O + kBlock - 1) / kBlock; }

// R output pixels x NV vectors of output channels. x[j] points at output
// pixel j's input window (tap 0, 0) in the padded input; the R pixels are
// consecutive in the flattened output (they may span output rows), so their
// outputs are R rows of y at stride O.
template <int R, int NV>
inline void tile(const float* const* x, int64_t xrow, const float* wb, int64_t KH, int64_t KW, int64_t C,
                 const float* bias, float* y, int64_t ystride) {
  __m256 acc[R][NV];
#pragma GCC unroll 6
  for (int j = 0; j < R; ++j)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[j][v] = bias ? _mm256_loadu_ps(bias + 8 * v) : _mm256_setzero_ps();
  for (int64_t kh = 0; kh < KH; ++kh)
    for (int64_t kw = 0; kw < KW; ++kw) {
      const int64_t off = kh * xrow + kw * C;
      const float* xp[R];
#pragma GCC unroll 6
      for (int j = 0; j < R; ++j) xp[j] = x[j] + off;
      const float* wp = wb + (kh * KW + kw) * C * kBlock;
      // Two input channels per iteration: 5-10% faster on the ResNet-50 3x3
      // layers (A/B of the two builds, alternating: 124-132 -> 118-119 ms
      // for the four stage shapes at batch 16).
#pragma GCC unroll 2
      for (int64_t ci = 0; ci < C; ++ci) {
        __m256 w[NV];
        _mm_prefetch(reinterpret_cast<const char*>(wp + (ci + kPrefetch) * kBlock), _MM_HINT_T0);
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) w[v] = _mm256_loadu_ps(wp + ci * kBlock + 8 * v);
#pragma GCC unroll 6
        for (int j = 0; j < R; ++j) {
          const __m256 b = _mm256_broadcast_ss(xp[j] + ci);
#pragma GCC unroll 2
          for (int v = 0; v < NV; ++v) acc[j][v] = _mm256_fmadd_ps(b, w[v], acc[j][v]);
        }
      }
    }
#pragma GCC unroll 6
  for (int j = 0; j < R; ++j)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(y + j * ystride + 8 * v, acc[j][v]);
}

template <int NV>
void tile_r(int r, const float* const* x, int64_t xrow, const float* wb, int64_t KH, int64_t KW, int64_t C,
            const float* bias, float* y, int64_t ystride) {
  switch (r) {
    case 1: return tile<1, NV>(x, xrow, wb, KH, KW, C, bias, y, ystride);
    case 2: return tile<2, NV>(x, xrow, wb, KH, KW, C, bias, y, ystride);
    case 3: return tile<3, NV>(x, xrow, wb, KH, KW, C, bias, y, ystride);
    case 4: return tile<4, NV>(x, xrow, wb, KH, KW, C, bias, y, ystride);
    case 5: return tile<5, NV>(x, xrow, wb, KH, KW, C, bias, y, ystride);
    default: return tile<6, NV>(x, xrow, wb, KH, KW, C, bias, y, ystride);
  }
}

}  // namespace

bool covers(int64_t groups, int64_t O, int64_t dil_h, int64_t dil_w) {
  return groups == 1 && O % 8 == 0 && dil_h == 1 && dil_w == 1;
}

int64_t packed_weight_floats(const Geom& g) { return blocks(g) * g.KH * g.KW * g.C * kBlock; }

int64_t padded_input_floats(const Geom& g) {
  const Padded p = padded(g);
  return p.needed ? g.N * p.Hp * p.Wp * g.C : 0;
}

void forward(const Geom& g, const float* x, const float* w, const float* bias, float* y, float* wpack,
             float* xpad, int64_t l2_bytes) {
  const int64_t C = g.C, O = g.O, KH = g.KH, KW = g.KW, OB = blocks(g), taps = KH * KW;
  const Padded P = padded(g);
  const float* xs = P.needed ? xpad : x;
  // Tiles of up to 6 consecutive output pixels of a sample, balanced
  // (49 pixels -> 9 tiles of 5-6, not 8 of 6 and one of 1).
  const int64_t pixels = g.Ho * g.Wo, tiles = (pixels + kMaxTile - 1) / kMaxTile;
  const int64_t items = g.N * tiles * OB;
  // Item order: when all packed weights fit half the L2 they stay there and
  // the blocks of a tile run back to back (its inputs stay in L1);
  // otherwise one block's weights serve every tile of the batch in turn.
  // Items are handed out in chunks of ~1/16 of a thread's share (dynamic: a
  // thread the hypervisor preempts does not hold the others up; consecutive
  // items keep sharing inputs or weights).
  const int64_t chunk = std::max<int64_t>(1, items / (int64_t(omp_get_max_threads()) * 16));
  const bool weights_fit = packed_weight_floats(g) * int64_t(sizeof(float)) <= l2_bytes / 2;
#pragma omp parallel
  {
    // pack the weights: [ob][kh][kw][c][16], lanes past O zero
#pragma omp for schedule(static) nowait
    for (int64_t bt = 0; bt < OB * taps; ++bt) {
      const int64_t ob = bt / taps, t = bt % taps;
      float* dst = wpack + bt * C * kBlock;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t l = 0; l < kBlock; ++l) {
          const int64_t o = ob * kBlock + l;
          dst[c * kBlock + l] = o < O ? w[(o * taps + t) * C + c] : 0.0f;
        }
    }
    // zero-bordered copy of the input
    if (P.needed) {
#pragma omp for schedule(static) nowait
      for (int64_t r = 0; r < g.N * P.Hp; ++r) {
        const int64_t n = r / P.Hp, hp = r % P.Hp, h = hp - g.pt;
        float* dst = xpad + r * P.Wp * C;
        if (h < 0 || h >= g.H) {
          std::memset(dst, 0, size_t(P.Wp * C) * sizeof(float));
          continue;
        }
        std::memset(dst, 0, size_t(g.pl * C) * sizeof(float));
        std::memcpy(dst + g.pl * C, x + (n * g.H + h) * g.W * C, size_t(g.W * C) * sizeof(float));
        const int64_t tail = P.Wp - g.pl - g.W;
        if (tail > 0) std::memset(dst + (g.pl + g.W) * C, 0, size_t(tail * C) * sizeof(float));
      }
    }
#pragma omp barrier
#pragma omp for schedule(dynamic, chunk)
    for (int64_t it = 0; it < items; ++it) {
      int64_t ob, rest;
      if (weights_fit) ob = it % OB, rest = it / OB;
      else ob = it / (g.N * tiles), rest = it % (g.N * tiles);
      const int64_t n = rest / tiles, t = rest % tiles;
      const int64_t p0 = t * pixels / tiles, p1 = (t + 1) * pixels / tiles;
      const float* xp[kMaxTile];
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t oh = p / g.Wo, ow = p % g.Wo;
        xp[p - p0] = xs + ((n * P.Hp + oh * g.sh) * P.Wp + ow * g.sw) * C;
      }
      const int nv = O - ob * kBlock >= kBlock ? 2 : 1;
      const float* wb = wpack + ob * taps * C * kBlock;
      const float* bb = bias ? bias + ob * kBlock : nullptr;
      float* yt = y + (n * pixels + p0) * O + ob * kBlock;
      if (nv == 2) tile_r<2>(int(p1 - p0), xp, P.Wp * C, wb, KH, KW, C, bb, yt, O);
      else tile_r<1>(int(p1 - p0), xp, P.Wp * C, wb, KH, KW, C, bb, yt, O);
    }
  }
}

}  // namespace senet::cpu::dconv
