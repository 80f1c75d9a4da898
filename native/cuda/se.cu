// The fused squeeze-excite op on CUDA (float32 or bfloat16 activations; the
// SE state s, z, a, every reduction and the MLP in float32). Same outputs,
// saved state and semantics as the CPU kernel (native/cpu/se_kernel.inl):
// s, z, a, argmax (first maximum; int32), and with a shortcut the 1-bit mask
// of y > 0 in rows of ceil(C/8) bytes per pixel.
//
// Forward: three kernels, U read twice, R and y once each.
//   squeeze   avg: a column reduction per sample (reduce.cuh), partials per
//             (sample, row chunk, 128-channel tile), combined in order and
//             scaled by fl(1/HW) straight into z. max: the same cut with
//             (value, row) pairs; pairs are ordered by value (NaN highest),
//             then smallest row, so the result is the first maximum
//             whatever the combination order.
//   excite    one small kernel, 8 samples per block so each weight is read
//             once per 8 samples: a = relu(W1 z + b1) (a warp per hidden
//             unit, lanes over channels), s = gate(W2 a + b2) (a thread per
//             channel).
//   scale     y = U*s (+R, mask bit, ReLU), a thread per 8 channels of a
//             pixel (one mask byte; 16/32-byte accesses when C % 8 == 0).
// Backward: two passes over the big tensors (DESIGN.md).
//   ds        column reduction of g*U, g = dy*[mask] (d shortcut)
//   excite    dpre = ds * gate'(s); dh = (W2^T dpre) [a > 0] (threads split
//             over (hidden unit, slice of channels)); dzs = W1^T dh (/HW)
//   du        dR = g; dU = g*s + dzs (avg) or dzs at the argmax (max)
//   params    dW2 = dpre^T a, db2, dW1 = dh^T z, db1: sums over n in order.
// Every sum has a fixed order: results are reproducible run to run.
#include <cmath>

#include "cuda/allocator.h"
#include "cuda/ops.h"
#include "cuda/reduce.cuh"
#include "cuda/stream.h"

