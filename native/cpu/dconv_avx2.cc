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
      // A window row's KW taps are KW*C consecutive floats of the padded
      // input, in the packed weights' order: one loop of KW*C per row.
      if (nv == 2) tile_r<2>(int(p1 - p0), xp, P.Wp * C, wb, KH, 1, KW * C, bb, yt, O);
      else tile_r<1>(int(p1 - p0), xp, P.Wp * C, wb, KH, 1, KW * C, bb, yt, O);
    }
  }
}

// ---- Winograd F(2x2, 3x3) and F(4x4, 3x3) (see dconv.h) ----

namespace {

// The transforms of F(2x2, 3x3) (Lavin & Gray 2015), on 8 channels at once:
//   input   V = B^T d B, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//   weights U = G g G^T, G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
//   output  Y = A^T M A, A^T = [1 1 1 0; 0 1 -1 -1]
// where M is, per position xi of the 4x4 tile, the product over input
// channels of V_xi and U_xi: 16 matrix products of 2.25x fewer multiplies
// in all than the direct convolution's 36 per 2x2 outputs.
inline void input_transform(__m256 d[16]) {
  __m256 t[16];
  for (int k = 0; k < 4; ++k) {
    t[0 * 4 + k] = _mm256_sub_ps(d[0 * 4 + k], d[2 * 4 + k]);
    t[1 * 4 + k] = _mm256_add_ps(d[1 * 4 + k], d[2 * 4 + k]);
    t[2 * 4 + k] = _mm256_sub_ps(d[2 * 4 + k], d[1 * 4 + k]);
    t[3 * 4 + k] = _mm256_sub_ps(d[1 * 4 + k], d[3 * 4 + k]);
  }
  for (int i = 0; i < 4; ++i) {
    d[i * 4 + 0] = _mm256_sub_ps(t[i * 4 + 0], t[i * 4 + 2]);
    d[i * 4 + 1] = _mm256_add_ps(t[i * 4 + 1], t[i * 4 + 2]);
    d[i * 4 + 2] = _mm256_sub_ps(t[i * 4 + 2], t[i * 4 + 1]);
    d[i * 4 + 3] = _mm256_sub_ps(t[i * 4 + 1], t[i * 4 + 3]);
  }
}

// m: the 16 products of one tile; y: its 2x2 outputs (row-major).
inline void output_transform(const __m256 m[16], __m256 y[4]) {
  __m256 s[8];
  for (int k = 0; k < 4; ++k) {
    s[k] = _mm256_add_ps(_mm256_add_ps(m[0 * 4 + k], m[1 * 4 + k]), m[2 * 4 + k]);
    s[4 + k] = _mm256_sub_ps(_mm256_sub_ps(m[1 * 4 + k], m[2 * 4 + k]), m[3 * 4 + k]);
  }
  for (int i = 0; i < 2; ++i) {
    y[i * 2 + 0] = _mm256_add_ps(_mm256_add_ps(s[i * 4 + 0], s[i * 4 + 1]), s[i * 4 + 2]);
    y[i * 2 + 1] = _mm256_sub_ps(_mm256_sub_ps(s[i * 4 + 1], s[i * 4 + 2]), s[i * 4 + 3]);
  }
}

// U = G g G^T for 8 input channels: g at w[(kh * 3 + kw) * C], masked lanes.
inline void weight_transform(const float* w, int64_t C, __m256i mask, __m256 u[16]) {
  const __m256 half = _mm256_set1_ps(0.5f);
  __m256 g[9], t[12];
  for (int e = 0; e < 9; ++e) g[e] = _mm256_maskload_ps(w + e * C, mask);
  for (int k = 0; k < 3; ++k) {
    const __m256 s02 = _mm256_add_ps(g[0 * 3 + k], g[2 * 3 + k]);
    t[0 * 3 + k] = g[0 * 3 + k];
    t[1 * 3 + k] = _mm256_mul_ps(half, _mm256_add_ps(s02, g[1 * 3 + k]));
    t[2 * 3 + k] = _mm256_mul_ps(half, _mm256_sub_ps(s02, g[1 * 3 + k]));
    t[3 * 3 + k] = g[2 * 3 + k];
  }
  for (int i = 0; i < 4; ++i) {
    const __m256 s02 = _mm256_add_ps(t[i * 3 + 0], t[i * 3 + 2]);
    u[i * 4 + 0] = t[i * 3 + 0];
    u[i * 4 + 1] = _mm256_mul_ps(half, _mm256_add_ps(s02, t[i * 3 + 1]));
    u[i * 4 + 2] = _mm256_mul_ps(half, _mm256_sub_ps(s02, t[i * 3 + 1]));
    u[i * 4 + 3] = t[i * 3 + 2];
  }
}

// In-register 8 x 8 transpose: r[i][j] -> r[j][i].
inline void transpose8(__m256 r[8]) {
  __m256 a[8], b[8];
  for (int i = 0; i < 4; ++i) {
    a[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    a[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    b[4 * i + 0] = _mm256_shuffle_ps(a[4 * i + 0], a[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    b[4 * i + 1] = _mm256_shuffle_ps(a[4 * i + 0], a[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    b[4 * i + 2] = _mm256_shuffle_ps(a[4 * i + 1], a[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    b[4 * i + 3] = _mm256_shuffle_ps(a[4 * i + 1], a[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(b[i], b[4 + i], 0x20);
    r[4 + i] = _mm256_permute2f128_ps(b[i], b[4 + i], 0x31);
  }
}

// The first min(left, 8) lanes of a vector, as a maskload/maskstore mask.
inline __m256i lane_mask(int64_t left) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(std::min<int64_t>(left, 8))), idx);
}

// F(4x4, 3x3) (Lavin & Gray 2015), 6x6 tiles of 36 positions, 4x4 outputs:
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0;
//          0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6;
//          1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
// 36 products per 16 outputs: 4x fewer multiplies than the direct
// convolution (F(2x2, 3x3): 2.25x). The larger coefficients cost accuracy:
// the error bound (test/reference/conv.ts, winogradMag) grows with them.
//
// One line of B^T d (6 values at stride s), in place.
inline void bt6(__m256* d, int s) {
  const __m256 four = _mm256_set1_ps(4.0f), five = _mm256_set1_ps(5.0f), two = _mm256_set1_ps(2.0f);
  const __m256 d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
  const __m256 a = _mm256_fnmadd_ps(four, d2, d4), b = _mm256_fnmadd_ps(four, d1, d3);  // d4 - 4 d2, d3 - 4 d1
  const __m256 c = _mm256_sub_ps(d4, d2), e = _mm256_mul_ps(two, _mm256_sub_ps(d3, d1));
  d[0] = _mm256_fmadd_ps(four, d0, _mm256_fnmadd_ps(five, d2, d4));
  d[s] = _mm256_add_ps(a, b);
  d[2 * s] = _mm256_sub_ps(a, b);
  d[3 * s] = _mm256_add_ps(c, e);
  d[4 * s] = _mm256_sub_ps(c, e);
  d[5 * s] = _mm256_fmadd_ps(four, d1, _mm256_fnmadd_ps(five, d3, d5));
}

// One line of A^T m (6 values at stride s) into 4 at stride ys.
inline void at6(const __m256* m, int s, __m256* y, int ys) {
  const __m256 a = _mm256_add_ps(m[s], m[2 * s]), b = _mm256_sub_ps(m[s], m[2 * s]);
  const __m256 c = _mm256_add_ps(m[3 * s], m[4 * s]), d = _mm256_sub_ps(m[3 * s], m[4 * s]);
  y[0] = _mm256_add_ps(_mm256_add_ps(m[0], a), c);
  y[ys] = _mm256_fmadd_ps(_mm256_set1_ps(2.0f), d, b);
  y[2 * ys] = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), c, a);
  y[3 * ys] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8.0f), d, b), m[5 * s]);
}

// One line of G g (3 values at stride s) into 6 at stride us.
inline void g6(const __m256* g, int s, __m256* u, int us) {
  const __m256 g0 = g[0], g1 = g[s], g2 = g[2 * s], sum = _mm256_add_ps(g0, g2);
  const __m256 sixth = _mm256_set1_ps(-1.0f / 6.0f);
  const __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 24.0f), g0, _mm256_mul_ps(_mm256_set1_ps(1.0f / 6.0f), g2));
  const __m256 q = _mm256_mul_ps(_mm256_set1_ps(1.0f / 12.0f), g1);
  u[0] = _mm256_mul_ps(_mm256_set1_ps(0.25f), g0);
  u[us] = _mm256_mul_ps(sixth, _mm256_add_ps(sum, g1));
  u[2 * us] = _mm256_mul_ps(sixth, _mm256_sub_ps(sum, g1));
  u[3 * us] = _mm256_add_ps(p, q);
  u[4 * us] = _mm256_sub_ps(p, q);
  u[5 * us] = g2;
}

// The transforms of F(M x M, 3x3): A x A tiles (A = M + 2) of P = A * A
// positions, on 8 channels at once.
template <int M>
struct Wino;

template <>
struct Wino<2> {
  static constexpr int A = 4, P = 16;
  static void input(__m256 d[P]) { input_transform(d); }
  static void output(const __m256 m[P], __m256 y[]) { output_transform(m, y); }
  static void weights(const float* w, int64_t C, __m256i mask, __m256 u[P]) { weight_transform(w, C, mask, u); }
};

template <>
struct Wino<4> {
  static constexpr int A = 6, P = 36;
  static void input(__m256 d[P]) {
    for (int k = 0; k < 6; ++k) bt6(d + k, 6);      // B^T d
    for (int i = 0; i < 6; ++i) bt6(d + 6 * i, 1);  // (B^T d) B
  }
  static void output(const __m256 m[P], __m256 y[]) {
    __m256 t[24];
    for (int k = 0; k < 6; ++k) at6(m + k, 6, t + k, 6);      // A^T m: [4][6]
    for (int i = 0; i < 4; ++i) at6(t + 6 * i, 1, y + 4 * i, 1);  // (A^T m) A
  }
  static void weights(const float* w, int64_t C, __m256i mask, __m256 u[P]) {
    __m256 g[9], t[18];
    for (int e = 0; e < 9; ++e) g[e] = _mm256_maskload_ps(w + e * C, mask);
    for (int k = 0; k < 3; ++k) g6(g + k, 3, t + k, 3);      // G g: [6][3]
    for (int i = 0; i < 6; ++i) g6(t + 3 * i, 1, u + 6 * i, 1);  // (G g) G^T
  }
};

// Positions of an F(m x m, 3x3) tile: (m + 2)^2.
constexpr int64_t positions(int64_t m) { return (m + 2) * (m + 2); }

struct WinoPlan {
  int64_t m;  // output tile size (F(m x m, 3x3))
  int64_t TY, TX, tiles, TB, blocks, osplit, items;
};

WinoPlan wino_plan(const Geom& g, int64_t threads, int64_t l2_bytes, int64_t m = 2) {
  WinoPlan p;
  p.m = m;
  p.TY = (g.Ho + m - 1) / m, p.TX = (g.Wo + m - 1) / m, p.tiles = g.N * p.TY * p.TX;
  // Tiles per work item: their transformed inputs (positions x TB x C
  // floats) in half the L2, 12..48 tiles (multiples of the 6-tile register
  // block). Not sensitive: 12, 24, 36, 48 and 72 tiles ran within noise of
  // each other on ResNet-50's four 3x3 stages at batch 16 (F(2x2)); F(4x4)
  // at 14x14x256 and 7x7x512 ran 1.13-1.4x faster with 12 tiles than with
  // 6 (each item streams all transformed weights from memory once).
  const int64_t fit = l2_bytes / 2 / (positions(m) * g.C * int64_t(sizeof(float)));
  p.TB = std::clamp<int64_t>(fit / kMaxTile * kMaxTile, 2 * kMaxTile, 8 * kMaxTile);
  p.blocks = (p.tiles + p.TB - 1) / p.TB;
  const int64_t OB = blocks(g);
  p.osplit = std::min(OB, std::max<int64_t>(1, (4 * threads + p.blocks - 1) / p.blocks));
  p.items = p.blocks * p.osplit;
  return p;
}

// Tile t: its sample and the top-left of its m x m output block.
struct TileAt {
  int64_t n, oh0, ow0;
};
inline TileAt tile_at(const WinoPlan& P, int64_t t) {
  const int64_t r = t % (P.TY * P.TX);
  return TileAt{t / (P.TY * P.TX), P.m * (r / P.TX), P.m * (r % P.TX)};
}

// The A x A input pixels of tile t, null outside the input.
template <int M>
inline void tile_inputs(const Geom& g, const WinoPlan& P, const float* x, int64_t t, const float* src[Wino<M>::P]) {
  constexpr int A = Wino<M>::A;
  const TileAt at = tile_at(P, t);
  const int64_t n = at.n, ih0 = at.oh0 - g.pt, iw0 = at.ow0 - g.pl;
  for (int i = 0; i < A; ++i)
    for (int k = 0; k < A; ++k) {
      const int64_t ih = ih0 + i, iw = iw0 + k;
      src[i * A + k] = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W ? x + ((n * g.H + ih) * g.W + iw) * g.C : nullptr;
    }
}

// V = B^T d B of channels [c, c+8) of a tile (masked lanes past C read as 0).
template <int M>
inline void load_transform(const float* const src[Wino<M>::P], int64_t c, bool full, __m256i mask,
                           __m256 d[Wino<M>::P]) {
  for (int e = 0; e < Wino<M>::P; ++e)
    d[e] = !src[e] ? _mm256_setzero_ps() : full ? _mm256_loadu_ps(src[e] + c) : _mm256_maskload_ps(src[e] + c, mask);
  Wino<M>::input(d);
}

// V = B^T d B of tile t, all channels, into row j of V [xi][TB][C].
template <int M>
inline void transform_input_tile(const Geom& g, const WinoPlan& P, const float* x, int64_t t, int64_t j, int64_t TB,
                                 float* V) {
  const int64_t C = g.C;
  const float* src[Wino<M>::P];
  tile_inputs<M>(g, P, x, t, src);
  for (int64_t c = 0; c < C; c += 8) {
    const bool full = C - c >= 8;
    const __m256i mask = lane_mask(C - c);
    __m256 d[Wino<M>::P];
    load_transform<M>(src, c, full, mask, d);
    for (int xi = 0; xi < Wino<M>::P; ++xi) {
      float* dst = V + (xi * TB + j) * C + c;
      if (full) _mm256_storeu_ps(dst, d[xi]);
      else _mm256_maskstore_ps(dst, mask, d[xi]);
    }
  }
}

}  // namespace

