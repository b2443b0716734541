#include "cpu_stream.h"

#include <chrono>
#include <exception>

namespace ifa {

namespace trace {
std::atomic<bool> enabled{false};
namespace {
std::mutex mu;
std::vector<Span> spans;
uint64_t dropped = 0;
std::atomic<uint64_t> ids{0};
// A trace left on for days must not eat the host: past this many spans, new ones are counted only.
constexpr size_t kMaxSpans = size_t(1) << 22;
}  // namespace

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
uint64_t nextId() { return ++ids; }
void setEnabled(bool on) {
  if (on) {
    std::lock_guard<std::mutex> lock(mu);
    spans.clear();
    dropped = 0;
    ids = 0;
  }
  enabled.store(on);
}
void record(Span s) {
  std::lock_guard<std::mutex> lock(mu);
  if (spans.size() >= kMaxSpans) {
    dropped++;
    return;
  }
  spans.push_back(std::move(s));
}
std::vector<Span> take(uint64_t* droppedOut) {
  std::lock_guard<std::mutex> lock(mu);
  std::vector<Span> out;
  out.swap(spans);
  if (droppedOut) *droppedOut = dropped;
  dropped = 0;
  return out;
}
}  // namespace trace

// Never destroyed: when Node exits without running the environment cleanup hook (an uncaught
// exception), a static CpuStream's joinable worker thread would abort the process in its destructor.
CpuStream& CpuStream::instance() {
  static CpuStream* s = new CpuStream();
  return *s;
}

CpuStream::CpuStream() {}

void CpuStream::enqueue(std::string name, std::function<void()> task, uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_) {
    started_ = true;
    worker_ = std::thread([this] { loop(); });
  }
  queue_.push_back(Task{std::move(name), std::move(task), id});
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
    Task item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop requested and drained
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    std::string failure;
    const bool timed = trace::on();
    const int64_t begin = timed ? trace::nowNs() : 0;
    try {
      item.run();
    } catch (const std::exception& e) {
      failure = item.name + ": " + e.what();
    } catch (...) {
      failure = item.name + ": unknown error";
    }
    // (A read's span is recorded after its promise was handed to JS: a traceTake() right after the
    // last sync may miss that one span, never a kernel's.)
    if (timed) trace::record({item.id, 0, item.name, begin, trace::nowNs()});
    // Destroy the task (and the buffers it holds) before the next task runs, so memory counts seen
    // by a later read are settled.
    item.run = nullptr;
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
  // Restartable: the stream is shut down with the last environment that loaded the addon, and a
  // later one (the main thread loading it after a loader worker exited) starts it again.
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = false;
  started_ = false;
}

}  // namespace ifa
