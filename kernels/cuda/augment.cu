// The batched augmentation kernels (issue 20; src/backends/kernels.ts, "augmentation on the device"):
// each applies one plan step to every image of a stack x [B, H, W] (float32), image b's parameters in
// row b of params [B, P]. One launch per call: a grid of (pixel blocks, images), blockIdx.y the
// image (grid-striding past 65535), so every thread of a block reads the same parameter row (one
// broadcast load) and an inactive row (row[0] == 0, for the kernels that have the flag) makes its
// whole block copy. Threads take consecutive pixels of a row-major image, so loads and stores are
// coalesced; the filters' neighbours and the warps' gathers come from L1/L2.
//   augmentUnpack16(packed) → y = word / 65535, a thread per packed 32-bit word (two pixels).
//   augmentPointwise(x, [k, scale, shift, a0, b0, …]) → y = chain of clip01(v·aj + bj), then ·scale + shift.
//   augmentWarpAffine(x, [active, m0 … m5]) → bilinear x at (m0·x + m1·y + m2, m3·x + m4·y + m5).
//   augmentOptical(x, [active, k, dx, dy]) → bilinear x at opticalDistortionKernel's point.
//   augmentMedian3(x, [active]) → 3×3 median, replicated borders (medianBlurKernel's network).
//   augmentTaps(x, [active, n, dx0, dy0, w0, …]) → Σt wt·x(reflect101 of the tap's neighbour), tap order.
//   augmentSharpen(x, [active, alpha, lightness]) → clip01(x·(1 + α(8 + L)) − α·box3(x)).
//   augmentCutout(x, [n, fill, x1, y1, x2, y2, …]) → fill inside any rectangle, x elsewhere.
//   augmentGaussNoise(x, [active, sigma, keyLo, keyHi], table[4097]) → clip01(x + σ·gaussFromU32(r_i)).
//   augmentMulNoise(x, [active, lo, hi, keyLo, keyHi]) → clip01(x·(lo + (hi − lo)·r_i/2³²)).
// Cost: bandwidth-bound, one read of x and one write of y per pixel (4 bytes each; unpack reads 2
// bytes per pixel), plus the parameter row per block; FLOPs as KERNEL_COSTS says. Borders, the
// |s| ≥ 1e9 rule, the integer conversions of counts, offsets and corners, and the noise hash are
// those of the CPU kernels (kernels/cpu/augment_kernels.cc, pixels.ts, plan.ts), but the arithmetic
// is float32 where the CPU's is float64, so results agree within test/augment-device.test.ts's
// tolerances, not bit for bit (the median, cutout and unpack are exact, and so are the noise words).
#include <cmath>
#include <cstdint>

#include "common.cuh"

