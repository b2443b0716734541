// (being written)
#include "cpu_kernels.h"

namespace ifa {

void registerPoolKernels(KernelRegistry& r) {}

}  // namespace ifa
