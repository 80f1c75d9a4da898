// Index arithmetic of the CUDA kernels, host-callable (SENET_HD) so that the
// CPU build checks it too (native/cuda/host_checks.cc, _cudaHostChecks()):
// how a kernel cuts its work, which elements a thread touches, and the
// arithmetic the results must match bit for bit (Philox streams, mask bits).
// Plain C++ without CUDA headers.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/philox.h"

namespace senet::cuda::ix {

// ---- column reductions (reduce.cuh): sums over rows per channel of [G][rows][C]
//
// A block of 256 threads covers a tile of 128 channels (32 lanes x 4
// consecutive channels) of one group g and one chunk q of its rows; its 8
// warps take rows r0 + w, r0 + w + 8, ... The Q chunks of a group are
// combined in chunk order by a second kernel: fixed order, so results do not
// depend on timing.
constexpr int kTileC = 128;
constexpr int kReduceThreads = 256;
constexpr int kRowGroups = kReduceThreads / 32;

struct ColumnPlan {
  int64_t tiles;  // ceil(C / 128)
  int64_t Q;      // row chunks per group
  int64_t blocks() const { return tiles * Q; }
};

// Enough blocks to fill the GPU (8 blocks of 256 threads per SM, twice),
// each chunk at least 32 rows (4 per warp) so partials stay few.
SENET_HD ColumnPlan column_plan(int64_t G, int64_t rows, int64_t C, int sm_count) {
  ColumnPlan p;
  p.tiles = (C + kTileC - 1) / kTileC;
  const int64_t want = int64_t(sm_count > 0 ? sm_count : 1) * 16;
  const int64_t base = G * p.tiles;
  int64_t q = base >= want ? 1 : (want + base - 1) / base;
  const int64_t max_q = rows / 32 > 1 ? rows / 32 : 1;
  if (q > max_q) q = max_q;
  p.Q = q < 1 ? 1 : q;
  return p;
}

// Rows [begin, end) of chunk q of Q over `rows` rows (the CPU's unit_of cut).
SENET_HD int64_t chunk_begin(int64_t q, int64_t Q, int64_t rows) { return q * rows / Q; }

// Block b of a column reduction -> (group, chunk, tile).
struct ColumnBlock {
  int64_t g, q, tile;
};
SENET_HD ColumnBlock column_block(int64_t b, const ColumnPlan& p) {
  ColumnBlock r;
  r.tile = b % p.tiles;
  const int64_t gq = b / p.tiles;
  r.q = gq % p.Q;
  r.g = gq / p.Q;
  return r;
}

// ---- the SE mask: one bit per element of y > 0, rows of ceil(C/8) bytes
// (the CPU's layout, native/cpu/se.h). The elementwise SE kernels give each
// thread one byte: 8 consecutive channels of one pixel row.
SENET_HD int64_t mask_row_bytes(int64_t C) { return (C + 7) / 8; }

struct ByteGroup {
  int64_t row, n, p, c0, c1;  // pixel row (n*HW + p), sample, position, channels [c0, c1)
};
SENET_HD ByteGroup byte_group(int64_t i, int64_t HW, int64_t C) {
  const int64_t G = mask_row_bytes(C);
  ByteGroup b;
  b.row = i / G;
  const int64_t g = i % G;
  b.n = b.row / HW;
  b.p = b.row % HW;
  b.c0 = g * 8;
  b.c1 = b.c0 + 8 < C ? b.c0 + 8 : C;
  return b;
}
// The byte of `mask` holding channel c of pixel row `row`, and its bit.
SENET_HD int64_t mask_byte(int64_t row, int64_t c, int64_t C) { return row * mask_row_bytes(C) + (c >> 3); }
SENET_HD int mask_bit(int64_t c) { return int(c & 7); }

// ---- the SE excitation kernels: NB samples per block, so each MLP weight
// is read once per NB samples.
constexpr int kSeSamplesPerBlock = 8;
// Backward dh = W2^T dpre: thread t of T takes j = t % D and the slice
// `part` = t / D of the channels (parts = T / D when D < T).
SENET_HD int64_t dh_parts(int64_t D, int64_t threads) { return D >= threads ? 1 : threads / D; }
SENET_HD int64_t slice_begin(int64_t part, int64_t parts, int64_t C) { return part * C / parts; }

// ---- pooling windows (NHWC, floor mode): output o covers inputs
// [o*s - pad, o*s - pad + k) clipped to [0, in).
struct Window {
  int64_t begin, end;  // clipped
  int64_t padded;      // size of the window clipped to the padded input (PyTorch's include-pad divisor)
};
SENET_HD Window pool_window(int64_t o, int64_t k, int64_t s, int64_t pad, int64_t in, int64_t pad_hi) {
  Window w;
  const int64_t lo = o * s - pad;
  const int64_t hi = lo + k;
  w.begin = lo < 0 ? 0 : lo;
  w.end = hi > in ? in : hi;
  const int64_t phi = hi > in + pad_hi ? in + pad_hi : hi;
  w.padded = phi - lo;
  return w;
}
// Coordinates of flat NHWC index i in a [., H, W, C] tensor (grid-stride
// elementwise kernels: pooling forward over outputs, backward over inputs).
struct Nhwc {
  int64_t n, h, w, c;
};
SENET_HD Nhwc nhwc_coords(int64_t i, int64_t H, int64_t W, int64_t C) {
  Nhwc p;
  p.c = i % C;
  int64_t r = i / C;
  p.w = r % W;
  r /= W;
  p.h = r % H;
  p.n = r / H;
  return p;
}
// Outputs whose windows contain input i: [first, last] (empty when first > last).
struct Covering {
  int64_t first, last;
};
SENET_HD Covering pool_covering(int64_t i, int64_t k, int64_t s, int64_t pad, int64_t out) {
  // o covers i  <=>  o*s - pad <= i < o*s - pad + k  <=>  (i + pad - k)/s < o <= (i + pad)/s
  const int64_t a = i + pad - k + 1;  // o*s >= a
  Covering c;
  c.first = a <= 0 ? 0 : (a + s - 1) / s;
  const int64_t b = i + pad;  // o*s <= b
  c.last = b < 0 ? -1 : b / s;
  if (c.last > out - 1) c.last = out - 1;
  return c;
}

// ---- Philox fills: element e is word e % 4 of block e / 4 (counter = block
// index, key = seed), as native/cpu/randn.cc.
SENET_HD void randn_block(uint64_t seed, int64_t b, double mean, double sd, float out[4]) {
  const Philox4 r = philox4x32_10(uint32_t(b), uint32_t(uint64_t(b) >> 32), 0x5e4e7u, 0, uint32_t(seed),
                                  uint32_t(seed >> 32));
  for (int j = 0; j < 4; j += 2) {
    const double u1 = uniform_open0(r.v[j]);
    const double u2 = uniform_open0(r.v[j + 1]);
    const double rad = sqrt(-2.0 * log(u1));
    const double th = 6.283185307179586 * u2;
    out[j] = float(mean + sd * (rad * cos(th)));
    out[j + 1] = float(mean + sd * (rad * sin(th)));
  }
}
SENET_HD void randu_block(uint64_t seed, int64_t b, double lo, double hi, float out[4]) {
  const Philox4 r = philox4x32_10(uint32_t(b), uint32_t(uint64_t(b) >> 32), 0x7a3d1u, 0, uint32_t(seed),
                                  uint32_t(seed >> 32));
  for (int j = 0; j < 4; ++j) out[j] = float(lo + (hi - lo) * (double(r.v[j] >> 8) * (1.0 / 16777216.0)));
}

// ---- bfloat16: round to nearest even (as __float2bfloat16_rn); NaN stays a (quiet) NaN.
SENET_HD uint16_t bf16_from_float_bits(uint32_t x) {
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);
  const uint32_t bias = 0x7fffu + ((x >> 16) & 1u);
  return uint16_t((x + bias) >> 16);
}
SENET_HD uint32_t bf16_to_float_bits(uint16_t h) { return uint32_t(h) << 16; }

// ---- SGD: the fused kernel walks a table of (tensor, first element) chunks.
constexpr int64_t kSgdChunk = 1 << 14;

}  // namespace senet::cuda::ix
