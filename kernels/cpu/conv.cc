// (being written)
#include "cpu_kernels.h"

namespace ifa {

void registerConvKernels(KernelRegistry& r) {}

}  // namespace ifa
