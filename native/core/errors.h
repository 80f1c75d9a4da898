// Errors that cross into JavaScript.
//
// Native code throws senet::Error (never across threads: the CPU stream
// catches and stores it). The binding boundary (ops/*.cc, via guard())
// converts it into a JS Error whose `code` is one of the SENET_* strings;
// lib/errors.ts re-wraps it as a SenetError. One wording everywhere:
//   "<op>: expected <arg> <expected>, got <given>"
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace senet {

enum class Code {
  Shape,     // SENET_SHAPE: rank, dims, channel counts
  DType,     // SENET_DTYPE
  Device,    // SENET_DEVICE: mixed devices, unknown device
  Disposed,  // SENET_DISPOSED: use after dispose()
  Arg,       // SENET_ARG: option values (stride 0, unknown enum)
  OOM,       // SENET_OOM: allocation failed / larger than the machine
  Dnnl,      // SENET_DNNL: oneDNN status
  Cuda,      // SENET_CUDA
  Cudnn,     // SENET_CUDNN
  Cublas,    // SENET_CUBLAS
  IO,        // SENET_IO
  Kernel,    // SENET_KERNEL: a kernel found bad data after enqueue (label out of range)
  Internal,  // SENET_INTERNAL: a bug in senet
};

const char* code_name(Code c);

class Error : public std::runtime_error {
 public:
  Error(Code code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Code code() const { return code_; }

 private:
  Code code_;
};

// "<op>: expected <arg> <expected>, got <given>"
[[noreturn]] void fail(Code code, const std::string& op, const std::string& arg,
                       const std::string& expected, const std::string& given);

std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace senet
