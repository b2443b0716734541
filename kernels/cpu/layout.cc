// (being written)
#include "cpu_kernels.h"

namespace ifa {

void registerLayoutKernels(KernelRegistry& r) {}

}  // namespace ifa
