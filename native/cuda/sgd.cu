// Fused multi-tensor SGD (PyTorch semantics, as native/cpu/sgd.cc), one
// launch for every tensor of the step: the host builds a table of tensors
// and of fixed-size chunks (index.h: kSgdChunk), copies it to the device,
// and each block updates one chunk.
#include <cstring>
#include <vector>

#include "cuda/allocator.h"
#include "cuda/device_memory.h"
#include "cuda/ops.h"
#include "cuda/kernel_util.cuh"
#include "cuda/stream.h"

namespace senet::cuda {
namespace {

struct SgdTensor {
  float* w;
  const float* g;
  float* buf;
};
struct SgdChunk {
  int32_t t;
  int32_t pad;
  int64_t begin, end;
};
struct SgdArgs {
  float lr, mom, damp, wd;
  bool use_mom, nesterov, first;
};

__global__ void sgd_kernel(const SgdTensor* __restrict__ ts, const SgdChunk* __restrict__ chunks, SgdArgs a) {
  const SgdChunk ch = chunks[blockIdx.x];
  const SgdTensor T = ts[ch.t];
  for (int64_t i = ch.begin + threadIdx.x; i < ch.end; i += blockDim.x) {
    const float w = T.w[i];
    const float gd = T.g[i] + a.wd * w;
    if (!a.use_mom) {
      T.w[i] = w - a.lr * gd;
    } else if (a.first) {
      T.buf[i] = gd;
      T.w[i] = w - a.lr * (a.nesterov ? gd + a.mom * gd : gd);
    } else {
      const float b = a.mom * T.buf[i] + a.damp * gd;
      T.buf[i] = b;
      T.w[i] = w - a.lr * (a.nesterov ? gd + a.mom * b : b);
    }
  }
}

}  // namespace

void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& buffers,
              const SgdParams& p) {
  const char* op = "sgdStep";
  const int device = params[0].device().index;
  Context& ctx = context(device, op);
  const bool use_mom = p.momentum != 0.0;
  std::vector<SgdTensor> ts;
  std::vector<SgdChunk> chunks;
  for (size_t t = 0; t < params.size(); ++t) {
    require_f32(op, {{"params", &params[t]}, {"grads", &grads[t]}, {"buffers", use_mom ? &buffers[t] : nullptr}});
    ts.push_back(SgdTensor{params[t].f32(), grads[t].f32(), use_mom ? buffers[t].f32() : nullptr});
    const int64_t n = params[t].numel();
    for (int64_t b = 0; b < n; b += ix::kSgdChunk)
      chunks.push_back(SgdChunk{int32_t(t), 0, b, std::min(n, b + ix::kSgdChunk)});
  }
  if (chunks.empty()) return;
  const size_t tb = ts.size() * sizeof(SgdTensor), cb = chunks.size() * sizeof(SgdChunk);
  Scratch table(device, tb + cb, op);
  std::vector<char> host(tb + cb);
  std::memcpy(host.data(), ts.data(), tb);
  std::memcpy(host.data() + tb, chunks.data(), cb);
  upload_raw(device, table.get(), host.data(), host.size(), op);
  SgdArgs a{float(p.lr), float(p.momentum), 1.0f - float(p.dampening), float(p.weight_decay), use_mom, p.nesterov,
            p.first_step};
  sgd_kernel<<<unsigned(chunks.size()), 256, 0, ctx.stream>>>(
      table.get<SgdTensor>(), reinterpret_cast<const SgdChunk*>(table.get<char>() + tb), a);
  check_launch(op, "sgd_kernel");
}

}  // namespace senet::cuda