namespace senet::cuda {
namespace {

constexpr int NB = ix::kSeSamplesPerBlock;
constexpr int kThreads = 256;

__device__ __forceinline__ float gate_fn(int g, float x) {
  switch (g) {
    case int(SeGate::Sigmoid): return 1.0f / (1.0f + expf(-x));
    case int(SeGate::Tanh): return tanhf(x);
    default: return x > 0.0f ? x : 0.0f;
  }
}
__device__ __forceinline__ float gate_grad(int g, float s) {
  switch (g) {
    case int(SeGate::Sigmoid): return s * (1.0f - s);
    case int(SeGate::Tanh): return 1.0f - s * s;
    default: return s > 0.0f ? 1.0f : 0.0f;
  }
}

// (v, i) comes before (bv, bi) in the max squeeze's order; i < 0 is "none".
__device__ __forceinline__ bool better(float v, int32_t i, float bv, int32_t bi) {
  if (i < 0) return false;
  if (bi < 0) return true;
  const bool vn = isnan(v), bn = isnan(bv);
  if (vn || bn) return vn && bn ? i < bi : vn;
  if (v != bv) return v > bv;
  return i < bi;
}

// ---------------------------------------------------------------- forward

template <class T>
__global__ void __launch_bounds__(ix::kReduceThreads)
    se_max_partials_kernel(const T* __restrict__ u, ix::ColumnPlan plan, int64_t HW, int64_t C, bool vec,
                           float* __restrict__ part, int32_t* __restrict__ part_idx) {
  const ix::ColumnBlock cb = ix::column_block(blockIdx.x, plan);
  const int lane = threadIdx.x & 31, ry = threadIdx.x >> 5;
  const int64_t c0 = cb.tile * ix::kTileC + lane * 4;
  const int64_t r0 = ix::chunk_begin(cb.q, plan.Q, HW), r1 = ix::chunk_begin(cb.q + 1, plan.Q, HW);
  float best[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  int32_t idx[4] = {-1, -1, -1, -1};
  if (c0 < C) {
    const T* base = u + cb.g * HW * C;
    for (int64_t r = r0 + ry; r < r1; r += ix::kRowGroups) {
      float v[4];
      load4(base + r * C, c0, C, vec, v);
#pragma unroll
      for (int k = 0; k < 4; ++k)
        if (better(v[k], int32_t(r), best[k], idx[k])) best[k] = v[k], idx[k] = int32_t(r);
    }
  }
  __shared__ float sv[ix::kRowGroups][ix::kTileC];
  __shared__ int32_t si[ix::kRowGroups][ix::kTileC];
#pragma unroll
  for (int k = 0; k < 4; ++k) sv[ry][lane * 4 + k] = best[k], si[ry][lane * 4 + k] = idx[k];
  __syncthreads();
  for (int t = threadIdx.x; t < ix::kTileC; t += blockDim.x) {
    const int64_t c = cb.tile * ix::kTileC + t;
    if (c >= C) continue;
    float bv = sv[0][t];
    int32_t bi = si[0][t];
    for (int y = 1; y < ix::kRowGroups; ++y)
      if (better(sv[y][t], si[y][t], bv, bi)) bv = sv[y][t], bi = si[y][t];
    const int64_t o = (cb.g * plan.Q + cb.q) * C + c;
    part[o] = bv;
    part_idx[o] = bi;
  }
}

// z (avg: already there; max: combined from the partials), then a and s.
template <bool MAX>
__global__ void __launch_bounds__(kThreads)
    se_excite_fwd_kernel(const float* __restrict__ part, const int32_t* __restrict__ part_idx, int64_t Q,
                         float* z, int32_t* __restrict__ argmax, const float* __restrict__ w1,
                         const float* __restrict__ b1, const float* __restrict__ w2, const float* __restrict__ b2,
                         float* a, float* __restrict__ s, int64_t N, int64_t C, int64_t D, int gate) {
  const int64_t n0 = int64_t(blockIdx.x) * NB;
  const int nbs = int(N - n0 < NB ? N - n0 : NB);
  if (MAX) {
    for (int64_t t = threadIdx.x; t < int64_t(nbs) * C; t += blockDim.x) {
      const int64_t n = n0 + t / C, c = t % C;
      float bv = part[(n * Q) * C + c];
      int32_t bi = part_idx[(n * Q) * C + c];
      for (int64_t q = 1; q < Q; ++q) {
        const int64_t o = (n * Q + q) * C + c;
        if (better(part[o], part_idx[o], bv, bi)) bv = part[o], bi = part_idx[o];
      }
      z[n * C + c] = bv;
      argmax[n * C + c] = bi;
    }
    __syncthreads();
  }
  // a[n, j] = relu(b1[j] + W1[j, :] . z[n, :]): a warp per j
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int64_t j = warp; j < D; j += warps) {
    float acc[NB];
#pragma unroll
    for (int k = 0; k < NB; ++k) acc[k] = 0.0f;
    const float* wr = w1 + j * C;
    for (int64_t c = lane; c < C; c += 32) {
      const float wv = wr[c];
#pragma unroll
      for (int k = 0; k < NB; ++k)
        if (k < nbs) acc[k] += wv * z[(n0 + k) * C + c];
    }
#pragma unroll
    for (int k = 0; k < NB; ++k) {
      const float v = warp_sum(acc[k]);
      if (lane == 0 && k < nbs) {
        const float h = b1[j] + v;
        a[(n0 + k) * D + j] = h > 0.0f || h != h ? h : 0.0f;  // relu keeps NaN (as the CPU kernel)
      }
    }
  }
  __syncthreads();
  // s[n, c] = gate(b2[c] + W2[c, :] . a[n, :]): a thread per c
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float acc[NB];
#pragma unroll
    for (int k = 0; k < NB; ++k) acc[k] = 0.0f;
    const float* wr = w2 + c * D;
    for (int64_t j = 0; j < D; ++j) {
      const float wv = wr[j];
#pragma unroll
      for (int k = 0; k < NB; ++k)
        if (k < nbs) acc[k] += wv * a[(n0 + k) * D + j];
    }
#pragma unroll
    for (int k = 0; k < NB; ++k)
      if (k < nbs) s[(n0 + k) * C + c] = gate_fn(gate, b2[c] + acc[k]);
  }
}

// y = U*s (+R, mask, relu); a thread per (pixel row, 8 channels).
template <class T, bool RES, bool VEC8>
__global__ void se_scale_kernel(const T* __restrict__ u, const T* __restrict__ r, const float* __restrict__ s,
                                T* __restrict__ y, uint8_t* __restrict__ mask, int64_t N, int64_t HW, int64_t C) {
  const int64_t total = N * HW * ix::mask_row_bytes(C);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const ix::ByteGroup bg = ix::byte_group(i, HW, C);
    const int64_t off = bg.row * C + bg.c0;
    const float* sr = s + bg.n * C + bg.c0;
    uint32_t bits = 0;
    if (VEC8) {
      float x[8], sv[8], rv[8], o[8];
      load8(u + off, x);
      load8(sr, sv);
      if (RES) load8(r + off, rv);
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        float v = x[k] * sv[k];
        if (RES) {
          v = v + rv[k];
          bits |= (v > 0.0f ? 1u : 0u) << k;
          v = relu_f(v);
        }
        o[k] = v;
      }
      store8(y + off, o);
    } else {
      for (int64_t c = bg.c0; c < bg.c1; ++c) {
        float v = to_f(u[bg.row * C + c]) * s[bg.n * C + c];
        if (RES) {
          v = v + to_f(r[bg.row * C + c]);
          bits |= (v > 0.0f ? 1u : 0u) << (c - bg.c0);
          v = relu_f(v);
        }
        y[bg.row * C + c] = from_f<T>(v);
      }
    }
    if (RES) mask[i] = uint8_t(bits);
  }
}

