#pragma once
#include "../../native/kernel_registry.h"

namespace ifa {
void registerElementwiseKernels(KernelRegistry& r);
void registerReduceKernels(KernelRegistry& r);
void registerMatmulKernels(KernelRegistry& r);
}  // namespace ifa
