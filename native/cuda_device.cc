// The CUDA device: caching allocator, the stream, pinned staging and the completion thread (see
// cuda_device.h). Compiled to nothing without IFA_WITH_CUDA, so binding.gyp need not list it.
#ifdef IFA_WITH_CUDA
#include "cuda_device.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cuda_info.h"

namespace ifa {
namespace cuda {
namespace {

std::string errText(cudaError_t e) { return std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")"; }

void check(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess) throw CudaError(what + " failed: " + errText(e));
}

std::mutex startMu;
bool started = false;
cudaStream_t theStream = nullptr;
std::mutex lastMu;
std::string lastKernel = "(none)";

// Block sizes: 512-byte granularity up to 1 MiB, 2 MiB granularity above (fewer distinct sizes, so
// freed activations of a training step are reused by the next step).
size_t bucketBytes(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= (size_t(1) << 20)) return (bytes + 511) / 512 * 512;
  const size_t g = size_t(2) << 20;
  return (bytes + g - 1) / g * g;
}

// IFA_CUDA_EXACT_ALLOC=1 (bench/gpu/check.sh sets it under compute-sanitizer): blocks of exactly the
// requested size, reused only for that size, so memcheck sees an access past a tensor's end instead
// of one landing in the bucket's slack.
bool exactAllocs() {
  static const bool on = [] {
    const char* e = std::getenv("IFA_CUDA_EXACT_ALLOC");
    return e && *e && std::strcmp(e, "0") != 0;
  }();
  return on;
}

struct DeviceCache {
  std::mutex mu;
  std::multimap<size_t, void*> free;         // bucket bytes → block
  std::unordered_map<void*, size_t> live;   // block → bucket bytes
  int64_t liveBytes = 0, cachedBytes = 0;

  void emptyLocked() {
    if (free.empty()) return;
    // Cached blocks may still be named by queued kernels issued before they were freed.
    cudaStreamSynchronize(theStream);
    for (auto& kv : free) cudaFree(kv.second);
    free.clear();
    cachedBytes = 0;
  }
};
DeviceCache& dcache() {
  static DeviceCache& c = *new DeviceCache();  // never destroyed (see storage.cc)
  return c;
}

// Pinned host staging, cached by size; returned by the completion thread once the copy finished.
struct PinnedCache {
  std::mutex mu;
  std::multimap<size_t, void*> free;
  int64_t cachedBytes = 0;
  void* get(size_t bytes) {
    bytes = bucketBytes(bytes);
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = free.find(bytes);
      if (it != free.end()) {
        void* p = it->second;
        free.erase(it);
        cachedBytes -= int64_t(bytes);
        return p;
      }
    }
    void* p = nullptr;
    check(cudaHostAlloc(&p, bytes, cudaHostAllocDefault), "cudaHostAlloc(" + std::to_string(bytes) + " bytes of pinned staging)");
    return p;
  }
  void put(void* p, size_t bytes) {
    bytes = bucketBytes(bytes);
    std::lock_guard<std::mutex> lock(mu);
    if (cachedBytes + int64_t(bytes) > (int64_t(1) << 30)) {
      cudaFreeHost(p);
      return;
    }
    free.emplace(bytes, p);
    cachedBytes += int64_t(bytes);
  }
};
PinnedCache& pinned() {
  static PinnedCache& c = *new PinnedCache();  // never destroyed (see storage.cc)
  return c;
}

// Waits on events in order, off the JS thread, and runs each completion.
class Completions {
 public:
  void push(cudaEvent_t ev, std::function<void(const std::string&)> fn) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
    queue_.emplace_back(ev, std::move(fn));
    cv_.notify_one();
  }
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = false;  // restartable, as CpuStream::shutdown
  }

 private:
  void loop() {
    for (;;) {
      std::pair<cudaEvent_t, std::function<void(const std::string&)>> item;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        item = std::move(queue_.front());
        queue_.pop_front();
      }
      cudaError_t e = cudaEventSynchronize(item.first);
      std::string err;
      if (e != cudaSuccess) {
        std::lock_guard<std::mutex> lock(lastMu);
        err = "CUDA stream failed: " + errText(e) + "; the last kernel launched was " + lastKernel;
      }
      item.second(err);
      cudaEventDestroy(item.first);  // after the callback, which may time against it
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<cudaEvent_t, std::function<void(const std::string&)>>> queue_;
  bool stop_ = false;
  std::thread thread_;
};
// Never destroyed: at process exit its thread may still be parked, and a joinable std::thread's
// destructor would abort.
Completions& completions() {
  static Completions* c = new Completions();
  return *c;
}

