// Column reductions: per-channel sums over the rows of [G][rows][C] arrays
// (NHWC with rows = pixels). Used by the SE squeeze and its backward's ds,
// batch-norm statistics, global average pooling, bias gradients.
//
// Two kernels (index.h: ColumnPlan): partials per (group, row chunk, tile
// of 128 channels), then their sum in chunk order. Each thread accumulates
// 4 channels over every 8th row of its chunk in fp32; the 8 row groups of a
// block are added in order. The cut depends only on the shape and the SM
// count, so results are bit-reproducible on a given GPU.
#pragma once

#include "cuda/kernel_util.cuh"

namespace senet::cuda {

// Load(g, row, c0, v): NV values for channels c0..c0+3 of row `row` of group g
// (zeros past C).
template <int NV, class Load>
__global__ void __launch_bounds__(ix::kReduceThreads)
    column_partials_kernel(Load ld, ix::ColumnPlan plan, int64_t G, int64_t rows, int64_t C, float* __restrict__ part) {
  const ix::ColumnBlock cb = ix::column_block(blockIdx.x, plan);
  const int lane = threadIdx.x & 31, ry = threadIdx.x >> 5;
  const int64_t c0 = cb.tile * ix::kTileC + lane * 4;
  const int64_t r0 = ix::chunk_begin(cb.q, plan.Q, rows), r1 = ix::chunk_begin(cb.q + 1, plan.Q, rows);
  float acc[NV][4];
#pragma unroll
  for (int v = 0; v < NV; ++v)
#pragma unroll
    for (int k = 0; k < 4; ++k) acc[v][k] = 0.0f;
  if (c0 < C) {
    for (int64_t r = r0 + ry; r < r1; r += ix::kRowGroups) {
      float x[NV][4];
      ld(cb.g, r, c0, x);
#pragma unroll
      for (int v = 0; v < NV; ++v)
#pragma unroll
        for (int k = 0; k < 4; ++k) acc[v][k] += x[v][k];
    }
  }
  __shared__ float sm[NV][ix::kRowGroups][ix::kTileC];
#pragma unroll
  for (int v = 0; v < NV; ++v)
#pragma unroll
    for (int k = 0; k < 4; ++k) sm[v][ry][lane * 4 + k] = acc[v][k];
  __syncthreads();
  for (int t = threadIdx.x; t < NV * ix::kTileC; t += blockDim.x) {
    const int v = t / ix::kTileC, cc = t % ix::kTileC;
    const int64_t c = cb.tile * ix::kTileC + cc;
    if (c >= C) continue;
    float s = 0.0f;
#pragma unroll
    for (int y = 0; y < ix::kRowGroups; ++y) s += sm[v][y][cc];
    part[((int64_t(v) * G + cb.g) * plan.Q + cb.q) * C + c] = s;
  }
}

// out[(v*G + g)*C + c] = scale * sum over chunks q (in order) of the partials.
// (A template so that each translation unit has its own instance.)
template <class = void>
__global__ void column_combine_kernel(const float* __restrict__ part, int64_t VG, int64_t Q, int64_t C, float scale,
                                      float* __restrict__ out) {
  const int64_t n = VG * C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t vg = i / C, c = i % C;
    const float* p = part + vg * Q * C + c;
    float s = 0.0f;
    for (int64_t q = 0; q < Q; ++q) s += p[q * C];
    out[i] = s * scale;
  }
}

// Launches both kernels: out gets NV*G*C floats. part: scratch of NV*G*Q*C floats
// (allocated inside). Throws on launch errors.
template <int NV, class Load>
void column_sums_launch(const Load& ld, int64_t G, int64_t rows, int64_t C, float scale, float* out, int device,
                        cudaStream_t stream, int sm_count, const char* op);

}  // namespace senet::cuda

#include "cuda/allocator.h"

namespace senet::cuda {

template <int NV, class Load>
void column_sums_launch(const Load& ld, int64_t G, int64_t rows, int64_t C, float scale, float* out, int device,
                        cudaStream_t stream, int sm_count, const char* op) {
  const ix::ColumnPlan plan = ix::column_plan(G, rows, C, sm_count);
  Scratch part(device, size_t(NV) * size_t(G * plan.Q * C) * sizeof(float), op);
  column_partials_kernel<NV, Load><<<unsigned(G * plan.blocks()), ix::kReduceThreads, 0, stream>>>(
      ld, plan, G, rows, C, part.get<float>());
  check_launch(op, "column_partials_kernel");
  const int64_t n = int64_t(NV) * G * C;
  column_combine_kernel<><<<grid_for(n, 256), 256, 0, stream>>>(part.get<float>(), int64_t(NV) * G, plan.Q, C, scale, out);
  check_launch(op, "column_combine_kernel");
}

// Loads of one tensor [G][rows][C] (T float or bf16).
template <class T>
struct PlainLoad {
  const T* x;
  int64_t rows, C;
  bool vec;
  __device__ void operator()(int64_t g, int64_t r, int64_t c0, float (&v)[1][4]) const {
    load4(x + (g * rows + r) * C, c0, C, vec, v[0]);
  }
};

}  // namespace senet::cuda
