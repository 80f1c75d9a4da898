// Convolutions with cuDNN (legacy convolution API of cuDNN 9): NHWC
// activations and OHWI weights used in place (cuDNN's NHWC filter layout is
// KRSC = OHWI), groups through the group count.
//
// Per shape, once: descriptors, and the algorithm -- measured with
// cudnnFind*AlgorithmEx (SENET_CUDNN_BENCHMARK=0: cuDNN's heuristics
// instead), within a bounded workspace (SENET_CUDNN_WORKSPACE_MB, default
// 1024, and never more than a quarter of the free memory). float32 runs in
// true fp32 (FMA math; SENET_CUDA_TF32=1 allows TF32) with the algorithms
// whose error is that of a direct sum (implicit GEMM, GEMM, direct: the
// tests' bounds); FFT and Winograd are allowed for bfloat16, or for float32
// with SENET_CUDNN_ALGOS=all. bfloat16 activations run on tensor cores with
// float32 accumulation; float32 weights are converted per call (they are
// small) and the weight gradient comes back in float32.
//
// cuDNN's 2-D descriptor pads symmetrically: asymmetric padding (TensorFlow
// 'same' with stride 2) zero-pads the input explicitly (pad.cu) and crops dx.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "cuda/allocator.h"
#include "cuda/common.h"
#include "cuda/libs.h"
#include "cuda/ops.h"
#include "cuda/stream.h"

