// cuDNN and cuBLAS statuses -> senet::Error (SENET_CUDNN / SENET_CUBLAS),
// with the library's own status name and message.
#pragma once

#include <cublas_v2.h>
#include <cudnn.h>

#include <string>

namespace senet::cuda {

[[noreturn]] void throw_cudnn(cudnnStatus_t s, const std::string& op, const char* what);
[[noreturn]] void throw_cublas(cublasStatus_t s, const std::string& op, const char* what);

inline void check_cudnn(cudnnStatus_t s, const std::string& op, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) throw_cudnn(s, op, what);
}
inline void check_cublas(cublasStatus_t s, const std::string& op, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw_cublas(s, op, what);
}

// Whether fp32 convolutions and GEMMs may use TF32 tensor cores
// (SENET_CUDA_TF32=1; off by default: fp32 means fp32, as the tests' error
// bounds assume).
bool allow_tf32();

}  // namespace senet::cuda
