#include "core/tensor.h"

#include <cmath>
#include <limits>
#include <mutex>

#include "core/allocator.h"

#ifdef SENET_WITH_CUDA
#include "cuda/device_memory.h"
#endif

namespace senet {

size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32: return 4;
    case DType::I32: return 4;
    case DType::U8: return 1;
    case DType::BF16: return 2;
  }
  return 4;
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "float32";
    case DType::I32: return "int32";
    case DType::U8: return "uint8";
    case DType::BF16: return "bfloat16";
  }
  return "float32";
}

DType parse_dtype(const std::string& s, const char* op, const char* arg) {
  if (s == "float32") return DType::F32;
  if (s == "int32") return DType::I32;
  if (s == "uint8") return DType::U8;
  if (s == "bfloat16") return DType::BF16;
  fail(Code::DType, op, arg, "one of float32|int32|uint8|bfloat16", "'" + s + "'");
}

std::string Device::str() const {
  return kind == CPU ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Device parse_device(const std::string& s, const char* op, const char* arg) {
  if (s == "cpu") return Device{Device::CPU, 0};
  if (s == "cuda") return Device{Device::CUDA, 0};
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.size() < 9) {
    int idx = 0;
    for (size_t i = 5; i < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') fail(Code::Device, op, arg, "'cpu' or 'cuda:N'", "'" + s + "'");
      idx = idx * 10 + (s[i] - '0');
    }
    return Device{Device::CUDA, idx};
  }
  fail(Code::Device, op, arg, "'cpu' or 'cuda:N'", "'" + s + "'");
}

int64_t checked_numel(const Shape& shape, const char* op, const char* arg) {
  int64_t n = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    const int64_t d = shape[i];
    if (d < 0) fail(Code::Shape, op, arg, "non-negative dimensions", "shape " + shape_str(shape));
    if (d != 0 && n > kMaxElements / d)
      fail(Code::Shape, op, arg, "at most 2^50 elements", "shape " + shape_str(shape));
    n *= d;
  }
  return n;
}

namespace {
MemoryCounters g_counters[2];
}

MemoryCounters& memory_counters(Device::Kind kind) { return g_counters[kind == Device::CPU ? 0 : 1]; }

namespace {

void count_bytes(Device::Kind kind, int64_t bytes) {
  auto& c = memory_counters(kind);
  const int64_t now = c.storage_bytes.fetch_add(bytes) + bytes;
  int64_t peak = c.peak_storage_bytes.load();
  while (now > peak && !c.peak_storage_bytes.compare_exchange_weak(peak, now)) {
  }
}

std::mutex g_materialize_mu;  // taking a CPU block (rare: once per storage)

}  // namespace

std::shared_ptr<Storage> Storage::allocate(size_t bytes, Device device, const char* op) {
  void* p = nullptr;
  if (device.kind == Device::CPU) {
    // Refuse what the machine cannot hold before asking: Linux overcommit
    // would hand out the address space and kill the process on first touch.
    const uint64_t phys = host::physical_memory_bytes();
    if (bytes > phys) {
      throw Error(Code::OOM, std::string(op) + ": out of memory on cpu: requested " +
                                 std::to_string(bytes) + " bytes, the machine has " +
                                 std::to_string(phys) + " bytes (" +
                                 std::to_string(host::available_memory_bytes()) + " available)");
    }
    // the block itself: materialize(), on first use
  } else {
#ifdef SENET_WITH_CUDA
    p = cuda::device_allocate(bytes, device.index, op);
    count_bytes(device.kind, int64_t(bytes));
#else
    throw Error(Code::Device, std::string(op) + ": expected device cpu (this build of senet has no CUDA), got " +
                                  device.str());
#endif
  }
  memory_counters(device.kind).storages.fetch_add(1);
  return std::shared_ptr<Storage>(new Storage(p, bytes, device));
}

void* Storage::materialize() const {
  if (device_.kind != Device::CPU) return nullptr;  // (an empty CUDA block)
  std::lock_guard<std::mutex> lock(g_materialize_mu);
  void* p = ptr_.load(std::memory_order_acquire);
  if (p) return p;
  p = host::allocate(bytes_);
  if (!p) {
    throw Error(Code::OOM, "out of memory on cpu: requested " + std::to_string(bytes_) + " bytes, " +
                               std::to_string(host::available_memory_bytes()) + " available");
  }
  count_bytes(device_.kind, int64_t(bytes_));
  ptr_.store(p, std::memory_order_release);
  return p;
}

Storage::~Storage() {
  auto& c = memory_counters(device_.kind);
  c.storages.fetch_sub(1);
  void* p = ptr_.load(std::memory_order_acquire);
  if (!p) return;  // a CPU storage never used
  if (device_.kind == Device::CPU) {
    host::release(p, bytes_);
  } else {
#ifdef SENET_WITH_CUDA
    cuda::device_release(p, bytes_, device_.index);
#endif
  }
  c.storage_bytes.fetch_sub(int64_t(bytes_));
}

Tensor empty_tensor(const Shape& shape, DType dtype, Device device, const char* op) {
  const int64_t n = checked_numel(shape, op, "shape");
  Tensor t;
  t.shape = shape;
  t.dtype = dtype;
  t.storage = Storage::allocate(size_t(n) * dtype_size(dtype), device, op);
  return t;
}

}  // namespace senet