namespace ifa {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// ---- helpers, as the CPU kernels define them

// A count or coordinate from a float parameter: truncated toward zero, clamped to [lo, hi], NaN → lo
// (the CPU's clampedInt), so no parameter value can index outside the row or the image.
__device__ __forceinline__ int64_t clampedInt(float v, int64_t lo, int64_t hi) {
  if (!(v >= float(lo))) return lo;
  if (v >= float(hi)) return hi;
  const int64_t t = int64_t(v);
  return t < lo ? lo : t > hi ? hi : t;
}

// NaN passes through, as the reference's `v < 0 ? 0 : v > 1 ? 1 : v` (fminf/fmaxf would drop it).
__device__ __forceinline__ float clip01(float v) { return v < 0.f ? 0.f : v > 1.f ? 1.f : v; }

// BORDER_REFLECT_101: i mod (2n − 2), mirrored; n = 1 gives 0. i is within ±2^31 / 2 here.
__device__ __forceinline__ int reflect101(int i, int n) {
  if (n == 1) return 0;
  const int period = 2 * n - 2;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

// A source coordinate as an unevaluated float32 sum hi + lo (|lo| ≤ ulp(hi)): a plain float32 point
// loses its fraction with the image size (ulp(512) = 6e-5 px, an error of that order in the
// sampled value at every sharp edge), while the CPU's float64 point keeps it. twoSum is Knuth's
// error-free sum (s + err = a + b exactly); nothing here may be reassociated (no fast math), and the
// products are __fmul_rn so that nvcc cannot contract them into the sums that follow (an fma would
// make the recovered errors wrong).
struct Coord {
  float hi, lo;
};
__device__ __forceinline__ float twoSum(float a, float b, float& err) {
  const float s = a + b, bb = s - a;
  err = (a - (s - bb)) + (b - bb);
  return s;
}
// a·x + b·y + c, the products' rounding errors recovered by fmaf, the sums' by twoSum.
__device__ __forceinline__ Coord affineCoord(float a, float x, float b, float y, float c) {
  const float ax = __fmul_rn(a, x), by = __fmul_rn(b, y);
  const float eax = fmaf(a, x, -ax), eby = fmaf(b, y, -by);
  float e1, e2;
  const float s1 = twoSum(by, c, e1);
  const float s = twoSum(ax, s1, e2);
  float e3;
  const float hi = twoSum(s, (eax + eby) + (e1 + e2), e3);
  return {hi, e3};
}
// base + t·g for an integer pixel coordinate base (opticalKernel's source point).
__device__ __forceinline__ Coord displacedCoord(float base, float t, float g) {
  const float d = __fmul_rn(t, g), ed = fmaf(t, g, -d);
  float e1;
  const float s = twoSum(base, d, e1);
  float e2;
  const float hi = twoSum(s, e1 + ed, e2);
  return {hi, e2};
}

// floor(hi + lo) and the fraction in [0, 1] (hi − floor(hi) is exact in float32).
__device__ __forceinline__ float splitFloor(Coord c, float& frac) {
  float i = floorf(c.hi), f = (c.hi - i) + c.lo;
  if (f < 0.f) {
    i -= 1.f;
    f += 1.f;
  } else if (f >= 1.f) {
    i += 1.f;
    f -= 1.f;
  }
  frac = f;
  return i;
}

// Bilinear sample of a w×h image at (sx, sy) with reflect101 indices (sampleBorder); |sx| or |sy|
// ≥ 1e9, or NaN, samples 0. The CPU's interior fast path reads the same four pixels (reflect101 is
// the identity there), so one path serves here; it is taken without the 2^20 shift the CPU uses for
// its truncation, which in float32 would cost the fraction's bits.
__device__ __forceinline__ float bilinear(const float* __restrict src, int w, int h, Coord sx, Coord sy) {
  if (!(fabsf(sx.hi) < 1e9f && fabsf(sy.hi) < 1e9f)) return 0.f;
  float fx, fy;
  const int xi = int(splitFloor(sx, fx)), yi = int(splitFloor(sy, fy));
  int xa, xb, ya, yb;
  if (xi >= 0 && xi < w - 1 && yi >= 0 && yi < h - 1) {
    xa = xi, xb = xi + 1, ya = yi, yb = yi + 1;
  } else {
    xa = reflect101(xi, w), xb = reflect101(xi + 1, w), ya = reflect101(yi, h), yb = reflect101(yi + 1, h);
  }
  const float* ra = src + int64_t(ya) * w;
  const float* rb = src + int64_t(yb) * w;
  const float p00 = ra[xa], p01 = ra[xb], p10 = rb[xa], p11 = rb[xb];
  const float top = p00 + (p01 - p00) * fx;
  return top + (p10 + (p11 - p10) * fx - top) * fy;
}

// Chris Wellons' lowbias32 (plan.ts), and pixel i's random word for a noise key (noiseU32Keyed).
__device__ __forceinline__ uint32_t lowbias32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x21f0aaadu;
  x ^= x >> 15;
  x *= 0x735a2d97u;
  return x ^ (x >> 15);
}
__device__ __forceinline__ uint32_t noiseWord(uint32_t key, int64_t i) { return lowbias32(uint32_t(i) * 0x9e3779b9u + key); }

// A noise key from its 16-bit halves keyLo + 65536·keyHi (each clamped to [0, 65535], as the CPU's keyOf).
__device__ __forceinline__ uint32_t keyOf(const float* row) {
  return uint32_t(clampedInt(row[0], 0, 65535)) | (uint32_t(clampedInt(row[1], 0, 65535)) << 16);
}

// The pixels of image b this thread visits: a grid-stride loop over i in [0, n) along blockIdx.x.
#define FOR_EACH_PIXEL(i, n) for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)
// The images this block serves: blockIdx.y, then every gridDim.y-th (B may exceed 65535).
#define FOR_EACH_IMAGE(b, B) for (int64_t b = blockIdx.y; b < (B); b += gridDim.y)

// An inactive image: y = x (the same pixels this thread would have written).
__device__ __forceinline__ void copyImage(const float* __restrict in, float* __restrict out, int64_t n) {
  FOR_EACH_PIXEL(i, n) out[i] = in[i];
}

// Pixel i of a w-wide image as column x and row y. The validator bounds an image to 2^32 pixels and
// 65536 a side, so i fits 32 bits and the division is a 32-bit one (a 64-bit division is a long
// software sequence on the GPU, per pixel).
__device__ __forceinline__ void pixelXY(int64_t i, int w, int& x, int& y) {
  const uint32_t u = uint32_t(i), row = u / uint32_t(w);
  x = int(u - row * uint32_t(w));
  y = int(row);
}

// ---- kernels

// Thread j converts packed word j: pixel 2j is its low half, 2j + 1 its high half (when < n). Reads
// exactly ceil(n / 2) words, which the validator guarantees the input holds.
__global__ void unpack16Kernel(const uint32_t* __restrict packed, float* __restrict y, int64_t n) {
  const int64_t words = (n + 1) / 2;
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < words; j += int64_t(gridDim.x) * blockDim.x) {
    const uint32_t w = packed[j];
    // The correctly rounded w / 65535 (IEEE division, nvcc's default): the same float as the CPU's
    // float(double(w) · (1/65535)) for every 16-bit word (checked exhaustively).
    y[2 * j] = float(w & 0xffffu) / 65535.f;
    if (2 * j + 1 < n) y[2 * j + 1] = float(w >> 16) / 65535.f;
  }
}