// ---------------------------------------------------------------- backward

// g*U with g = dy * [mask]: 4 channels c0.. (c0 % 4 == 0: one mask byte).
template <class T, bool RES>
struct DsLoad {
  const T* dy;
  const T* u;
  const uint8_t* mask;
  int64_t HW, C;
  bool vec;
  __device__ void operator()(int64_t n, int64_t p, int64_t c0, float (&v)[1][4]) const {
    const int64_t row = n * HW + p;
    float g[4], x[4];
    load4(dy + row * C, c0, C, vec, g);
    load4(u + row * C, c0, C, vec, x);
    if (RES) {
      const uint32_t byte = mask[ix::mask_byte(row, c0, C)] >> ix::mask_bit(c0);
#pragma unroll
      for (int k = 0; k < 4; ++k)
        if (!((byte >> k) & 1u)) g[k] = 0.0f;
    }
#pragma unroll
    for (int k = 0; k < 4; ++k) v[0][k] = g[k] * x[k];
  }
};

template <bool AVG>
__global__ void __launch_bounds__(kThreads)
    se_excite_bwd_kernel(const float* __restrict__ ds, const float* __restrict__ s, const float* __restrict__ a,
                         const float* __restrict__ w1, const float* __restrict__ w2, float* dpre, float* dh,
                         float* __restrict__ dzs, int64_t N, int64_t C, int64_t D, int gate, float inv_hw) {
  const int64_t n0 = int64_t(blockIdx.x) * NB;
  const int nbs = int(N - n0 < NB ? N - n0 : NB);
  for (int64_t t = threadIdx.x; t < int64_t(nbs) * C; t += blockDim.x) {
    const int64_t i = n0 * C + t;
    dpre[i] = ds[i] * gate_grad(gate, s[i]);
  }
  __syncthreads();
  // dh[n, j] = (sum_c dpre[n, c] W2[c, j]) [a[n, j] > 0]: thread t takes j = t % D
  // and channel slice t / D; the slices are added in order.
  __shared__ float red[kThreads * NB];
  const int64_t parts = ix::dh_parts(D, blockDim.x);
  for (int64_t j0 = 0; j0 < D; j0 += blockDim.x / parts) {
    const int64_t per = blockDim.x / parts;  // hidden units per round
    const int64_t jj = threadIdx.x % per, part = threadIdx.x / per;
    const int64_t j = j0 + jj;
    float acc[NB];
#pragma unroll
    for (int k = 0; k < NB; ++k) acc[k] = 0.0f;
    if (part < parts && j < D) {
      const int64_t cb = ix::slice_begin(part, parts, C), ce = ix::slice_begin(part + 1, parts, C);
      for (int64_t c = cb; c < ce; ++c) {
        const float wv = w2[c * D + j];
#pragma unroll
        for (int k = 0; k < NB; ++k)
          if (k < nbs) acc[k] += dpre[(n0 + k) * C + c] * wv;
      }
    }
    if (part < parts) {
#pragma unroll
      for (int k = 0; k < NB; ++k) red[(part * per + jj) * NB + k] = acc[k];
    }
    __syncthreads();
    for (int64_t t = threadIdx.x; t < per * NB; t += blockDim.x) {
      const int64_t jt = t / NB, k = t % NB, jg = j0 + jt;
      if (jg >= D || k >= nbs) continue;
      float v = 0.0f;
      for (int64_t q = 0; q < parts; ++q) v += red[(q * per + jt) * NB + k];
      const int64_t n = n0 + k;
      dh[n * D + jg] = a[n * D + jg] <= 0.0f ? 0.0f : v;  // (NaN passes, as the CPU kernel)
    }
    __syncthreads();
  }
  // dzs[n, c] = sum_j dh[n, j] W1[j, c] (/ HW for avg): a thread per c
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float acc[NB];
#pragma unroll
    for (int k = 0; k < NB; ++k) acc[k] = 0.0f;
    for (int64_t j = 0; j < D; ++j) {
      const float wv = w1[j * C + c];
#pragma unroll
      for (int k = 0; k < NB; ++k)
        if (k < nbs) acc[k] += dh[(n0 + k) * D + j] * wv;
    }
#pragma unroll
    for (int k = 0; k < NB; ++k)
      if (k < nbs) dzs[(n0 + k) * C + c] = AVG ? acc[k] * inv_hw : acc[k];
  }
}

