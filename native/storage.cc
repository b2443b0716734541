#include "storage.h"

#include "cuda_device.h"

#include <algorithm>
#include <cstdlib>
#include <new>

namespace ifa {

// The singletons here are never destroyed: at process exit, static destructors run in reverse order of
// construction, and a BufferTable built before the allocator (a CUDA buffer first) would otherwise
// release its CPU buffers into an allocator already destroyed (heap corruption at exit, found by the
// CUDA emulator's tests). The OS reclaims the memory.
CpuAllocator& CpuAllocator::instance() {
  static CpuAllocator& a = *new CpuAllocator();
  return a;
}

// Live bytes count what was asked for (an empty buffer is 0 bytes); the block itself is at least one
// 64-byte line, and the cache is keyed by the asked-for size.
void* CpuAllocator::allocate(size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(bytes);
    if (it != cache_.end()) {
      void* p = it->second;
      cache_.erase(it);
      cached_bytes_ -= bytes;
      live_buffers_++;
      live_bytes_ += bytes;
      return p;
    }
  }
  // 64-byte alignment for AVX-512 loads; round the size up as aligned_alloc requires.
  size_t rounded = std::max<size_t>(64, (bytes + 63) / 64 * 64);
  void* p = std::aligned_alloc(64, rounded);
  if (!p) {
    emptyCache();
    p = std::aligned_alloc(64, rounded);
    if (!p) throw std::bad_alloc();
  }
  live_buffers_++;
  live_bytes_ += bytes;
  return p;
}

void CpuAllocator::release(void* p, size_t bytes) {
  live_buffers_--;
  live_bytes_ -= bytes;
  std::lock_guard<std::mutex> lock(mu_);
  // Keep at most 1 GiB parked; beyond that give memory back to the system.
  if (cached_bytes_.load() + (int64_t)bytes > (int64_t(1) << 30)) {
    std::free(p);
    return;
  }
  cache_.emplace(bytes, p);
  cached_bytes_ += bytes;
}

void CpuAllocator::emptyCache() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& kv : cache_) std::free(kv.second);
  cache_.clear();
  cached_bytes_ = 0;
}

namespace {
std::atomic<int64_t> dtypeBytes[2][3];  // [device][dtype]
}

int64_t liveDtypeBytes(Device d, DType t) { return dtypeBytes[int(d)][int(t)].load(); }

Buffer::Buffer(Device d, size_t n, DType t) : device(d), dtype(t), data(nullptr), numel(n) {
  if (d == Device::Cuda) {
#ifdef IFA_WITH_CUDA
    data = cuda::allocateBytes(bytes());
#else
    throw CudaError("the addon was built without CUDA");
#endif
  } else {
    data = CpuAllocator::instance().allocate(bytes());
  }
  dtypeBytes[int(device)][int(dtype)] += int64_t(bytes());
}

Buffer::~Buffer() {
  dtypeBytes[int(device)][int(dtype)] -= int64_t(bytes());
  if (device == Device::Cuda) {
#ifdef IFA_WITH_CUDA
    cuda::release(data);
#endif
    return;
  }
  CpuAllocator::instance().release(data, bytes());
}

BufferTable& BufferTable::instance() {
  static BufferTable& t = *new BufferTable();
  return t;
}

uint64_t BufferTable::add(std::shared_ptr<Buffer> b) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t id = next_++;
  table_.emplace(id, std::move(b));
  return id;
}

std::shared_ptr<Buffer> BufferTable::find(uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = table_.find(id);
  return it == table_.end() ? nullptr : it->second;
}

bool BufferTable::remove(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  return table_.erase(id) > 0;
}

size_t BufferTable::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return table_.size();
}

}  // namespace ifa
