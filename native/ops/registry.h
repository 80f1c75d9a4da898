// Each family of bindings registers its functions on the module exports.
#pragma once

#include <napi.h>

#include <vector>

#include "core/tensor.h"

#ifdef SENET_WITH_CUDA
#include "cuda/ops.h"  // ::senet::cuda::fn for SENET_DISPATCH
#endif

namespace senet {

void register_tensor_ops(Napi::Env env, Napi::Object exports);
void register_runtime_ops(Napi::Env env, Napi::Object exports);
void register_conv_ops(Napi::Env env, Napi::Object exports);
void register_batchnorm_ops(Napi::Env env, Napi::Object exports);
void register_pool_ops(Napi::Env env, Napi::Object exports);
void register_linear_ops(Napi::Env env, Napi::Object exports);
void register_eltwise_ops(Napi::Env env, Napi::Object exports);
void register_loss_ops(Napi::Env env, Napi::Object exports);
void register_sgd_ops(Napi::Env env, Napi::Object exports);
void register_se_ops(Napi::Env env, Napi::Object exports);
void register_pad_ops(Napi::Env env, Napi::Object exports);
void register_math_ops(Napi::Env env, Napi::Object exports);
void register_reduce_ops(Napi::Env env, Napi::Object exports);
void register_layout_ops(Napi::Env env, Napi::Object exports);
void register_matmul_ops(Napi::Env env, Napi::Object exports);
void register_view_ops(Napi::Env env, Napi::Object exports);
void register_cuda_bindings(Napi::Env env, Napi::Object exports);  // native/cuda/bindings.cc (every build)

// [handle | null, ...] for a list of outputs (empty tensors become null).
Napi::Value outputs(Napi::Env env, const std::vector<Tensor>& ts);

#define SENET_EXPORT(exports, env, name) (exports).Set(#name, Napi::Function::New((env), name, #name))

// Calls the implementation of `fn` for the device of tensor `t`.
#ifdef SENET_WITH_CUDA
#define SENET_DISPATCH(t, fn, ...) \
  ((t).device().kind == ::senet::Device::CPU ? ::senet::cpu::fn(__VA_ARGS__) : ::senet::cuda::fn(__VA_ARGS__))
#else
#define SENET_DISPATCH(t, fn, ...) ::senet::cpu::fn(__VA_ARGS__)
#endif

}  // namespace senet