cudaEvent_t recordEvent(const std::string& what) {
  cudaEvent_t ev;
  check(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), what + ": cudaEventCreate");
  cudaError_t e = cudaEventRecord(ev, theStream);
  if (e != cudaSuccess) {
    cudaEventDestroy(ev);
    check(e, what + ": cudaEventRecord");
  }
  return ev;
}

}  // namespace

cudaStream_t stream() {
  ensureStarted();
  return theStream;
}

void ensureStarted() {
  std::lock_guard<std::mutex> lock(startMu);
  if (started) return;
  static CudaInfo info = probeCuda();
  if (!info.available) throw CudaError("CUDA is unavailable: " + info.reason);
  check(cudaSetDevice(0), "cudaSetDevice(0)");
  check(cudaStreamCreateWithFlags(&theStream, cudaStreamNonBlocking), "cudaStreamCreate");
  started = true;
}

void* allocateBytes(size_t asked) {
  ensureStarted();
  const size_t bytes = exactAllocs() ? std::max(asked, size_t(1)) : bucketBytes(asked);
  auto& c = dcache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.free.find(bytes);
  void* p = nullptr;
  if (it != c.free.end()) {
    p = it->second;
    c.free.erase(it);
    c.cachedBytes -= int64_t(bytes);
  } else {
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // clear it
      c.emptyLocked();
      e = cudaMalloc(&p, bytes);
    }
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      size_t freeB = 0, total = 0;
      cudaMemGetInfo(&freeB, &total);
      throw CudaOutOfMemory("out of CUDA memory allocating " + std::to_string(bytes) + " bytes (" + std::to_string(freeB) +
                                " bytes free of " + std::to_string(total) + " after emptying the cache)",
                            bytes, freeB);
    }
    check(e, "cudaMalloc(" + std::to_string(bytes) + " bytes)");
  }
  c.live.emplace(p, bytes);
  c.liveBytes += int64_t(bytes);
  return p;
}

void release(void* p) {
  if (!p) return;
  auto& c = dcache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.live.find(p);
  if (it == c.live.end()) return;
  size_t bytes = it->second;
  c.live.erase(it);
  c.liveBytes -= int64_t(bytes);
  // One stream: every later use of this block is ordered after the work that still reads it.
  c.free.emplace(bytes, p);
  c.cachedBytes += int64_t(bytes);
}

void emptyCache() {
  if (!started) return;
  auto& c = dcache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.emptyLocked();
}

int64_t liveBuffers() {
  auto& c = dcache();
  std::lock_guard<std::mutex> lock(c.mu);
  return int64_t(c.live.size());
}
int64_t liveBytes() {
  auto& c = dcache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.liveBytes;
}
int64_t cachedBytes() {
  auto& c = dcache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.cachedBytes;
}

void uploadBytes(void* dst, const void* src, size_t bytes, const char* what) {
  ensureStarted();
  if (bytes == 0) return;
  void* stage = pinned().get(bytes);
  std::memcpy(stage, src, bytes);
  cudaError_t e = cudaMemcpyAsync(dst, stage, bytes, cudaMemcpyHostToDevice, theStream);
  if (e != cudaSuccess) {
    pinned().put(stage, bytes);
    check(e, std::string(what) + ": cudaMemcpyAsync host to device");
  }
  completions().push(recordEvent(what), [stage, bytes](const std::string&) { pinned().put(stage, bytes); });
}

void zeroBytes(void* dst, size_t bytes, const char* what) {
  ensureStarted();
  if (bytes) check(cudaMemsetAsync(dst, 0, bytes, theStream), std::string(what) + ": cudaMemsetAsync");
}

void download(const void* src, size_t bytes, std::function<void(const std::string&, const void*)> done) {
  ensureStarted();
  void* stage = nullptr;
  if (src && bytes) {
    stage = pinned().get(bytes);
    cudaError_t e = cudaMemcpyAsync(stage, src, bytes, cudaMemcpyDeviceToHost, theStream);
    if (e != cudaSuccess) {
      pinned().put(stage, bytes);
      check(e, "read: cudaMemcpyAsync device to host");
    }
  }
  cudaEvent_t ev;
  try {
    ev = recordEvent(src ? "read" : "sync");
  } catch (...) {
    if (stage) pinned().put(stage, bytes);
    throw;
  }
  completions().push(ev, [stage, bytes, done](const std::string& err) {
    done(err, err.empty() ? stage : nullptr);
    if (stage) pinned().put(stage, bytes);
  });
}

namespace {
std::mutex timingMu;
uint64_t nextTiming = 1;
std::unordered_map<uint64_t, cudaEvent_t> timingEvents;
}  // namespace

