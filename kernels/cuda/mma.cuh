// Warp-level tensor-core and asynchronous-copy primitives of sm_80 and newer, as inline PTX:
//   mma.sync m16n8k16 (bf16, fp16 inputs) and m16n8k8 (tf32 inputs), fp32 accumulators, A row-major
//   and B column-major fragments in the PTX ISA's register layout ("Matrix Fragments for mma.m16n8k16"
//   and "... mma.m16n8k8"); ldmatrix x1/x2/x4 (and .trans) from shared memory; cp.async of 4 or 16
//   bytes with zero fill, commit and wait groups; cvt.rna.tf32.f32.
// Under the CUDA emulator (IFA_CUDA_EMULATOR) each function calls the emulator's warp-collective
// version of the instruction (kernels/cuda/emu/cuda_runtime.h), which rounds inputs and accumulates in
// fp32 as the hardware does, so kernels built on these run in CI. On devices older than sm_80 the mma
// and ldmatrix bodies trap (the launchers choose the WMMA kernels there, conv_tc.cuh) and cp.async is
// a plain synchronous 16- or 4-byte copy, complete before the next instruction, which every wait
// then already finds done.
#pragma once
#include <cstdint>

#include "common.cuh"

namespace ifa {
namespace cuda {

// Dynamic shared memory of the running block, 128-byte aligned (the emulator's is per block too).
#ifdef IFA_CUDA_EMULATOR
#define IFA_DYNAMIC_SHARED(name) unsigned char* name = ::ifa_emu::dynamicShared()
#else
#define IFA_DYNAMIC_SHARED(name) extern __shared__ __align__(128) unsigned char name[]
#endif

__device__ __forceinline__ uint32_t smemAddress(const void* p) {
#ifdef IFA_CUDA_EMULATOR
  return 0;
#else
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
#endif
}

// d += A·B, m16n8k16, A 16×16 bf16 (a[0..3]), B 16×8 bf16 (b[0..1]), d 16×8 fp32.
__device__ __forceinline__ void mmaBf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(IFA_CUDA_EMULATOR)
  ::ifa_emu::mma(::ifa_emu::MmaKind::Bf16M16N8K16, d, a, b);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
}

// The same with fp16 inputs.
__device__ __forceinline__ void mmaF16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(IFA_CUDA_EMULATOR)
  ::ifa_emu::mma(::ifa_emu::MmaKind::F16M16N8K16, d, a, b);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
}

// d += A·B, m16n8k8, A 16×8 tf32 (a[0..3]), B 8×8 tf32 (b[0..1]), each register one tf32 value.
__device__ __forceinline__ void mmaTf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(IFA_CUDA_EMULATOR)
  ::ifa_emu::mma(::ifa_emu::MmaKind::Tf32M16N8K8, d, a, b);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
}

// A float32's bits rounded to TF32 (round to nearest, ties away), as cvt.rna.tf32.f32.
__device__ __forceinline__ uint32_t toTf32(uint32_t bits) {
#if defined(IFA_CUDA_EMULATOR)
  return ::ifa_emu::roundTf32Bits(bits);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(__uint_as_float(bits)));
  return r;
#else
  return bits;
#endif
}

// ldmatrix .x4: lane l gives the address of row (l % 8) of matrix (l / 8); r[j] is this lane's part
// of matrix j (row l / 4, 16-bit columns 2(l % 4) and 2(l % 4) + 1; .trans: the transpose's).
__device__ __forceinline__ void ldmatrixX4(uint32_t (&r)[4], const void* row) {
#if defined(IFA_CUDA_EMULATOR)
  ::ifa_emu::ldmatrix(r, 4, false, row);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smemAddress(row)));
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
}
__device__ __forceinline__ void ldmatrixX4Trans(uint32_t (&r)[4], const void* row) {
#if defined(IFA_CUDA_EMULATOR)
  ::ifa_emu::ldmatrix(r, 4, true, row);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smemAddress(row)));
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
}
// .x2: lanes 0–15 give the rows of matrices 0 and 1 (the other lanes' addresses are ignored).
__device__ __forceinline__ void ldmatrixX2(uint32_t (&r)[2], const void* row) {
#if defined(IFA_CUDA_EMULATOR)
  ::ifa_emu::ldmatrix(r, 2, false, row);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(smemAddress(row)));
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
}
__device__ __forceinline__ void ldmatrixX2Trans(uint32_t (&r)[2], const void* row) {
#if defined(IFA_CUDA_EMULATOR)
  ::ifa_emu::ldmatrix(r, 2, true, row);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(smemAddress(row)));
#elif defined(__CUDA_ARCH__)
  __trap();
#endif
}

// cp.async of 16 bytes (L2 only, .cg) global → shared; when !valid nothing is read and the 16
// bytes are zero-filled (src-size 0). Both addresses 16-byte aligned.
__device__ __forceinline__ void cpAsync16(void* smem, const void* gmem, bool valid) {
#if defined(IFA_CUDA_EMULATOR)
  ::ifa_emu::cpAsync(smem, gmem, 16, valid);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smemAddress(smem)), "l"(gmem), "r"(valid ? 16 : 0));
#elif defined(__CUDA_ARCH__)
  *static_cast<uint4*>(smem) = valid ? *static_cast<const uint4*>(gmem) : make_uint4(0, 0, 0, 0);
#endif
}
// 4 bytes (.ca), same zero fill; 4-byte aligned.
__device__ __forceinline__ void cpAsync4(void* smem, const void* gmem, bool valid) {
#if defined(IFA_CUDA_EMULATOR)
  ::ifa_emu::cpAsync(smem, gmem, 4, valid);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smemAddress(smem)), "l"(gmem), "r"(valid ? 4 : 0));
#elif defined(__CUDA_ARCH__)
  *static_cast<uint32_t*>(smem) = valid ? *static_cast<const uint32_t*>(gmem) : 0u;
#endif
}
// Closes the group of this thread's cp.asyncs issued since the last commit.
__device__ __forceinline__ void cpAsyncCommit() {
#if defined(IFA_CUDA_EMULATOR)
  ::ifa_emu::cpAsyncCommit();
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cpAsyncWait() {
#if defined(IFA_CUDA_EMULATOR)
  ::ifa_emu::cpAsyncWait(N);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

}  // namespace cuda
}  // namespace ifa