namespace senet::cuda {
namespace {

enum class Kind { Fwd, BwdData, BwdFilter };

size_t env_mb(const char* name, size_t def_mb) {
  const char* e = std::getenv(name);
  if (e && *e) return size_t(std::strtoull(e, nullptr, 10)) << 20;
  return def_mb << 20;
}
bool env_flag(const char* name, bool def) {
  const char* e = std::getenv(name);
  if (!e || !*e) return def;
  return std::strcmp(e, "0") != 0;
}
bool benchmark_mode() {
  static const bool v = env_flag("SENET_CUDNN_BENCHMARK", true);
  return v;
}
bool all_algos() {
  static const bool v = [] {
    const char* e = std::getenv("SENET_CUDNN_ALGOS");
    return e && std::strcmp(e, "all") == 0;
  }();
  return v;
}

bool allowed_fwd(int a, bool exact) {
  if (!exact) return true;
  return a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_DIRECT;
}
bool allowed_bwd_data(int a, bool exact) {
  if (!exact) return true;
  return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_0 || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
}
bool allowed_bwd_filter(int a, bool exact) {
  if (!exact) return true;
  return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3;
}

int to_int(int64_t v, const char* op) {
  if (v > int64_t(0x7fffffff))
    fail(Code::Shape, op, "x", "dimensions below 2^31 on CUDA", std::to_string(v));
  return int(v);
}

// Descriptors and the chosen algorithm of one (kind, shapes, params, dtype).
struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  int algo = -1;
  size_t ws = 0;
  bool explicit_pad = false;  // x is zero-padded before the call (asymmetric padding)
  Shape xp;                   // the (padded) input shape cuDNN sees
  ~Plan() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

struct PlanCache {
  std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<Plan>> map;
};
PlanCache& plans() {
  static auto* c = new PlanCache();
  return *c;
}

std::string plan_key(Kind k, int device, DType dt, const Shape& x, const Shape& w, const Shape& y,
                     const Conv2dParams& p) {
  std::string s = std::to_string(int(k)) + "|" + std::to_string(device) + "|" + std::to_string(int(dt)) + "|";
  for (const Shape* sh : {&x, &w, &y}) {
    for (auto d : *sh) s += std::to_string(d) + ",";
    s += "|";
  }
  for (int64_t v : {p.stride_h, p.stride_w, p.pad_t, p.pad_b, p.pad_l, p.pad_r, p.dil_h, p.dil_w, p.groups})
    s += std::to_string(v) + ",";
  return s;
}

cudnnDataType_t cudnn_type(DType d) { return d == DType::BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT; }

// Builds the descriptors (the algorithm is chosen by the caller).
std::shared_ptr<Plan> describe(DType dt, const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p,
                               const char* op) {
  auto P = std::make_shared<Plan>();
  P->explicit_pad = p.pad_t != p.pad_b || p.pad_l != p.pad_r;
  P->xp = x;
  int pad_h = int(p.pad_t), pad_w = int(p.pad_l);
  if (P->explicit_pad) {
    P->xp[1] = x[1] + p.pad_t + p.pad_b;
    P->xp[2] = x[2] + p.pad_l + p.pad_r;
    pad_h = pad_w = 0;
  }
  const cudnnDataType_t t = cudnn_type(dt);
  check_cudnn(cudnnCreateTensorDescriptor(&P->x), op, "cudnnCreateTensorDescriptor");
  check_cudnn(cudnnCreateTensorDescriptor(&P->y), op, "cudnnCreateTensorDescriptor");
  check_cudnn(cudnnCreateFilterDescriptor(&P->w), op, "cudnnCreateFilterDescriptor");
  check_cudnn(cudnnCreateConvolutionDescriptor(&P->conv), op, "cudnnCreateConvolutionDescriptor");
  check_cudnn(cudnnSetTensor4dDescriptor(P->x, CUDNN_TENSOR_NHWC, t, to_int(P->xp[0], op), to_int(P->xp[3], op),
                                         to_int(P->xp[1], op), to_int(P->xp[2], op)),
              op, "cudnnSetTensor4dDescriptor (x)");
  check_cudnn(cudnnSetTensor4dDescriptor(P->y, CUDNN_TENSOR_NHWC, t, to_int(y[0], op), to_int(y[3], op),
                                         to_int(y[1], op), to_int(y[2], op)),
              op, "cudnnSetTensor4dDescriptor (y)");
  check_cudnn(cudnnSetFilter4dDescriptor(P->w, t, CUDNN_TENSOR_NHWC, to_int(w[0], op), to_int(w[3], op),
                                         to_int(w[1], op), to_int(w[2], op)),
              op, "cudnnSetFilter4dDescriptor");
  check_cudnn(cudnnSetConvolution2dDescriptor(P->conv, pad_h, pad_w, int(p.stride_h), int(p.stride_w), int(p.dil_h),
                                              int(p.dil_w), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
              op, "cudnnSetConvolution2dDescriptor");
  check_cudnn(cudnnSetConvolutionGroupCount(P->conv, int(p.groups)), op, "cudnnSetConvolutionGroupCount");
  const cudnnMathType_t math =
      dt == DType::BF16 ? CUDNN_TENSOR_OP_MATH : (allow_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH);
  check_cudnn(cudnnSetConvolutionMathType(P->conv, math), op, "cudnnSetConvolutionMathType");
  int n = 0, c = 0, h = 0, wd = 0;
  check_cudnn(cudnnGetConvolution2dForwardOutputDim(P->conv, P->x, P->w, &n, &c, &h, &wd), op,
              "cudnnGetConvolution2dForwardOutputDim");
  if (n != y[0] || c != y[3] || h != y[1] || wd != y[2])
    throw Error(Code::Internal, std::string(op) + ": cuDNN's output shape [" + std::to_string(n) + "," +
                                    std::to_string(h) + "," + std::to_string(wd) + "," + std::to_string(c) +
                                    "] differs from senet's " + shape_str(y));
  return P;
}

size_t workspace_limit(Context& ctx) {
  static const size_t lim = env_mb("SENET_CUDNN_WORKSPACE_MB", 1024);
  size_t f = 0, t = 0;
  if (cudaMemGetInfo(&f, &t) != cudaSuccess) {
    cudaGetLastError();
    return lim;
  }
  (void)ctx;
  return std::min(lim, f / 4);
}

// Picks among perf results (sorted by cuDNN, fastest first).
template <class Perf, class Allowed>
bool pick(const Perf* perf, int n, size_t limit, bool exact, cudnnMathType_t math, Allowed allowed, Plan& P) {
  for (int i = 0; i < n; ++i) {
    const Perf& r = perf[i];
    if (r.status != CUDNN_STATUS_SUCCESS || r.memory > limit || !allowed(int(r.algo), exact)) continue;
    // float32: only the math we asked for (no TF32 unless allowed)
    if (math == CUDNN_FMA_MATH && r.mathType != CUDNN_FMA_MATH && r.mathType != CUDNN_DEFAULT_MATH) continue;
    P.algo = int(r.algo);
    P.ws = r.memory;
    if (r.mathType != math && math != CUDNN_FMA_MATH) cudnnSetConvolutionMathType(P.conv, r.mathType);
    return true;
  }
  return false;
}

// The plan of `kind` for these shapes: from the cache, or built and measured
// with the given buffers (outputs only are written).
std::shared_ptr<Plan> get_plan(Kind kind, Context& ctx, DType dt, const Shape& x, const Shape& w, const Shape& y,
                               const Conv2dParams& p, const void* xb, const void* wb, const void* yb, void* out,
                               const char* op) {
  const std::string key = plan_key(kind, ctx.device, dt, x, w, y, p);
  {
    std::lock_guard<std::mutex> lock(plans().mu);
    auto it = plans().map.find(key);
    if (it != plans().map.end()) return it->second;
  }
  auto P = describe(dt, x, w, y, p, op);
  cudnnHandle_t h = ctx.cudnn(op);
  bool exact = dt == DType::F32 && !all_algos();
  cudnnMathType_t math;
  cudnnGetConvolutionMathType(P->conv, &math);
  size_t limit = workspace_limit(ctx);
  const bool bench = benchmark_mode();
  bool ok = false;
  // The measuring workspace comes straight from the driver and goes back
  // after (the Find calls are synchronous): it must not stay in the cache.
  struct BenchWs {
    void* p = nullptr;
    ~BenchWs() {
      if (p) cudaFree(p);
    }
    void* get() const { return p; }
  } ws;
  if (bench) {
    while (limit >= (size_t(1) << 20) && cudaMalloc(&ws.p, limit) != cudaSuccess) {
      cudaGetLastError();
      ws.p = nullptr;
      limit /= 2;
    }
    if (!ws.p) limit = 0;
  }
  switch (kind) {
    case Kind::Fwd: {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int n = 0;
      if (bench)
        check_cudnn(cudnnFindConvolutionForwardAlgorithmEx(h, P->x, xb, P->w, wb, P->conv, P->y, out,
                                                           CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf, ws.get(), limit),
                    op, "cudnnFindConvolutionForwardAlgorithmEx");
      if (!bench || !(ok = pick(perf, n, limit, exact, math, allowed_fwd, *P))) {
        check_cudnn(cudnnGetConvolutionForwardAlgorithm_v7(h, P->x, P->w, P->conv, P->y,
                                                           CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf),
                    op, "cudnnGetConvolutionForwardAlgorithm_v7");
        ok = pick(perf, n, limit, exact, math, allowed_fwd, *P);
      }
      break;
    }
    case Kind::BwdData: {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      int n = 0;
      if (bench)
        check_cudnn(cudnnFindConvolutionBackwardDataAlgorithmEx(h, P->w, wb, P->y, yb, P->conv, P->x, out,
                                                                CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf,
                                                                ws.get(), limit),
                    op, "cudnnFindConvolutionBackwardDataAlgorithmEx");
      if (!bench || !(ok = pick(perf, n, limit, exact, math, allowed_bwd_data, *P))) {
        check_cudnn(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, P->w, P->y, P->conv, P->x,
                                                                CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf),
                    op, "cudnnGetConvolutionBackwardDataAlgorithm_v7");
        ok = pick(perf, n, limit, exact, math, allowed_bwd_data, *P);
      }
      break;
    }
    case Kind::BwdFilter: {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
      int n = 0;
      if (bench)
        check_cudnn(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, P->x, xb, P->y, yb, P->conv, P->w, out,
                                                                  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf,
                                                                  ws.get(), limit),
                    op, "cudnnFindConvolutionBackwardFilterAlgorithmEx");
      if (!bench || !(ok = pick(perf, n, limit, exact, math, allowed_bwd_filter, *P))) {
        check_cudnn(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, P->x, P->y, P->conv, P->w,
                                                                  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf),
                    op, "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
        ok = pick(perf, n, limit, exact, math, allowed_bwd_filter, *P);
      }
      break;
    }
  }
  if (!ok && exact) {
    // No direct-sum algorithm supports this configuration (NHWC float32 with
    // some dilations or groups): take cuDNN's other algorithms rather than fail.
    exact = false;
    switch (kind) {
      case Kind::Fwd: {
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int n = 0;
        if (cudnnGetConvolutionForwardAlgorithm_v7(h, P->x, P->w, P->conv, P->y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n,
                                                   perf) == CUDNN_STATUS_SUCCESS)
          ok = pick(perf, n, limit, false, math, allowed_fwd, *P);
        break;
      }
      case Kind::BwdData: {
        cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        int n = 0;
        if (cudnnGetConvolutionBackwardDataAlgorithm_v7(h, P->w, P->y, P->conv, P->x,
                                                        CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n,
                                                        perf) == CUDNN_STATUS_SUCCESS)
          ok = pick(perf, n, limit, false, math, allowed_bwd_data, *P);
        break;
      }
      case Kind::BwdFilter: {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        int n = 0;
        if (cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, P->x, P->y, P->conv, P->w,
                                                          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n,
                                                          perf) == CUDNN_STATUS_SUCCESS)
          ok = pick(perf, n, limit, false, math, allowed_bwd_filter, *P);
        break;
      }
    }
  }
  if (!ok)
    throw Error(Code::Cudnn, std::string(op) + ": cuDNN has no " + (exact ? "direct-sum " : "") +
                                 "algorithm for these shapes within a " + std::to_string(limit >> 20) +
                                 " MiB workspace (x " + shape_str(x) + ", w " + shape_str(w) + ", " + dtype_name(dt) +
                                 "; SENET_CUDNN_ALGOS=all and SENET_CUDNN_WORKSPACE_MB widen the choice)");
  std::lock_guard<std::mutex> lock(plans().mu);
  if (plans().map.size() > 4096) plans().map.clear();
  plans().map.emplace(key, P);
  return P;
}

