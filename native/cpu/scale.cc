// Channel scaling of [N, ..., C] data by per-(sample, channel) factors s
// [N, C]: the last step of a squeeze-excite block when it is written with
// separate ops (tfjs's Multiply by [N,1,1,C], Add, Relu; the tfjs backend
// follows that graph in lib/tfjs/kernels/graph.ts). One pass each way:
//   forward  y = u*s (+ b[n, c]) (+ r) (then max(0, .), NaN passing as in relu)
//   backward du = dy*s, ds[n, c] = sum over the sample's rows of dy*u
//   and, when the scaling was followed by a relu whose gradient comes first,
//   g = dy*[y > 0] with ds[n, c] = sum of g*u in the same pass.
// The backward's sums are float64, one sample per thread at a time (the
// result does not depend on the thread count). Large outputs are streamed.
#include <immintrin.h>

#include "core/stream.h"
#include "cpu/ops.h"
#include "cpu/se.h"
#include "cpu/stream_out.h"

namespace senet::cpu {

namespace {

// Calls seg(i, c, n, len) for the runs of consecutive channels of elements
// [i0, i1): element i is channel c of sample n, for len elements.
template <class Seg>
inline void channel_runs(int64_t i0, int64_t i1, int64_t C, int64_t per_sample, Seg seg) {
  int64_t i = i0;
  while (i < i1) {
    const int64_t c = i % C, n = i / per_sample;
    const int64_t len = std::min(C - c, i1 - i);
    seg(i, c, n, len);
    i += len;
  }
}

}  // namespace

Tensor scale_channels(const Tensor& u, const Tensor& s, const std::optional<Tensor>& r, const std::optional<Tensor>& bias,
                      bool relu) {
  const char* op = "scaleChannels";
  Tensor y = empty_tensor(u.shape, DType::F32, u.device(), op);
  const int64_t total = u.numel();
  if (total == 0) return y;
  const int64_t N = u.shape[0], C = u.shape.back(), per_sample = total / N;
  CpuStream::get().enqueue(op, [u, s, r, bias, y, total, C, per_sample, relu] {
    const float* up = u.f32();
    const float* sp = s.f32();
    const float* rp = r ? r->f32() : nullptr;
    const float* bp = bias ? bias->f32() : nullptr;
    float* out = y.f32();
    const bool nt = stream_output(total * int64_t(sizeof(float)));
    parallel_ranges(total, 1 << 16, [&](int64_t lo, int64_t hi) {
      write_range(out, lo, hi, nt, [&](int64_t i0, int64_t i1, float* dst) {
        channel_runs(i0, i1, C, per_sample, [&](int64_t i, int64_t c, int64_t n, int64_t len) {
          const float* a = up + i;
          const float* f = sp + n * C + c;
          float* d = dst + (i - i0);
          for (int64_t k = 0; k < len; ++k) d[k] = a[k] * f[k];
          if (bp) {
            const float* b = bp + n * C + c;
            for (int64_t k = 0; k < len; ++k) d[k] += b[k];
          }
          if (rp) {
            const float* b = rp + i;
            for (int64_t k = 0; k < len; ++k) d[k] += b[k];
          }
          if (relu)
            for (int64_t k = 0; k < len; ++k) d[k] = d[k] < 0.0f ? 0.0f : d[k];
        });
      });
    });
  });
  return y;
}

namespace {

// Per sample n, one thread at a time: run(i, c, n, len, dst, acc) writes a
// run of len channels of one row of `out` (from element i, channel c) to dst
// and adds what it sums into acc[0, len) (float64); the sample's sums go to
// ds[n, :]. Large outputs are streamed.
template <class Run>
void per_sample(int64_t N, int64_t C, int64_t per_sample, float* out, float* ds, Run run) {
  const bool nt = stream_output(N * per_sample * int64_t(sizeof(float)));
#pragma omp parallel if (N * per_sample > (1 << 16))
  {
    std::vector<double> acc(size_t(C), 0.0);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      std::fill(acc.begin(), acc.end(), 0.0);
      double* a = acc.data();
      write_range(out, n * per_sample, (n + 1) * per_sample, nt, [&](int64_t i0, int64_t i1, float* dst) {
        channel_runs(i0, i1, C, per_sample, [&](int64_t i, int64_t c, int64_t, int64_t len) {
          run(i, c, n, len, dst + (i - i0), a + c);
        });
      });
      for (int64_t c = 0; c < C; ++c) ds[n * C + c] = float(acc[size_t(c)]);
    }
  }
}

}  // namespace

// Queues an op whose output has u's shape, written with per-sample sums
// [N, C] (per_sample); run captures its inputs (kept alive by the copy).
// `inputs`: the tensors `run` reads, whose blocks are taken (Storage::data)
// before the parallel region: an exception must not leave an OpenMP region.
template <class Run>
std::vector<Tensor> with_sums(const char* op, const Tensor& u, std::vector<Tensor> inputs, Run run) {
  Tensor out = empty_tensor(u.shape, DType::F32, u.device(), op);
  const int64_t N = u.shape[0], C = u.shape.back(), per = N > 0 ? u.numel() / N : 0;
  Tensor ds = empty_tensor({N, C}, DType::F32, u.device(), op);
  CpuStream::get().enqueue(op, [run, inputs, out, ds, N, C, per] {
    for (const Tensor& t : inputs) t.storage->data();
    per_sample(N, C, per, out.f32(), ds.f32(), run);
  });
  return {out, ds};
}

