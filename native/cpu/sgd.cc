// Fused multi-tensor SGD (PyTorch semantics), in place, one pass per tensor:
//   g' = g + wd*p
//   buf = momentum*buf + (1-dampening)*g'     (first step: buf = g')
//   d = nesterov ? g' + momentum*buf : buf    (momentum 0: d = g')
//   p -= lr*d
// All tensors of the step go in one task: one enqueue and one parallel
// region for a whole network instead of one per parameter.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/stream.h"
#include "cpu/ops.h"

namespace senet::cpu {

void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& buffers,
              const SgdParams& p) {
  CpuStream::get().enqueue("sgdStep", [params, grads, buffers, p] {
    const float lr = float(p.lr), mom = float(p.momentum), damp = 1.0f - float(p.dampening), wd = float(p.weight_decay);
    const bool use_mom = p.momentum != 0.0, nesterov = p.nesterov, first = p.first_step;
    // Flatten all tensors into fixed-size chunks so the threads share the
    // work evenly whatever the tensor sizes.
    constexpr int64_t kChunk = 1 << 14;
    struct Chunk {
      int t;
      int64_t begin, end;
    };
    std::vector<Chunk> chunks;
    for (size_t t = 0; t < params.size(); ++t) {
      const int64_t n = params[t].numel();
      for (int64_t b = 0; b < n; b += kChunk) chunks.push_back({int(t), b, std::min(n, b + kChunk)});
    }
    // Pointers taken here, outside the parallel region: a CPU block is
    // taken on first use (Storage::data), and an exception must not leave
    // an OpenMP region.
    std::vector<float*> wp(params.size()), bp(params.size(), nullptr);
    std::vector<const float*> gp(params.size());
    for (size_t t = 0; t < params.size(); ++t) {
      wp[t] = params[t].f32();
      gp[t] = grads[t].f32();
      if (use_mom) bp[t] = buffers[t].f32();
    }
#pragma omp parallel for schedule(static) if (chunks.size() > 4)
    for (size_t c = 0; c < chunks.size(); ++c) {
      const Chunk& ch = chunks[c];
      float* w = wp[size_t(ch.t)];
      const float* g = gp[size_t(ch.t)];
      float* buf = bp[size_t(ch.t)];
      if (!use_mom) {
        for (int64_t i = ch.begin; i < ch.end; ++i) w[i] -= lr * (g[i] + wd * w[i]);
      } else if (first) {
        for (int64_t i = ch.begin; i < ch.end; ++i) {
          const float gd = g[i] + wd * w[i];
          buf[i] = gd;
          w[i] -= lr * (nesterov ? gd + mom * gd : gd);
        }
      } else {
        for (int64_t i = ch.begin; i < ch.end; ++i) {
          const float gd = g[i] + wd * w[i];
          const float b = mom * buf[i] + damp * gd;
          buf[i] = b;
          w[i] -= lr * (nesterov ? gd + mom * b : b);
        }
      }
    }
  });
}

}  // namespace senet::cpu