// The weights in the activations' dtype: bfloat16 activations take a
// converted copy of float32 weights.
struct Weights {
  const void* p;
  Scratch tmp;
};
Weights weights_as(const Tensor& w, DType act, const char* op) {
  Weights r{w.storage->data(), Scratch()};
  if (act == w.dtype) return r;
  if (act == DType::BF16 && w.dtype == DType::F32) {
    r.tmp = Scratch(w.device().index, size_t(w.numel()) * 2, op);
    to_bf16(w.f32(), r.tmp.get(), w.numel(), w.device().index, op);
    r.p = r.tmp.get();
    return r;
  }
  fail(Code::DType, op, "w", std::string("dtype float32 (or ") + dtype_name(act) + " like the activations)",
       dtype_name(w.dtype));
}

void check_act(const char* op, const char* arg, const Tensor& t) {
  if (t.dtype != DType::F32 && t.dtype != DType::BF16)
    fail(Code::DType, op, arg, "dtype float32 or bfloat16", dtype_name(t.dtype));
}

}  // namespace

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const std::optional<Tensor>& b, const Conv2dParams& p,
                      const Shape& y_shape) {
  const char* op = "conv2d";
  Context& ctx = context(x.device().index, op);
  check_act(op, "x", x);
  require_f32(op, {{"b", b ? &*b : nullptr}});
  Tensor y = empty_tensor(y_shape, x.dtype, x.device(), op);
  Weights wt = weights_as(w, x.dtype, op);
  Tensor xin = x;
  if (p.pad_t != p.pad_b || p.pad_l != p.pad_r) xin = pad_spatial(x, p.pad_t, p.pad_b, p.pad_l, p.pad_r, op);
  auto P = get_plan(Kind::Fwd, ctx, x.dtype, x.shape, w.shape, y_shape, p, xin.storage->data(), wt.p, nullptr,
                    y.storage->data(), op);
  Scratch ws(ctx.device, P->ws, op);
  const float one = 1.0f, zero = 0.0f;
  check_cudnn(cudnnConvolutionForward(ctx.cudnn(op), &one, P->x, xin.storage->data(), P->w, wt.p, P->conv,
                                      cudnnConvolutionFwdAlgo_t(P->algo), ws.get(), P->ws, &zero, P->y,
                                      y.storage->data()),
              op, "cudnnConvolutionForward");
  if (b) add_bias_rows(y, *b, op);
  return y;
}

Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, const Conv2dParams& p) {
  const char* op = "conv2dBackwardData";
  Context& ctx = context(dy.device().index, op);
  check_act(op, "dy", dy);
  const bool explicit_pad = p.pad_t != p.pad_b || p.pad_l != p.pad_r;
  Shape xp = x_shape;
  if (explicit_pad) xp[1] += p.pad_t + p.pad_b, xp[2] += p.pad_l + p.pad_r;
  Tensor dxp = empty_tensor(xp, dy.dtype, dy.device(), op);
  Weights wt = weights_as(w, dy.dtype, op);
  auto P = get_plan(Kind::BwdData, ctx, dy.dtype, x_shape, w.shape, dy.shape, p, nullptr, wt.p,
                    dy.storage->data(), dxp.storage->data(), op);
  Scratch ws(ctx.device, P->ws, op);
  const float one = 1.0f, zero = 0.0f;
  check_cudnn(cudnnConvolutionBackwardData(ctx.cudnn(op), &one, P->w, wt.p, P->y, dy.storage->data(), P->conv,
                                           cudnnConvolutionBwdDataAlgo_t(P->algo), ws.get(), P->ws, &zero, P->x,
                                           dxp.storage->data()),
              op, "cudnnConvolutionBackwardData");
  if (!explicit_pad) return dxp;
  return crop_spatial(dxp, p.pad_t, p.pad_l, x_shape[1], x_shape[2], op);
}

