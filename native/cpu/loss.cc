// Mean softmax cross-entropy over a batch, with label smoothing (PyTorch's
// definition: target = (1-eps) one_hot + eps/K), and its gradient in one
// pass per row. Per-row terms in float; the batch mean in double.
#include <cmath>
#include <string>
#include <vector>

#include "core/stream.h"
#include "cpu/ops.h"

namespace senet::cpu {

std::vector<Tensor> softmax_cross_entropy(const Tensor& logits, const Tensor& labels, double smoothing) {
  const char* op = "softmaxCrossEntropy";
  const int64_t N = logits.shape[0], K = logits.shape[1];
  Tensor loss = empty_tensor({}, DType::F32, logits.device(), op);
  Tensor dlogits = empty_tensor(logits.shape, DType::F32, logits.device(), op);
  CpuStream::get().enqueue(op, [logits, labels, loss, dlogits, N, K, smoothing, op] {
    const float* x = logits.f32();
    const int32_t* y = labels.data<int32_t>();
    float* d = dlogits.f32();
    for (int64_t n = 0; n < N; ++n)
      if (y[n] < 0 || y[n] >= K)
        throw Error(Code::Kernel, std::string(op) + ": expected labels in [0, " + std::to_string(K) + "), got " +
                                      std::to_string(y[n]) + " at index " + std::to_string(n));
    const float eps = float(smoothing);
    const float off = eps / float(K), on = 1.0f - eps + off;
    const float invN = 1.0f / float(N);
    std::vector<double> row_loss(size_t(N), 0.0);
#pragma omp parallel for schedule(static) if (N * K > 4096)
    for (int64_t n = 0; n < N; ++n) {
      const float* xr = x + n * K;
      float* dr = d + n * K;
      float mx = xr[0];
      for (int64_t k = 1; k < K; ++k) mx = std::fmax(mx, xr[k]);
      double sum = 0.0;
      for (int64_t k = 0; k < K; ++k) sum += std::exp(double(xr[k] - mx));
      const double lse = double(mx) + std::log(sum);
      double l = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const float q = (k == y[n]) ? on : off;
        l -= double(q) * (double(xr[k]) - lse);
        dr[k] = (float(std::exp(double(xr[k]) - lse)) - q) * invN;
      }
      row_loss[size_t(n)] = l;
    }
    double total = 0.0;
    for (double l : row_loss) total += l;
    *loss.f32() = float(total / double(N));
  });
  return {loss, dlogits};
}

}  // namespace senet::cpu
