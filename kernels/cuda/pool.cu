// maxPool2d over NHWC, padding −∞ (attrs kernelH/W, strideH/W, padH/W):
//   maxPool2d(x) → y: one thread per output element (consecutive threads = consecutive channels, so
//       reads are coalesced); a NaN in the window propagates (as the CPU kernel). Bytes 4·(|y|·KH·KW
//       mostly from cache + |x| + |y|).
//   maxPool2dBackward(dy, x) → dx: dx is zeroed, then one thread per output element finds its window's
//       first maximum (first NaN, if any) and atomically adds dy there (windows overlap when
//       stride < kernel). Bytes 4·(2|x| + |dy|) plus the window re-reads.
// Both are templated on the element type (float, bf16, f16). A half dx is summed in a float32
// scratch (there is no portable 16-bit atomicAdd, and one rounding at the end is what the CPU
// reference does), then rounded into dx.
#include <cmath>

#include "common.cuh"
#include "half.cuh"

namespace ifa {
namespace cuda {
namespace {

struct PoolGeom {
  int64_t n, h, w, c, ho, wo, kh, kw, sh, sw, ph, pw;
};

template <class T>
__global__ void maxPoolKernel(const T* __restrict x, T* __restrict y, int64_t total, PoolGeom g) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ch = i % g.c, t = i / g.c, ow = t % g.wo, t2 = t / g.wo, oh = t2 % g.ho, n = t2 / g.ho;
    const int64_t h0 = max(int64_t(0), oh * g.sh - g.ph), h1 = min(g.h, oh * g.sh - g.ph + g.kh);
    const int64_t w0 = max(int64_t(0), ow * g.sw - g.pw), w1 = min(g.w, ow * g.sw - g.pw + g.kw);
    float best = -INFINITY;
    for (int64_t ih = h0; ih < h1; ih++)
      for (int64_t iw = w0; iw < w1; iw++) {
        const float v = toFloat(x[((n * g.h + ih) * g.w + iw) * g.c + ch]);
        best = (v > best || v != v) ? v : best;
      }
    y[i] = fromFloat<T>(best);  // exact: best is one of the window's values
  }
}

template <class T>
__global__ void maxPoolBackwardKernel(const T* __restrict dy, const T* __restrict x, float* __restrict dx, int64_t total, PoolGeom g) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ch = i % g.c, t = i / g.c, ow = t % g.wo, t2 = t / g.wo, oh = t2 % g.ho, n = t2 / g.ho;
    const int64_t h0 = max(int64_t(0), oh * g.sh - g.ph), h1 = min(g.h, oh * g.sh - g.ph + g.kh);
    const int64_t w0 = max(int64_t(0), ow * g.sw - g.pw), w1 = min(g.w, ow * g.sw - g.pw + g.kw);
    float best = -INFINITY;
    int64_t arg = ((n * g.h + h0) * g.w + w0) * g.c + ch;
    for (int64_t ih = h0; ih < h1; ih++)
      for (int64_t iw = w0; iw < w1; iw++) {
        const int64_t at = ((n * g.h + ih) * g.w + iw) * g.c + ch;
        const float v = toFloat(x[at]);
        if (v > best || (v != v && best == best)) {  // ties keep the first maximum; the first NaN wins
          best = v;
          arg = at;
        }
      }
    atomicAdd(dx + arg, toFloat(dy[i]));
  }
}

template <class T>
__global__ void roundKernel(const float* __restrict src, T* __restrict dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) dst[i] = fromFloat<T>(src[i]);
}

PoolGeom geomOf(const KernelCall& c, const Shape& xs, const Shape& ys) {
  PoolGeom g;
  g.n = xs[0];
  g.h = xs[1];
  g.w = xs[2];
  g.c = xs[3];
  g.ho = ys[1];
  g.wo = ys[2];
  g.kh = int64_t(c.attrs.at("kernelH"));
  g.kw = int64_t(c.attrs.at("kernelW"));
  g.sh = int64_t(c.attrs.at("strideH"));
  g.sw = int64_t(c.attrs.at("strideW"));
  g.ph = int64_t(c.attrs.at("padH"));
  g.pw = int64_t(c.attrs.at("padW"));
  return g;
}

void launchMaxPool(const KernelCall& c) {
  const int64_t total = c.outputs[0].numel();
  if (total == 0) return;
  withElementType(c.outputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    maxPoolKernel<T><<<blocksFor(total, 256), 256, 0, stream()>>>(c.inputs[0].as<T>(), c.outputs[0].as<T>(), total, geomOf(c, c.inputs[0].shape, c.outputs[0].shape));
    checkLaunch(c, "maxPoolKernel");
  });
}

// Sums into dx (float32, zeroed here).
template <class T>
void maxPoolBackwardInto(const KernelCall& c, float* dx) {
  zero(dx, size_t(c.outputs[0].numel()), "maxPool2dBackward");
  const int64_t total = c.inputs[0].numel();
  if (total == 0) return;
  maxPoolBackwardKernel<T><<<blocksFor(total, 256), 256, 0, stream()>>>(c.inputs[0].as<T>(), c.inputs[1].as<T>(), dx, total,
                                                                        geomOf(c, c.inputs[1].shape, c.inputs[0].shape));
  checkLaunch(c, "maxPoolBackwardKernel");
}

void launchMaxPoolBackward(const KernelCall& c) {
  if (c.outputs[0].dtype == DType::Float32) return maxPoolBackwardInto<float>(c, c.outputs[0].data);
  const int64_t n = c.outputs[0].numel();
  Scratch sum(size_t(n) * sizeof(float));
  withElementType(c.outputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    maxPoolBackwardInto<T>(c, sum.as<float>());
    if (n == 0) return;
    roundKernel<T><<<blocksFor(n, 256), 256, 0, stream()>>>(sum.as<float>(), c.outputs[0].as<T>(), n);
    checkLaunch(c, "roundKernel");
  });
}

}  // namespace

void registerPool(KernelRegistry& r, const KernelRegistry& cpu) {
  addCuda(r, cpu, "maxPool2d", launchMaxPool, allDTypes());
  addCuda(r, cpu, "maxPool2dBackward", launchMaxPoolBackward, allDTypes());
}

}  // namespace cuda
}  // namespace ifa