// dR = g; dU = g*s + dzs (avg) or g*s + [argmax == p] dzs (max).
template <class T, bool RES, bool MAX, bool VEC8>
__global__ void se_du_kernel(const T* __restrict__ dy, const uint8_t* __restrict__ mask, const float* __restrict__ s,
                             const float* __restrict__ dzs, const int32_t* __restrict__ argmax, T* __restrict__ dr,
                             T* __restrict__ du, int64_t N, int64_t HW, int64_t C) {
  const int64_t total = N * HW * ix::mask_row_bytes(C);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const ix::ByteGroup bg = ix::byte_group(i, HW, C);
    const int64_t off = bg.row * C + bg.c0, soff = bg.n * C + bg.c0;
    const uint32_t bits = RES ? mask[i] : 0xffu;
    if (VEC8) {
      float g[8], sv[8], dz[8], o[8];
      load8(dy + off, g);
      load8(s + soff, sv);
      load8(dzs + soff, dz);
      int32_t am[8];
      if (MAX) {
        const int4 a0 = reinterpret_cast<const int4*>(argmax + soff)[0];
        const int4 a1 = reinterpret_cast<const int4*>(argmax + soff)[1];
        am[0] = a0.x, am[1] = a0.y, am[2] = a0.z, am[3] = a0.w, am[4] = a1.x, am[5] = a1.y, am[6] = a1.z, am[7] = a1.w;
      }
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        if (RES && !((bits >> k) & 1u)) g[k] = 0.0f;
        const float extra = MAX ? (am[k] == int32_t(bg.p) ? dz[k] : 0.0f) : dz[k];
        o[k] = g[k] * sv[k] + extra;
      }
      if (RES) store8(dr + off, g);
      store8(du + off, o);
    } else {
      for (int64_t c = bg.c0; c < bg.c1; ++c) {
        float g = to_f(dy[bg.row * C + c]);
        if (RES && !((bits >> (c - bg.c0)) & 1u)) g = 0.0f;
        const float extra = MAX ? (argmax[bg.n * C + c] == int32_t(bg.p) ? dzs[bg.n * C + c] : 0.0f) : dzs[bg.n * C + c];
        if (RES) dr[bg.row * C + c] = from_f<T>(g);
        du[bg.row * C + c] = from_f<T>(g * s[bg.n * C + c] + extra);
      }
    }
  }
}