bool winograd_covers(const Geom& g, int64_t groups, int64_t O, int64_t dil_h, int64_t dil_w) {
  return covers(groups, O, dil_h, dil_w) && g.KH == 3 && g.KW == 3 && g.sh == 1 && g.sw == 1;
}

int64_t winograd_weight_floats(const Geom& g, int m) { return blocks(g) * positions(m) * g.C * kBlock; }

namespace {

// Whether the forward runs weight-stationary: with 4x more output channels
// than tiles or more (small maps, wide layers: ResNet-50's 7x7x512 at batch
// 16 has 64 F(4x4) tiles), the transformed weights (P x C x O floats, 4x the
// weights for F(4x4)) outweigh all tiles' transformed inputs, and the
// tile-block schedule writes them out and streams them from memory once per
// block of tiles. Weight-stationary, the inputs of all tiles are
// transformed once into a shared buffer (P x tiles x C floats, at most
// 16 MiB) and each output block's weights are transformed where used, into
// the thread's buffer, never written out whole. 7x7x512 at batch 16:
// 30.6 -> 24.8 ms, at batch 8 22.1 -> 14.4 (both schedules in one build,
// alternating processes, another job loading the machine); with 2x more
// channels than tiles (14x14x256 -> 512) it ran no faster (42.3 / 43.9).
bool weight_stationary(const Geom& g, const WinoPlan& p) {
  return blocks(g) * kBlock >= 4 * p.tiles && positions(p.m) * p.tiles * g.C * int64_t(sizeof(float)) <= (int64_t(16) << 20);
}

}  // namespace

