// Device-independent storage handles. JS holds a number (a handle id that is never reused), so a
// disposed or foreign handle is simply not found: it cannot point at freed memory. A buffer holds
// numel elements of one dtype (native/dtype.h); allocators work in bytes.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "dtype.h"

namespace ifa {

// Host allocator with a cache of freed blocks keyed by size. Counts live buffers and bytes, and the
// bytes parked in the cache, for memory().
class CpuAllocator {
 public:
  static CpuAllocator& instance();
  void* allocate(size_t bytes);  // throws std::bad_alloc
  void release(void* p, size_t bytes);
  void emptyCache();
  int64_t liveBuffers() const { return live_buffers_.load(); }
  int64_t liveBytes() const { return live_bytes_.load(); }
  int64_t cachedBytes() const { return cached_bytes_.load(); }

 private:
  std::mutex mu_;
  std::multimap<size_t, void*> cache_;
  std::atomic<int64_t> live_buffers_{0}, live_bytes_{0}, cached_bytes_{0};
};

// Where a buffer lives. Cuda buffers hold device pointers (device 0), from the caching allocator in
// cuda_device.cc; a build without CUDA refuses to make them.
enum class Device { Cpu = 0, Cuda = 1 };

inline const char* deviceName(Device d) { return d == Device::Cuda ? "cuda" : "cpu"; }

struct Buffer {
  Device device;
  DType dtype;
  void* data;
  size_t numel;
  size_t bytes() const { return numel * dtypeSize(dtype); }
  Buffer(Device d, size_t n, DType t = DType::Float32);  // Cuda: throws CudaOutOfMemory / CudaError (cuda_device.h)
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};

// Live bytes (numel · dtype size, as requested) of the buffers of one device and dtype, for
// memory()'s per-dtype breakdown.
int64_t liveDtypeBytes(Device d, DType t);

class BufferTable {
 public:
  static BufferTable& instance();
  uint64_t add(std::shared_ptr<Buffer> b);
  std::shared_ptr<Buffer> find(uint64_t id) const;  // nullptr when unknown or freed
  bool remove(uint64_t id);
  size_t size() const;

 private:
  mutable std::mutex mu_;
  uint64_t next_ = 1;
  std::unordered_map<uint64_t, std::shared_ptr<Buffer>> table_;
};

}  // namespace ifa