// y = v·scale + shift after the k stages v = clip01(v·aj + bj); k from row[0], clamped to the row.
// May run in place (y = x): each thread reads its pixel before writing it.
__global__ void pointwiseKernel(const float* x, const float* __restrict params, float* y, int64_t B, int64_t n, int64_t P) {
  FOR_EACH_IMAGE(b, B) {
    const float* row = params + b * P;
    const int k = int(clampedInt(row[0], 0, (P - 3) / 2));
    const float scale = row[1], shift = row[2];
    const float* stages = row + 3;
    const float* in = x + b * n;
    float* out = y + b * n;
    FOR_EACH_PIXEL(i, n) {
      float v = in[i];
      for (int s = 0; s < 2 * k; s += 2) v = clip01(v * stages[s] + stages[s + 1]);
      out[i] = v * scale + shift;
    }
  }
}

// y(x, y) = bilinear x at (m0·x + m1·y + m2, m3·x + m4·y + m5); y ≠ x (the validator checks).
__global__ void warpAffineKernel(const float* __restrict x, const float* __restrict params, float* __restrict y, int64_t B, int h, int w, int64_t P) {
  const int64_t n = int64_t(h) * w;
  FOR_EACH_IMAGE(b, B) {
    const float* row = params + b * P;
    const float* in = x + b * n;
    float* out = y + b * n;
    if (row[0] == 0.f) {
      copyImage(in, out, n);
      continue;
    }
    const float m0 = row[1], m1 = row[2], m2 = row[3], m3 = row[4], m4 = row[5], m5 = row[6];
    FOR_EACH_PIXEL(i, n) {
      int ix, iy;
      pixelXY(i, w, ix, iy);
      const float px = float(ix), py = float(iy);
      out[i] = bilinear(in, w, h, affineCoord(m0, px, m1, py, m2), affineCoord(m3, px, m4, py, m5));
    }
  }
}

