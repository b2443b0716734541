// Shared by the CUDA kernel files: the stream, launch checking, stream-ordered scratch memory,
// registration with the CPU validator, the tensor-core device queries, and warp/block reductions.
// How these kernels are built and tested (the CPU emulator without a GPU; the conformance suite,
// compute-sanitizer and the benches on one): kernels/cuda/README.md.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../../native/cuda_device.h"
#include "../../native/kernel_registry.h"

namespace ifa {
namespace cuda {

cudaStream_t stream();  // cuda_device.cc

inline void checkCuda(cudaError_t e, const KernelCall& c, const char* what) {
  if (e != cudaSuccess)
    throw CudaError(c.name + ": " + what + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

// After every launch: launch-configuration errors (and sticky errors from earlier kernels) surface
// here, naming the kernel.
inline void checkLaunch(const KernelCall& c, const char* kernel) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw CudaError(c.name + ": launching " + kernel + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

// Device scratch from the caching allocator, released when the launcher returns: safe because all
// work is on one stream, so the next user of the block runs after the kernels that use it here.
class Scratch {
 public:
  explicit Scratch(size_t bytes) : p_(allocateBytes(bytes)) {}
  ~Scratch() { release(p_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }

 private:
  void* p_;
};

// Scratch holding a copy of host data (pointer tables, index lists), uploaded on the stream.
template <typename T>
class ScratchArray {
 public:
  ScratchArray(const std::vector<T>& host, const char* what) : s_(host.size() * sizeof(T) + 4) {
    if (!host.empty()) uploadBytes(s_.as<void>(), host.data(), host.size() * sizeof(T), what);
  }
  T* get() const { return s_.as<T>(); }

 private:
  Scratch s_;
};

inline unsigned blocksFor(int64_t n, int threads, int64_t cap = 65535LL * 32) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > cap) b = cap;
  return unsigned(b);
}

using Launcher = void (*)(const KernelCall&);

// Accepted T dtypes of a CUDA kernel (KernelDef::dtypes): float32 alone, or all three.
using DTypes = std::vector<DType>;
inline DTypes float32Only() { return {DType::Float32}; }
inline DTypes allDTypes() { return DTypes(std::begin(kAllDTypes), std::end(kAllDTypes)); }

// The CUDA entry takes the CPU kernel's arity, validator and dtype roles (one contract for every
// device) and says which T dtypes its launcher takes (float32 unless given).
inline KernelDef& addCuda(KernelRegistry& cudaReg, const KernelRegistry& cpuReg, const std::string& name, Launcher run,
                          DTypes dtypes = float32Only()) {
  const KernelDef* cpu = cpuReg.find(name);
  if (!cpu) throw std::logic_error("CUDA kernel " + name + " has no CPU kernel (validator) of the same name");
  KernelDef def = *cpu;
  def.run = run;
  def.dtypes = std::move(dtypes);
  return cudaReg.add(name, std::move(def));
}

// The tensor cores (conv.cu): the architecture their code runs as — the lower of the device's and
// the one this addon's kernels were compiled for — and the SM count; the T dtypes the tensor-core
// kernels take on this device (float32; float16 from sm_70; bfloat16 from sm_80), for
// KernelDef::dtypesOnDevice; and whether a call runs there (half dtypes, or float32 with attrs.tf32),
// a TypeError naming kernel and dtype when the device's tensor cores cannot take it.
struct TensorCoreDevice {
  int arch = 0, sms = 1;
};
const TensorCoreDevice& tensorCoreDevice();
DTypes tensorCoreDtypes();
bool useTensorCores(const KernelCall& c, DType dt);

void registerElementwise(KernelRegistry& r, const KernelRegistry& cpu);
void registerReduce(KernelRegistry& r, const KernelRegistry& cpu);
void registerMatmul(KernelRegistry& r, const KernelRegistry& cpu);
void registerConv(KernelRegistry& r, const KernelRegistry& cpu);
void registerBatchNorm(KernelRegistry& r, const KernelRegistry& cpu);
void registerPool(KernelRegistry& r, const KernelRegistry& cpu);
void registerLoss(KernelRegistry& r, const KernelRegistry& cpu);
void registerLayout(KernelRegistry& r, const KernelRegistry& cpu);
void registerOptim(KernelRegistry& r, const KernelRegistry& cpu);
void registerCast(KernelRegistry& r, const KernelRegistry& cpu);
void registerAugment(KernelRegistry& r, const KernelRegistry& cpu);

}  // namespace cuda

#if defined(__CUDACC__) || defined(IFA_CUDA_EMULATOR)  // device code (nvcc, or the CPU emulator)
__device__ __forceinline__ float warpSum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warpSumD(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warpMax(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
// Sum over the block (blockDim.x a multiple of 32, ≤ 1024); every thread gets the result.
__device__ __forceinline__ double blockSumD(double v, double* shared32) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warpSumD(v);
  __syncthreads();
  if (lane == 0) shared32[warp] = v;
  __syncthreads();
  v = lane < warps ? shared32[lane] : 0.0;
  return warpSumD(v);
}
#endif

}  // namespace ifa