int64_t winograd_pack_floats(const Geom& g, int m, int64_t l2_bytes) {
  return weight_stationary(g, wino_plan(g, 1, l2_bytes, m)) ? 0 : winograd_weight_floats(g, m);
}

int64_t winograd_work_floats(const Geom& g, int m, int64_t threads, int64_t l2_bytes) {
  const WinoPlan p = wino_plan(g, threads, l2_bytes, m);
  if (weight_stationary(g, p)) return positions(m) * (p.tiles * g.C + threads * (g.C + p.TB) * kBlock);
  return threads * positions(m) * p.TB * (g.C + kBlock);
}

namespace {

// U = G g G^T of output block ob, input channels [c0, c0 + 8), into the
// block's packed weights ub [xi][c][16] (lanes past O zero); 8 channels at
// a time, through an 8 x 8 transpose into the packed lanes.
template <int M>
inline void pack_weights(const Geom& g, const float* w, int64_t ob, int64_t c0, float* ub) {
  constexpr int NP = Wino<M>::P;
  const int64_t C = g.C, O = g.O, nc = std::min<int64_t>(8, C - c0);
  const __m256i mask = lane_mask(nc);
  alignas(32) float u[NP][kBlock][8];  // [xi][lane][channel]
  for (int64_t l = 0; l < kBlock; ++l) {
    const int64_t o = ob * kBlock + l;
    __m256 uv[NP];
    if (o < O) Wino<M>::weights(w + o * 9 * C + c0, C, mask, uv);
    else std::fill(uv, uv + NP, _mm256_setzero_ps());
    for (int xi = 0; xi < NP; ++xi) _mm256_store_ps(u[xi][l], uv[xi]);
  }
  for (int xi = 0; xi < NP; ++xi) {
    float* dst = ub + (xi * C + c0) * kBlock;
    for (int h = 0; h < 2; ++h) {
      __m256 r[8];
      for (int q = 0; q < 8; ++q) r[q] = _mm256_load_ps(u[xi][h * 8 + q]);
      transpose8(r);
      for (int q = 0; q < nc; ++q) _mm256_storeu_ps(dst + q * kBlock + 8 * h, r[q]);
    }
  }
}

// Output block ob of nt tiles from t0: the NP products of their V_xi rows
// (V + (xi * vrows + j) * C, 6 tiles at a time: the direct kernel's
// register tile) with the block's U_xi (ub) into Mb [xi][TB][16] (L1/L2),
// then Mb's output transform, + bias, into y.
template <int M>
inline void block_out(const Geom& g, const WinoPlan& P, const float* V, int64_t vrows, int64_t t0, int64_t nt,
                      const float* ub, int64_t ob, const float* bias, float* Mb, float* y) {
  constexpr int NP = Wino<M>::P;
  const int64_t C = g.C, O = g.O, TB = P.TB;
  const int nv = O - ob * kBlock >= kBlock ? 2 : 1;
  for (int xi = 0; xi < NP; ++xi) {
    const float* uxi = ub + xi * C * kBlock;
    for (int64_t j0 = 0; j0 < nt; j0 += kMaxTile) {
      const int r = int(std::min<int64_t>(kMaxTile, nt - j0));
      const float* vp[kMaxTile];
      for (int j = 0; j < r; ++j) vp[j] = V + (xi * vrows + j0 + j) * C;
      float* mt = Mb + (xi * TB + j0) * kBlock;
      if (nv == 2) tile_r<2>(r, vp, 0, uxi, 1, 1, C, nullptr, mt, kBlock);
      else tile_r<1>(r, vp, 0, uxi, 1, 1, C, nullptr, mt, kBlock);
    }
  }
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t j = 0; j < nt; ++j) {
    const auto [n, oh0, ow0] = tile_at(P, t0 + j);
    for (int v = 0; v < nv; ++v) {
      __m256 m[NP], out[M * M];
      for (int xi = 0; xi < NP; ++xi) m[xi] = _mm256_loadu_ps(Mb + (xi * TB + j) * kBlock + 8 * v);
      Wino<M>::output(m, out);
      const __m256 b = bias ? _mm256_loadu_ps(bias + ob * kBlock + 8 * v) : zero;
      for (int a = 0; a < M; ++a)
        for (int e = 0; e < M; ++e)
          if (oh0 + a < g.Ho && ow0 + e < g.Wo)
            _mm256_storeu_ps(y + ((n * g.Ho + oh0 + a) * g.Wo + ow0 + e) * O + ob * kBlock + 8 * v,
                             _mm256_add_ps(out[a * M + e], b));
    }
  }
}