// albumentations' OpticalDistortion as opticalDistortionKernel writes it: centre (w/2 + dx, h/2 + dy),
// r² = ((u − cx)/w)² + ((v − cy)/h)², g = k·r²·(1 + r²), source (u + (u − cx)·g, v + (v − cy)·g).
__global__ void opticalKernel(const float* __restrict x, const float* __restrict params, float* __restrict y, int64_t B, int h, int w, int64_t P) {
  const int64_t n = int64_t(h) * w;
  FOR_EACH_IMAGE(b, B) {
    const float* row = params + b * P;
    const float* in = x + b * n;
    float* out = y + b * n;
    if (row[0] == 0.f) {
      copyImage(in, out, n);
      continue;
    }
    const float k = row[1], dx = row[2], dy = row[3];
    const float fx = float(w), fy = float(h);
    FOR_EACH_PIXEL(i, n) {
      int iu, iv;
      pixelXY(i, w, iu, iv);
      const float u = float(iu), v = float(iv);
      // u − cx with cx = w/2 + dx: u − w/2 is exact, so t is the reference's float(u − cx).
      const float tx = (u - 0.5f * fx) - dx, ty = (v - 0.5f * fy) - dy;
      const float xn = tx / fx, yn = ty / fy;
      const float r2 = xn * xn + yn * yn;
      const float g = k * r2 * (1.f + r2);
      out[i] = bilinear(in, w, h, displacedCoord(u, tx, g), displacedCoord(v, ty, g));
    }
  }
}

__device__ __forceinline__ float med3(float a, float b, float c) { return a > b ? (b > c ? b : a > c ? c : a) : a > c ? a : b > c ? c : b; }

// Column c's three rows (y − 1, y, y + 1, replicated) sorted into lo ≤ mi ≤ hi by the CPU's swaps.
__device__ __forceinline__ void sortedColumn(const float* ra, const float* rb, const float* rc, int c, float& lo, float& mi, float& hi) {
  float a = ra[c], m = rb[c], z = rc[c], t;
  if (a > m) { t = a; a = m; m = t; }
  if (m > z) { t = m; m = z; z = t; }
  if (a > m) { t = a; a = m; m = t; }
  lo = a, mi = m, hi = z;
}

// The 3×3 median with replicated borders: med3(max of the columns' lows, med3 of their mids, min of
// their highs), the network of medianBlurKernel and the CPU's median3, so the result is exact (NaN
// included: the same comparisons in the same order).
__global__ void median3Kernel(const float* __restrict x, const float* __restrict params, float* __restrict y, int64_t B, int h, int w, int64_t P) {
  const int64_t n = int64_t(h) * w;
  FOR_EACH_IMAGE(b, B) {
    const float* in = x + b * n;
    float* out = y + b * n;
    if (params[b * P] == 0.f) {
      copyImage(in, out, n);
      continue;
    }
    FOR_EACH_PIXEL(i, n) {
      int px, py;
      pixelXY(i, w, px, py);
      const float* ra = in + int64_t(py > 0 ? py - 1 : 0) * w;
      const float* rb = in + int64_t(py) * w;
      const float* rc = in + int64_t(py < h - 1 ? py + 1 : h - 1) * w;
      float l0, m0, h0, l1, m1, h1, l2, m2, h2;
      sortedColumn(ra, rb, rc, px > 0 ? px - 1 : 0, l0, m0, h0);
      sortedColumn(ra, rb, rc, px, l1, m1, h1);
      sortedColumn(ra, rb, rc, px < w - 1 ? px + 1 : w - 1, l2, m2, h2);
      const float maxLo = l0 > l1 ? (l0 > l2 ? l0 : l2) : l1 > l2 ? l1 : l2;
      const float minHi = h0 < h1 ? (h0 < h2 ? h0 : h2) : h1 < h2 ? h1 : h2;
      out[i] = med3(maxLo, med3(m0, m1, m2), minHi);
    }
  }
}

