#include "core/errors.h"

#include <sstream>

namespace senet {

const char* code_name(Code c) {
  switch (c) {
    case Code::Shape: return "SENET_SHAPE";
    case Code::DType: return "SENET_DTYPE";
    case Code::Device: return "SENET_DEVICE";
    case Code::Disposed: return "SENET_DISPOSED";
    case Code::Arg: return "SENET_ARG";
    case Code::OOM: return "SENET_OOM";
    case Code::Dnnl: return "SENET_DNNL";
    case Code::Cuda: return "SENET_CUDA";
    case Code::Cudnn: return "SENET_CUDNN";
    case Code::Cublas: return "SENET_CUBLAS";
    case Code::IO: return "SENET_IO";
    case Code::Kernel: return "SENET_KERNEL";
    case Code::Internal: return "SENET_INTERNAL";
  }
  return "SENET_INTERNAL";
}

void fail(Code code, const std::string& op, const std::string& arg, const std::string& expected,
          const std::string& given) {
  throw Error(code, op + ": expected " + arg + " " + expected + ", got " + given);
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << '[';
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? "," : "") << shape[i];
  s << ']';
  return s.str();
}

}  // namespace senet
