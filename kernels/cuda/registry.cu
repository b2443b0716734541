// Fills the CUDA kernel registry: one register function per op family (kernels/cuda/<family>.cu).
#include "../../native/cuda_kernels.h"
#include "common.cuh"

namespace ifa {

void registerCudaKernels(KernelRegistry& r, const KernelRegistry& cpu) {
  cuda::registerElementwise(r, cpu);
  cuda::registerReduce(r, cpu);
  cuda::registerMatmul(r, cpu);
  cuda::registerConv(r, cpu);
  cuda::registerBatchNorm(r, cpu);
  cuda::registerPool(r, cpu);
  cuda::registerLoss(r, cpu);
  cuda::registerLayout(r, cpu);
  cuda::registerOptim(r, cpu);
  cuda::registerCast(r, cpu);
  cuda::registerAugment(r, cpu);
}

}  // namespace ifa
