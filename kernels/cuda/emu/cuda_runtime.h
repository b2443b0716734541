// The CUDA emulator's stand-in for <cuda_runtime.h>: lets kernels/cuda/*.cu compile as plain C++ and
// run on the CPU, so the CUDA kernels are tested (against the CPU oracle, by the same conformance
// suite) on machines without a GPU, CI included. Built with `npm run build:emu` (cmake-js with
// IFA_CUDA_EMULATOR=ON into build-emu/); kernels/cuda/emu/README.md says what it checks and what not.
//
// Model: a launch runs synchronously on the calling thread, block after block; the threads of a
// block are fibers (ucontext) switched at __syncthreads and at warp shuffles, so barrier and
// warp-synchronous semantics are those of the hardware for code that synchronises correctly.
// Launch configurations are validated like the driver does (block ≤ 1024 threads, grid limits,
// dynamic shared memory ≤ 227 KiB), and a barrier that not every live thread of a block reaches is
// reported as a launch failure instead of hanging. The sm_80 warp primitives that kernels/cuda/mma.cuh
// wraps (mma.sync, ldmatrix, cp.async) are emulated too, with the PTX ISA's fragment layouts.
//
// The <<<grid, block, shared, stream>>> syntax is rewritten by translate.cmake before compiling:
//   kernel<<<cfg>>>(args)  →  ::ifa_emu::Launch(cfg).go([](auto... a) { kernel(a...); })(args)
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#ifndef IFA_CUDA_EMULATOR
#error "kernels/cuda/emu/cuda_runtime.h is the CUDA emulator's header; build with IFA_CUDA_EMULATOR"
#endif

#define CUDART_VERSION 13000

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// As CUDA's host_defines.h does for GCC: alignas cannot stand between decl-specifiers
// (`__shared__ __align__(16) float t[..]`), the GNU attribute can.
#define __align__(n) __attribute__((aligned(n)))
// Shared memory: one instance per block. Blocks run one at a time per OS thread, so a thread_local
// static is exactly "shared by the threads (fibers) of the running block".
#define __shared__ static thread_local