uint64_t recordTimingEvent() {
  ensureStarted();
  cudaEvent_t ev;
  check(cudaEventCreate(&ev), "cudaEventCreate (timing)");
  cudaError_t e = cudaEventRecord(ev, theStream);
  if (e != cudaSuccess) {
    cudaEventDestroy(ev);
    check(e, "cudaEventRecord (timing)");
  }
  std::lock_guard<std::mutex> lock(timingMu);
  if (timingEvents.size() > 4096) {  // forgotten handles: drop the oldest rather than grow forever
    cudaEventDestroy(timingEvents.begin()->second);
    timingEvents.erase(timingEvents.begin());
  }
  timingEvents.emplace(nextTiming, ev);
  return nextTiming++;
}

void elapsedMs(uint64_t start, uint64_t end, std::function<void(const std::string&, double)> done) {
  cudaEvent_t a, b;
  {
    std::lock_guard<std::mutex> lock(timingMu);
    auto ia = timingEvents.find(start), ib = timingEvents.find(end);
    if (start == end || ia == timingEvents.end() || ib == timingEvents.end())
      throw CudaError("elapsed: not two distinct live timing events (each can be used once)");
    a = ia->second;
    b = ib->second;
    timingEvents.erase(ia);
    timingEvents.erase(ib);
  }
  completions().push(b, [a, b, done](const std::string& err) {
    float ms = 0;
    std::string e = err;
    if (e.empty()) {
      cudaError_t r = cudaEventElapsedTime(&ms, a, b);
      if (r != cudaSuccess) e = "cudaEventElapsedTime failed: " + errText(r);
    }
    cudaEventDestroy(a);
    done(e, double(ms));
  });
}

namespace {
struct TracedLaunch {
  uint64_t id;
  std::string name;
  cudaEvent_t begin, end;
};
std::mutex traceMu;
std::vector<TracedLaunch> traced;
cudaEvent_t traceBase = nullptr;
int64_t traceBaseNs = 0;

cudaEvent_t timedEvent(const char* what) {
  cudaEvent_t ev;
  check(cudaEventCreate(&ev), std::string("trace: cudaEventCreate ") + what);
  cudaError_t e = cudaEventRecord(ev, theStream);
  if (e != cudaSuccess) {
    cudaEventDestroy(ev);
    check(e, std::string("trace: cudaEventRecord ") + what);
  }
  return ev;
}
}  // namespace

void tracedLaunch(uint64_t id, const std::string& name, const std::function<void()>& launch) {
  ensureStarted();
  std::lock_guard<std::mutex> lock(traceMu);
  if (!traceBase) {
    traceBase = timedEvent("base");
    check(cudaEventSynchronize(traceBase), "trace: cudaEventSynchronize base");
    traceBaseNs = trace::nowNs();
  }
  cudaEvent_t a = timedEvent(name.c_str());
  try {
    launch();
  } catch (...) {
    cudaEventDestroy(a);
    throw;
  }
  traced.push_back({id, name, a, timedEvent(name.c_str())});
}

void traceCollect(std::vector<trace::Span>& out) {
  std::lock_guard<std::mutex> lock(traceMu);
  if (traced.empty()) return;
  for (auto& t : traced) {
    float ms0 = 0, ms1 = 0;
    if (cudaEventSynchronize(t.end) == cudaSuccess && cudaEventElapsedTime(&ms0, traceBase, t.begin) == cudaSuccess &&
        cudaEventElapsedTime(&ms1, traceBase, t.end) == cudaSuccess) {
      out.push_back({t.id, 1, t.name, traceBaseNs + int64_t(double(ms0) * 1e6), traceBaseNs + int64_t(double(ms1) * 1e6)});
    }
    cudaEventDestroy(t.begin);
  }
  // The last end event is the new base: its time is known, and it keeps later offsets small.
  const TracedLaunch& last = traced.back();
  float ms = 0;
  cudaEventElapsedTime(&ms, traceBase, last.end);
  cudaEventDestroy(traceBase);
  traceBase = last.end;
  traceBaseNs += int64_t(double(ms) * 1e6);
  for (size_t i = 0; i + 1 < traced.size(); i++) cudaEventDestroy(traced[i].end);
  traced.clear();
}

void traceReset() {
  std::lock_guard<std::mutex> lock(traceMu);
  for (auto& t : traced) {
    cudaEventDestroy(t.begin);
    cudaEventDestroy(t.end);
  }
  traced.clear();
  if (traceBase) cudaEventDestroy(traceBase);
  traceBase = nullptr;
}

void noteLaunch(const char* kernel) {
  std::lock_guard<std::mutex> lock(lastMu);
  lastKernel = kernel;
}

void shutdown() { completions().stop(); }

}  // namespace cuda
}  // namespace ifa
#endif  // IFA_WITH_CUDA
