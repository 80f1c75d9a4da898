// Tensor storage, shapes, dtypes and devices.
//
// A Tensor is a shape + dtype over a reference-counted Storage. JS handles
// (core/handle.h) and work queued on a stream (core/stream.h) each hold a
// shared_ptr to the Storage, so dispose() from JS never frees memory that a
// queued kernel is still going to read or write.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.h"

namespace senet {

using Shape = std::vector<int64_t>;

enum class DType : uint8_t { F32 = 0, I32 = 1, U8 = 2, BF16 = 3 };
size_t dtype_size(DType d);
const char* dtype_name(DType d);
// Parses "float32" | "int32" | "uint8" | "bfloat16"; throws SENET_DTYPE naming op/arg.
DType parse_dtype(const std::string& s, const char* op, const char* arg);

struct Device {
  enum Kind : uint8_t { CPU = 0, CUDA = 1 };
  Kind kind = CPU;
  int index = 0;
  bool operator==(const Device& o) const { return kind == o.kind && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;  // "cpu" | "cuda:0"
};
Device parse_device(const std::string& s, const char* op, const char* arg);

// Largest number of elements a tensor may have: keeps every byte count and
// index computation far from int64 overflow (2^40 elements is refused by the
// memory check long before).
constexpr int64_t kMaxElements = int64_t(1) << 50;

// Product of dims with overflow and sign checks; throws SENET_SHAPE.
int64_t checked_numel(const Shape& shape, const char* op, const char* arg);

class Storage {
 public:
  // Storage of `bytes` on `device`. CUDA memory is allocated here; CPU
  // memory when data() is first called, which for an op's output is on the
  // stream thread when the op runs (see data()). Throws SENET_OOM here for
  // more than the machine has (CUDA: more than is free).
  static std::shared_ptr<Storage> allocate(size_t bytes, Device device, const char* op);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  // The memory (CPU: 64-byte aligned, from the caching allocator). A CPU
  // block is taken on first use: ops allocate their outputs at the call and
  // queue their work, and the JavaScript thread runs ahead of the stream by
  // a whole backward pass, so blocks taken at the call were all held at
  // once (SE-ResNeXt-50's step at batch 16 peaked 3.2 GB above its saved
  // activations; the synchronous order needs none of that). Thread-safe;
  // throws SENET_OOM when the system refuses (on the stream: the next wait).
  void* data() const {
    void* p = ptr_.load(std::memory_order_acquire);
    return p ? p : materialize();
  }
  size_t bytes() const { return bytes_; }
  const Device& device() const { return device_; }

 private:
  Storage(void* p, size_t b, Device d) : ptr_(p), bytes_(b), device_(d) {}
  void* materialize() const;
  mutable std::atomic<void*> ptr_;
  size_t bytes_;
  Device device_;
};

struct Tensor {
  std::shared_ptr<Storage> storage;
  Shape shape;
  DType dtype = DType::F32;

  int64_t numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype); }
  int64_t rank() const { return int64_t(shape.size()); }
  const Device& device() const { return storage->device(); }
  template <class T>
  T* data() const { return static_cast<T*>(storage->data()); }
  float* f32() const { return data<float>(); }
};

// A new tensor (uninitialised memory) on `device`.
Tensor empty_tensor(const Shape& shape, DType dtype, Device device, const char* op);

// Process-wide accounting, per device kind (index 0 = cpu, 1 = cuda).
struct MemoryCounters {
  std::atomic<int64_t> handles{0};        // live JS tensor handles
  std::atomic<int64_t> handle_bytes{0};   // bytes viewed by live handles
  std::atomic<int64_t> storages{0};       // live storages (handles + queued work + views)
  std::atomic<int64_t> storage_bytes{0};  // bytes of live storages
  std::atomic<int64_t> peak_storage_bytes{0};
};
MemoryCounters& memory_counters(Device::Kind kind);

}  // namespace senet
