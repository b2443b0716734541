// The batched augmentation kernels of the kernel table (src/backends/kernels.ts, "augmentation on the
// device"): each applies one plan step to every image of a stack x [B, H, W] with image b's
// parameters in row b of params [B, P]. On the CPU they are the reference the CUDA and WGSL kernels
// are tested against (test/augment-device.test.ts): the loader's own kernels (augment.h) run per
// image, in float64 from the float32 parameters, images in parallel.
//
// Cost per image of n = H·W pixels: one read and one write of n floats each (the warps gather, the
// filters read a neighbourhood from cache); the FLOPs are KERNEL_COSTS's.
//
// Parameter values come from the device planner (src/data/augment/device.ts), but no value may crash
// or read out of bounds: counts are clamped to what the row holds, coordinates to the image, and
// every float → integer conversion is of a clamped, NaN-free value.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "augment.h"
#include "cpu_kernels.h"
#include "parallel.h"

namespace ifa {
namespace {

struct Stack {
  int64_t B, H, W;
  int64_t n() const { return H * W; }
};

// x [B, H, W] and y of the same shape; params [B, P] with P ≥ minP.
Stack validateStack(const KernelCall& c, int64_t minP, const char* row) {
  const Shape& x = c.inputs[0].shape;
  if (x.size() != 3 || x[0] < 1 || x[1] < 1 || x[2] < 1)
    argFail(c, "x must be a stack [B, H, W] of at least one 1×1 image, got " + shapeString(x));
  if (x[1] > (int64_t(1) << 16) || x[2] > (int64_t(1) << 16) || x[1] * x[2] > (int64_t(1) << 32))
    argFail(c, "x " + shapeString(x) + ": images up to 65536 px a side and 2^32 pixels");
  const Shape& p = c.inputs[1].shape;
  if (p.size() != 2 || p[0] != x[0] || p[1] < minP)
    argFail(c, "params must be [B, P] with B = " + std::to_string(x[0]) + " and P ≥ " + std::to_string(minP) + " (a row is " + row + "), got " + shapeString(p));
  expectSameShape(c, c.outputs[0].shape, x, "y");
  return {x[0], x[1], x[2]};
}

// A count or coordinate from a float parameter: truncated toward zero, clamped to [lo, hi], NaN → lo.
int64_t clampedInt(float v, int64_t lo, int64_t hi) {
  if (!(v >= float(lo))) return lo;
  if (v >= float(hi)) return hi;
  return std::max(lo, std::min(hi, int64_t(v)));
}

// A noise key from its 16-bit halves keyLo + 65536·keyHi.
uint32_t keyOf(const float* row) {
  return uint32_t(clampedInt(row[0], 0, 65535)) | (uint32_t(clampedInt(row[1], 0, 65535)) << 16);
}

// body(b, src, dst, row) for each image b, images in parallel; an inactive row (row[0] == 0) copies.
template <class Body>
void forEachImage(const KernelCall& c, bool activeFlag, Body body) {
  const Shape& x = c.inputs[0].shape;
  const Stack s{x[0], x[1], x[2]};
  const int64_t P = c.inputs[1].shape[1];
  const float* src = c.inputs[0].data;
  const float* params = c.inputs[1].data;
  float* dst = c.outputs[0].data;
  parallelFor(0, s.B, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; b++) {
      const float* row = params + b * P;
      const float* in = src + b * s.n();
      float* out = dst + b * s.n();
      if (activeFlag && row[0] == 0)
        std::memmove(out, in, sizeof(float) * size_t(s.n()));
      else
        body(s, in, out, row, P);
    }
  });
}

void expectDistinct(const KernelCall& c) {
  if (c.inputs[0].data && c.inputs[0].data == c.outputs[0].data) argFail(c, "y must not be x (the kernel reads neighbours)");
}

