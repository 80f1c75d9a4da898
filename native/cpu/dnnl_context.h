// oneDNN plumbing shared by the CPU op families: the engine and stream,
// memory descriptors for our NHWC/OHWI layouts, a per-shape primitive cache,
// and the conversion of dnnl::error into SENET_DNNL errors.
//
// Primitive descriptors and primitives are created on the JS thread when an
// op is called (so an unsupported configuration throws at the call) and
// executed on the CPU stream thread.
#pragma once

#include <dnnl.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/errors.h"
#include "core/tensor.h"

namespace senet::cpu {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::engine& engine();
// Only used from the stream thread (or inline mode's calling thread).
dnnl::stream& stream();

memory::desc md(const memory::dims& dims, tag t, dt type = dt::f32);
inline memory mem(const memory::desc& d, void* p) { return memory(d, engine(), p); }

// NHWC activation [N,H,W,C] as oneDNN's logical {N,C,H,W} with tag nhwc.
memory::desc nhwc_md(const Shape& nhwc);

std::string dnnl_status_name(dnnl_status_t s);

// Runs f, turning dnnl::error into SENET_DNNL "<op>: oneDNN <status>: <what>".
template <class F>
auto dnnl_call(const char* op, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const dnnl::error& e) {
    throw Error(Code::Dnnl, std::string(op) + ": oneDNN " + dnnl_status_name(e.status) + ": " + e.what());
  }
}

// Reusable scratch memory of the calling thread (the stream thread): one
// buffer per slot, grown on demand, 64-byte aligned. Slots: 0 weight
// reorders, 1-6 the SE kernels, 7 oneDNN scratchpads, 8-9 the dense
// direct convolution (packed weights, padded input).
void* scratch(int slot, size_t bytes);

// Every primitive is created with a user-managed scratchpad. oneDNN's
// default ("library") scratchpad is a thread-local buffer of the thread
// that *creates* the primitive; we create on the JS thread and execute on
// the stream thread, which would then read another thread's buffer.
dnnl::primitive_attr attr();
// Adds DNNL_ARG_SCRATCHPAD backed by the calling thread's scratch (slot 7).
void add_scratchpad(std::unordered_map<int, memory>& args, const memory::desc& md);
// Executes p with args (+ scratchpad) on the stream.
void execute(const dnnl::primitive& p, std::unordered_map<int, memory> args, const memory::desc& scratchpad);

// Cache of per-shape primitive bundles, keyed by a string of the op's
// parameters. Cleared when the thread count changes (oneDNN partitions work
// for the thread count at creation).
class CacheBase {
 public:
  CacheBase();
  virtual ~CacheBase() = default;
  virtual void clear() = 0;
};
void clear_primitive_caches();

template <class T>
class PrimitiveCache : public CacheBase {
 public:
  std::shared_ptr<T> get(const std::string& key, const std::function<std::shared_ptr<T>()>& make) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = map_.find(key);
      if (it != map_.end()) return it->second;
    }
    auto v = make();
    std::lock_guard<std::mutex> lock(mu_);
    if (map_.size() > 4096) map_.clear();  // bound memory for shape-churning programs
    map_.emplace(key, v);
    return v;
  }
  void clear() override {
    std::lock_guard<std::mutex> lock(mu_);
    map_.clear();
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<T>> map_;
};

// Builds cache keys: key("conv", x.shape, w.shape, stride, ...).
inline void key_append(std::string& k, int64_t v) { k += std::to_string(v); k += ','; }
inline void key_append(std::string& k, const std::string& v) { k += v; k += ','; }
inline void key_append(std::string& k, const char* v) { k += v; k += ','; }
inline void key_append(std::string& k, const Shape& s) {
  k += '[';
  for (auto d : s) key_append(k, d);
  k += ']';
}
template <class... A>
std::string key(const A&... a) {
  std::string k;
  (key_append(k, a), ...);
  return k;
}

}  // namespace senet::cpu
