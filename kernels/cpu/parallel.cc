#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace ifa {
namespace {

// How long an idle helper spins for the next job before it sleeps on the condition variable.
constexpr std::chrono::microseconds kSpin{100};

inline void pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class Pool {
 public:
  explicit Pool(int threads) { resize(threads); }
  ~Pool() { stopAll(); }

  void resize(int threads) {
    stopAll();
    threads_ = std::max(1, threads);
    stop_ = false;
    for (int i = 0; i < threads_ - 1; i++) workers_.emplace_back([this] { loop(); });
  }
  int threads() const { return threads_; }

  void run(int64_t begin, int64_t end, int64_t grain,
           const std::function<void(int64_t, int64_t)>& fn) {
    int64_t n = end - begin;
    if (n <= 0) return;
    grain = std::max<int64_t>(1, grain);
    int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, int64_t(threads_) * 4);
    if (threads_ == 1 || chunks <= 1) {
      fn(begin, end);
      return;
    }
    int64_t step = (n + chunks - 1) / chunks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &fn;
      begin_ = begin;
      end_ = end;
      step_ = step;
      next_ = 0;
      chunks_ = chunks;
      pending_ = chunks;
      generation_++;
    }
    cv_.notify_all();
    work();
    std::unique_lock<std::mutex> lock(mu_);
    // Wait for the chunks and for every helper to leave work(), so none sees the next job half-set.
    done_cv_.wait(lock, [this] { return pending_ == 0 && active_ == 0; });
    job_ = nullptr;
  }

 private:
  void work() {
    for (;;) {
      int64_t c = next_.fetch_add(1);
      if (c >= chunks_) return;
      int64_t lo = begin_ + c * step_, hi = std::min(end_, lo + step_);
      if (lo < hi) (*job_)(lo, hi);
      if (pending_.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lock(mu_);
        done_cv_.notify_all();
      }
    }
  }
  void loop() {
    uint64_t seen = 0;
    for (;;) {
      // Spin a little before sleeping: kernels come in bursts (a training step is hundreds of
      // parallelFor calls back to back), and a helper that sleeps in between pays a futex wake-up
      // and a reschedule on every call.
      const auto until = std::chrono::steady_clock::now() + kSpin;
      for (int i = 0; generation_.load(std::memory_order_acquire) == seen && !stop_.load(std::memory_order_relaxed); i++) {
        pause();
        if ((i & 63) == 63 && std::chrono::steady_clock::now() >= until) break;
      }
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || (generation_ != seen && job_ != nullptr); });
        if (stop_) return;
        seen = generation_;
        active_++;
      }
      work();
      std::lock_guard<std::mutex> lock(mu_);
      active_--;
      done_cv_.notify_all();
    }
  }
  void stopAll() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  int threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::atomic<bool> stop_{false};
  int active_ = 0;
  std::atomic<uint64_t> generation_{0};
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t begin_ = 0, end_ = 0, step_ = 1;
  std::atomic<int64_t> next_{0}, chunks_{0}, pending_{0};
};

int defaultThreads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : int(n);
}

Pool& pool() {
  static Pool p(defaultThreads());
  return p;
}

std::mutex resize_mu;
int requested = 0;

}  // namespace

void setThreadCount(int n) {
  std::lock_guard<std::mutex> lock(resize_mu);
  requested = std::max(1, n);
}

int threadCount() {
  std::lock_guard<std::mutex> lock(resize_mu);
  return requested > 0 ? requested : pool().threads();
}

void parallelFor(int64_t begin, int64_t end, int64_t grain,
                 const std::function<void(int64_t, int64_t)>& fn) {
  // Only the stream thread calls this, so resizing here cannot race a running job.
  {
    std::lock_guard<std::mutex> lock(resize_mu);
    if (requested > 0 && requested != pool().threads()) pool().resize(requested);
  }
  pool().run(begin, end, grain, fn);
}

}  // namespace ifa