// dW2 [C,D], db2 [C], dW1 [D,C], db1 [D]: sums over the samples in order.
__global__ void se_param_grads_kernel(const float* __restrict__ dpre, const float* __restrict__ dh,
                                      const float* __restrict__ z, const float* __restrict__ a, float* __restrict__ dw1,
                                      float* __restrict__ db1, float* __restrict__ dw2, float* __restrict__ db2,
                                      int64_t N, int64_t C, int64_t D) {
  const int64_t CD = C * D, total = 2 * CD + C + D;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    float acc = 0.0f;
    if (i < CD) {  // dW2[c, j]
      const int64_t c = i / D, j = i % D;
      for (int64_t n = 0; n < N; ++n) acc += dpre[n * C + c] * a[n * D + j];
      dw2[i] = acc;
    } else if (i < 2 * CD) {  // dW1[j, c]
      const int64_t k = i - CD, j = k / C, c = k % C;
      for (int64_t n = 0; n < N; ++n) acc += dh[n * D + j] * z[n * C + c];
      dw1[k] = acc;
    } else if (i < 2 * CD + C) {  // db2[c]
      const int64_t c = i - 2 * CD;
      for (int64_t n = 0; n < N; ++n) acc += dpre[n * C + c];
      db2[c] = acc;
    } else {  // db1[j]
      const int64_t j = i - 2 * CD - C;
      for (int64_t n = 0; n < N; ++n) acc += dh[n * D + j];
      db1[j] = acc;
    }
  }
}

template <class T>
void launch_du(bool res, bool is_max, bool vec8, const T* dy, const uint8_t* m, const float* s, const float* dzs,
               const int32_t* am, T* dr, T* du, int64_t N, int64_t HW, int64_t C, cudaStream_t st) {
  const unsigned gb = grid_for(N * HW * ix::mask_row_bytes(C), kThreads);
  auto go = [&](auto kernel) { kernel<<<gb, kThreads, 0, st>>>(dy, m, s, dzs, am, dr, du, N, HW, C); };
  if (res) {
    if (is_max) vec8 ? go(se_du_kernel<T, true, true, true>) : go(se_du_kernel<T, true, true, false>);
    else vec8 ? go(se_du_kernel<T, true, false, true>) : go(se_du_kernel<T, true, false, false>);
  } else {
    if (is_max) vec8 ? go(se_du_kernel<T, false, true, true>) : go(se_du_kernel<T, false, true, false>);
    else vec8 ? go(se_du_kernel<T, false, false, true>) : go(se_du_kernel<T, false, false, false>);
  }
}

void check_acts(const char* op, const Tensor& u, std::initializer_list<std::pair<const char*, const Tensor*>> ts) {
  if (u.dtype != DType::F32 && u.dtype != DType::BF16)
    fail(Code::DType, op, "u", "dtype float32 or bfloat16", dtype_name(u.dtype));
  for (const auto& kv : ts)
    if (kv.second && kv.second->dtype != u.dtype)
      fail(Code::DType, op, kv.first, std::string("dtype ") + dtype_name(u.dtype) + " like u", dtype_name(kv.second->dtype));
}

}  // namespace