namespace {

// ac[k] += double(v[k]) * double(u[k]) for the 8 lanes.
inline void dot8(double* ac, __m256 v, __m256 uk) {
  const __m256d lo = _mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), _mm256_cvtps_pd(_mm256_castps256_ps128(uk)));
  const __m256d hi = _mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(uk, 1)));
  _mm256_storeu_pd(ac, _mm256_add_pd(_mm256_loadu_pd(ac), lo));
  _mm256_storeu_pd(ac + 4, _mm256_add_pd(_mm256_loadu_pd(ac + 4), hi));
}

// The run from a mask row (bit c: [y > 0]) instead of y: g = dy * bit, a product as reluGrad's
// (NaN or infinite dy times a 0 bit is NaN); without NaN in y the same g as from y. One bit read
// per element instead of a float.
inline void relu_bits_run(const float* __restrict gi, const uint8_t* row, const float* __restrict ui, int64_t c,
                          int64_t len, float* __restrict d, double* __restrict ac) {
  const auto one_element = [&](int64_t j) {
    d[j] = gi[j] * float((row[(c + j) >> 3] >> ((c + j) & 7)) & 1);
    ac[j] += double(d[j]) * double(ui[j]);
  };
  int64_t k = 0;
  for (; k < len && ((c + k) & 7) != 0; ++k) one_element(k);
  const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; k + 8 <= len; k += 8) {
    const __m256i b = _mm256_and_si256(_mm256_set1_epi32(row[(c + k) >> 3]), sel);
    const __m256 m = _mm256_and_ps(one, _mm256_castsi256_ps(_mm256_cmpeq_epi32(b, sel)));
    const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(gi + k), m);
    _mm256_storeu_ps(d + k, v);
    dot8(ac + k, v, _mm256_loadu_ps(ui + k));
  }
  for (; k < len; ++k) one_element(k);
}

}  // namespace

std::vector<Tensor> relu_backward_channel_dot(const Tensor& dy, const Tensor& y, const Tensor& u,
                                              const std::optional<Tensor>& mask, const std::optional<Tensor>& nan) {
  const int64_t C = u.shape.back(), mb = se::mask_row_bytes(C);
  std::vector<Tensor> inputs{dy, y, u};
  if (mask) inputs.insert(inputs.end(), {*mask, *nan});
  return with_sums("reluBackwardChannelDot", u, inputs, [dy, y, u, mask, nan, C, mb](int64_t i, int64_t c, int64_t, int64_t len, float* __restrict d, double* __restrict ac) {
    const float* __restrict gi = dy.f32() + i;
    const float* __restrict ui = u.f32() + i;
    // (the flag was written by the squeezeExcite queued before this op)
    if (mask && nan->data<uint8_t>()[0] == 0) {
      relu_bits_run(gi, mask->data<uint8_t>() + i / C * mb, ui, c, len, d, ac);
      return;
    }
    const float* __restrict yi = y.f32() + i;
    // AVX2 by hand: GCC leaves the plain loop's NaN select as a branch (50% mispredicted, 8x slower).
    int64_t k = 0;
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    for (; k + 8 <= len; k += 8) {
      const __m256 yk = _mm256_loadu_ps(yi + k), gk = _mm256_loadu_ps(gi + k);
      __m256 v = _mm256_mul_ps(gk, _mm256_and_ps(one, _mm256_cmp_ps(yk, zero, _CMP_GT_OQ)));  // dy * [y > 0]
      v = _mm256_blendv_ps(v, yk, _mm256_cmp_ps(yk, yk, _CMP_UNORD_Q));                     // NaN in y passes
      _mm256_storeu_ps(d + k, v);
      dot8(ac + k, v, _mm256_loadu_ps(ui + k));
    }
    for (; k < len; ++k) {
      const float yk = yi[k], gk = gi[k];
      const float v = yk != yk ? yk : gk * (yk > 0.0f ? 1.0f : 0.0f);  // as reluGrad
      d[k] = v;
      ac[k] += double(v) * double(ui[k]);
    }
  });
}

std::vector<Tensor> scale_channels_backward(const Tensor& dy, const Tensor& u, const Tensor& s) {
  const int64_t C = u.shape.back();
  return with_sums("scaleChannelsBackward", u, {dy, u, s}, [dy, u, s, C](int64_t i, int64_t c, int64_t n, int64_t len, float* d, double* ac) {
    const float* gi = dy.f32() + i;
    const float* ui = u.f32() + i;
    const float* f = s.f32() + n * C + c;
    for (int64_t k = 0; k < len; ++k) {
      d[k] = gi[k] * f[k];
      ac[k] += double(gi[k]) * double(ui[k]);
    }
  });
}

}  // namespace senet::cpu
