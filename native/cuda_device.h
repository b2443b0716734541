// The CUDA device as the addon sees it, in plain C++ (no CUDA headers), so addon.cc and storage.cc
// compile the same with and without CUDA. Implemented in cuda_device.cc when IFA_WITH_CUDA is
// defined; without it only cudaCompiledIn() exists and returns false.
//
// Execution model: one device (0) and one non-blocking stream. Launches and copies are issued from the
// JS thread and return at once; completions (reads, syncs, release of pinned staging) are waited for
// by one completion thread that blocks on CUDA events, never on the JS thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu_stream.h"

namespace ifa {

constexpr bool cudaCompiledIn() {
#ifdef IFA_WITH_CUDA
  return true;
#else
  return false;
#endif
}

// cudaMalloc failed even after the cache was emptied; the addon throws a RangeError with these numbers.
struct CudaOutOfMemory : std::runtime_error {
  size_t requested, freeBytes;
  CudaOutOfMemory(const std::string& m, size_t r, size_t f) : std::runtime_error(m), requested(r), freeBytes(f) {}
};

// Any other CUDA failure; the message names the call or kernel and the CUDA error.
struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

#ifdef IFA_WITH_CUDA
namespace cuda {

// Starts the device and stream on first use; throws CudaError with the probe's reason when no device.
void ensureStarted();

// Caching device allocator: freed blocks go to size-bucketed free lists and are reused; on
// cudaErrorMemoryAllocation the cache is freed and the allocation retried once.
void* allocateBytes(size_t bytes);  // throws CudaOutOfMemory, CudaError
inline float* allocate(size_t numel) { return static_cast<float*>(allocateBytes(numel * sizeof(float))); }
void release(void* p);  // stream-ordered: later work on the stream may reuse the block at once
void emptyCache();
int64_t liveBuffers();
int64_t liveBytes();
int64_t cachedBytes();

// host → device through pinned staging; returns at once (the staging is released when the copy ends).
void uploadBytes(void* dst, const void* src, size_t bytes, const char* what);
inline void upload(float* dst, const float* src, size_t numel, const char* what) { uploadBytes(dst, src, numel * sizeof(float), what); }
// device memset to zero (stream-ordered).
void zeroBytes(void* dst, size_t bytes, const char* what);
inline void zero(float* dst, size_t numel, const char* what) { zeroBytes(dst, numel * sizeof(float), what); }
// device → pinned staging, then done(error, staged) on the completion thread ("" on success; staged
// holds the bytes during the call only). With src null, only waits for the stream (sync).
void download(const void* src, size_t bytes, std::function<void(const std::string&, const void* staged)> done);

// Timing: an event recorded on the stream now (a handle), and the milliseconds between two of them,
// delivered by done(error, ms) on the completion thread once `end` has completed. Both events are
// destroyed then.
uint64_t recordTimingEvent();
void elapsedMs(uint64_t start, uint64_t end, std::function<void(const std::string&, double)> done);

// Kernel timing while tracing (cpu_stream.h's trace::on()): launch() between two timing events, and
// the launches' spans once their events completed, in trace::nowNs() time: the first traced launch
// records a base event, waits for it and takes the host clock (so the offset is the wake-up latency
// of one cudaEventSynchronize, microseconds); each collect re-bases on its last event, so float
// milliseconds keep their resolution over long runs. traceReset drops all of it.
void tracedLaunch(uint64_t id, const std::string& name, const std::function<void()>& launch);
void traceCollect(std::vector<trace::Span>& out);
void traceReset();

// Name of the last kernel launched, for errors that surface asynchronously.
void noteLaunch(const char* kernel);

// Stops the completion thread after the queued completions ran (environment teardown).
void shutdown();

}  // namespace cuda
#endif

}  // namespace ifa