template <int M>
void winograd_forward_m(const Geom& g, const float* x, const float* w, const float* bias, float* y, float* upack,
                        float* work, int64_t l2_bytes) {
  constexpr int NP = Wino<M>::P;
  const int64_t C = g.C, OB = blocks(g), CB = (C + 7) / 8;
  const int64_t T = omp_get_max_threads();
  const WinoPlan P = wino_plan(g, T, l2_bytes, M);
  const int64_t TB = P.TB;
  if (weight_stationary(g, P)) {
    float* V = work;  // [xi][tiles][C], shared
#pragma omp parallel
    {
      float* ub = work + NP * P.tiles * C + int64_t(omp_get_thread_num()) * NP * (C + TB) * kBlock;
      float* Mb = ub + NP * C * kBlock;
#pragma omp for schedule(static)
      for (int64_t t = 0; t < P.tiles; ++t) transform_input_tile<M>(g, P, x, t, t, P.tiles, V);
      // Per output block (dynamic): its weights' transform, then every tile
      // block's products and outputs.
#pragma omp for schedule(dynamic, 1)
      for (int64_t ob = 0; ob < OB; ++ob) {
        for (int64_t cb = 0; cb < CB; ++cb) pack_weights<M>(g, w, ob, cb * 8, ub);
        for (int64_t t0 = 0; t0 < P.tiles; t0 += TB)
          block_out<M>(g, P, V + t0 * C, P.tiles, t0, std::min(TB, P.tiles - t0), ub, ob, bias, Mb, y);
      }
    }
    return;
  }
#pragma omp parallel
  {
    // weights: U = G g G^T per (o, c), packed [ob][xi][c][16]
#pragma omp for schedule(static)
    for (int64_t oc = 0; oc < OB * CB; ++oc) pack_weights<M>(g, w, oc / CB, oc % CB * 8, upack + oc / CB * NP * C * kBlock);
    float* V = work + int64_t(omp_get_thread_num()) * NP * TB * (C + kBlock);  // [xi][tile][C]
    float* Mb = V + NP * TB * C;                                               // [xi][tile][16]
    // Items: a block of TB tiles (of any samples) x a range of output
    // blocks. Per item: input transform of the block into V (L2), then per
    // output block its products and outputs (block_out). Dynamic, one item
    // at a time.
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < P.items; ++it) {
      const int64_t bi = it / P.osplit, os = it % P.osplit;
      const int64_t t0 = bi * TB, nt = std::min(TB, P.tiles - t0);
      const int64_t ob0 = os * OB / P.osplit, ob1 = (os + 1) * OB / P.osplit;
      for (int64_t j = 0; j < nt; ++j) transform_input_tile<M>(g, P, x, t0 + j, j, TB, V);
      for (int64_t ob = ob0; ob < ob1; ++ob) block_out<M>(g, P, V, TB, t0, nt, upack + ob * NP * C * kBlock, ob, bias, Mb, y);
    }
  }
}

}  // namespace

