// Data movement: transpose (any permutation), tile and constant padding.
// Float32; the TensorFlow.js backend uses them for its Transpose, Tile and
// PadV2 kernels and to turn tfjs's HWIO filters into our OHWI ones.
//
// A transpose drops size-1 dims and merges dims that stay neighbours in the
// same order, so most permutations become a 2-D transpose (done in cache
// tiles) or a copy of contiguous rows.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/stream.h"
#include "cpu/ops.h"

namespace senet::cpu {
namespace {

constexpr int64_t kParallelMin = 1 << 15;

struct Perm {
  std::vector<int64_t> in;   // input dims after merging
  std::vector<int64_t> out;  // output dims
  std::vector<int64_t> src;  // for each output dim, its input stride
};

Perm simplify(const Shape& shape, const std::vector<int64_t>& perm) {
  // Input dims > 1 and their new numbering.
  std::vector<int64_t> keep_index(shape.size(), -1);
  std::vector<int64_t> dims;
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] != 1) {
      keep_index[i] = int64_t(dims.size());
      dims.push_back(shape[i]);
    }
  std::vector<int64_t> p;
  for (auto d : perm)
    if (keep_index[size_t(d)] >= 0) p.push_back(keep_index[size_t(d)]);
  // Groups of consecutive input dims that stay consecutive in the output.
  std::vector<std::pair<int64_t, int64_t>> groups;  // [first input dim, last input dim] in output order
  for (auto d : p) {
    if (!groups.empty() && groups.back().second + 1 == d) groups.back().second = d;
    else groups.emplace_back(d, d);
  }
  // The merged input: groups sorted by their first input dim.
  std::vector<size_t> order(groups.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return groups[a].first < groups[b].first; });
  Perm r;
  std::vector<int64_t> gsize(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    int64_t s = 1;
    for (int64_t d = groups[g].first; d <= groups[g].second; ++d) s *= dims[size_t(d)];
    gsize[g] = s;
  }
  std::vector<int64_t> gstride(groups.size());
  int64_t acc = 1;
  for (size_t k = order.size(); k-- > 0;) {
    gstride[order[k]] = acc;
    acc *= gsize[order[k]];
  }
  for (size_t k = 0; k < order.size(); ++k) r.in.push_back(gsize[order[k]]);
  for (size_t g = 0; g < groups.size(); ++g) {
    r.out.push_back(gsize[g]);
    r.src.push_back(gstride[g]);
  }
  return r;
}

// y [C, R] = x [R, C]^T, in tiles.
void transpose2d(const float* x, float* y, int64_t R, int64_t C) {
  constexpr int64_t B = 32;
  const int64_t tr = (R + B - 1) / B, tc = (C + B - 1) / B;
#pragma omp parallel for collapse(2) schedule(static) if (R * C > kParallelMin)
  for (int64_t bi = 0; bi < tr; ++bi)
    for (int64_t bj = 0; bj < tc; ++bj) {
      const int64_t r1 = std::min(R, (bi + 1) * B), c1 = std::min(C, (bj + 1) * B);
      for (int64_t r = bi * B; r < r1; ++r)
        for (int64_t c = bj * B; c < c1; ++c) y[c * R + r] = x[r * C + c];
    }
}

// Batched: y [K, C, R] = x [K, R, C] with each [R, C] transposed.
void transpose_general(const float* x, float* y, const Perm& p) {
  const size_t r = p.out.size();
  const int64_t n = p.out[r - 1], s = p.src[r - 1];
  int64_t outer = 1;
  for (size_t i = 0; i + 1 < r; ++i) outer *= p.out[i];
#pragma omp parallel for schedule(static) if (outer * n > kParallelMin)
  for (int64_t row = 0; row < outer; ++row) {
    int64_t rem = row, off = 0;
    for (size_t i = r - 1; i-- > 0;) {
      off += (rem % p.out[i]) * p.src[i];
      rem /= p.out[i];
    }
    float* o = y + row * n;
    const float* in = x + off;
    if (s == 1) std::memcpy(o, in, size_t(n) * sizeof(float));
    else
      for (int64_t j = 0; j < n; ++j) o[j] = in[j * s];
  }
}

}  // namespace

Tensor transpose(const Tensor& x, const std::vector<int64_t>& perm) {
  const char* op = "transpose";
  Shape ys(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) ys[i] = x.shape[size_t(perm[i])];
  Tensor y = empty_tensor(ys, DType::F32, x.device(), op);
  const int64_t n = x.numel();
  if (n == 0) return y;
  const Perm p = simplify(x.shape, perm);
  CpuStream::get().enqueue(op, [x, y, p, n] {
    const float* in = x.f32();
    float* out = y.f32();
    if (p.out.size() <= 1) std::memcpy(out, in, size_t(n) * sizeof(float));
    else if (p.out.size() == 2) transpose2d(in, out, p.in[0], p.in[1]);
    else transpose_general(in, out, p);
  });
  return y;
}

namespace {

// Level by level from the innermost axis: each input block is written once,
// then its copies along the axis are memcpys of the whole output block, so
// a small tensor broadcast to a large one costs a few large copies.
void tile_level(const float* in, float* out, const Shape& xs, const std::vector<int64_t>& reps,
                const std::vector<int64_t>& xstride, const std::vector<int64_t>& ostride, size_t level) {
  const int64_t d = xs[level];
  if (level + 1 == xs.size()) {
    std::memcpy(out, in, size_t(d) * sizeof(float));
  } else {
    for (int64_t i = 0; i < d; ++i)
      tile_level(in + i * xstride[level], out + i * ostride[level], xs, reps, xstride, ostride, level + 1);
  }
  const int64_t block = d * ostride[level];
  for (int64_t k = 1; k < reps[level]; ++k) std::memcpy(out + k * block, out, size_t(block) * sizeof(float));
}

}  // namespace

