// What the addon knows about CUDA: whether it was compiled in, for which architectures, and whether
// a device can be used now (with the reason when not).
#pragma once
#include <string>

namespace ifa {

struct CudaInfo {
  bool compiled = false;
  bool emulator = false;      // the CUDA emulator (kernels/cuda/emu): kernels run on the CPU
  std::string architectures;  // e.g. "75;80;86;89;90"
  std::string toolkit;        // CUDA version the addon was built with
  bool available = false;
  int deviceCount = 0;
  std::string device;  // name of device 0
  std::string reason;  // why unavailable
};

CudaInfo probeCuda();

}  // namespace ifa