void registerAll(KernelRegistry& r) {
  r.add("augmentUnpack16", {1, 1,
                            [](const KernelCall& c) {
                              const Shape& y = c.outputs[0].shape;
                              if (y.size() != 3 || y[0] < 1 || y[1] < 1 || y[2] < 1)
                                argFail(c, "y must be a stack [B, H, W], got " + shapeString(y));
                              const int64_t need = (numelOf(y) + 1) / 2;
                              if (c.inputs[0].numel() < need)
                                argFail(c, "packed " + shapeString(c.inputs[0].shape) + " holds " + std::to_string(2 * c.inputs[0].numel()) + " 16-bit words, y " + shapeString(y) + " needs " + std::to_string(numelOf(y)));
                            },
                            [](const KernelCall& c) {
                              const int64_t n = c.outputs[0].numel();
                              const auto* words = static_cast<const uint16_t*>(c.inputs[0].ptr);  // little-endian: low half first
                              float* y = c.outputs[0].data;
                              parallelFor(0, n, 1 << 16, [&](int64_t lo, int64_t hi) { augment::unit16(words + lo, y + lo, hi - lo); });
                            }}).roles("F", "F");

  r.add("augmentPointwise", {2, 1, [](const KernelCall& c) { validateStack(c, 3, "[k, scale, shift, a0, b0, …]"); },
                             [](const KernelCall& c) {
                               forEachImage(c, false, [](const Stack& s, const float* in, float* out, const float* row, int64_t P) {
                                 const int k = int(clampedInt(row[0], 0, (P - 3) / 2));
                                 std::vector<double> st(size_t(2 * k));
                                 for (int j = 0; j < 2 * k; j++) st[j] = row[3 + j];
                                 augment::pointwiseChain(in, out, s.n(), st.data(), k, row[1], row[2]);
                               });
                             }}).roles("FF", "F");

  r.add("augmentWarpAffine", {2, 1,
                              [](const KernelCall& c) {
                                validateStack(c, 7, "[active, m0 … m5]");
                                expectDistinct(c);
                              },
                              [](const KernelCall& c) {
                                forEachImage(c, true, [](const Stack& s, const float* in, float* out, const float* row, int64_t) {
                                  const double m[6] = {row[1], row[2], row[3], row[4], row[5], row[6]};
                                  augment::warpAffineInverse(in, out, int(s.W), int(s.H), m);
                                });
                              }}).roles("FF", "F");

  r.add("augmentOptical", {2, 1,
                           [](const KernelCall& c) {
                             validateStack(c, 4, "[active, k, dx, dy]");
                             expectDistinct(c);
                           },
                           [](const KernelCall& c) {
                             forEachImage(c, true, [](const Stack& s, const float* in, float* out, const float* row, int64_t) {
                               augment::opticalDistortion(in, out, int(s.W), int(s.H), row[1], row[2], row[3]);
                             });
                           }}).roles("FF", "F");

  r.add("augmentMedian3", {2, 1,
                           [](const KernelCall& c) {
                             validateStack(c, 1, "[active]");
                             expectDistinct(c);
                           },
                           [](const KernelCall& c) {
                             forEachImage(c, true, [](const Stack& s, const float* in, float* out, const float*, int64_t) {
                               std::vector<float> scratch(size_t(3 * (s.W + 2)));
                               augment::median3(in, out, int(s.W), int(s.H), scratch.data());
                             });
                           }}).roles("FF", "F");

  r.add("augmentTaps", {2, 1,
                        [](const KernelCall& c) {
                          validateStack(c, 2, "[active, n, dx0, dy0, w0, …]");
                          expectDistinct(c);
                        },
                        [](const KernelCall& c) {
                          forEachImage(c, true, [](const Stack& s, const float* in, float* out, const float* row, int64_t P) {
                            const int taps = int(clampedInt(row[1], 0, (P - 2) / 3));
                            // Offsets beyond the image wrap through reflect101 like any other; the pad
                            // is as wide as the longest tap, at most the image's own size per side
                            // (reflect101 is periodic with period 2n − 2, so a longer one folds back).
                            std::vector<int32_t> dxy(size_t(2 * taps));
                            std::vector<double> wt(static_cast<size_t>(taps));
                            int r = 0;
                            for (int t = 0; t < taps; t++) {
                              const int64_t px = std::max<int64_t>(1, 2 * s.W - 2), py = std::max<int64_t>(1, 2 * s.H - 2);
                              // Fold each offset into (−period, period): the same samples, a bounded pad.
                              dxy[2 * t] = int32_t(clampedInt(row[2 + 3 * t], -(int64_t(1) << 20), int64_t(1) << 20) % px);
                              dxy[2 * t + 1] = int32_t(clampedInt(row[3 + 3 * t], -(int64_t(1) << 20), int64_t(1) << 20) % py);
                              wt[t] = row[4 + 3 * t];
                              r = std::max(r, std::max(std::abs(dxy[2 * t]), std::abs(dxy[2 * t + 1])));
                            }
                            std::vector<float> pad(size_t((s.W + 2 * r) * (s.H + 2 * r)));
                            augment::filterTaps(in, out, int(s.W), int(s.H), dxy.data(), wt.data(), taps, pad.data());
                          });
                        }}).roles("FF", "F");

  r.add("augmentSharpen", {2, 1,
                           [](const KernelCall& c) {
                             validateStack(c, 3, "[active, alpha, lightness]");
                             expectDistinct(c);
                           },
                           [](const KernelCall& c) {
                             forEachImage(c, true, [](const Stack& s, const float* in, float* out, const float* row, int64_t) {
                               std::vector<float> scratch(size_t((s.W + 2) * (s.H + 2) + s.W * (s.H + 2)));
                               augment::sharpen(in, out, int(s.W), int(s.H), row[1], row[2], scratch.data());
                             });
                           }}).roles("FF", "F");

  r.add("augmentCutout", {2, 1, [](const KernelCall& c) { validateStack(c, 2, "[n, fill, x1, y1, x2, y2, …]"); },
                          [](const KernelCall& c) {
                            forEachImage(c, false, [](const Stack& s, const float* in, float* out, const float* row, int64_t P) {
                              std::memmove(out, in, sizeof(float) * size_t(s.n()));
                              const int64_t holes = clampedInt(row[0], 0, (P - 2) / 4);
                              const float fill = row[1];
                              for (int64_t k = 0; k < holes; k++) {
                                const float* q = row + 2 + 4 * k;
                                const int64_t x1 = clampedInt(q[0], 0, s.W), y1 = clampedInt(q[1], 0, s.H);
                                const int64_t x2 = clampedInt(q[2], 0, s.W), y2 = clampedInt(q[3], 0, s.H);
                                for (int64_t y = y1; y < y2; y++)
                                  for (int64_t x = x1; x < x2; x++) out[y * s.W + x] = fill;
                              }
                            });
                          }}).roles("FF", "F");

  r.add("augmentGaussNoise", {3, 1,
                              [](const KernelCall& c) {
                                validateStack(c, 4, "[active, sigma, keyLo, keyHi]");
                                if (c.inputs[2].numel() != 4097) argFail(c, "table must hold the 4097 quantiles of plan.ts's normalTable(), got " + shapeString(c.inputs[2].shape));
                              },
                              [](const KernelCall& c) {
                                std::vector<double> table(c.inputs[2].data, c.inputs[2].data + 4097);
                                forEachImage(c, true, [&](const Stack& s, const float* in, float* out, const float* row, int64_t) {
                                  augment::gaussNoise(in, out, s.n(), row[1], keyOf(row + 2), table.data());
                                });
                              }}).roles("FFF", "F");

  r.add("augmentMulNoise", {2, 1, [](const KernelCall& c) { validateStack(c, 5, "[active, lo, hi, keyLo, keyHi]"); },
                            [](const KernelCall& c) {
                              forEachImage(c, true, [](const Stack& s, const float* in, float* out, const float* row, int64_t) {
                                augment::multiplicativeNoise(in, out, s.n(), row[1], row[2], keyOf(row + 3));
                              });
                            }}).roles("FF", "F");
}

}  // namespace

void registerAugmentKernels(KernelRegistry& r) { registerAll(r); }

}  // namespace ifa
