#include "core/stream.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace senet {

CpuStream& CpuStream::get() {
  // Intentionally leaked: the thread is joined by the last env's cleanup
  // hook; a static destructor would run after that in unknown order.
  static CpuStream* s = new CpuStream();
  return *s;
}

static int default_threads() {
  for (const char* name : {"SENET_NUM_THREADS", "OMP_NUM_THREADS"}) {
    const char* v = std::getenv(name);
    if (v && *v) {
      const int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc ? int(hc) : 1;
}

CpuStream::CpuStream() {
  const char* s = std::getenv("SENET_CPU_SYNC");
  inline_ = s && *s && std::string(s) != "0";
  threads_ = default_threads();
  // oneDNN sizes its parallel decomposition when a primitive is created, on
  // the calling thread; keep that thread's OpenMP count equal to ours.
  omp_set_num_threads(threads_);
}

void CpuStream::register_env() {
  std::lock_guard<std::mutex> lock(mu_);
  ++envs_;
}

void CpuStream::unregister_env() {
  std::thread t;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (--envs_ > 0) return;
    if (!thread_.joinable()) return;
    stop_ = true;
    work_cv_.notify_all();
    t = std::move(thread_);
  }
  t.join();
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = false;
}

void CpuStream::start_locked() {
  if (thread_.joinable() || inline_) return;
  const int n = threads_;
  thread_ = std::thread([this, n] {
    omp_set_num_threads(n);
    loop();
  });
}

void CpuStream::record_error(const char* op, const std::exception& e, Code code) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!sticky_) {
    const auto* se = dynamic_cast<const Error*>(&e);
    std::string msg = e.what();
    // Errors thrown by our own checks already start with the op name.
    if (msg.rfind(op, 0) != 0) msg = std::string(op) + ": " + msg;
    sticky_.emplace(se ? se->code() : code, msg);
  }
}

namespace {
double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
}  // namespace

void CpuStream::loop() {
  using clock = std::chrono::steady_clock;
  for (;;) {
    std::pair<const char*, std::function<void()>> item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // profiling_ and prof_* belong to this thread (start/stop_profile run here)
      const bool waited = profiling_ && queue_.empty();
      const clock::time_point idle_from = waited ? clock::now() : clock::time_point{};
      work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (waited) prof_idle_ms_ += ms_between(idle_from, clock::now());
      if (stop_) {
        // Teardown: drop what is left (its storages are released here).
        queue_.clear();
        completed_ = submitted_;
        done_cv_.notify_all();
        return;
      }
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    const bool prof = profiling_;
    const clock::time_point t0 = prof ? clock::now() : clock::time_point{};
    try {
      item.second();
    } catch (const Error& e) {
      record_error(item.first, e, e.code());
    } catch (const std::bad_alloc& e) {
      record_error(item.first, e, Code::OOM);
    } catch (const std::exception& e) {
      record_error(item.first, e, Code::Internal);
    }
    item.second = nullptr;  // release captured storages before signalling
    if (prof && profiling_) {  // (a task that stopped the profile is not counted)
      OpTime& o = prof_[item.first];
      ++o.calls;
      o.ms += ms_between(t0, clock::now());
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++completed_;
    }
    done_cv_.notify_all();
  }
}

void CpuStream::start_profile() {
  run_sync("_streamProfile", [this] {
    prof_.clear();
    prof_idle_ms_ = 0;
    profiling_ = true;
  });
}

CpuStream::Profile CpuStream::stop_profile() {
  Profile p;
  run_sync("_streamProfile", [this, &p] {
    profiling_ = false;
    for (auto& [op, t] : prof_) {
      p.ops.push_back(OpTime{op, t.calls, t.ms});
      p.busy_ms += t.ms;
    }
    p.idle_ms = prof_idle_ms_;
    prof_.clear();
  });
  std::sort(p.ops.begin(), p.ops.end(), [](const OpTime& a, const OpTime& b) { return a.ms > b.ms; });
  return p;
}

uint64_t CpuStream::enqueue(const char* op, std::function<void()> task) {
  if (inline_) {
    uint64_t ticket;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ticket = ++submitted_;
    }
    try {
      task();
    } catch (const Error& e) {
      record_error(op, e, e.code());
    } catch (const std::bad_alloc& e) {
      record_error(op, e, Code::OOM);
    } catch (const std::exception& e) {
      record_error(op, e, Code::Internal);
    }
    std::lock_guard<std::mutex> lock(mu_);
    ++completed_;
    return ticket;
  }
  std::lock_guard<std::mutex> lock(mu_);
  start_locked();
  queue_.emplace_back(op, std::move(task));
  const uint64_t ticket = ++submitted_;
  work_cv_.notify_one();
  return ticket;
}

uint64_t CpuStream::last_ticket() {
  std::lock_guard<std::mutex> lock(mu_);
  return submitted_;
}

void CpuStream::wait(uint64_t ticket) {
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return completed_ >= ticket; });
  if (sticky_) {
    Error e = *sticky_;
    sticky_.reset();
    throw e;
  }
}

void CpuStream::run_sync(const char* op, std::function<void()> fn) {
  wait(enqueue(op, std::move(fn)));
}

void CpuStream::set_num_threads(int n) {
  if (n < 1) n = 1;
  omp_set_num_threads(n);  // this (JS) thread: primitive creation
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads_ = n;
  }
  run_sync("setNumThreads", [n] { omp_set_num_threads(n); });
}

}  // namespace senet
