// (being written)
#include "cpu_kernels.h"

namespace ifa {

void registerOptimKernels(KernelRegistry& r) {}

}  // namespace ifa