std::vector<Tensor> se_forward(const Tensor& u, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                               const Tensor& b2, const std::optional<Tensor>& shortcut, const SeParams& p) {
  const char* op = "squeezeExcite";
  Context& ctx = context(u.device().index, op);
  require_f32(op, {{"w1", &w1}, {"b1", &b1}, {"w2", &w2}, {"b2", &b2}});
  check_acts(op, u, {{"shortcut", shortcut ? &*shortcut : nullptr}});
  const int64_t N = u.shape[0], HW = u.shape[1] * u.shape[2], C = u.shape[3], D = w1.shape[0];
  const Device dev = u.device();
  Tensor y = empty_tensor(u.shape, u.dtype, dev, op);
  Tensor s = empty_tensor({N, C}, DType::F32, dev, op);
  Tensor z = empty_tensor({N, C}, DType::F32, dev, op);
  Tensor a = empty_tensor({N, D}, DType::F32, dev, op);
  Tensor argmax, mask;
  const bool is_max = p.squeeze == SeSqueeze::Max;
  if (is_max) argmax = empty_tensor({N, C}, DType::I32, dev, op);
  if (p.residual) mask = empty_tensor({N * HW * ix::mask_row_bytes(C)}, DType::U8, dev, op);
  if (N == 0) return {y, s, z, a, argmax, mask};
  const bool vec4 = C % 4 == 0, vec8 = C % 8 == 0;
  const ix::ColumnPlan plan = ix::column_plan(N, HW, C, ctx.sm_count);
  Scratch part, part_idx;
  SENET_CUDA_ACT_DISPATCH(u.dtype, op, T, {
    // squeeze
    if (!is_max) {
      column_sums_launch<1>(PlainLoad<T>{u.data<T>(), HW, C, vec4}, N, HW, C, 1.0f / float(HW), z.f32(), ctx.device,
                            ctx.stream, ctx.sm_count, op);
    } else {
      part = Scratch(ctx.device, size_t(N * plan.Q * C) * sizeof(float), op);
      part_idx = Scratch(ctx.device, size_t(N * plan.Q * C) * sizeof(int32_t), op);
      se_max_partials_kernel<T><<<unsigned(N * plan.blocks()), ix::kReduceThreads, 0, ctx.stream>>>(
          u.data<T>(), plan, HW, C, vec4, part.get<float>(), part_idx.get<int32_t>());
      check_launch(op, "se_max_partials_kernel");
    }
    // excite
    const unsigned eb = unsigned((N + NB - 1) / NB);
    if (is_max)
      se_excite_fwd_kernel<true><<<eb, kThreads, 0, ctx.stream>>>(
          part.get<float>(), part_idx.get<int32_t>(), plan.Q, z.f32(), argmax.data<int32_t>(), w1.f32(), b1.f32(),
          w2.f32(), b2.f32(), a.f32(), s.f32(), N, C, D, int(p.gate));
    else
      se_excite_fwd_kernel<false><<<eb, kThreads, 0, ctx.stream>>>(nullptr, nullptr, 1, z.f32(), nullptr, w1.f32(),
                                                                   b1.f32(), w2.f32(), b2.f32(), a.f32(), s.f32(), N,
                                                                   C, D, int(p.gate));
    check_launch(op, "se_excite_fwd_kernel");
    // scale
    const int64_t groups = N * HW * ix::mask_row_bytes(C);
    const unsigned gb = grid_for(groups, kThreads);
    const T* r = shortcut ? shortcut->data<T>() : nullptr;
    uint8_t* m = p.residual ? mask.data<uint8_t>() : nullptr;
    if (p.residual) {
      if (vec8) se_scale_kernel<T, true, true><<<gb, kThreads, 0, ctx.stream>>>(u.data<T>(), r, s.f32(), y.data<T>(), m, N, HW, C);
      else se_scale_kernel<T, true, false><<<gb, kThreads, 0, ctx.stream>>>(u.data<T>(), r, s.f32(), y.data<T>(), m, N, HW, C);
    } else {
      if (vec8) se_scale_kernel<T, false, true><<<gb, kThreads, 0, ctx.stream>>>(u.data<T>(), r, s.f32(), y.data<T>(), m, N, HW, C);
      else se_scale_kernel<T, false, false><<<gb, kThreads, 0, ctx.stream>>>(u.data<T>(), r, s.f32(), y.data<T>(), m, N, HW, C);
    }
    check_launch(op, "se_scale_kernel");
  });
  return {y, s, z, a, argmax, mask};
}