// Σt wt·x(reflect101(x + dxt, w), reflect101(y + dyt, h)) over the row's n taps (clamped to the
// row), from 0 in tap order. Offsets are truncated and clamped to ±2^20 as on the CPU (which then
// folds them by the period; reflect101 is periodic, so the samples are the same).
__global__ void tapsKernel(const float* __restrict x, const float* __restrict params, float* __restrict y, int64_t B, int h, int w, int64_t P) {
  const int64_t n = int64_t(h) * w;
  constexpr int64_t kMaxOffset = int64_t(1) << 20;
  FOR_EACH_IMAGE(b, B) {
    const float* row = params + b * P;
    const float* in = x + b * n;
    float* out = y + b * n;
    if (row[0] == 0.f) {
      copyImage(in, out, n);
      continue;
    }
    const int taps = int(clampedInt(row[1], 0, (P - 2) / 3));
    const float* tap = row + 2;
    FOR_EACH_PIXEL(i, n) {
      int px, py;
      pixelXY(i, w, px, py);
      float acc = 0.f;
      for (int t = 0; t < taps; t++) {
        const int dx = int(clampedInt(tap[3 * t], -kMaxOffset, kMaxOffset));
        const int dy = int(clampedInt(tap[3 * t + 1], -kMaxOffset, kMaxOffset));
        acc += tap[3 * t + 2] * in[int64_t(reflect101(py + dy, h)) * w + reflect101(px + dx, w)];
      }
      out[i] = acc;
    }
  }
}

// clip01(c·x − α·box3(x)), c = 1 + α(8 + L), box3 the 3×3 sum with reflect101 borders (row sums
// first, as sharpenKernel). α = 0 copies without the clip, as the reference does.
__global__ void sharpenKernel(const float* __restrict x, const float* __restrict params, float* __restrict y, int64_t B, int h, int w, int64_t P) {
  const int64_t n = int64_t(h) * w;
  FOR_EACH_IMAGE(b, B) {
    const float* row = params + b * P;
    const float* in = x + b * n;
    float* out = y + b * n;
    const float alpha = row[1];
    if (row[0] == 0.f || alpha == 0.f) {
      copyImage(in, out, n);
      continue;
    }
    const float c = 1.f + alpha * (8.f + row[2]);
    FOR_EACH_PIXEL(i, n) {
      int px, py;
      pixelXY(i, w, px, py);
      const int xl = reflect101(px - 1, w), xr = reflect101(px + 1, w);
      float box = 0.f;
      for (int d = -1; d <= 1; d++) {
        const float* r = in + int64_t(reflect101(py + d, h)) * w;
        box += r[xl] + r[px] + r[xr];
      }
      out[i] = clip01(c * in[i] - alpha * box);
    }
  }
}

// y = fill inside any of the row's holes [x1, x2) × [y1, y2) (n clamped to the row, corners truncated
// and clamped to the image), x elsewhere. May run in place.
__global__ void cutoutKernel(const float* x, const float* __restrict params, float* y, int64_t B, int h, int w, int64_t P) {
  const int64_t n = int64_t(h) * w;
  FOR_EACH_IMAGE(b, B) {
    const float* row = params + b * P;
    const int holes = int(clampedInt(row[0], 0, (P - 2) / 4));
    const float fill = row[1];
    const float* in = x + b * n;
    float* out = y + b * n;
    FOR_EACH_PIXEL(i, n) {
      int px, py;
      pixelXY(i, w, px, py);
      bool inside = false;
      for (int k = 0; k < holes && !inside; k++) {
        const float* q = row + 2 + 4 * k;
        inside = px >= clampedInt(q[0], 0, w) && py >= clampedInt(q[1], 0, h) && px < clampedInt(q[2], 0, w) && py < clampedInt(q[3], 0, h);
      }
      out[i] = inside ? fill : in[i];
    }
  }
}

