// Channel scaling of [N, ..., C] data by per-(sample, channel) factors s
// [N, C]: the last step of a squeeze-excite block when it is written with
// separate ops (tfjs's Multiply by [N,1,1,C], Add, Relu; the tfjs backend
// follows that graph in lib/tfjs/kernels/graph.ts). One pass each way:
//   forward  y = u*s (+ r) (then max(0, .), NaN passing as in relu)
//   backward du = dy*s, ds[n, c] = sum over the sample's rows of dy*u
// The backward's sums are float64, one sample per thread at a time (the
// result does not depend on the thread count). Large outputs are streamed.
#include "core/stream.h"
#include "cpu/ops.h"
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

Tensor scale_channels(const Tensor& u, const Tensor& s, const std::optional<Tensor>& r, bool relu) {
  const char* op = "scaleChannels";
  Tensor y = empty_tensor(u.shape, DType::F32, u.device(), op);
  const int64_t total = u.numel();
  if (total == 0) return y;
  const int64_t N = u.shape[0], C = u.shape.back(), per_sample = total / N;
  CpuStream::get().enqueue(op, [u, s, r, y, total, C, per_sample, relu] {
    const float* up = u.f32();
    const float* sp = s.f32();
    const float* rp = r ? r->f32() : nullptr;
    float* out = y.f32();
    const bool nt = stream_output(total * int64_t(sizeof(float)));
    parallel_ranges(total, 1 << 16, [&](int64_t lo, int64_t hi) {
      write_range(out, lo, hi, nt, [&](int64_t i0, int64_t i1, float* dst) {
        channel_runs(i0, i1, C, per_sample, [&](int64_t i, int64_t c, int64_t n, int64_t len) {
          const float* a = up + i;
          const float* f = sp + n * C + c;
          float* d = dst + (i - i0);
          if (rp) {
            const float* b = rp + i;
            for (int64_t k = 0; k < len; ++k) d[k] = a[k] * f[k] + b[k];
          } else {
            for (int64_t k = 0; k < len; ++k) d[k] = a[k] * f[k];
          }
          if (relu)
            for (int64_t k = 0; k < len; ++k) d[k] = d[k] < 0.0f ? 0.0f : d[k];
        });
      });
    });
  });
  return y;
}

std::vector<Tensor> scale_channels_backward(const Tensor& dy, const Tensor& u, const Tensor& s) {
  const char* op = "scaleChannelsBackward";
  Tensor du = empty_tensor(u.shape, DType::F32, u.device(), op);
  const int64_t N = u.shape[0], C = u.shape.back(), total = u.numel();
  Tensor ds = empty_tensor({N, C}, DType::F32, u.device(), op);
  const int64_t per_sample = N > 0 ? total / N : 0;
  CpuStream::get().enqueue(op, [dy, u, s, du, ds, N, C, per_sample] {
    const float* g = dy.f32();
    const float* up = u.f32();
    const float* sp = s.f32();
    float* dup = du.f32();
    float* dsp = ds.f32();
    const bool nt = stream_output(N * per_sample * int64_t(sizeof(float)));
#pragma omp parallel if (N * per_sample > (1 << 16))
    {
      std::vector<double> acc(size_t(C), 0.0);
#pragma omp for schedule(static)
      for (int64_t n = 0; n < N; ++n) {
        std::fill(acc.begin(), acc.end(), 0.0);
        double* a = acc.data();
        write_range(dup, n * per_sample, (n + 1) * per_sample, nt, [&](int64_t i0, int64_t i1, float* dst) {
          channel_runs(i0, i1, C, per_sample, [&](int64_t i, int64_t c, int64_t, int64_t len) {
            const float* gi = g + i;
            const float* ui = up + i;
            const float* f = sp + n * C + c;
            float* d = dst + (i - i0);
            double* ac = a + c;
            for (int64_t k = 0; k < len; ++k) {
              d[k] = gi[k] * f[k];
              ac[k] += double(gi[k]) * double(ui[k]);
            }
          });
        });
        for (int64_t c = 0; c < C; ++c) dsp[n * C + c] = float(acc[size_t(c)]);
      }
    }
  });
  return {du, ds};
}

}  // namespace senet::cpu
