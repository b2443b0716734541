// A small fixed thread pool for the CPU kernels. The CPU stream thread calls parallelFor; the pool's
// helpers and the caller split [begin, end) into chunks. Thread count is configurable (setThreads).
#pragma once
#include <cstdint>
#include <functional>

namespace ifa {

void setThreadCount(int n);  // n >= 1; takes effect for the next parallelFor
int threadCount();

// Runs fn(lo, hi) over [begin, end) in chunks of at least `grain` items, on up to threadCount()
// threads including the caller. Returns when all chunks are done.
void parallelFor(int64_t begin, int64_t end, int64_t grain,
                 const std::function<void(int64_t, int64_t)>& fn);

}  // namespace ifa