// ---------------------------------------------------------------------------------------------
// Vector types and built-in variables.
struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};
// 8- and 16-byte integer vectors, as tensor-core kernels move packed bf16/f16 data with them.
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
struct alignas(8) uint2 {
  unsigned x, y;
};
struct alignas(16) int4 {
  int x, y, z, w;
};
struct alignas(8) int2 {
  int x, y;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return uint2{x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
inline int2 make_int2(int x, int y) { return int2{x, y}; }

namespace ifa_emu {
struct ThreadState {
  uint3 tid, bid;
  dim3 bdim, gdim;
};
// The running fiber's indices (set by the scheduler before it switches to a fiber).
extern thread_local const ThreadState* currentThread;
inline const ThreadState& current() { return *currentThread; }
void syncThreads();
void syncWarp();
// Exchanges 8 bytes among the lanes of the calling warp; returns the bytes of lane `src` (own bytes
// when src is outside the warp).
uint64_t exchange(uint64_t mine, int src);
int laneId();

// sm_80 warp primitives, called by kernels/cuda/mma.cuh under IFA_CUDA_EMULATOR (emulator.cc; the
// README says what they check). mma and ldmatrix are warp-collective: all 32 lanes of a full warp
// call them together, as mma.sync.aligned / ldmatrix.sync.aligned require; a lane that exited or calls
// something else makes the launch fail.
enum class MmaKind { Bf16M16N8K16, F16M16N8K16, Tf32M16N8K8 };
// d += A·B on this lane's fragments in the PTX ISA layout of mma.m16n8k16.row.col (bf16/f16, two per
// register, lower index in the low half) or mma.m16n8k8.row.col (.tf32, one per register; only the
// top 19 bits are read); fp32 accumulation.
void mma(MmaKind kind, float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]);
// ldmatrix.sync.aligned.m8n8.{x1,x2,x4}[.trans].shared.b16: lane l gives the address of row l % 8 of
// matrix l / 8 (lanes ≥ 8·count are ignored); r[j] gets this lane's part of matrix j: row l / 4,
// columns 2(l % 4) and 2(l % 4) + 1 (low half first), of the matrix or with trans of its transpose.
void ldmatrix(uint32_t* r, int count, bool trans, const void* rowAddress);
// cp.async of 4, 8 or 16 bytes global → shared (zero fill without reading when !valid). The source
// is read at issue; the destination is written only when a cpAsyncWait completes the copy's group.
void cpAsync(void* smem, const void* gmem, int bytes, bool valid);
void cpAsyncCommit();     // closes this thread's group of cp.asyncs issued since the last commit
void cpAsyncWait(int n);  // completes all but the n most recent committed groups of this thread
uint32_t roundTf32Bits(uint32_t floatBits);  // cvt.rna.tf32.f32
unsigned char* dynamicShared();              // this block's dynamic shared memory, 128-byte aligned
}  // namespace ifa_emu

#define threadIdx (::ifa_emu::current().tid)
#define blockIdx (::ifa_emu::current().bid)
#define blockDim (::ifa_emu::current().bdim)
#define gridDim (::ifa_emu::current().gdim)

inline void __syncthreads() { ::ifa_emu::syncThreads(); }
inline void __syncwarp(unsigned = 0xffffffffu) { ::ifa_emu::syncWarp(); }

template <typename T>
inline T emuShuffle(T v, int src) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffles move at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = ::ifa_emu::exchange(bits, src);
  T r;
  std::memcpy(&r, &bits, sizeof(T));
  return r;
}
template <typename T>
inline T __shfl_xor_sync(unsigned, T v, int laneMask, int width = 32) {
  const int lane = ::ifa_emu::laneId();
  return emuShuffle(v, (lane & ~(width - 1)) + ((lane ^ laneMask) & (width - 1)));
}
template <typename T>
inline T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
  const int lane = ::ifa_emu::laneId(), base = lane & ~(width - 1);
  const int src = lane - base + int(delta) < width ? lane + int(delta) : lane;
  return emuShuffle(v, src);
}
template <typename T>
inline T __shfl_sync(unsigned, T v, int srcLane, int width = 32) {
  const int lane = ::ifa_emu::laneId();
  return emuShuffle(v, (lane & ~(width - 1)) + (srcLane & (width - 1)));
}

// Atomics: one block runs at a time on one OS thread and fibers switch only at barriers, so a
// read-modify-write is atomic.
template <typename T>
inline T atomicAdd(T* address, T v) {
  T old = *address;
  *address = old + v;
  return old;
}
// CUDA's wrapping increment: old ≥ limit gives 0, else old + 1.
inline unsigned atomicInc(unsigned* address, unsigned limit) {
  unsigned old = *address;
  *address = old >= limit ? 0u : old + 1u;
  return old;
}
// Blocks run one after another, so their writes are already ordered.
inline void __threadfence() {}
template <typename T>
inline T atomicMax(T* address, T v) {
  T old = *address;
  if (v > old) *address = v;
  return old;
}

// Bit casts between float and 32-bit integers.
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}
inline int __float_as_int(float f) {
  int i;
  std::memcpy(&i, &f, 4);
  return i;
}

// Device math that C++ lacks under these names.
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __fdividef(float a, float b) { return a / b; }
// A round-to-nearest product that nvcc never contracts into an fma. The emulator is compiled for
// baseline x86-64, which has no FMA instruction, so a plain product is never contracted here either.
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
template <typename T>
inline T __ldg(const T* p) {
  return *p;
}
template <typename T>
inline T __ldcg(const T* p) {
  return *p;
}
// CUDA's global min/max overloads (device code calls them unqualified).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }

// ---------------------------------------------------------------------------------------------
// Runtime API: the subset the addon uses, on host memory.
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorLaunchFailure = 719,
};
using cudaError = cudaError_t;
enum cudaMemcpyKind { cudaMemcpyHostToHost = 0, cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3, cudaMemcpyDefault = 4 };
struct CUstream_st;
struct CUevent_st;
using cudaStream_t = CUstream_st*;
using cudaEvent_t = CUevent_st*;
constexpr unsigned cudaStreamNonBlocking = 1;
constexpr unsigned cudaEventDefault = 0;
constexpr unsigned cudaEventDisableTiming = 2;
constexpr unsigned cudaHostAllocDefault = 0;

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  size_t sharedMemPerBlockOptin;  // the opt-in maximum (cudaFuncAttributeMaxDynamicSharedMemorySize)
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int warpSize;
  int multiProcessorCount;
  int major, minor;
};