Tensor tile(const Tensor& x, const std::vector<int64_t>& reps) {
  const char* op = "tile";
  const size_t r = x.shape.size();
  Shape ys(r);
  for (size_t i = 0; i < r; ++i) ys[i] = x.shape[i] * reps[i];
  Tensor y = empty_tensor(ys, DType::F32, x.device(), op);
  if (y.numel() == 0) return y;
  if (r == 0) {
    CpuStream::get().enqueue(op, [x, y] { y.f32()[0] = x.f32()[0]; });
    return y;
  }
  CpuStream::get().enqueue(op, [x, y, ys, reps, r] {
    std::vector<int64_t> xstride(r, 1), ostride(r, 1);
    for (size_t i = r - 1; i-- > 0;) {
      xstride[i] = xstride[i + 1] * x.shape[i + 1];
      ostride[i] = ostride[i + 1] * ys[i + 1];
    }
    const float* in = x.f32();
    float* out = y.f32();
    // The outermost axis in parallel: each thread builds and copies its share of the blocks.
    const int64_t d0 = x.shape[0], n0 = d0 * reps[0];
    if (r == 1 || n0 == 1) {
      tile_level(in, out, x.shape, reps, xstride, ostride, 0);
      return;
    }
#pragma omp parallel for schedule(static) if (y.numel() > kParallelMin)
    for (int64_t j = 0; j < n0; ++j) {
      const int64_t i = j % d0;
      std::vector<int64_t> one = reps;
      one[0] = 1;
      Shape xs1 = x.shape;
      xs1[0] = 1;
      tile_level(in + i * xstride[0], out + j * ostride[0], xs1, one, xstride, ostride, 0);
    }
  });
  return y;
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& before, const std::vector<int64_t>& after, float value) {
  const char* op = "pad";
  const size_t r = x.shape.size();
  Shape ys(r);
  for (size_t i = 0; i < r; ++i) ys[i] = before[i] + x.shape[i] + after[i];
  Tensor y = empty_tensor(ys, DType::F32, x.device(), op);
  const int64_t yn = y.numel();
  if (yn == 0) return y;
  if (r == 0) {
    CpuStream::get().enqueue(op, [x, y] { y.f32()[0] = x.f32()[0]; });
    return y;
  }
  // Unpadded trailing dims merge into the one before them: padding H and W
  // of NHWC copies rows of W*C floats, not one pixel of C at a time.
  Shape xs = x.shape, ysm = ys;
  std::vector<int64_t> bm = before;
  size_t j = r - 1;
  while (j > 0 && before[j] == 0 && after[j] == 0) --j;
  if (j < r - 1) {
    int64_t tail = 1;
    for (size_t i = j + 1; i < r; ++i) tail *= x.shape[i];
    xs.resize(j + 1);
    ysm.resize(j + 1);
    bm.resize(j + 1);
    xs[j] *= tail;
    ysm[j] *= tail;
    bm[j] *= tail;
  }
  CpuStream::get().enqueue(op, [x, y, xs, ys = ysm, before = bm, yn, value] {
    const size_t r = xs.size();
    float* out = y.f32();
#pragma omp parallel for schedule(static) if (yn > kParallelMin)
    for (int64_t i = 0; i < yn; ++i) out[i] = value;
    const int64_t xn = x.numel();
    if (xn == 0) return;
    const int64_t inner = xs[r - 1], outer = xn / inner;
    std::vector<int64_t> ystride(r, 1);
    for (size_t i = r - 1; i-- > 0;) ystride[i] = ystride[i + 1] * ys[i + 1];
    const float* in = x.f32();
#pragma omp parallel for schedule(static) if (xn > kParallelMin)
    for (int64_t row = 0; row < outer; ++row) {
      int64_t rem = row, off = before[r - 1];
      for (size_t i = r - 1; i-- > 0;) {
        off += (rem % xs[i] + before[i]) * ystride[i];
        rem /= xs[i];
      }
      std::memcpy(out + off, in + row * inner, size_t(inner) * sizeof(float));
    }
  });
  return y;
}

Tensor slice(const Tensor& x, const std::vector<int64_t>& begin, const std::vector<int64_t>& size,
             const std::vector<int64_t>& strides) {
  const char* op = "slice";
  const size_t r = x.shape.size();
  Tensor y = empty_tensor(Shape(size.begin(), size.end()), DType::F32, x.device(), op);
  const int64_t yn = y.numel();
  if (yn == 0) return y;
  if (r == 0) {
    CpuStream::get().enqueue(op, [x, y] { y.f32()[0] = x.f32()[0]; });
    return y;
  }
  CpuStream::get().enqueue(op, [x, y, begin, size, strides, r, yn] {
    std::vector<int64_t> xstride(r, 1);
    for (size_t i = r - 1; i-- > 0;) xstride[i] = xstride[i + 1] * x.shape[i + 1];
    const int64_t inner = size[r - 1], outer = yn / inner, s_in = strides[r - 1];
    const float* in = x.f32();
    float* out = y.f32();
#pragma omp parallel for schedule(static) if (yn > kParallelMin)
    for (int64_t row = 0; row < outer; ++row) {
      int64_t rem = row, off = begin[r - 1];
      for (size_t i = r - 1; i-- > 0;) {
        off += (begin[i] + (rem % size[i]) * strides[i]) * xstride[i];
        rem /= size[i];
      }
      float* o = out + row * inner;
      const float* p = in + off;
      if (s_in == 1) std::memcpy(o, p, size_t(inner) * sizeof(float));
      else
        for (int64_t j = 0; j < inner; ++j) o[j] = p[j * s_in];
    }
  });
  return y;
}

}  // namespace senet::cpu
