// Max pooling over NHWC: x[N,H,W,C] → y[N,Ho,Wo,C], Ho = (H + 2·padH − kernelH)/strideH + 1 (floor),
// padding counts as −∞ (so it never wins). NaN propagates as in PyTorch.
//   maxPool2d: bytes ≈ 4·(|x|·⌈kernelH/strideH⌉·⌈kernelW/strideW⌉ from cache, |x| + |y| from memory);
//       compares = |y|·kernelH·kernelW. The inner loop runs over channels (vectorised).
//   maxPool2dBackward(dy, x) → dx: recomputes each window's argmax (the first maximum in row-major
//       window order, as PyTorch) and adds dy there; dx starts at zero. Both steps are loops over a
//       block of channels (the argmax kept as a window position, then a masked add per position), so
//       they vectorise. Bytes 4·(|dy| + |x| + |dx|) from memory; 2·kernelH·kernelW ops per output.
// (Global average pooling is mean over axes [1, 2]: reduceSum, no kernel here.)
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "cpu_kernels.h"
#include "parallel.h"

namespace ifa {
namespace {

struct PoolGeom {
  int64_t N, H, W, C, Ho, Wo;
  int64_t kh, kw, sh, sw, ph, pw;
};

int64_t intAttr(const KernelCall& c, const char* name, int64_t lo, int64_t hi) {
  double v = requiredAttr(c, name);
  if (!std::isfinite(v) || std::floor(v) != v || v < double(lo) || v > double(hi))
    argFail(c, std::string("attrs.") + name + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                   "], got " + std::to_string(v));
  return int64_t(v);
}

// Geometry from x's shape and the attrs; checks y's (or dx's) shape when given.
PoolGeom geometry(const KernelCall& c, const Shape& xs) {
  if (xs.size() != 4) argFail(c, "x must be 4-D [N,H,W,C], got " + shapeString(xs));
  PoolGeom g;
  g.N = xs[0];
  g.H = xs[1];
  g.W = xs[2];
  g.C = xs[3];
  if (g.H < 1 || g.W < 1) argFail(c, "x " + shapeString(xs) + " has an empty spatial extent");
  g.kh = intAttr(c, "kernelH", 1, 1 << 20);
  g.kw = intAttr(c, "kernelW", 1, 1 << 20);
  g.sh = intAttr(c, "strideH", 1, 1 << 20);
  g.sw = intAttr(c, "strideW", 1, 1 << 20);
  g.ph = intAttr(c, "padH", 0, g.kh / 2);
  g.pw = intAttr(c, "padW", 0, g.kw / 2);
  if (g.H + 2 * g.ph < g.kh || g.W + 2 * g.pw < g.kw)
    argFail(c, "the " + std::to_string(g.kh) + "x" + std::to_string(g.kw) + " window does not fit x " + shapeString(xs) +
                   " with padding " + std::to_string(g.ph) + "," + std::to_string(g.pw));
  g.Ho = (g.H + 2 * g.ph - g.kh) / g.sh + 1;
  g.Wo = (g.W + 2 * g.pw - g.kw) / g.sw + 1;
  return g;
}

void validateForward(const KernelCall& c) {
  PoolGeom g = geometry(c, c.inputs[0].shape);
  expectSameShape(c, c.outputs[0].shape, Shape{g.N, g.Ho, g.Wo, g.C}, "y");
}

void validateBackward(const KernelCall& c) {
  PoolGeom g = geometry(c, c.inputs[1].shape);
  expectSameShape(c, c.inputs[0].shape, Shape{g.N, g.Ho, g.Wo, g.C}, "dy");
  expectSameShape(c, c.outputs[0].shape, c.inputs[1].shape, "dx");
}

// The window of output (oh, ow) clipped to x: rows [h0, h1), columns [w0, w1). Never empty, since
// padding is at most half the kernel.
struct Window {
  int64_t h0, h1, w0, w1;
};
Window windowAt(const PoolGeom& g, int64_t oh, int64_t ow) {
  Window w;
  w.h0 = std::max<int64_t>(0, oh * g.sh - g.ph);
  w.h1 = std::min(g.H, oh * g.sh - g.ph + g.kh);
  w.w0 = std::max<int64_t>(0, ow * g.sw - g.pw);
  w.w1 = std::min(g.W, ow * g.sw - g.pw + g.kw);
  return w;
}

void runForward(const KernelCall& c) {
  PoolGeom g = geometry(c, c.inputs[0].shape);
  const float* x = c.inputs[0].data;
  float* y = c.outputs[0].data;
  const int64_t C = g.C;
  if (c.outputs[0].numel() == 0) return;
  parallelFor(0, g.N * g.Ho, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, g.Wo * C)), [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; row++) {
      int64_t n = row / g.Ho, oh = row % g.Ho;
      for (int64_t ow = 0; ow < g.Wo; ow++) {
        Window w = windowAt(g, oh, ow);
        float* __restrict out = y + ((row * g.Wo) + ow) * C;
        std::fill(out, out + C, -std::numeric_limits<float>::infinity());
        for (int64_t ih = w.h0; ih < w.h1; ih++)
          for (int64_t iw = w.w0; iw < w.w1; iw++) {
            const float* __restrict in = x + ((n * g.H + ih) * g.W + iw) * C;
            for (int64_t k = 0; k < C; k++) {
              float v = in[k];
              out[k] = (v > out[k] || v != v) ? v : out[k];
            }
          }
      }
    }
  });
}

