// The CPU stream: one worker thread with a FIFO queue.
//
// An op validates its arguments and allocates its outputs on the calling
// (JS) thread, then enqueues a task and returns at once; the task runs on
// the stream thread, in order, so in-place updates (SGD, running stats) and
// reads after writes need no further synchronisation. Readers wait on a
// ticket (toArray, sync). An exception inside a task cannot reach JS where it
// happened: the first one is kept ("sticky") and thrown by the next wait,
// as CUDA reports asynchronous errors. SENET_CPU_SYNC=1 runs every task
// inline on the calling thread (for debugging and profiling).
//
// All OpenMP parallel regions (ours and oneDNN's) start from the stream
// thread, so its OpenMP thread count is the engine's thread count.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/errors.h"

namespace senet {

class CpuStream {
 public:
  static CpuStream& get();

  // Queues `task`; returns its ticket. `op` names the task in errors.
  uint64_t enqueue(const char* op, std::function<void()> task);
  // Waits until every task up to `ticket` has run; throws the sticky error
  // (once) if a task failed.
  void wait(uint64_t ticket);
  void sync() { wait(last_ticket()); }
  uint64_t last_ticket();
  // Runs `fn` on the stream thread after everything queued and waits for it.
  void run_sync(const char* op, std::function<void()> fn);

  bool is_inline() const { return inline_; }
  int num_threads() const { return threads_; }
  void set_num_threads(int n);  // applied on the stream thread (OpenMP ICVs are per thread)
  void register_env();
  void unregister_env();  // the last env stops and joins the thread

  // Profiling on the stream thread (_streamProfile): per op name, the tasks
  // run and their wall time, and the time the stream waited for work.
  // start_profile() resets and turns it on (after the queued work);
  // stop_profile() waits for the queued work, turns it off and returns it.
  struct OpTime {
    std::string op;
    int64_t calls = 0;
    double ms = 0;
  };
  struct Profile {
    std::vector<OpTime> ops;  // by time, largest first
    double busy_ms = 0, idle_ms = 0;
  };
  void start_profile();
  Profile stop_profile();

 private:
  CpuStream();
  void loop();
  void start_locked();
  void record_error(const char* op, const std::exception& e, Code code);

  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<std::pair<const char*, std::function<void()>>> queue_;
  std::thread thread_;
  uint64_t submitted_ = 0, completed_ = 0;
  bool stop_ = false;
  bool inline_ = false;
  int threads_ = 1;
  int envs_ = 0;
  std::optional<Error> sticky_;
  // profiling state (the stream thread writes it; start/stop run on it too)
  bool profiling_ = false;
  std::map<std::string, OpTime> prof_;
  double prof_idle_ms_ = 0;
};

}  // namespace senet