std::vector<Tensor> conv2d_backward_filter(const Tensor& dy, const Tensor& x, const Shape& w_shape, bool with_bias,
                                           const Conv2dParams& p) {
  const char* op = "conv2dBackwardFilter";
  Context& ctx = context(x.device().index, op);
  check_act(op, "x", x);
  if (dy.dtype != x.dtype)
    fail(Code::DType, op, "dy", std::string("dtype ") + dtype_name(x.dtype) + " like x", dtype_name(dy.dtype));
  std::vector<Tensor> out;
  out.push_back(empty_tensor(w_shape, DType::F32, x.device(), op));
  if (with_bias) out.push_back(empty_tensor({w_shape[0]}, DType::F32, x.device(), op));
  const int64_t wn = out[0].numel();
  Tensor xin = x;
  if (p.pad_t != p.pad_b || p.pad_l != p.pad_r) xin = pad_spatial(x, p.pad_t, p.pad_b, p.pad_l, p.pad_r, op);
  // bfloat16: cuDNN writes a bfloat16 dw, converted to float32 after.
  Scratch dw_bf16;
  void* dw = out[0].storage->data();
  if (x.dtype == DType::BF16) {
    dw_bf16 = Scratch(ctx.device, size_t(wn) * 2, op);
    dw = dw_bf16.get();
  }
  auto P = get_plan(Kind::BwdFilter, ctx, x.dtype, x.shape, w_shape, dy.shape, p, xin.storage->data(), nullptr,
                    dy.storage->data(), dw, op);
  Scratch ws(ctx.device, P->ws, op);
  const float one = 1.0f, zero = 0.0f;
  check_cudnn(cudnnConvolutionBackwardFilter(ctx.cudnn(op), &one, P->x, xin.storage->data(), P->y,
                                             dy.storage->data(), P->conv, cudnnConvolutionBwdFilterAlgo_t(P->algo),
                                             ws.get(), P->ws, &zero, P->w, dw),
              op, "cudnnConvolutionBackwardFilter");
  if (x.dtype == DType::BF16) from_bf16(dw, out[0].f32(), wn, ctx.device, op);
  if (with_bias) column_sums(dy, w_shape[0], out[1].f32(), op);
  return out;
}

}  // namespace senet::cuda
