// The CPU stream: one worker thread runs queued tasks in submission order, so kernels never run on
// the JS thread. A task that throws leaves a sticky error, reported by the next read/sync.
//
// Kernel timing (ifa-ssl --trace / profile): while trace::on(), the stream records each task's begin
// and end (steady_clock, the clock of trace::nowNs()) and the CUDA device an event pair around each
// launch; the addon hands them to JS with traceTake(). Off, a task costs one relaxed atomic load.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ifa {

namespace trace {
extern std::atomic<bool> enabled;
inline bool on() { return enabled.load(std::memory_order_relaxed); }
// steady_clock in nanoseconds (CLOCK_MONOTONIC on Linux, the clock of Node's process.hrtime).
int64_t nowNs();
// One kernel (id > 0: the number run() returned) or stream task (id 0: write, read) as it executed.
struct Span {
  uint64_t id;
  int device;  // 0 cpu, 1 cuda
  std::string name;
  int64_t beginNs, endNs;
};
// A new kernel id (1, 2, …; reset by setEnabled(true)).
uint64_t nextId();
// Turning tracing on clears what was recorded and restarts the ids.
void setEnabled(bool on);
void record(Span s);
// Everything recorded so far, oldest first, and the number of spans dropped past the cap.
std::vector<Span> take(uint64_t* dropped);
}  // namespace trace

class CpuStream {
 public:
  static CpuStream& instance();
  // id: the kernel id the trace knows this task by (0 for transfers).
  void enqueue(std::string name, std::function<void()> task, uint64_t id = 0);
  // Returns and clears the first error raised by a task since the last call ("" when none).
  std::string takeError();
  void shutdown();
  size_t pending();

 private:
  struct Task {
    std::string name;
    std::function<void()> run;
    uint64_t id;
  };
  CpuStream();
  void loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_;
  std::string error_;
  bool stop_ = false;
  bool started_ = false;
  std::thread worker_;
};

}  // namespace ifa
