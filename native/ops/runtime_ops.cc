// Runtime: sync, memory, caches, threads, ISA, build info, and the copy
// bandwidth probe the benchmarks compare the SE kernel against.
#include <dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "core/allocator.h"
#include "core/args.h"
#include "core/cpu_info.h"
#include "core/stream.h"
#include "cpu/dnnl_context.h"
#include "cpu/stream_out.h"
#include "ops/registry.h"

#ifdef SENET_WITH_CUDA
#include "cuda/device_memory.h"
#endif

#ifndef SENET_VERSION
#define SENET_VERSION "0.0.0"
#endif

namespace senet {
namespace {

class SyncWorker : public Napi::AsyncWorker {
 public:
  SyncWorker(Napi::Env env, uint64_t ticket)
      : Napi::AsyncWorker(env, "senet.sync"), deferred_(Napi::Promise::Deferred::New(env)), ticket_(ticket) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      CpuStream::get().wait(ticket_);
#ifdef SENET_WITH_CUDA
      cuda::sync_all_devices();  // every CUDA stream; the first asynchronous error
#endif
    } catch (const Error& e) {
      err_ = e;
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error&) override { deferred_.Reject(js_error(Env(), err_).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  uint64_t ticket_;
  Error err_{Code::Internal, ""};
};

Napi::Object counters(Napi::Env env, Device::Kind kind) {
  const auto& c = memory_counters(kind);
  auto o = Napi::Object::New(env);
  o.Set("tensors", double(c.handles.load()));
  o.Set("bytes", double(c.handle_bytes.load()));
  o.Set("storages", double(c.storages.load()));
  o.Set("allocatedBytes", double(c.storage_bytes.load()));
  o.Set("peakAllocatedBytes", double(c.peak_storage_bytes.load()));
  return o;
}

}  // namespace

SENET_BINDING(sync) {
  auto* w = new SyncWorker(info.Env(), CpuStream::get().last_ticket());
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

SENET_BINDING(syncSync) {
  CpuStream::get().sync();
#ifdef SENET_WITH_CUDA
  cuda::sync_all_devices();
#endif
  return info.Env().Undefined();
}

SENET_BINDING(memory) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  auto cpu = counters(env, Device::CPU);
  const auto cs = host::cache_stats();
  cpu.Set("cachedBytes", double(cs.cached_bytes));
  cpu.Set("cacheHits", double(cs.hits));
  cpu.Set("cacheMisses", double(cs.misses));
  o.Set("cpu", cpu);
#ifdef SENET_WITH_CUDA
  // One entry for all CUDA devices (tensors and bytes), with the caching
  // allocator of device 0 (reserved = held from the driver, inUse = handed
  // out, cached = reserved - inUse) and `perDevice` for every device.
  auto cu = counters(env, Device::CUDA);
  auto per = Napi::Object::New(env);
  for (int d = 0; d < cuda::device_count(); ++d) {
    const cuda::DeviceMemoryStats m = cuda::memory_stats(d);
    auto o2 = Napi::Object::New(env);
    o2.Set("reservedBytes", double(m.reserved));
    o2.Set("inUseBytes", double(m.in_use));
    o2.Set("cachedBytes", double(m.cached));
    o2.Set("cachedBlocks", double(m.cached_blocks));
    o2.Set("peakReservedBytes", double(m.peak_reserved));
    o2.Set("peakInUseBytes", double(m.peak_in_use));
    o2.Set("cacheHits", double(m.hits));
    o2.Set("cacheMisses", double(m.misses));
    o2.Set("cacheFlushes", double(m.flushes));
    o2.Set("deviceFreeBytes", double(m.device_free));
    o2.Set("deviceTotalBytes", double(m.device_total));
    per.Set("cuda:" + std::to_string(d), o2);
    if (d == 0)
      for (const char* k : {"reservedBytes", "inUseBytes", "cachedBytes", "cacheHits", "cacheMisses", "peakReservedBytes",
                            "deviceFreeBytes", "deviceTotalBytes"})
        cu.Set(k, o2.Get(k));
  }
  cu.Set("perDevice", per);
  o.Set("cuda", cu);
#endif
  return o;
}

SENET_BINDING(emptyCache) {
  // Queued storages may still be released by the stream: drain it first.
  CpuStream::get().sync();
  host::empty_cache();
#ifdef SENET_WITH_CUDA
  cuda::empty_cache_all();  // synchronises each device first
#endif
  return info.Env().Undefined();
}

SENET_BINDING(setNumThreads) {
  OpArgs A(info, "setNumThreads");
  const double n = A.number(0, "threads");
  if (!(n >= 1 && n <= 4096) || n != double(int64_t(n)))
    fail(Code::Arg, A.op(), "threads", "an integer in [1, 4096]", describe(info[0]));
  CpuStream::get().set_num_threads(int(n));
  cpu::clear_primitive_caches();
  return info.Env().Undefined();
}

SENET_BINDING(getNumThreads) { return Napi::Number::New(info.Env(), CpuStream::get().num_threads()); }

SENET_BINDING(setIsa) {
  OpArgs A(info, "setIsa");
  CpuStream::get().sync();  // queued kernels keep the ISA they were enqueued with anyway
  cpu::set_isa(cpu::parse_isa(A.string(0, "isa"), A.op()));
  return info.Env().Undefined();
}

SENET_BINDING(info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("version", SENET_VERSION);
  o.Set("isa", cpu::isa_name(cpu::current_isa()));
  o.Set("bestIsa", cpu::isa_name(cpu::best_isa()));
  auto supported = Napi::Array::New(env);
  uint32_t k = 0;
  for (auto isa : {cpu::Isa::Scalar, cpu::Isa::Avx2, cpu::Isa::Avx512})
    if (cpu::isa_supported(isa)) supported.Set(k++, cpu::isa_name(isa));
  o.Set("isas", supported);
  o.Set("threads", CpuStream::get().num_threads());
  o.Set("cpuSync", CpuStream::get().is_inline());
  const dnnl_version_t* v = dnnl_version();
  o.Set("dnnl", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
  o.Set("l2Bytes", double(cpu::l2_cache_bytes()));
  o.Set("l3Bytes", double(cpu::l3_cache_bytes()));
#ifdef SENET_WITH_CUDA
  o.Set("cuda", true);
#else
  o.Set("cuda", false);
#endif
  auto devices = Napi::Array::New(env);
  devices.Set(uint32_t(0), "cpu");
#ifdef SENET_WITH_CUDA
  // cuda:N for each GPU present at run time (none without a driver or GPU).
  const auto names = cuda::device_names();
  auto cuda_names = Napi::Array::New(env);
  for (size_t d = 0; d < names.size(); ++d) {
    devices.Set(uint32_t(d + 1), "cuda:" + std::to_string(d));
    cuda_names.Set(uint32_t(d), names[d]);
  }
  o.Set("cudaDevices", cuda_names);
  o.Set("cudaLibraries", cuda::library_versions());
  if (names.empty()) o.Set("cudaUnavailable", cuda::no_device_reason());
#endif
  o.Set("devices", devices);
  return o;
}

// _copyBandwidth(bytes, reps): best-of-reps GB/s of a parallel memcpy of
// `bytes` on the stream thread with the engine's threads, counting bytes
// read plus bytes written (the convention the SE bandwidth uses).
SENET_BINDING(_copyBandwidth) {
  OpArgs A(info, "copyBandwidth");
  const double bytes_d = A.number(0, "bytes"), reps_d = A.number(1, "reps");
  if (!(bytes_d >= 4096 && bytes_d <= 8.0 * (1ull << 30)))
    fail(Code::Arg, A.op(), "bytes", "a size in [4096, 8 GiB]", describe(info[0]));
  if (!(reps_d >= 1 && reps_d <= 1000)) fail(Code::Arg, A.op(), "reps", "an integer in [1, 1000]", describe(info[1]));
  const size_t bytes = size_t(bytes_d) / 64 * 64;
  const int reps = int(reps_d);
  double best = 0.0;
  CpuStream::get().run_sync("copyBandwidth", [&] {
    // The tensors' allocator (2 MiB aligned, huge-page advised), so the copy
    // sees the same pages and TLB behaviour as the ops it is compared with.
    char* src = static_cast<char*>(host::allocate(bytes));
    char* dst = static_cast<char*>(host::allocate(bytes));
    if (!src || !dst) {
      host::release(src, bytes);
      host::release(dst, bytes);
      throw Error(Code::OOM, "copyBandwidth: out of memory for 2 x " + std::to_string(bytes) + " bytes");
    }
    std::memset(src, 1, bytes);
    std::memset(dst, 2, bytes);
    for (int r = 0; r < reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel
      {
        const int T = omp_get_num_threads(), t = omp_get_thread_num();
        const size_t chunk = (bytes / size_t(T) + 63) / 64 * 64;
        const size_t b = std::min(bytes, chunk * size_t(t)), e = std::min(bytes, b + chunk);
        if (e > b) std::memcpy(dst + b, src + b, e - b);
      }
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, 2.0 * double(bytes) / s / 1e9);
    }
    host::release(src, bytes);
    host::release(dst, bytes);
  });
  return Napi::Number::New(info.Env(), best);
}

// _streamStores({mode?: 'auto' | 'on' | 'off'}) -> mode: test and benchmark
// hook for the streaming stores of large elementwise outputs (cpu/stream_out.h).
SENET_BINDING(_streamStores) {
  OpArgs A(info, "_streamStores");
  auto o = A.options(0);
  if (const auto mode = opt_mode(A.op(), o, "mode")) {
    CpuStream::get().sync();
    cpu::stream_stores_config(*mode);
  }
  return Napi::String::New(info.Env(), mode_name(cpu::stream_stores_mode()));
}

// _streamProfile({on: true}) starts (and resets) timing every task the CPU
// stream runs, after the work already queued; _streamProfile({on: false})
// waits for the queued work, stops, and returns {ops: [{op, calls, ms}]
// (largest first), busyMs, idleMs (the stream waiting for work)}. Tasks run
// inline (SENET_CPU_SYNC=1) are not timed.
SENET_BINDING(_streamProfile) {
  OpArgs A(info, "_streamProfile");
  auto o = A.options(0);
  Napi::Env env = info.Env();
  if (opt_bool(A.op(), o, "on", false)) {
    CpuStream::get().start_profile();
    return env.Undefined();
  }
  const CpuStream::Profile p = CpuStream::get().stop_profile();
  Napi::Array ops = Napi::Array::New(env, p.ops.size());
  for (size_t i = 0; i < p.ops.size(); ++i) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("op", p.ops[i].op);
    e.Set("calls", double(p.ops[i].calls));
    e.Set("ms", p.ops[i].ms);
    ops.Set(uint32_t(i), e);
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("ops", ops);
  r.Set("busyMs", p.busy_ms);
  r.Set("idleMs", p.idle_ms);
  return r;
}

void register_runtime_ops(Napi::Env env, Napi::Object exports) {
  SENET_EXPORT(exports, env, _streamProfile);
  SENET_EXPORT(exports, env, _streamStores);
  SENET_EXPORT(exports, env, sync);
  SENET_EXPORT(exports, env, syncSync);
  SENET_EXPORT(exports, env, memory);
  SENET_EXPORT(exports, env, emptyCache);
  SENET_EXPORT(exports, env, setNumThreads);
  SENET_EXPORT(exports, env, getNumThreads);
  SENET_EXPORT(exports, env, setIsa);
  SENET_EXPORT(exports, env, info);
  SENET_EXPORT(exports, env, _copyBandwidth);
}

}  // namespace senet