constexpr int64_t kChanBlock = 64;

void runBackward(const KernelCall& c) {
  PoolGeom g = geometry(c, c.inputs[1].shape);
  const float* dy = c.inputs[0].data;
  const float* x = c.inputs[1].data;
  float* dx = c.outputs[0].data;
  const int64_t C = g.C;
  if (c.outputs[0].numel() == 0) return;
  // Windows overlap, so threads own whole (image, channel block) pairs of dx.
  const int64_t cblocks = (C + kChanBlock - 1) / kChanBlock;
  parallelFor(0, g.N * cblocks, 1, [&](int64_t lo, int64_t hi) {
    float best[kChanBlock];
    int32_t arg[kChanBlock];  // index of the winning position within the window
    for (int64_t item = lo; item < hi; item++) {
      const int64_t n = item / cblocks, c0 = (item % cblocks) * kChanBlock, cw = std::min(kChanBlock, C - c0);
      float* dxn = dx + n * g.H * g.W * C + c0;
      for (int64_t p = 0; p < g.H * g.W; p++) std::memset(dxn + p * C, 0, size_t(cw) * sizeof(float));
      const float* xn = x + n * g.H * g.W * C + c0;
      for (int64_t oh = 0; oh < g.Ho; oh++)
        for (int64_t ow = 0; ow < g.Wo; ow++) {
          Window w = windowAt(g, oh, ow);
          std::fill(best, best + cw, -std::numeric_limits<float>::infinity());
          std::fill(arg, arg + cw, 0);
          int32_t at = 0;
          for (int64_t ih = w.h0; ih < w.h1; ih++)
            for (int64_t iw = w.w0; iw < w.w1; iw++, at++) {
              const float* __restrict in = xn + (ih * g.W + iw) * C;
              for (int64_t k = 0; k < cw; k++) {
                const float v = in[k], b = best[k];
                // Strictly greater: ties keep the first maximum. The first NaN wins and stays.
                const bool take = (v > b) | ((v != v) & (b == b));
                best[k] = take ? v : b;
                arg[k] = take ? at : arg[k];
              }
            }
          const float* __restrict gy = dy + ((n * g.Ho + oh) * g.Wo + ow) * C + c0;
          at = 0;
          for (int64_t ih = w.h0; ih < w.h1; ih++)
            for (int64_t iw = w.w0; iw < w.w1; iw++, at++) {
              float* __restrict out = dxn + (ih * g.W + iw) * C;
              for (int64_t k = 0; k < cw; k++) {
                const float gk = gy[k];
                out[k] += arg[k] == at ? gk : 0.f;
              }
            }
        }
    }
  });
}

}  // namespace

void registerPoolKernels(KernelRegistry& r) {
  halfByConversion(r.add("maxPool2d", {1, 1, validateForward, runForward}));
  halfByConversion(r.add("maxPool2dBackward", {2, 1, validateBackward, runBackward}));
}

}  // namespace ifa
