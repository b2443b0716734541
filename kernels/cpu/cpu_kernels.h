#pragma once
#include "../../native/kernel_registry.h"

namespace ifa {
void registerElementwiseKernels(KernelRegistry& r);
void registerReduceKernels(KernelRegistry& r);
void registerMatmulKernels(KernelRegistry& r);
void registerConvKernels(KernelRegistry& r);    // conv.cc
void registerNormKernels(KernelRegistry& r);    // batchnorm.cc
void registerPoolKernels(KernelRegistry& r);    // pool.cc
void registerLossKernels(KernelRegistry& r);    // loss.cc (softmax cross-entropy, IFA, l2 normalize)
void registerLayoutKernels(KernelRegistry& r);  // layout.cc (concat, slice)
void registerOptimKernels(KernelRegistry& r);   // optim.cc (SGD, EMA)
void registerCastKernels(KernelRegistry& r);    // cast.cc
void registerAugmentKernels(KernelRegistry& r); // augment_kernels.cc (the batched augmentation steps)

// Gives an fp32 kernel bfloat16 and float16 tensors by converting around its body (cast.cc): the
// CPU's half-precision reference. Returns def, so a registration reads r.add(...) then this.
KernelDef& halfByConversion(KernelDef& def);
}  // namespace ifa
