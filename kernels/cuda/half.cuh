// 16-bit element types in device code: bf16 and f16 are their bit patterns (the kernels move them as
// bytes and compute in fp32), with conversions that round to nearest even. nvcc uses the cuda_bf16.h /
// cuda_fp16.h intrinsics (one cvt each); the CUDA emulator uses native/dtype.h's host functions, which
// round the same way.
#pragma once
#include <cstdint>

#include "../../native/dtype.h"
#include "common.cuh"

#ifndef IFA_CUDA_EMULATOR
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#endif

namespace ifa {
namespace cuda {

struct bf16 {
  uint16_t bits;
};
struct f16 {
  uint16_t bits;
};
// fp16 for the sm_70 WMMA convolution kernels: the same bits, a distinct type so that their shared
// tiles take the padded (unswizzled) layout WMMA's loads need (conv_tc.cuh).
struct f16w {
  uint16_t bits;
};

template <class T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::Float32;
};
template <>
struct DTypeOf<bf16> {
  static constexpr DType value = DType::BFloat16;
};
template <>
struct DTypeOf<f16> {
  static constexpr DType value = DType::Float16;
};
template <>
struct DTypeOf<f16w> {
  static constexpr DType value = DType::Float16;
};

__device__ __forceinline__ float toFloat(float v) { return v; }
__device__ __forceinline__ float toFloat(bf16 v) {
#ifdef IFA_CUDA_EMULATOR
  return bf16ToFloat(v.bits);
#else
  return __uint_as_float(uint32_t(v.bits) << 16);
#endif
}
__device__ __forceinline__ float toFloat(f16 v) {
#ifdef IFA_CUDA_EMULATOR
  return halfToFloat(v.bits);
#else
  __half_raw r;
  r.x = v.bits;
  return __half2float(__half(r));
#endif
}

__device__ __forceinline__ float toFloat(f16w v) { return toFloat(f16{v.bits}); }

template <class T>
__device__ __forceinline__ T fromFloat(float v);
template <>
__device__ __forceinline__ float fromFloat<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ bf16 fromFloat<bf16>(float v) {
#ifdef IFA_CUDA_EMULATOR
  return bf16{floatToBf16(v)};
#else
  const __nv_bfloat16_raw r = __float2bfloat16_rn(v);  // (CUDA 11.8 lacks __bfloat16_as_ushort)
  return bf16{r.x};
#endif
}
template <>
__device__ __forceinline__ f16 fromFloat<f16>(float v) {
#ifdef IFA_CUDA_EMULATOR
  return f16{floatToHalf(v)};
#else
  const __half_raw r = __float2half_rn(v);
  return f16{r.x};
#endif
}

template <>
__device__ __forceinline__ f16w fromFloat<f16w>(float v) {
  return f16w{fromFloat<f16>(v).bits};
}

// Two floats as one 32-bit word of two 16-bit values, `lo` in the low half (the lower address).
template <class T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  return uint32_t(fromFloat<T>(lo).bits) | (uint32_t(fromFloat<T>(hi).bits) << 16);
}

// Calls f(T{}) with T the element type of d (float, bf16 or f16): a launcher's one switch over the
// dtypes its templated kernels take.
template <class F>
void withElementType(DType d, F&& f) {
  switch (d) {
    case DType::BFloat16:
      f(bf16{});
      return;
    case DType::Float16:
      f(f16{});
      return;
    case DType::Float32:
      f(float{});
      return;
  }
}

}  // namespace cuda
}  // namespace ifa
