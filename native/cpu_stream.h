// The CPU stream: one worker thread runs queued tasks in submission order, so kernels never run on
// the JS thread. A task that throws leaves a sticky error, reported by the next read/sync.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace ifa {

class CpuStream {
 public:
  static CpuStream& instance();
  void enqueue(std::string name, std::function<void()> task);
  // Returns and clears the first error raised by a task since the last call ("" when none).
  std::string takeError();
  void shutdown();
  size_t pending();

 private:
  CpuStream();
  void loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, std::function<void()>>> queue_;
  std::string error_;
  bool stop_ = false;
  bool started_ = false;
  std::thread worker_;
};

}  // namespace ifa
