// The CUDA kernel registry's contents (kernels/cuda/*.cu). Plain C++, so addon.cc can include it.
#pragma once
#include <string>
#include <vector>

#include "kernel_registry.h"

namespace ifa {
#ifdef IFA_WITH_CUDA
// Registers every CUDA kernel into `cuda`, each with the validator of the CPU kernel of the same name
// (shape rules are device-independent), so the CPU kernels must be registered first.
void registerCudaKernels(KernelRegistry& cuda, const KernelRegistry& cpu);
namespace cuda {
// The tensor-core convolution plans chosen so far (kernels/cuda/conv.cu), oldest first.
std::vector<std::string> convPlans();
}  // namespace cuda
#endif
}  // namespace ifa
