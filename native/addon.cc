// Module init and the export table; the bindings live in native/ops/.
#include <napi.h>

#include "core/cpu_info.h"
#include "core/handle.h"
#include "core/stream.h"
#include "ops/registry.h"

namespace senet {

Napi::Value outputs(Napi::Env env, const std::vector<Tensor>& ts) {
  auto arr = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); ++i)
    arr.Set(uint32_t(i), ts[i].storage ? TensorHandle::Wrap(env, ts[i]) : env.Null());
  return arr;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (!cpu::isa_supported(cpu::Isa::Avx2)) {
    throw Napi::Error::New(env, "senet: this build needs a CPU with AVX2 and FMA (x86-64-v3)");
  }
  auto* data = new AddonData();
  data->tensor_ctor = Napi::Persistent(TensorHandle::Define(env));
  env.SetInstanceData<AddonData>(data);
  CpuStream::get().register_env();
  env.AddCleanupHook([] { CpuStream::get().unregister_env(); });

  register_tensor_ops(env, exports);
  register_runtime_ops(env, exports);
  register_conv_ops(env, exports);
  register_batchnorm_ops(env, exports);
  register_pool_ops(env, exports);
  register_linear_ops(env, exports);
  register_eltwise_ops(env, exports);
  register_loss_ops(env, exports);
  register_sgd_ops(env, exports);
  register_se_ops(env, exports);
  register_pad_ops(env, exports);
  register_math_ops(env, exports);
  register_reduce_ops(env, exports);
  register_layout_ops(env, exports);
  register_matmul_ops(env, exports);
  register_view_ops(env, exports);
  register_cuda_bindings(env, exports);
  return exports;
}

}  // namespace senet

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return senet::Init(env, exports); }

NODE_API_MODULE(senet_addon, InitModule)