void winograd_forward(const Geom& g, int m, const float* x, const float* w, const float* bias, float* y,
                      float* upack, float* work, int64_t l2_bytes) {
  if (m == 4) winograd_forward_m<4>(g, x, w, bias, y, upack, work, l2_bytes);
  else winograd_forward_m<2>(g, x, w, bias, y, upack, work, l2_bytes);
}

// ---- Winograd F(m x m, 3x3) weight gradient ----
//
// With U = G g G^T and V = B^T d B per tile, the forward is Y = A^T (U . V) A,
// so dL/dU = (A dY A^T) . V summed over tiles, and dL/dg = G^T (dL/dU) G:
// P products [C x tiles] x [tiles x O] (one per position xi) between the
// transformed inputs and the transformed output gradients, 2.25x (F(2x2))
// or 4x (F(4x4)) fewer multiplies than the direct sum over output pixels.

namespace {

// Yh = A dY A^T for one tile's 2x2 output gradients (row-major y[4]).
inline void grad_transform(const __m256 y[4], __m256 o[16]) {
  __m256 t[8];  // [a][j]: rows of A dY
  for (int j = 0; j < 2; ++j) {
    t[0 * 2 + j] = y[0 * 2 + j];
    t[1 * 2 + j] = _mm256_add_ps(y[0 * 2 + j], y[1 * 2 + j]);
    t[2 * 2 + j] = _mm256_sub_ps(y[0 * 2 + j], y[1 * 2 + j]);
    t[3 * 2 + j] = _mm256_sub_ps(_mm256_setzero_ps(), y[1 * 2 + j]);
  }
  for (int a = 0; a < 4; ++a) {
    o[a * 4 + 0] = t[a * 2 + 0];
    o[a * 4 + 1] = _mm256_add_ps(t[a * 2 + 0], t[a * 2 + 1]);
    o[a * 4 + 2] = _mm256_sub_ps(t[a * 2 + 0], t[a * 2 + 1]);
    o[a * 4 + 3] = _mm256_sub_ps(_mm256_setzero_ps(), t[a * 2 + 1]);
  }
}

// dg = G^T dU G: 16 -> 9 (row-major 3x3).
inline void weight_grad_transform(const __m256 m[16], __m256 g[9]) {
  const __m256 half = _mm256_set1_ps(0.5f);
  __m256 r[12];  // [k][b]: rows of G^T dU
  for (int b = 0; b < 4; ++b) {
    const __m256 s12 = _mm256_mul_ps(half, _mm256_add_ps(m[1 * 4 + b], m[2 * 4 + b]));
    r[0 * 4 + b] = _mm256_add_ps(m[0 * 4 + b], s12);
    r[1 * 4 + b] = _mm256_mul_ps(half, _mm256_sub_ps(m[1 * 4 + b], m[2 * 4 + b]));
    r[2 * 4 + b] = _mm256_add_ps(s12, m[3 * 4 + b]);
  }
  for (int k = 0; k < 3; ++k) {
    const __m256 s12 = _mm256_mul_ps(half, _mm256_add_ps(r[k * 4 + 1], r[k * 4 + 2]));
    g[k * 3 + 0] = _mm256_add_ps(r[k * 4 + 0], s12);
    g[k * 3 + 1] = _mm256_mul_ps(half, _mm256_sub_ps(r[k * 4 + 1], r[k * 4 + 2]));
    g[k * 3 + 2] = _mm256_add_ps(s12, r[k * 4 + 3]);
  }
}

// F(4x4): one line of A y (4 values at stride s) into 6 at stride os;
// A = (A^T)^T of the forward.
inline void a6(const __m256* y, int s, __m256* o, int os) {
  const __m256 p = _mm256_add_ps(y[0], y[2 * s]), q = _mm256_add_ps(y[s], y[3 * s]);
  const __m256 r = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), y[2 * s], y[0]);
  const __m256 t = _mm256_fmadd_ps(_mm256_set1_ps(8.0f), y[3 * s], _mm256_mul_ps(_mm256_set1_ps(2.0f), y[s]));
  o[0] = y[0];
  o[os] = _mm256_add_ps(p, q);
  o[2 * os] = _mm256_sub_ps(p, q);
  o[3 * os] = _mm256_add_ps(r, t);
  o[4 * os] = _mm256_sub_ps(r, t);
  o[5 * os] = y[3 * s];
}

