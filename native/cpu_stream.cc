#include "cpu_stream.h"

#include <exception>

namespace ifa {

// Never destroyed: when Node exits without running the environment cleanup hook (an uncaught
// exception), a static CpuStream's joinable worker thread would abort the process in its destructor.
CpuStream& CpuStream::instance() {
  static CpuStream* s = new CpuStream();
  return *s;
}

CpuStream::CpuStream() {}

void CpuStream::enqueue(std::string name, std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_) {
    started_ = true;
    worker_ = std::thread([this] { loop(); });
  }
  queue_.emplace_back(std::move(name), std::move(task));
  cv_.notify_one();
}

size_t CpuStream::pending() {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

std::string CpuStream::takeError() {
  std::lock_guard<std::mutex> lock(mu_);
  std::string e;
  e.swap(error_);
  return e;
}

void CpuStream::loop() {
  for (;;) {
    std::pair<std::string, std::function<void()>> item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop requested and drained
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    std::string failure;
    try {
      item.second();
    } catch (const std::exception& e) {
      failure = item.first + ": " + e.what();
    } catch (...) {
      failure = item.first + ": unknown error";
    }
    // Destroy the task (and the buffers it holds) before the next task runs, so memory counts seen
    // by a later read are settled.
    item.second = nullptr;
    if (!failure.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (error_.empty()) error_ = failure;
    }
  }
}

void CpuStream::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) return;
    stop_ = true;
    // Pending kernels are dropped at exit; only reads would observe them and JS is gone.
    queue_.clear();
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

}  // namespace ifa