// The function attributes kernels set before a launch (values as in CUDA's driver_types.h).
enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
  cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};
enum cudaDeviceAttr {
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};

const char* cudaGetErrorName(cudaError_t e);
const char* cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaStreamCreate(cudaStream_t* s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaMalloc(void** p, size_t bytes);
cudaError_t cudaFree(void* p);
cudaError_t cudaMemGetInfo(size_t* freeBytes, size_t* totalBytes);
cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned flags);
cudaError_t cudaFreeHost(void* p);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s = nullptr);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t s = nullptr);
cudaError_t cudaEventCreate(cudaEvent_t* e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);
cudaError_t cudaEventDestroy(cudaEvent_t e);

namespace ifa_emu {
cudaError_t funcSetAttribute(const void* func, cudaFuncAttribute attr, int value);
}
// Accepted for any kernel; a dynamic shared-memory size above the 227 KiB opt-in maximum is
// cudaErrorInvalidValue, as on an H100/H200. Launches do not check that it was set (README).
template <typename T>
inline cudaError_t cudaFuncSetAttribute(T* func, cudaFuncAttribute attr, int value) {
  return ::ifa_emu::funcSetAttribute(reinterpret_cast<const void*>(func), attr, value);
}

// The PTX architecture a kernel was compiled for: IFA_CUDA_EMU_ARCH (e.g. 70, default 90), so the
// launchers' choice between the sm_80 tensor-core kernels and the sm_70 WMMA ones can be run here.
struct cudaFuncAttributes {
  int ptxVersion, binaryVersion;
};
namespace ifa_emu {
int emulatedArch();
}
template <typename T>
inline cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attr, T* func) {
  (void)func;
  attr->ptxVersion = attr->binaryVersion = ::ifa_emu::emulatedArch();
  return cudaSuccess;
}

// ---------------------------------------------------------------------------------------------
// Launch.
namespace ifa_emu {

struct LaunchConfig {
  dim3 grid, block;
  size_t sharedBytes;
};

// Runs body() once per thread of every block (see the model above); a failed launch sets the error
// cudaGetLastError() returns, as on the device.
void runGrid(const LaunchConfig& cfg, void (*body)(void*), void* ctx);

inline dim3 toDim3(dim3 d) { return d; }
template <typename I, typename = typename std::enable_if<std::is_integral<I>::value>::type>
inline dim3 toDim3(I n) {
  return dim3(unsigned(n));
}

// One launch: Launch(grid, block, shared, stream).go(callKernel)(args...). callKernel is a generic
// lambda calling the kernel by name, so template arguments are deduced from the launch's arguments
// as nvcc does.
template <typename F>
struct Pending {
  F call;
  LaunchConfig cfg;
  template <typename... A>
  void operator()(A&&... args) const {
    // Arguments are copied once at launch, as the driver does; every thread gets its own copy
    // when the kernel's by-value parameters are initialised from these.
    struct Frame {
      const F* call;
      std::tuple<typename std::decay<A>::type...> args;
    };
    Frame frame{&call, std::tuple<typename std::decay<A>::type...>(std::forward<A>(args)...)};
    runGrid(
        cfg,
        [](void* p) {
          Frame* f = static_cast<Frame*>(p);
          std::apply(*f->call, f->args);
        },
        &frame);
  }
};

struct Launch {
  LaunchConfig cfg;
  template <typename G, typename B>
  Launch(G grid, B block, size_t shared = 0, cudaStream_t = nullptr) : cfg{toDim3(grid), toDim3(block), shared} {}
  template <typename F>
  Pending<F> go(F call) const {
    return Pending<F>{call, cfg};
  }
};

}  // namespace ifa_emu