// F(4x4): one line of G^T m (6 values at stride s) into 3 at stride gs.
inline void gt6(const __m256* m, int s, __m256* g, int gs) {
  const __m256 a = _mm256_add_ps(m[s], m[2 * s]), b = _mm256_sub_ps(m[s], m[2 * s]);
  const __m256 c = _mm256_add_ps(m[3 * s], m[4 * s]), d = _mm256_sub_ps(m[3 * s], m[4 * s]);
  const __m256 sixth = _mm256_set1_ps(1.0f / 6.0f);
  g[0] = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 24.0f), c,
                         _mm256_fnmadd_ps(sixth, a, _mm256_mul_ps(_mm256_set1_ps(0.25f), m[0])));
  g[gs] = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 12.0f), d, _mm256_mul_ps(_mm256_set1_ps(-1.0f / 6.0f), b));
  g[2 * gs] = _mm256_add_ps(_mm256_mul_ps(sixth, _mm256_sub_ps(c, a)), m[5 * s]);
}

// The weight gradient's transforms per tile: Yh = A dY A^T (M x M -> P)
// and dg = G^T dU G (P -> 9).
template <int M>
struct WinoGrad;

template <>
struct WinoGrad<2> {
  static void grad(const __m256 y[4], __m256 o[16]) { grad_transform(y, o); }
  static void weights(const __m256 m[16], __m256 g[9]) { weight_grad_transform(m, g); }
};

template <>
struct WinoGrad<4> {
  static void grad(const __m256 y[16], __m256 o[36]) {
    __m256 t[24];  // [a][j]: A dY, 6 x 4
    for (int j = 0; j < 4; ++j) a6(y + j, 4, t + j, 4);
    for (int a = 0; a < 6; ++a) a6(t + 4 * a, 1, o + 6 * a, 1);
  }
  static void weights(const __m256 m[36], __m256 g[9]) {
    __m256 r[18];  // [k][b]: G^T dU, 3 x 6
    for (int b = 0; b < 6; ++b) gt6(m + b, 6, r + b, 6);
    for (int k = 0; k < 3; ++k) gt6(r + 6 * k, 1, g + 3 * k, 1);
  }
};

