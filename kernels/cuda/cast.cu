// cast(x) → y: y = x converted to y's dtype, any of the 9 (float32, bfloat16, float16) pairs.
// Widening is exact; narrowing rounds to nearest even (half.cuh), and bfloat16 ↔ float16 goes
// through float, which holds either exactly, so it rounds once. Same-dtype casts are a device copy.
// Bandwidth-bound: bytes |x|·size(x) + |y|·size(y); no FLOPs.
#include "common.cuh"
#include "half.cuh"

namespace ifa {
namespace cuda {
namespace {

template <class X, class Y>
__global__ void castKernel(const X* __restrict x, Y* __restrict y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) y[i] = fromFloat<Y>(toFloat(x[i]));
}

void launchCast(const KernelCall& c) {
  const TensorView &x = c.inputs[0], &y = c.outputs[0];
  const int64_t n = x.numel();
  if (n == 0) return;
  if (x.dtype == y.dtype) {
    checkCuda(cudaMemcpyAsync(y.ptr, x.ptr, size_t(n) * dtypeSize(x.dtype), cudaMemcpyDeviceToDevice, stream()), c, "cudaMemcpyAsync device to device");
    return;
  }
  withElementType(x.dtype, [&](auto xtag) {
    using X = decltype(xtag);
    withElementType(y.dtype, [&](auto ytag) {
      using Y = decltype(ytag);
      castKernel<X, Y><<<blocksFor(n, 256), 256, 0, stream()>>>(x.as<X>(), y.as<Y>(), n);
      checkLaunch(c, "castKernel");
    });
  });
}

}  // namespace

void registerCast(KernelRegistry& r, const KernelRegistry& cpu) { addCuda(r, cpu, "cast", launchCast, allDTypes()); }

}  // namespace cuda
}  // namespace ifa
