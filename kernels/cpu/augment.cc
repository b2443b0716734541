// The augmentation kernels (augment.h): line-by-line ports of src/data/augment/pixels.ts. Every
// intermediate the reference holds in a JS number is a double here, every value it stores in a
// Float32Array is rounded to float here, and the operations run in the reference's order. No FMA:
// the AVX2 copies are compiled without it (IFA_DISPATCH_ISA with "avx2"), so nothing is contracted and the results stay
// bit-identical to the TypeScript (which is the reference and the fallback).
#include "augment.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "simd.h"

namespace ifa::augment {
namespace {


IFA_INLINE double clip01(double v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

constexpr double kFloorShift = 1 << 20;

IFA_INLINE int64_t reflect101(int64_t i, int64_t n) {
  if (n == 1) return 0;
  const int64_t period = 2 * n - 2;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

// Bilinear sample with BORDER_REFLECT_101 indices (sampleBorder).
double sampleBorder(const float* src, int w, int h, double sx, double sy) {
  if (!(std::fabs(sx) < 1e9 && std::fabs(sy) < 1e9)) return 0;
  const double x0 = std::floor(sx), y0 = std::floor(sy);
  const double fx = sx - x0, fy = sy - y0;
  const int64_t xi = int64_t(x0), yi = int64_t(y0);
  const int64_t xa = reflect101(xi, w), xb = reflect101(xi + 1, w), ya = reflect101(yi, h) * w, yb = reflect101(yi + 1, h) * w;
  const double p00 = src[ya + xa], p01 = src[ya + xb], p10 = src[yb + xa], p11 = src[yb + xb];
  const double top = p00 + (p01 - p00) * fx;
  return top + (p10 + (p11 - p10) * fx - top) * fy;
}

// The bilinear gather both warps share: the fast path inside, sampleBorder outside.
// The reference's test, floor((s + 2^20) | 0) − 2^20 in [0, n − 1), is tx = s + 2^20 in
// [2^20, 2^20 + n − 1) on the rounded sum (NaN fails it too), so the in-bounds pixels take one
// truncation and no ToInt32.
IFA_INLINE float bilinear(const float* src, int w, int h, double sx, double sy) {
  const double tx = sx + kFloorShift, ty = sy + kFloorShift;
  if (tx >= kFloorShift && ty >= kFloorShift && tx < kFloorShift + (w - 1) && ty < kFloorShift + (h - 1)) {
    const int64_t xi = int64_t(tx) - int64_t(kFloorShift), yi = int64_t(ty) - int64_t(kFloorShift);
    const double fx = sx - double(xi), fy = sy - double(yi);
    const int64_t i = yi * w + xi;
    const double p00 = src[i], p01 = src[i + 1], p10 = src[i + w], p11 = src[i + w + 1];
    const double top = p00 + (p01 - p00) * fx;
    return float(top + (p10 + (p11 - p10) * fx - top) * fy);
  }
  return float(sampleBorder(src, w, h, sx, sy));
}

IFA_INLINE void unit16ImplBody(const uint16_t* src, float* dst, int64_t n) {
  const double inv = 1.0 / 65535;
  for (int64_t i = 0; i < n; i++) dst[i] = float(double(src[i]) * inv);
}
IFA_DISPATCH_ISA(unit16Impl, "avx2", (const uint16_t* src, float* dst, int64_t n), (src, dst, n))

IFA_INLINE void pointwiseImplBody(const float* src, float* dst, int64_t n, const double* st, int k, double scale, double shift) {
  if (k == 0) {
    for (int64_t i = 0; i < n; i++) dst[i] = float(double(src[i]) * scale + shift);
  } else if (k == 1) {
    const double a = st[0], b = st[1];
    for (int64_t i = 0; i < n; i++) dst[i] = float(clip01(double(src[i]) * a + b) * scale + shift);
  } else if (k == 2) {
    const double a0 = st[0], b0 = st[1], a1 = st[2], b1 = st[3];
    for (int64_t i = 0; i < n; i++) {
      const double v = clip01(double(src[i]) * a0 + b0) * a1 + b1;
      dst[i] = float(clip01(v) * scale + shift);
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      double v = src[i];
      for (int s = 0; s < 2 * k; s += 2) v = clip01(v * st[s] + st[s + 1]);
      dst[i] = float(v * scale + shift);
    }
  }
}
IFA_DISPATCH_ISA(pointwiseImpl, "avx2", (const float* src, float* dst, int64_t n, const double* st, int k, double scale, double shift), (src, dst, n, st, k, scale, shift))

IFA_INLINE float med3(float a, float b, float c) { return a > b ? (b > c ? b : a > c ? c : a) : a > c ? a : b > c ? c : b; }

IFA_INLINE void median3ImplBody(const float* src, float* dst, int w, int h, float* scratch) {
  float* lo = scratch;
  float* mi = scratch + (w + 2);
  float* hi = scratch + 2 * (w + 2);
  for (int y = 0; y < h; y++) {
    const int64_t ra = int64_t(y > 0 ? y - 1 : 0) * w, rb = int64_t(y) * w, rc = int64_t(y < h - 1 ? y + 1 : h - 1) * w;
    for (int x = 0; x < w; x++) {
      float a = src[ra + x], b = src[rb + x], c = src[rc + x], t;
      if (a > b) { t = a; a = b; b = t; }
      if (b > c) { t = b; b = c; c = t; }
      if (a > b) { t = a; a = b; b = t; }
      lo[x + 1] = a;
      mi[x + 1] = b;
      hi[x + 1] = c;
    }
    lo[0] = lo[1]; mi[0] = mi[1]; hi[0] = hi[1];
    lo[w + 1] = lo[w]; mi[w + 1] = mi[w]; hi[w + 1] = hi[w];
    float* out = dst + int64_t(y) * w;
    for (int x = 0; x < w; x++) {
      const float l0 = lo[x], l1 = lo[x + 1], l2 = lo[x + 2];
      const float maxLo = l0 > l1 ? (l0 > l2 ? l0 : l2) : l1 > l2 ? l1 : l2;
      const float h0 = hi[x], h1 = hi[x + 1], h2 = hi[x + 2];
      const float minHi = h0 < h1 ? (h0 < h2 ? h0 : h2) : h1 < h2 ? h1 : h2;
      out[x] = med3(maxLo, med3(mi[x], mi[x + 1], mi[x + 2]), minHi);
    }
  }
}
IFA_DISPATCH_ISA(median3Impl, "avx2", (const float* src, float* dst, int w, int h, float* scratch), (src, dst, w, h, scratch))

// src padded by r on each side with BORDER_REFLECT_101 (padReflect101); returns the padded width.
int64_t padReflect101(const float* src, int w, int h, int r, float* out) {
  const int64_t pw = int64_t(w) + 2 * r;
  for (int64_t py = 0; py < h + 2 * r; py++) {
    const int64_t sy = reflect101(py - r, h) * w;
    const int64_t o = py * pw;
    for (int k = 0; k < r; k++) {
      out[o + k] = src[sy + reflect101(k - r, w)];
      out[o + r + w + k] = src[sy + reflect101(int64_t(w) + k, w)];
    }
    std::memcpy(out + o + r, src + sy, sizeof(float) * size_t(w));
  }
  return pw;
}

// Row by row: acc(x) = ((0 + w0·p0) + w1·p1) + … in the taps' order, as the reference's per-pixel sum.
IFA_INLINE void tapsRowImplBody(const float* pad, double* acc, int w, const int64_t* off, const double* wt, int taps, float* out) {
  for (int x = 0; x < w; x++) acc[x] = 0;
  for (int t = 0; t < taps; t++) {
    const float* p = pad + off[t];
    const double c = wt[t];
    for (int x = 0; x < w; x++) acc[x] += c * double(p[x]);
  }
  for (int x = 0; x < w; x++) out[x] = float(acc[x]);
}
IFA_DISPATCH_ISA(tapsRowImpl, "avx2", (const float* pad, double* acc, int w, const int64_t* off, const double* wt, int taps, float* out), (pad, acc, w, off, wt, taps, out))

IFA_INLINE void sharpenRowsImplBody(const float* pad, int64_t pw, float* rowSum, const float* src, float* dst, int w, int h, double alpha, double c) {
  for (int64_t py = 0; py < h + 2; py++) {
    const float* p = pad + py * pw;
    float* o = rowSum + py * w;
    for (int x = 0; x < w; x++) o[x] = float(double(p[x]) + double(p[x + 1]) + double(p[x + 2]));
  }
  for (int64_t y = 0; y < h; y++) {
    const float* r0 = rowSum + y * w;
    const float* s = src + y * w;
    float* d = dst + y * w;
    for (int x = 0; x < w; x++) {
      const double box = double(r0[x]) + double(r0[w + x]) + double(r0[2 * w + x]);
      d[x] = float(clip01(c * double(s[x]) - alpha * box));
    }
  }
}
IFA_DISPATCH_ISA(sharpenRowsImpl, "avx2", (const float* pad, int64_t pw, float* rowSum, const float* src, float* dst, int w, int h, double alpha, double c),
             (pad, pw, rowSum, src, dst, w, h, alpha, c))

// lowbias32 (plan.ts): the counter-based noise word of pixel i is lowbias32(i·0x9E3779B9 + key).
IFA_INLINE uint32_t lowbias32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x21f0aaadu;
  x ^= x >> 15;
  x *= 0x735a2d97u;
  return x ^ (x >> 15);
}

}  // namespace

void unit16(const uint16_t* src, float* dst, int64_t n) { unit16Impl(src, dst, n); }

void pointwiseChain(const float* src, float* dst, int64_t n, const double* stages, int k, double scale, double shift) {
  pointwiseImpl(src, dst, n, stages, k, scale, shift);
}

void warpAffineInverse(const float* src, float* dst, int w, int h, const double* m) {
  const double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5];
  for (int y = 0; y < h; y++) {
    double sx = b * y + c, sy = e * y + f;
    float* out = dst + int64_t(y) * w;
    for (int x = 0; x < w; x++, sx += a, sy += d) out[x] = bilinear(src, w, h, sx, sy);
  }
}

void opticalDistortion(const float* src, float* dst, int w, int h, double k, double dx, double dy) {
  const double fx = w, fy = h, cx = w * 0.5 + dx, cy = h * 0.5 + dy;
  // Per column: u − cx and ((u − cx)/fx)², rounded to float as the reference's scratch holds them.
  std::vector<float> xn(size_t(2) * size_t(w));
  for (int u = 0; u < w; u++) {
    const double t = u - cx;
    xn[2 * u] = float(t);
    xn[2 * u + 1] = float((t / fx) * (t / fx));
  }
  for (int v = 0; v < h; v++) {
    const double ty = v - cy;
    const double yn2 = (ty / fy) * (ty / fy);
    float* out = dst + int64_t(v) * w;
    for (int u = 0; u < w; u++) {
      const double r2 = double(xn[2 * u + 1]) + yn2;
      const double g = k * r2 * (1 + r2);
      out[u] = bilinear(src, w, h, u + double(xn[2 * u]) * g, v + ty * g);
    }
  }
}

void median3(const float* src, float* dst, int w, int h, float* scratch) { median3Impl(src, dst, w, h, scratch); }

void filterTaps(const float* src, float* dst, int w, int h, const int32_t* dxy, const double* weights, int taps, float* pad) {
  int r = 0;
  for (int t = 0; t < taps; t++) r = std::max(r, std::max(std::abs(dxy[2 * t]), std::abs(dxy[2 * t + 1])));
  const int64_t pw = padReflect101(src, w, h, r, pad);
  std::vector<int64_t> off(static_cast<size_t>(taps));
  std::vector<double> acc(static_cast<size_t>(w));
  for (int y = 0; y < h; y++) {
    for (int t = 0; t < taps; t++) off[t] = (int64_t(y) + dxy[2 * t + 1] + r) * pw + dxy[2 * t] + r;
    tapsRowImpl(pad, acc.data(), w, off.data(), weights, taps, dst + int64_t(y) * w);
  }
}

void sharpen(const float* src, float* dst, int w, int h, double alpha, double lightness, float* scratch) {
  const int64_t n = int64_t(w) * h;
  if (alpha == 0) {
    std::memmove(dst, src, sizeof(float) * size_t(n));
    return;
  }
  float* pad = scratch;
  const int64_t pw = padReflect101(src, w, h, 1, pad);
  float* rowSum = scratch + (int64_t(w) + 2) * (int64_t(h) + 2);
  sharpenRowsImpl(pad, pw, rowSum, src, dst, w, h, alpha, 1 + alpha * (8 + lightness));
}

uint32_t noiseKey(uint32_t seed) { return lowbias32(seed); }

void gaussNoise(const float* src, float* dst, int64_t n, double sigma, uint32_t key, const double* T) {
  const double frac = 1.0 / (1 << 20);
  for (int64_t i = 0; i < n; i++) {
    const uint32_t r = lowbias32(uint32_t(i) * 0x9e3779b9u + key);
    const uint32_t k = r >> 20;
    const double a = T[k];
    const double z = a + (T[k + 1] - a) * (double(r & 0xfffff) * frac);
    dst[i] = float(clip01(double(src[i]) + sigma * z));
  }
}

void multiplicativeNoise(const float* src, float* dst, int64_t n, double lo, double hi, uint32_t key) {
  const double span = (hi - lo) / 4294967296.0;
  for (int64_t i = 0; i < n; i++) dst[i] = float(clip01(double(src[i]) * (lo + double(lowbias32(uint32_t(i) * 0x9e3779b9u + key)) * span)));
}

}  // namespace ifa::augment