// m[j][16 lanes] += sum over k < nt of v[k*ldv + j] * yh[k*ldy + lanes] for
// R rows (input channels) and NV vectors of output channels: the tile
// kernel's register block, with the reduction running over tiles.
template <int R, int NV>
inline void wgrad_tile(const float* v, int64_t ldv, const float* yh, int64_t ldy, int64_t nt, float* m, int64_t ldm) {
  __m256 acc[R][NV];
#pragma GCC unroll 6
  for (int j = 0; j < R; ++j)
#pragma GCC unroll 2
    for (int q = 0; q < NV; ++q) acc[j][q] = _mm256_loadu_ps(m + j * ldm + 8 * q);
#pragma GCC unroll 2
  for (int64_t k = 0; k < nt; ++k) {
    __m256 w[NV];
#pragma GCC unroll 2
    for (int q = 0; q < NV; ++q) w[q] = _mm256_loadu_ps(yh + k * ldy + 8 * q);
#pragma GCC unroll 6
    for (int j = 0; j < R; ++j) {
      const __m256 b = _mm256_broadcast_ss(v + k * ldv + j);
#pragma GCC unroll 2
      for (int q = 0; q < NV; ++q) acc[j][q] = _mm256_fmadd_ps(b, w[q], acc[j][q]);
    }
  }
#pragma GCC unroll 6
  for (int j = 0; j < R; ++j)
#pragma GCC unroll 2
    for (int q = 0; q < NV; ++q) _mm256_storeu_ps(m + j * ldm + 8 * q, acc[j][q]);
}

template <int NV>
void wgrad_tile_r(int r, const float* v, int64_t ldv, const float* yh, int64_t ldy, int64_t nt, float* m,
                  int64_t ldm) {
  switch (r) {
    case 1: return wgrad_tile<1, NV>(v, ldv, yh, ldy, nt, m, ldm);
    case 2: return wgrad_tile<2, NV>(v, ldv, yh, ldy, nt, m, ldm);
    case 3: return wgrad_tile<3, NV>(v, ldv, yh, ldy, nt, m, ldm);
    case 4: return wgrad_tile<4, NV>(v, ldv, yh, ldy, nt, m, ldm);
    case 5: return wgrad_tile<5, NV>(v, ldv, yh, ldy, nt, m, ldm);
    default: return wgrad_tile<6, NV>(v, ldv, yh, ldy, nt, m, ldm);
  }
}

// Two schedules. Small dU (16 x C x O floats, the 16-64 channel layers):
// kSlots fixed slots, each summing every kSlots-th block of tiles into its
// own dU on one thread, no barrier until the slots are added in order (at 16
// channels a block's work is tens of microseconds, less than a barrier with
// passive waits). Large dU: one dU, each block's transforms and products
// split over all threads with two barriers per block. Either way the sums
// run in an order the thread count does not change.
constexpr int64_t kSlots = 8;

bool wgrad_slots(const Geom& g, int64_t positions) {
  const int64_t O16 = blocks(g) * kBlock;
  return kSlots * positions * g.C * O16 * int64_t(sizeof(float)) <= (int64_t(8) << 20);
}

// Tiles per block: the block's transformed inputs and gradients
// (P x TB x (C + O) floats) in half the L2 (slots: each thread's own) or
// in about twice the L2 (shared blocks: fewer blocks, fewer barriers; ran
// 1.2-2x faster than half the L2 there), 48..1024 tiles.
int64_t wgrad_tiles(const Geom& g, int64_t positions, int64_t l2_bytes) {
  const int64_t per_tile = positions * (g.C + blocks(g) * kBlock) * int64_t(sizeof(float));
  const int64_t budget = wgrad_slots(g, positions) ? l2_bytes / 2 : 2 * l2_bytes;
  return std::clamp<int64_t>(budget / per_tile / 8 * 8, 48, 1024);
}

// Transforms of tile t into row j of V [xi][TB][C] and Yh [xi][TB][O16].
template <int M>
inline void wgrad_transform_tile(const Geom& g, const WinoPlan& P, const float* x, const float* dy, int64_t t,
                                 int64_t j, int64_t TB, float* V, float* Yh) {
  constexpr int NP = Wino<M>::P;
  const int64_t O = g.O, O16 = blocks(g) * kBlock;
  transform_input_tile<M>(g, P, x, t, j, TB, V);
  const auto [n, oh0, ow0] = tile_at(P, t);
  const float* gy[M * M];
  for (int a = 0; a < M; ++a)
    for (int e = 0; e < M; ++e)
      gy[a * M + e] = oh0 + a < g.Ho && ow0 + e < g.Wo ? dy + ((n * g.Ho + oh0 + a) * g.Wo + ow0 + e) * O : nullptr;
  for (int64_t o = 0; o < O16; o += 8) {
    __m256 yv[M * M], yh[NP];
    for (int e = 0; e < M * M; ++e) yv[e] = gy[e] && o < O ? _mm256_loadu_ps(gy[e] + o) : _mm256_setzero_ps();
    WinoGrad<M>::grad(yv, yh);
    for (int xi = 0; xi < NP; ++xi) _mm256_storeu_ps(Yh + (xi * TB + j) * O16 + o, yh[xi]);
  }
}

