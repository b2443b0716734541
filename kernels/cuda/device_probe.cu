// Device discovery for the CUDA backend. The runtime is linked statically, so the addon loads on a
// machine without the NVIDIA driver; this probe then says which piece is missing.
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <string>

#include "../../native/cuda_info.h"

#ifndef IFA_CUDA_ARCHS
#define IFA_CUDA_ARCHS "unknown"
#endif

namespace ifa {

// A trivial kernel so the fat binary carries code for every architecture we claim.
__global__ void probeKernel(int* out) { *out = 1; }

CudaInfo probeCuda() {
  CudaInfo info;
  info.compiled = true;
  info.architectures = IFA_CUDA_ARCHS;
#ifdef IFA_CUDA_EMULATOR
  info.emulator = true;
  info.architectures = "";
  info.toolkit = "";
#else
  info.toolkit = std::to_string(CUDART_VERSION / 1000) + "." + std::to_string((CUDART_VERSION % 1000) / 10);
#endif
#ifndef IFA_CUDA_EMULATOR  // the emulator (kernels/cuda/emu) needs no driver
  void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!driver) {
    info.reason = "NVIDIA driver not found (libcuda.so.1 could not be loaded: no NVIDIA GPU driver is installed)";
    return info;
  }
  dlclose(driver);
#endif
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    info.reason = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
    return info;
  }
  if (count == 0) {
    info.reason = "the NVIDIA driver reports no CUDA devices";
    return info;
  }
  cudaDeviceProp prop;
  err = cudaGetDeviceProperties(&prop, 0);
  if (err != cudaSuccess) {
    info.reason = std::string("cudaGetDeviceProperties failed: ") + cudaGetErrorName(err);
    return info;
  }
  info.deviceCount = count;
  info.device = std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ")";
  info.available = true;
  return info;
}

}  // namespace ifa
