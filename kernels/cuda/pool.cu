// maxPool2d over NHWC, padding −∞ (attrs kernelH/W, strideH/W, padH/W):
//   maxPool2d(x) → y: one thread per output element (consecutive threads = consecutive channels, so
//       reads are coalesced); a NaN in the window propagates (as the CPU kernel). Bytes 4·(|y|·KH·KW
//       mostly from cache + |x| + |y|).
//   maxPool2dBackward(dy, x) → dx: dx is zeroed, then one thread per output element finds its window's
//       first maximum (first NaN, if any) and atomically adds dy there (windows overlap when
//       stride < kernel). Bytes 4·(2|x| + |dy|) plus the window re-reads.
#include <cmath>

#include "common.cuh"

namespace ifa {
namespace cuda {
namespace {

struct PoolGeom {
  int64_t n, h, w, c, ho, wo, kh, kw, sh, sw, ph, pw;
};

__global__ void maxPoolKernel(const float* __restrict x, float* __restrict y, int64_t total, PoolGeom g) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ch = i % g.c, t = i / g.c, ow = t % g.wo, t2 = t / g.wo, oh = t2 % g.ho, n = t2 / g.ho;
    const int64_t h0 = max(int64_t(0), oh * g.sh - g.ph), h1 = min(g.h, oh * g.sh - g.ph + g.kh);
    const int64_t w0 = max(int64_t(0), ow * g.sw - g.pw), w1 = min(g.w, ow * g.sw - g.pw + g.kw);
    float best = -INFINITY;
    for (int64_t ih = h0; ih < h1; ih++)
      for (int64_t iw = w0; iw < w1; iw++) {
        const float v = x[((n * g.h + ih) * g.w + iw) * g.c + ch];
        best = (v > best || v != v) ? v : best;
      }
    y[i] = best;
  }
}

__global__ void maxPoolBackwardKernel(const float* __restrict dy, const float* __restrict x, float* __restrict dx, int64_t total, PoolGeom g) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ch = i % g.c, t = i / g.c, ow = t % g.wo, t2 = t / g.wo, oh = t2 % g.ho, n = t2 / g.ho;
    const int64_t h0 = max(int64_t(0), oh * g.sh - g.ph), h1 = min(g.h, oh * g.sh - g.ph + g.kh);
    const int64_t w0 = max(int64_t(0), ow * g.sw - g.pw), w1 = min(g.w, ow * g.sw - g.pw + g.kw);
    float best = -INFINITY;
    int64_t arg = ((n * g.h + h0) * g.w + w0) * g.c + ch;
    for (int64_t ih = h0; ih < h1; ih++)
      for (int64_t iw = w0; iw < w1; iw++) {
        const int64_t at = ((n * g.h + ih) * g.w + iw) * g.c + ch;
        const float v = x[at];
        if (v > best || (v != v && best == best)) {  // ties keep the first maximum; the first NaN wins
          best = v;
          arg = at;
        }
      }
    atomicAdd(dx + arg, dy[i]);
  }
}

PoolGeom geomOf(const KernelCall& c, const Shape& xs, const Shape& ys) {
  PoolGeom g;
  g.n = xs[0];
  g.h = xs[1];
  g.w = xs[2];
  g.c = xs[3];
  g.ho = ys[1];
  g.wo = ys[2];
  g.kh = int64_t(c.attrs.number("kernelH", 1));
  g.kw = int64_t(c.attrs.number("kernelW", 1));
  g.sh = int64_t(c.attrs.number("strideH", 1));
  g.sw = int64_t(c.attrs.number("strideW", 1));
  g.ph = int64_t(c.attrs.number("padH", 0));
  g.pw = int64_t(c.attrs.number("padW", 0));
  return g;
}

void launchMaxPool(const KernelCall& c) {
  const int64_t total = c.outputs[0].numel();
  if (total == 0) return;
  maxPoolKernel<<<blocksFor(total, 256), 256, 0, stream()>>>(c.inputs[0].data, c.outputs[0].data, total, geomOf(c, c.inputs[0].shape, c.outputs[0].shape));
  checkLaunch(c, "maxPoolKernel");
}

void launchMaxPoolBackward(const KernelCall& c) {
  float* dx = c.outputs[0].data;
  zero(dx, size_t(c.outputs[0].numel()), "maxPool2dBackward");
  const int64_t total = c.inputs[0].numel();
  if (total == 0) return;
  maxPoolBackwardKernel<<<blocksFor(total, 256), 256, 0, stream()>>>(c.inputs[0].data, c.inputs[1].data, dx, total,
                                                                     geomOf(c, c.inputs[1].shape, c.inputs[0].shape));
  checkLaunch(c, "maxPoolBackwardKernel");
}

}  // namespace

void registerPool(KernelRegistry& r, const KernelRegistry& cpu) {
  addCuda(r, cpu, "maxPool2d", launchMaxPool);
  addCuda(r, cpu, "maxPool2dBackward", launchMaxPoolBackward);
}

}  // namespace cuda
}  // namespace ifa