// clip01(x + σ·z_i), z_i = gaussFromU32(noiseWord(key, i), table): segment r >> 20 of the 4097-entry
// table, linear within it by the low 20 bits. May run in place.
__global__ void gaussNoiseKernel(const float* x, const float* __restrict params, const float* __restrict table, float* y, int64_t B, int64_t n, int64_t P) {
  FOR_EACH_IMAGE(b, B) {
    const float* row = params + b * P;
    const float* in = x + b * n;
    float* out = y + b * n;
    if (row[0] == 0.f) {
      copyImage(in, out, n);
      continue;
    }
    const float sigma = row[1];
    const uint32_t key = keyOf(row + 2);
    FOR_EACH_PIXEL(i, n) {
      const uint32_t r = noiseWord(key, i);
      const uint32_t k = r >> 20;
      const float a = __ldg(table + k);
      const float z = a + (__ldg(table + k + 1) - a) * (float(r & 0xfffffu) * (1.f / 1048576.f));
      out[i] = clip01(in[i] + sigma * z);
    }
  }
}

// clip01(x·(lo + (hi − lo)·r_i/2³²)), r_i as gaussNoiseKernel's. May run in place.
__global__ void mulNoiseKernel(const float* x, const float* __restrict params, float* y, int64_t B, int64_t n, int64_t P) {
  FOR_EACH_IMAGE(b, B) {
    const float* row = params + b * P;
    const float* in = x + b * n;
    float* out = y + b * n;
    if (row[0] == 0.f) {
      copyImage(in, out, n);
      continue;
    }
    const float lo = row[1], span = (row[2] - row[1]) * (1.f / 4294967296.f);
    const uint32_t key = keyOf(row + 3);
    FOR_EACH_PIXEL(i, n) out[i] = clip01(in[i] * (lo + float(noiseWord(key, i)) * span));
  }
}

#undef FOR_EACH_PIXEL
#undef FOR_EACH_IMAGE

// ---- launchers

// The stack's shape (validated by the CPU kernel's validator: x [B, H, W], params [B, P], y like x).
struct Stack {
  int64_t B, H, W, P;
  int64_t pixels() const { return H * W; }
};
Stack stackOf(const KernelCall& c) {
  const Shape& x = c.inputs[0].shape;
  return {x[0], x[1], x[2], c.inputs[1].shape[1]};
}

// Blocks along x cover one image's pixels; images along y, at most 65535 (the kernels grid-stride past
// it). Together at most ~2^21 blocks: beyond that the pixel loops stride.
dim3 gridFor(const Stack& s) {
  const unsigned images = unsigned(s.B < 65535 ? s.B : 65535);
  const int64_t perImage = (int64_t(65535) * 32 + images - 1) / images;
  return dim3(blocksFor(s.pixels(), kThreads, perImage), images);
}

void launchUnpack16(const KernelCall& c) {
  const int64_t n = c.outputs[0].numel();
  if (n == 0) return;
  unpack16Kernel<<<blocksFor((n + 1) / 2, kThreads), kThreads, 0, stream()>>>(c.inputs[0].as<const uint32_t>(), c.outputs[0].data, n);
  checkLaunch(c, "unpack16Kernel");
}

void launchPointwise(const KernelCall& c) {
  const Stack s = stackOf(c);
  pointwiseKernel<<<gridFor(s), kThreads, 0, stream()>>>(c.inputs[0].data, c.inputs[1].data, c.outputs[0].data, s.B, s.pixels(), s.P);
  checkLaunch(c, "pointwiseKernel");
}