std::vector<Tensor> se_backward(const Tensor& dy, const Tensor& u, const Tensor& w1, const Tensor& w2,
                                const Tensor& s, const Tensor& z, const Tensor& a,
                                const std::optional<Tensor>& argmax, const std::optional<Tensor>& mask,
                                const SeParams& p) {
  const char* op = "squeezeExciteBackward";
  Context& ctx = context(u.device().index, op);
  require_f32(op, {{"w1", &w1}, {"w2", &w2}, {"s", &s}, {"z", &z}, {"a", &a}});
  check_acts(op, u, {{"dy", &dy}});
  const int64_t N = u.shape[0], HW = u.shape[1] * u.shape[2], C = u.shape[3], D = w1.shape[0];
  const Device dev = u.device();
  Tensor du = empty_tensor(u.shape, u.dtype, dev, op);
  Tensor dr;
  if (p.residual) dr = empty_tensor(u.shape, u.dtype, dev, op);
  Tensor dw1 = empty_tensor({D, C}, DType::F32, dev, op);
  Tensor db1 = empty_tensor({D}, DType::F32, dev, op);
  Tensor dw2 = empty_tensor({C, D}, DType::F32, dev, op);
  Tensor db2 = empty_tensor({C}, DType::F32, dev, op);
  if (N == 0) {
    for (const Tensor* t : {&dw1, &db1, &dw2, &db2}) fill(*t, 0.0f);
    return {du, dr, dw1, db1, dw2, db2};
  }
  const bool is_max = p.squeeze == SeSqueeze::Max;
  const bool vec4 = C % 4 == 0, vec8 = C % 8 == 0;
  Scratch work(ctx.device, size_t(3 * N * C + N * D) * sizeof(float), op);
  float* ds = work.get<float>();
  float* dpre = ds + N * C;
  float* dzs = dpre + N * C;
  float* dh = dzs + N * C;
  const uint8_t* m = p.residual ? mask->data<uint8_t>() : nullptr;
  SENET_CUDA_ACT_DISPATCH(u.dtype, op, T, {
    // pass 1: ds = sum_p g*U
    if (p.residual)
      column_sums_launch<1>(DsLoad<T, true>{dy.data<T>(), u.data<T>(), m, HW, C, vec4}, N, HW, C, 1.0f, ds,
                            ctx.device, ctx.stream, ctx.sm_count, op);
    else
      column_sums_launch<1>(DsLoad<T, false>{dy.data<T>(), u.data<T>(), nullptr, HW, C, vec4}, N, HW, C, 1.0f, ds,
                            ctx.device, ctx.stream, ctx.sm_count, op);
    // excite backward
    const unsigned eb = unsigned((N + NB - 1) / NB);
    const float inv = 1.0f / float(HW);
    if (is_max)
      se_excite_bwd_kernel<false><<<eb, kThreads, 0, ctx.stream>>>(ds, s.f32(), a.f32(), w1.f32(), w2.f32(), dpre, dh,
                                                                    dzs, N, C, D, int(p.gate), inv);
    else
      se_excite_bwd_kernel<true><<<eb, kThreads, 0, ctx.stream>>>(ds, s.f32(), a.f32(), w1.f32(), w2.f32(), dpre, dh,
                                                                   dzs, N, C, D, int(p.gate), inv);
    check_launch(op, "se_excite_bwd_kernel");
    // pass 2: dR, dU
    launch_du<T>(p.residual, is_max, vec8, dy.data<T>(), m, s.f32(), dzs, is_max ? argmax->data<int32_t>() : nullptr,
                 p.residual ? dr.data<T>() : nullptr, du.data<T>(), N, HW, C, ctx.stream);
    check_launch(op, "se_du_kernel");
  });
  // parameter gradients
  const int64_t items = 2 * C * D + C + D;
  se_param_grads_kernel<<<grid_for(items, kThreads), kThreads, 0, ctx.stream>>>(dpre, dh, z.f32(), a.f32(), dw1.f32(),
                                                                                db1.f32(), dw2.f32(), db2.f32(), N, C, D);
  check_launch(op, "se_param_grads_kernel");
  return {du, dr, dw1, db1, dw2, db2};
}

}  // namespace senet::cuda
