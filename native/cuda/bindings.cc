// Bindings of the CUDA backend that the op families do not cover, compiled
// into every build (native/sources.txt): the host checks of the kernels'
// index arithmetic (host_checks.cc), `cast` (float32 <-> bfloat16, CUDA
// only; a CPU build or tensor gets SENET_DTYPE), and the copy-bandwidth probe
// the GPU benchmarks compare the SE kernels against.
#include "core/args.h"
#include "cpu/ops.h"
#include "ops/registry.h"

#ifdef SENET_WITH_CUDA
#include "cuda/device_memory.h"
#include "cuda/ops.h"
#endif

namespace senet {

void register_cuda_host_checks(Napi::Env env, Napi::Object exports);

// cast(x, dtype) -> a new tensor of that dtype (same dtype: a copy).
SENET_BINDING(cast) {
  OpArgs A(info, "cast");
  TensorHandle* h = TensorHandle::From(info[0]);
  const DType own = h && !h->released() ? h->tensor().dtype : DType::F32;
  Tensor x = A.tensor(0, "x", own);
  const DType to = parse_dtype(A.string(1, "dtype"), A.op(), "dtype");
  if (to != x.dtype && !((to == DType::BF16 && x.dtype == DType::F32) || (to == DType::F32 && x.dtype == DType::BF16)))
    fail(Code::DType, A.op(), "dtype", "float32 <-> bfloat16", std::string(dtype_name(x.dtype)) + " -> " + dtype_name(to));
  if (x.device().kind == Device::CPU) {
    if (to != x.dtype)
      fail(Code::DType, A.op(), "x", "a cuda tensor (bfloat16 compute is CUDA-only; the CPU backend is float32)",
           "a cpu tensor");
    return wrap(info.Env(), SENET_DISPATCH(x, copy, x));
  }
#ifdef SENET_WITH_CUDA
  return wrap(info.Env(), cuda::cast(x, to));
#else
  fail(Code::Device, A.op(), "x", "a cpu tensor (this build of senet has no CUDA)", x.device().str());
#endif
}

// _cudaCopyBandwidth(bytes, reps, device = 0): GB/s (read + written) of a
// device-to-device copy; SENET_DEVICE without CUDA.
SENET_BINDING(_cudaCopyBandwidth) {
  OpArgs A(info, "copyBandwidth");
  const double bytes = A.number(0, "bytes"), reps = A.number(1, "reps");
  const double dev = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 0.0;
  if (!(bytes >= 4096 && bytes <= 64.0 * (1ull << 30)))
    fail(Code::Arg, A.op(), "bytes", "a size in [4096, 64 GiB]", describe(info[0]));
  if (!(reps >= 1 && reps <= 1000)) fail(Code::Arg, A.op(), "reps", "an integer in [1, 1000]", describe(info[1]));
#ifdef SENET_WITH_CUDA
  return Napi::Number::New(info.Env(), cuda::copy_bandwidth(int(dev), size_t(bytes) / 256 * 256, int(reps)));
#else
  (void)dev;
  fail(Code::Device, A.op(), "device", "a CUDA device (this build of senet has no CUDA)", "cuda:0");
#endif
}

void register_cuda_bindings(Napi::Env env, Napi::Object exports) {
  register_cuda_host_checks(env, exports);
  SENET_EXPORT(exports, env, cast);
  SENET_EXPORT(exports, env, _cudaCopyBandwidth);
}

}  // namespace senet
