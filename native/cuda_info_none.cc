// Built without a CUDA compiler (IFA_CUDA=OFF, or AUTO with no nvcc found).
#include "cuda_info.h"

namespace ifa {

CudaInfo probeCuda() {
  CudaInfo info;
  info.reason = "the addon was built without CUDA (no CUDA compiler found, or IFA_CUDA=OFF); rebuild with nvcc on PATH";
  return info;
}

}  // namespace ifa