// The image kernels take (x, params, y, B, H, W, P). One launcher each: the emulator rewrites a launch
// into a lambda that names the kernel, so a kernel cannot be passed in as a function-pointer variable.
void launchWarpAffine(const KernelCall& c) {
  const Stack s = stackOf(c);
  warpAffineKernel<<<gridFor(s), kThreads, 0, stream()>>>(c.inputs[0].data, c.inputs[1].data, c.outputs[0].data, s.B, int(s.H), int(s.W), s.P);
  checkLaunch(c, "warpAffineKernel");
}

void launchOptical(const KernelCall& c) {
  const Stack s = stackOf(c);
  opticalKernel<<<gridFor(s), kThreads, 0, stream()>>>(c.inputs[0].data, c.inputs[1].data, c.outputs[0].data, s.B, int(s.H), int(s.W), s.P);
  checkLaunch(c, "opticalKernel");
}

void launchMedian3(const KernelCall& c) {
  const Stack s = stackOf(c);
  median3Kernel<<<gridFor(s), kThreads, 0, stream()>>>(c.inputs[0].data, c.inputs[1].data, c.outputs[0].data, s.B, int(s.H), int(s.W), s.P);
  checkLaunch(c, "median3Kernel");
}

void launchTaps(const KernelCall& c) {
  const Stack s = stackOf(c);
  tapsKernel<<<gridFor(s), kThreads, 0, stream()>>>(c.inputs[0].data, c.inputs[1].data, c.outputs[0].data, s.B, int(s.H), int(s.W), s.P);
  checkLaunch(c, "tapsKernel");
}

void launchSharpen(const KernelCall& c) {
  const Stack s = stackOf(c);
  sharpenKernel<<<gridFor(s), kThreads, 0, stream()>>>(c.inputs[0].data, c.inputs[1].data, c.outputs[0].data, s.B, int(s.H), int(s.W), s.P);
  checkLaunch(c, "sharpenKernel");
}

void launchCutout(const KernelCall& c) {
  const Stack s = stackOf(c);
  cutoutKernel<<<gridFor(s), kThreads, 0, stream()>>>(c.inputs[0].data, c.inputs[1].data, c.outputs[0].data, s.B, int(s.H), int(s.W), s.P);
  checkLaunch(c, "cutoutKernel");
}

void launchGaussNoise(const KernelCall& c) {
  const Stack s = stackOf(c);
  gaussNoiseKernel<<<gridFor(s), kThreads, 0, stream()>>>(c.inputs[0].data, c.inputs[1].data, c.inputs[2].data, c.outputs[0].data, s.B, s.pixels(), s.P);
  checkLaunch(c, "gaussNoiseKernel");
}

void launchMulNoise(const KernelCall& c) {
  const Stack s = stackOf(c);
  mulNoiseKernel<<<gridFor(s), kThreads, 0, stream()>>>(c.inputs[0].data, c.inputs[1].data, c.outputs[0].data, s.B, s.pixels(), s.P);
  checkLaunch(c, "mulNoiseKernel");
}

}  // namespace

void registerAugment(KernelRegistry& r, const KernelRegistry& cpu) {
  addCuda(r, cpu, "augmentUnpack16", launchUnpack16);
  addCuda(r, cpu, "augmentPointwise", launchPointwise);
  addCuda(r, cpu, "augmentWarpAffine", launchWarpAffine);
  addCuda(r, cpu, "augmentOptical", launchOptical);
  addCuda(r, cpu, "augmentMedian3", launchMedian3);
  addCuda(r, cpu, "augmentTaps", launchTaps);
  addCuda(r, cpu, "augmentSharpen", launchSharpen);
  addCuda(r, cpu, "augmentCutout", launchCutout);
  addCuda(r, cpu, "augmentGaussNoise", launchGaussNoise);
  addCuda(r, cpu, "augmentMulNoise", launchMulNoise);
}

}  // namespace cuda
}  // namespace ifa