// dU_xi[c][o] (Md) += sum over a block's nt tiles of V_xi[t][c] Yh_xi[t][o], for one (xi, output block).
inline void wgrad_products(const Geom& g, int64_t xi, int64_t ob, const float* V, const float* Yh, int64_t TB,
                           int64_t nt, float* Md) {
  const int64_t C = g.C, O16 = blocks(g) * kBlock;
  const float* yb = Yh + xi * TB * O16 + ob * kBlock;
  const float* vb = V + xi * TB * C;
  const int nv = g.O - ob * kBlock >= kBlock ? 2 : 1;
  for (int64_t c0 = 0; c0 < C; c0 += kMaxTile) {
    const int rr = int(std::min<int64_t>(kMaxTile, C - c0));
    float* mt = Md + (xi * C + c0) * O16 + ob * kBlock;
    if (nv == 2) wgrad_tile_r<2>(rr, vb + c0, C, yb, O16, nt, mt, O16);
    else wgrad_tile_r<1>(rr, vb + c0, C, yb, O16, nt, mt, O16);
  }
}

template <int M>
void backward_weights_m(const Geom& g, const float* x, const float* dy, float* dw, float* work, int64_t l2_bytes) {
  constexpr int NP = Wino<M>::P;
  const int64_t C = g.C, O = g.O, OB = blocks(g), O16 = OB * kBlock, dU = NP * C * O16;
  const WinoPlan P = wino_plan(g, 1, l2_bytes, M);
  const int64_t TB = wgrad_tiles(g, NP, l2_bytes), nblocks = (P.tiles + TB - 1) / TB;
  const bool slots = wgrad_slots(g, NP);
  float* Md = work;  // [xi][c][O16]: dL/dU (slots: kSlots of them)
  float* blockbuf = Md + (slots ? kSlots : 1) * dU;
#pragma omp parallel
  {
    if (slots) {
      float* V = blockbuf + int64_t(omp_get_thread_num()) * NP * TB * (C + O16);  // this thread's block
      float* Yh = V + NP * TB * C;
#pragma omp for schedule(dynamic, 1)
      for (int64_t sl = 0; sl < kSlots; ++sl) {
        float* Ms = Md + sl * dU;
        std::memset(Ms, 0, size_t(dU) * sizeof(float));
        for (int64_t b = sl; b < nblocks; b += kSlots) {
          const int64_t t0 = b * TB, nt = std::min(TB, P.tiles - t0);
          for (int64_t j = 0; j < nt; ++j) wgrad_transform_tile<M>(g, P, x, dy, t0 + j, j, TB, V, Yh);
          for (int64_t it = 0; it < NP * OB; ++it) wgrad_products(g, it / OB, it % OB, V, Yh, TB, nt, Ms);
        }
      }
      // the slots' sums, added in slot order into the first
#pragma omp for schedule(static)
      for (int64_t i = 0; i < dU; ++i) {
        float v = Md[i];
        for (int64_t sl = 1; sl < kSlots; ++sl) v += Md[sl * dU + i];
        Md[i] = v;
      }
    } else {
      float* V = blockbuf;  // the shared block: [xi][TB][C] inputs, then [xi][TB][O16] gradients
      float* Yh = V + NP * TB * C;
#pragma omp for schedule(static)
      for (int64_t i = 0; i < dU; ++i) Md[i] = 0.0f;
      for (int64_t b = 0; b < nblocks; ++b) {
        const int64_t t0 = b * TB, nt = std::min(TB, P.tiles - t0);
#pragma omp for schedule(static)
        for (int64_t j = 0; j < nt; ++j) wgrad_transform_tile<M>(g, P, x, dy, t0 + j, j, TB, V, Yh);
        // one item per (xi, output block)
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < NP * OB; ++it) wgrad_products(g, it / OB, it % OB, V, Yh, TB, nt, Md);
      }
    }
    // dw[o][kh][kw][c] = (G^T dU G)[kh][kw] for 8 output channels at a time
#pragma omp for schedule(static)
    for (int64_t co = 0; co < C * (O / 8); ++co) {
      const int64_t c = co / (O / 8), o = co % (O / 8) * 8;
      __m256 m[NP], gw[9];
      for (int xi = 0; xi < NP; ++xi) m[xi] = _mm256_loadu_ps(Md + (xi * C + c) * O16 + o);
      WinoGrad<M>::weights(m, gw);
      alignas(32) float out[9][8];
      for (int k = 0; k < 9; ++k) _mm256_store_ps(out[k], gw[k]);
      for (int q = 0; q < 8; ++q)
        for (int k = 0; k < 9; ++k) dw[((o + q) * 9 + k) * C + c] = out[k][q];
    }
  }
}

}  // namespace

int64_t winograd_wgrad_work_floats(const Geom& g, int m, int64_t threads, int64_t l2_bytes) {
  const int64_t NP = positions(m);
  const int64_t TB = wgrad_tiles(g, NP, l2_bytes), O16 = blocks(g) * kBlock, dU = NP * g.C * O16;
  const int64_t block = NP * TB * (g.C + O16);
  return wgrad_slots(g, NP) ? kSlots * dU + threads * block : dU + block;
}

void winograd_backward_weights(const Geom& g, int m, const float* x, const float* dy, float* dw, float* work,
                               int64_t l2_bytes) {
  if (m == 4) backward_weights_m<4>(g, x, dy, dw, work, l2_bytes);
  else backward_weights_m<2>(g, x, dy, dw, work, l2_bytes);
}

}  // namespace senet::cpu::dconv
