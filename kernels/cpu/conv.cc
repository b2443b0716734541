// 2-D convolution over NHWC activations with [Co,KH,KW,Ci] weights, zero padding, no bias:
//   conv2d(x[N,H,W,Ci], w) → y[N,Ho,Wo,Co],  Ho = (H + 2·padH − KH)/strideH + 1 (floor)
//   conv2dBackwardInput(dy, w) → dx[N,H,W,Ci]   (H, W from dx's shape)
//   conv2dBackwardFilter(x, dy) → dw[Co,KH,KW,Ci]
// Each is 2·N·Ho·Wo·Co·KH·KW·Ci FLOPs. All three are GEMMs over K' = KH·KW·Ci, whose patch matrix
// (one row per output pixel, the receptive field flattened in (kh, kw, ci) order, which is w's order)
// is never materialised:
//   forward          y[P,Co] = patches(x)[P,K'] · wᵀ. A row of patches is, per kh, one contiguous run
//                    of KW·Ci input floats (per (kh, kw) at the left/right border), so the GEMM's A
//                    panels are pointers into x and padding points at zeros (gemm.h). 1×1 stride 1 is
//                    a plain sgemm. Bytes ≈ 4·(|x| + |w| + |y|) beyond cache reuse.
//   backward input   stride 1: the same implicit GEMM on dy with the kernel flipped and transposed
//                    (a "full" convolution, padding K−1−pad). Stride > 1: per band of output rows
//                    of one image, dcol = dy·w (an L2-sized scratch per thread), then each dx row the
//                    band reaches adds its (kh, kw) taps from dcol through precomputed offsets; even
//                    bands run in parallel, then odd ones, so no two threads write one dx row. Ci = 1
//                    (the grayscale stem) takes this path: its GEMM is [P,Co]·[Co,KH·KW] and the
//                    gather a short scalar sum per pixel.
//   backward filter  dw[Co,K'] = dyᵀ · patches(x): depth is the pixel count, so threads split the
//                    pixels and add their partial dw at the end (or split dw's columns when there are
//                    few pixels). B blocks are packed straight from x.
// The *Reference kernels are the direct loops with double accumulation; tests compare against them.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu_kernels.h"
#include "gemm.h"
#include "parallel.h"

namespace ifa {
namespace {

using gemm::kMR;
using gemm::kNR;

struct Geom {
  int64_t n, h, w, ci;  // input (x / dx)
  int64_t co, kh, kw;   // weights
  int64_t sh, sw, ph, pw;
  int64_t ho, wo;       // output (y / dy)
  int64_t kdim() const { return kh * kw * ci; }
  double flops() const { return 2.0 * double(n) * double(ho) * double(wo) * double(co) * double(kdim()); }
};

int64_t intAttr(const KernelCall& c, const char* name, int64_t lo, int64_t hi) {
  double v = requiredAttr(c, name);
  if (!std::isfinite(v) || std::floor(v) != v || v < double(lo) || v > double(hi))
    argFail(c, std::string("attrs.") + name + " must be an integer in [" + std::to_string(lo) + ", " +
                   std::to_string(hi) + "], got " + std::to_string(v));
  return int64_t(v);
}

// Geometry from x's shape (or dx's) and the kernel's [Co,KH,KW,Ci] shape; checks that the kernel fits
// and that the output shape (y or dy) is the computed one.
Geom geometry(const KernelCall& c, const Shape& xs, const char* xName, const Shape& ws, const char* wName,
              const Shape& ys, const char* yName) {
  if (xs.size() != 4) argFail(c, std::string(xName) + " must be 4-D [N,H,W,C], got " + shapeString(xs));
  if (ws.size() != 4) argFail(c, std::string(wName) + " must be 4-D [Co,KH,KW,Ci], got " + shapeString(ws));
  if (ys.size() != 4) argFail(c, std::string(yName) + " must be 4-D [N,Ho,Wo,Co], got " + shapeString(ys));
  Geom g;
  g.n = xs[0];
  g.h = xs[1];
  g.w = xs[2];
  g.ci = xs[3];
  g.co = ws[0];
  g.kh = ws[1];
  g.kw = ws[2];
  if (ws[3] != g.ci)
    argFail(c, std::string(xName) + " " + shapeString(xs) + " has " + std::to_string(g.ci) + " channels but " + wName +
                   " " + shapeString(ws) + " expects " + std::to_string(ws[3]));
  if (g.kh < 1 || g.kw < 1) argFail(c, std::string(wName) + " " + shapeString(ws) + " has an empty kernel");
  g.sh = intAttr(c, "strideH", 1, 1 << 20);
  g.sw = intAttr(c, "strideW", 1, 1 << 20);
  g.ph = intAttr(c, "padH", 0, 1 << 20);
  g.pw = intAttr(c, "padW", 0, 1 << 20);
  if (g.h + 2 * g.ph < g.kh || g.w + 2 * g.pw < g.kw)
    argFail(c, "the " + std::to_string(g.kh) + "x" + std::to_string(g.kw) + " kernel of " + wName + " " + shapeString(ws) +
                   " does not fit " + xName + " " + shapeString(xs) + " with padding " + std::to_string(g.ph) + "," +
                   std::to_string(g.pw));
  g.ho = (g.h + 2 * g.ph - g.kh) / g.sh + 1;
  g.wo = (g.w + 2 * g.pw - g.kw) / g.sw + 1;
  Shape want{g.n, g.ho, g.wo, g.co};
  if (ys != want)
    argFail(c, std::string(yName) + " shape " + shapeString(ys) + " should be " + shapeString(want) + " for " + xName + " " +
                   shapeString(xs) + ", " + wName + " " + shapeString(ws) + ", stride " + std::to_string(g.sh) + "," +
                   std::to_string(g.sw) + ", padding " + std::to_string(g.ph) + "," + std::to_string(g.pw));
  return g;
}

// conv2d(x, w) → y
Geom forwardGeom(const KernelCall& c) {
  return geometry(c, c.inputs[0].shape, "x", c.inputs[1].shape, "w", c.outputs[0].shape, "y");
}
// conv2dBackwardInput(dy, w) → dx
Geom backwardInputGeom(const KernelCall& c) {
  return geometry(c, c.outputs[0].shape, "dx", c.inputs[1].shape, "w", c.inputs[0].shape, "dy");
}
// conv2dBackwardFilter(x, dy) → dw
Geom backwardFilterGeom(const KernelCall& c) {
  return geometry(c, c.inputs[0].shape, "x", c.outputs[0].shape, "dw", c.inputs[1].shape, "dy");
}

// ---- references: the definition, double accumulation ----

void forwardReference(const KernelCall& c) {
  Geom g = forwardGeom(c);
  const float* x = c.inputs[0].data;
  const float* w = c.inputs[1].data;
  float* y = c.outputs[0].data;
  parallelFor(0, g.n * g.ho, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; row++) {
      int64_t n = row / g.ho, oh = row % g.ho;
      for (int64_t ow = 0; ow < g.wo; ow++)
        for (int64_t o = 0; o < g.co; o++) {
          double s = 0;
          for (int64_t i = 0; i < g.kh; i++)
            for (int64_t j = 0; j < g.kw; j++) {
              int64_t ih = oh * g.sh - g.ph + i, iw = ow * g.sw - g.pw + j;
              if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
              const float* xp = x + ((n * g.h + ih) * g.w + iw) * g.ci;
              const float* wp = w + ((o * g.kh + i) * g.kw + j) * g.ci;
              for (int64_t ch = 0; ch < g.ci; ch++) s += double(xp[ch]) * double(wp[ch]);
            }
          y[((n * g.ho + oh) * g.wo + ow) * g.co + o] = float(s);
        }
    }
  });
}

void backwardInputReference(const KernelCall& c) {
  Geom g = backwardInputGeom(c);
  const float* dy = c.inputs[0].data;
  const float* w = c.inputs[1].data;
  float* dx = c.outputs[0].data;
  parallelFor(0, g.n * g.h, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; row++) {
      int64_t n = row / g.h, ih = row % g.h;
      for (int64_t iw = 0; iw < g.w; iw++)
        for (int64_t ch = 0; ch < g.ci; ch++) {
          double s = 0;
          for (int64_t i = 0; i < g.kh; i++) {
            int64_t t = ih + g.ph - i;  // = oh·sh
            if (t < 0 || t % g.sh != 0 || t / g.sh >= g.ho) continue;
            for (int64_t j = 0; j < g.kw; j++) {
              int64_t u = iw + g.pw - j;
              if (u < 0 || u % g.sw != 0 || u / g.sw >= g.wo) continue;
              const float* dyp = dy + ((n * g.ho + t / g.sh) * g.wo + u / g.sw) * g.co;
              for (int64_t o = 0; o < g.co; o++)
                s += double(dyp[o]) * double(w[((o * g.kh + i) * g.kw + j) * g.ci + ch]);
            }
          }
          dx[((n * g.h + ih) * g.w + iw) * g.ci + ch] = float(s);
        }
    }
  });
}

void backwardFilterReference(const KernelCall& c) {
  Geom g = backwardFilterGeom(c);
  const float* x = c.inputs[0].data;
  const float* dy = c.inputs[1].data;
  float* dw = c.outputs[0].data;
  parallelFor(0, g.co * g.kh, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; r++) {
      int64_t o = r / g.kh, i = r % g.kh;
      for (int64_t j = 0; j < g.kw; j++)
        for (int64_t ch = 0; ch < g.ci; ch++) {
          double s = 0;
          for (int64_t n = 0; n < g.n; n++)
            for (int64_t oh = 0; oh < g.ho; oh++) {
              int64_t ih = oh * g.sh - g.ph + i;
              if (ih < 0 || ih >= g.h) continue;
              for (int64_t ow = 0; ow < g.wo; ow++) {
                int64_t iw = ow * g.sw - g.pw + j;
                if (iw < 0 || iw >= g.w) continue;
                s += double(dy[((n * g.ho + oh) * g.wo + ow) * g.co + o]) *
                     double(x[((n * g.h + ih) * g.w + iw) * g.ci + ch]);
              }
            }
          dw[((o * g.kh + i) * g.kw + j) * g.ci + ch] = float(s);
        }
    }
  });
}

// ---- the fast path ----

// Scratch slots (gemm::scratch, per thread): 0..3 belong to the sources inside gemm::run, kColumns
// to the band tasks of the strided backward input (on any thread), the rest to the calling (stream)
// thread.
enum ScratchSlot { kColumns = 4, kPackedWeights = 5, kZeros = 6, kPartials = 7 };

const float* zerosFor(int64_t count) {
  float* z = gemm::scratch(kZeros, size_t(std::max<int64_t>(count, 1)));
  std::memset(z, 0, size_t(std::max<int64_t>(count, 1)) * sizeof(float));
  return z;
}

// Where the receptive field of output pixels lives: an NHWC image `src` [.., H, W, C] seen through a
// KH×KW window with strides and (possibly negative) padding; output pixel rows are numbered
// n·Ho·Wo + oh·Wo + ow.
struct Window {
  const float* src;
  int64_t h, w, c;
  int64_t kh, kw, sh, sw, ph, pw;
  int64_t ho, wo;
  const float* zeros;  // at least kw·c floats
};

// A rows = output pixels, depth = (kh, kw, c): pointers into the image (gemm's A source).
struct PatchRowsA {
  Window g;
  void prepare(int64_t, int64_t, int64_t, int64_t) {}
  void panel(int64_t i, int mr, int64_t p0, int64_t kc, gemm::PanelA& out) const {
    out.clear();
    const int64_t rowLen = g.kw * g.c;
    const float* base[kMR];  // image row n, at the window's left column (may be outside the image)
    int64_t h0[kMR], w0[kMR];
    bool border = false;
    for (int r = 0; r < kMR; r++) {
      int64_t pix = i + std::min(r, mr - 1);
      int64_t n = pix / (g.ho * g.wo), rem = pix % (g.ho * g.wo);
      int64_t oh = rem / g.wo, ow = rem % g.wo;
      h0[r] = oh * g.sh - g.ph;
      w0[r] = ow * g.sw - g.pw;
      base[r] = g.src + n * g.h * g.w * g.c;
      if (w0[r] < 0 || w0[r] + g.kw > g.w) border = true;
    }
    const int64_t p1 = p0 + kc;
    int64_t k = p0;
    int64_t kh = k / rowLen, rem = k % rowLen;
    while (k < p1) {
      int64_t len;
      if (!border) {
        len = std::min(p1, (kh + 1) * rowLen) - k;
        for (int r = 0; r < kMR; r++) {
          int64_t ih = h0[r] + kh;
          out.ptrs.push_back(ih >= 0 && ih < g.h ? base[r] + (ih * g.w + w0[r]) * g.c + rem : g.zeros);
        }
      } else {
        int64_t kw = rem / g.c, ch = rem % g.c;
        len = std::min(p1 - k, g.c - ch);
        for (int r = 0; r < kMR; r++) {
          int64_t ih = h0[r] + kh, iw = w0[r] + kw;
          bool in = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
          out.ptrs.push_back(in ? base[r] + (ih * g.w + iw) * g.c + ch : g.zeros);
        }
      }
      out.lens.push_back(len);
      k += len;
      rem += len;
      if (rem == rowLen) {
        kh++;
        rem = 0;
      }
    }
  }
};

// B = patches of the image: depth = output pixels, columns = (kh, kw, c), packed per block into
// kNR-wide slivers (gemm's B source; the backward filter).
struct PatchColsB {
  Window g;
  float* buf = nullptr;
  int64_t kc = 0;
  bool packWhole(int64_t, int64_t, int64_t, int64_t) { return false; }
  void pack(int64_t p0, int64_t bkc, int64_t j0, int64_t nc) {
    kc = bkc;
    const int64_t slivers = (nc + kNR - 1) / kNR, width = slivers * kNR;
    buf = gemm::scratch(2, size_t(slivers * kc * kNR));
    // A pixel's patch row is runs of the image (zeros for padding). With Ci a multiple of 16 every run
    // starts on a sliver boundary and goes straight in; otherwise the row is first assembled
    // contiguously, then cut into the slivers 16 floats at a time.
    const bool aligned = g.c % kNR == 0;
    float* row = gemm::scratch(3, size_t(width));
    std::fill(row + nc, row + width, 0.f);
    const int64_t rowLen = g.kw * g.c, j1 = j0 + nc;
    int64_t n = p0 / (g.ho * g.wo), rem0 = p0 % (g.ho * g.wo);
    int64_t oh = rem0 / g.wo, ow = rem0 % g.wo;
    for (int64_t p = 0; p < kc; p++) {
      const float* base = g.src + n * g.h * g.w * g.c;
      int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
      bool border = w0 < 0 || w0 + g.kw > g.w;
      int64_t k = j0, kh = k / rowLen, rem = k % rowLen;
      while (k < j1) {
        int64_t len;
        const float* src;
        int64_t ih = h0 + kh;
        if (!border) {
          len = std::min(j1, (kh + 1) * rowLen) - k;
          src = ih >= 0 && ih < g.h ? base + (ih * g.w + w0) * g.c + rem : nullptr;
        } else {
          int64_t kw = rem / g.c, ch = rem % g.c, iw = w0 + kw;
          len = std::min(j1 - k, g.c - ch);
          src = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w ? base + (ih * g.w + iw) * g.c + ch : nullptr;
        }
        if (aligned) {
          // Runs start on sliver boundaries: copy them straight into the slivers.
          for (int64_t t = 0; t < len; t += kNR) {
            float* dst = buf + (((k - j0 + t) / kNR) * kc + p) * kNR;
            const int64_t take = std::min<int64_t>(kNR, len - t);
            if (src && take == kNR) {
              std::memcpy(dst, src + t, kNR * sizeof(float));
            } else {
              if (src) std::memcpy(dst, src + t, size_t(take) * sizeof(float));
              std::memset(dst + (src ? take : 0), 0, size_t(kNR - (src ? take : 0)) * sizeof(float));
            }
          }
        } else if (src) {
          std::memcpy(row + (k - j0), src, size_t(len) * sizeof(float));
        } else {
          std::memset(row + (k - j0), 0, size_t(len) * sizeof(float));
        }
        k += len;
        rem += len;
        if (rem == rowLen) {
          kh++;
          rem = 0;
        }
      }
      if (!aligned)
        for (int64_t s = 0; s < slivers; s++) std::memcpy(buf + (s * kc + p) * kNR, row + s * kNR, kNR * sizeof(float));
      if (++ow == g.wo) {
        ow = 0;
        if (++oh == g.ho) {
          oh = 0;
          n++;
        }
      }
    }
  }
  const float* sliver(int64_t s) const { return buf + s * kc * kNR; }
};

// An implicit GEMM of m rows and n columns over a prepacked B, as tasks fn(m0, m1, n0, n1):
// rows split into about four tasks per thread (parallelFor hands them out, so a core that is busy
// with something else does not hold the rest back), each a multiple of the micro-tile height and at
// least 96 rows. With fewer rows than that for two tasks (the late stages at small images: 32–192
// output pixels), the columns are split instead, whole slivers per task, about two tasks per thread:
// before, such a layer ran on one thread (3×3 512→512 at 2×2, batch 8: 48 GFLOP/s of 2 cores).
template <class Fn>
void forBlocks(int64_t m, int64_t n, double flops, Fn fn) {
  const int64_t threads = threadCount();
  if (threads == 1 || flops < 4e6) {
    fn(0, m, 0, n);
    return;
  }
  if (m <= 2 * 96) {
    const int64_t slivers = (n + kNR - 1) / kNR;
    const int64_t per = std::max<int64_t>(1, (slivers + threads * 2 - 1) / (threads * 2));
    const int64_t tasks = (slivers + per - 1) / per;
    if (tasks < 2) {
      fn(0, m, 0, n);
      return;
    }
    parallelFor(0, tasks, 1, [&](int64_t lo, int64_t hi) { fn(0, m, lo * per * kNR, std::min(n, hi * per * kNR)); });
    return;
  }
  int64_t rows = std::max<int64_t>(96, (m + threads * 4 - 1) / (threads * 4));
  rows = (rows + kMR - 1) / kMR * kMR;
  int64_t tasks = (m + rows - 1) / rows;
  parallelFor(0, tasks, 1, [&](int64_t lo, int64_t hi) { fn(lo * rows, std::min(m, hi * rows), 0, n); });
}

// Packs a weight B[kdim, cols] as kNR-wide slivers of the whole depth ([ceil(cols/16)][kdim][16],
// zero past the last column; get(s, dst) fills sliver s), on the caller's scratch, for PrepackedB.
template <class Get>
const float* prepackB(int64_t kdim, int64_t cols, Get get) {
  const int64_t slivers = (cols + kNR - 1) / kNR;
  float* packed = gemm::scratch(kPackedWeights, size_t(std::max<int64_t>(1, slivers * kdim * kNR)));
  parallelFor(0, slivers, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t s = lo; s < hi; s++) get(s, packed + s * kdim * kNR);
  });
  return packed;
}

// patches(x)ᵀ for output pixels p0..p0+np (np ≤ 16) as one sliver [K'][16], zero past np and in
// the padding: the B of the few-pixel forward below. Per tap (kh, kw) the 16 pixels' channel runs
// are read in place and interleaved, so the writes stay in one 16·Ci block.
void packPixelSliver(const Window& g, int64_t p0, int64_t np, float* dst) {
  const float* base[kNR];
  int64_t h0[kNR], w0[kNR];
  for (int64_t j = 0; j < kNR; j++) {
    base[j] = nullptr;
    h0[j] = w0[j] = 0;
    if (j >= np) continue;
    const int64_t pix = p0 + j, n = pix / (g.ho * g.wo), rem = pix % (g.ho * g.wo);
    h0[j] = (rem / g.wo) * g.sh - g.ph;
    w0[j] = (rem % g.wo) * g.sw - g.pw;
    base[j] = g.src + n * g.h * g.w * g.c;
  }
  for (int64_t kh = 0; kh < g.kh; kh++)
    for (int64_t kw = 0; kw < g.kw; kw++) {
      float* d = dst + (kh * g.kw + kw) * g.c * kNR;
      for (int64_t j = 0; j < kNR; j++) {
        const int64_t ih = h0[j] + kh, iw = w0[j] + kw;
        const float* src = base[j] && ih >= 0 && ih < g.h && iw >= 0 && iw < g.w ? base[j] + (ih * g.w + iw) * g.c : nullptr;
        if (src) {
          for (int64_t ch = 0; ch < g.c; ch++) d[ch * kNR + j] = src[ch];
        } else {
          for (int64_t ch = 0; ch < g.c; ch++) d[ch * kNR + j] = 0.f;
        }
      }
    }
}

// yt [Co, P] → y [P, Co].
void transposeInto(const float* yt, int64_t co, int64_t P, float* y) {
  parallelFor(0, P, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; p++)
      for (int64_t o = 0; o < co; o++) y[p * co + o] = yt[o * P + p];
  });
}

void forwardFast(const KernelCall& c) {
  Geom g = forwardGeom(c);
  const float* x = c.inputs[0].data;
  const float* w = c.inputs[1].data;
  float* y = c.outputs[0].data;
  const int64_t P = g.n * g.ho * g.wo, K = g.kdim();
  if (P == 0 || g.co == 0) return;
  const bool pointwise = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
  // Fewer output pixels than filters (ResNet's late stages at small images: 32 pixels against 512
  // filters of 4608 taps at 64², batch 8): yᵀ = w · patchesᵀ, so the GEMM packs the few patches and
  // reads w in place, instead of repacking the whole weight (9 MiB there) on every call; then yᵀ is
  // transposed into y. A pointwise layer's sgemm reads its weight in place already and packs only
  // what it must, so it swaps only when the pixels are very few (measured: faster at 32 pixels,
  // slower at 128).
  if (P < g.co && (!pointwise || P <= 64)) {
    float* yt = gemm::scratch(kColumns, size_t(g.co * P));
    if (pointwise) {
      sgemm(false, true, g.co, P, g.ci, 1.f, w, g.ci, x, g.ci, 0.f, yt, P);
    } else {
      Window win{x, g.h, g.w, g.ci, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.ho, g.wo, nullptr};
      const float* packed = prepackB(K, P, [&](int64_t s, float* dst) { packPixelSliver(win, s * kNR, std::min<int64_t>(kNR, P - s * kNR), dst); });
      gemm::Blocking bl;
      forBlocks(g.co, P, g.flops(), [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
        gemm::RowsA a{w, K};
        gemm::PrepackedB b{packed, K};
        gemm::run(m0, m1, n0, n1, 0, K, a, b, yt, P, 1.f, 0.f, bl);
      });
    }
    transposeInto(yt, g.co, P, y);
    return;
  }
  if (pointwise) {
    sgemm(false, true, P, g.co, g.ci, 1.f, x, g.ci, w, g.ci, 0.f, y, g.co);
    return;
  }
  // B[k', o] = w[o, k']: sliver s gathers 16 filters, 8 depth values at a time.
  const float* packed = prepackB(K, g.co, [&](int64_t s, float* dst) {
    gemm::MatrixB src{w, K, true};
    src.packInto(dst, K, 0, K, s * kNR, std::min<int64_t>(kNR, g.co - s * kNR));
  });
  Window win{x, g.h, g.w, g.ci, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.ho, g.wo, zerosFor(g.kw * g.ci)};
  gemm::Blocking bl;
  forBlocks(P, g.co, g.flops(), [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    PatchRowsA a{win};
    gemm::PrepackedB b{packed, K};
    gemm::run(m0, m1, n0, n1, 0, K, a, b, y, g.co, 1.f, 0.f, bl);
  });
}

void backwardInputFast(const KernelCall& c) {
  Geom g = backwardInputGeom(c);
  const float* dy = c.inputs[0].data;
  const float* w = c.inputs[1].data;
  float* dx = c.outputs[0].data;
  const int64_t P = g.n * g.ho * g.wo, K = g.kdim();
  const int64_t dxSize = g.n * g.h * g.w * g.ci;
  if (dxSize == 0) return;
  if (P == 0 || g.co == 0) {
    std::fill(dx, dx + dxSize, 0.f);
    return;
  }
  if (g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0) {
    sgemm(false, false, P, g.ci, g.co, 1.f, dy, g.co, w, g.ci, 0.f, dx, g.ci);
    return;
  }
  gemm::Blocking bl;
  if (g.sh == 1 && g.sw == 1) {
    // dx = conv(dy, w'), w'[ci, i, j, o] = w[o, KH−1−i, KW−1−j, ci], padding KH−1−padH (may be < 0).
    // B[(i, j, o), ci] = w'[ci, i, j, o]: each depth row is 16 contiguous ci of one filter tap.
    const int64_t Kt = g.kh * g.kw * g.co;
    const float* packed = prepackB(Kt, g.ci, [&](int64_t s, float* dst) {
      int64_t c0 = s * kNR, width = std::min<int64_t>(kNR, g.ci - c0);
      for (int64_t i = 0; i < g.kh; i++)
        for (int64_t j = 0; j < g.kw; j++)
          for (int64_t o = 0; o < g.co; o++) {
            const float* src = w + ((o * g.kh + (g.kh - 1 - i)) * g.kw + (g.kw - 1 - j)) * g.ci + c0;
            float* d = dst + ((i * g.kw + j) * g.co + o) * kNR;
            for (int64_t t = 0; t < width; t++) d[t] = src[t];
            for (int64_t t = width; t < kNR; t++) d[t] = 0.f;
          }
    });
    Window win{dy, g.ho, g.wo, g.co, g.kh, g.kw, 1, 1, g.kh - 1 - g.ph, g.kw - 1 - g.pw, g.h, g.w,
               zerosFor(g.kw * g.co)};
    const int64_t M = g.n * g.h * g.w;
    forBlocks(M, g.ci, g.flops(), [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
      PatchRowsA a{win};
      gemm::PrepackedB b{packed, Kt};
      gemm::run(m0, m1, n0, n1, 0, Kt, a, b, dx, g.ci, 1.f, 0.f, bl);
    });
    return;
  }
  // Strided: dcol = dy·w over bands of output rows, then every dx row gathers its taps that fall in
  // the band. B[o, k'] = w[o, k'] (rows of w, 16 columns at a time).
  const float* packed = prepackB(g.co, K, [&](int64_t s, float* dst) {
    int64_t c0 = s * kNR, width = std::min<int64_t>(kNR, K - c0);
    for (int64_t o = 0; o < g.co; o++) {
      const float* src = w + o * K + c0;
      float* d = dst + o * kNR;
      for (int64_t t = 0; t < width; t++) d[t] = src[t];
      for (int64_t t = width; t < kNR; t++) d[t] = 0.f;
    }
  });
  parallelFor(0, g.n * g.h, 16, [&](int64_t lo, int64_t hi) {
    std::fill(dx + lo * g.w * g.ci, dx + hi * g.w * g.ci, 0.f);
  });
  // Column taps, the same for every row: dx column iw gathers, from an output row of dcol (Wo pixels
  // of K'), the Ci floats at ow·K' + j·Ci for each j with iw + padW − j = ow·strideW, 0 ≤ ow < Wo.
  std::vector<int64_t> tapStart(size_t(g.w + 1)), tapOffset;
  for (int64_t iw = 0; iw < g.w; iw++) {
    tapStart[size_t(iw)] = int64_t(tapOffset.size());
    for (int64_t j = 0; j < g.kw; j++) {
      int64_t u = iw + g.pw - j;
      if (u >= 0 && u % g.sw == 0 && u / g.sw < g.wo) tapOffset.push_back((u / g.sw) * K + j * g.ci);
    }
  }
  tapStart[size_t(g.w)] = int64_t(tapOffset.size());
  // Bands of output rows of one image, sized so a band's dcol stays in L2 (but at least 96 pixels,
  // for the GEMM). Each task computes its band's dcol on its own thread and adds it into the dx rows
  // the band reaches. A band of B ≥ ⌈KH/strideH⌉ rows reaches no dx row of the band after next, so
  // the even bands run in parallel, then the odd ones.
  const int64_t perRow = g.wo * K;
  int64_t band = std::max<int64_t>((g.kh + g.sh - 1) / g.sh, (96 + g.wo - 1) / g.wo);
  band = std::min(g.ho, std::max(band, (int64_t(64) << 10) / std::max<int64_t>(1, perRow)));
  const int64_t bandsPerImage = (g.ho + band - 1) / band;
  const int64_t ci = g.ci;
  // Adds the taps of dcol (output rows oh0..oh1 of image n) into dx rows ih0..ih1.
  auto gather = [&](int64_t n, int64_t oh0, int64_t oh1, const float* cols, int64_t ih0, int64_t ih1) {
    std::vector<const float*> rows(size_t(g.kh));
    for (int64_t ih = ih0; ih < ih1; ih++) {
      // The kernel rows i whose output row oh = (ih + padH − i)/strideH lies in the band.
      int64_t nrows = 0;
      for (int64_t i = 0; i < g.kh; i++) {
        int64_t t = ih + g.ph - i;
        if (t < 0 || t % g.sh != 0 || t / g.sh < oh0 || t / g.sh >= oh1) continue;
        rows[size_t(nrows++)] = cols + (t / g.sh - oh0) * perRow + i * g.kw * ci;
      }
      float* drow = dx + (n * g.h + ih) * g.w * ci;
      for (int64_t iw = 0; iw < g.w; iw++) {
        const int64_t e0 = tapStart[size_t(iw)], e1 = tapStart[size_t(iw) + 1];
        float* d = drow + iw * ci;
        if (ci == 1) {
          float acc = 0.f;
          for (int64_t r = 0; r < nrows; r++)
            for (int64_t e = e0; e < e1; e++) acc += rows[size_t(r)][tapOffset[size_t(e)]];
          d[0] += acc;
        } else {
          for (int64_t r = 0; r < nrows; r++)
            for (int64_t e = e0; e < e1; e++) {
              const float* src = rows[size_t(r)] + tapOffset[size_t(e)];
              for (int64_t ch = 0; ch < ci; ch++) d[ch] += src[ch];
            }
        }
      }
    }
  };
  // One band: its dcol, then the gather. `inside`: the band is the only work at hand, so its GEMM
  // and its dx rows (disjoint writes) are split over the threads instead.
  auto bandTask = [&](int64_t n, int64_t b, bool inside) {
    const int64_t oh0 = b * band, oh1 = std::min(g.ho, oh0 + band), M = (oh1 - oh0) * g.wo;
    float* cols = gemm::scratch(kColumns, size_t(M * K));
    const float* dyBand = dy + (n * g.ho + oh0) * g.wo * g.co;
    auto rowsOf = [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
      gemm::RowsA a{dyBand, g.co};
      gemm::PrepackedB bsrc{packed, g.co};
      gemm::run(m0, m1, n0, n1, 0, g.co, a, bsrc, cols, K, 1.f, 0.f, bl);
    };
    const int64_t hLo = std::max<int64_t>(0, oh0 * g.sh - g.ph);
    const int64_t hHi = std::min(g.h, (oh1 - 1) * g.sh - g.ph + g.kh);
    if (!inside) {
      rowsOf(0, M, 0, K);
      gather(n, oh0, oh1, cols, hLo, hHi);
      return;
    }
    forBlocks(M, K, 2.0 * double(M) * double(K) * double(g.co), rowsOf);
    parallelFor(hLo, hHi, 1, [&](int64_t lo, int64_t hi) { gather(n, oh0, oh1, cols, lo, hi); });
  };
  const int64_t threads = threadCount();
  for (int64_t phase = 0; phase < 2; phase++) {
    const int64_t perImage = (bandsPerImage - phase + 1) / 2;  // bands b ≡ phase (mod 2)
    if (perImage <= 0) continue;
    const int64_t tasks = g.n * perImage;
    if (tasks < 2 * threads && threads > 1) {
      for (int64_t q = 0; q < tasks; q++) bandTask(q / perImage, phase + 2 * (q % perImage), true);
      continue;
    }
    parallelFor(0, tasks, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t q = lo; q < hi; q++) bandTask(q / perImage, phase + 2 * (q % perImage), false);
    });
  }
}

void backwardFilterFast(const KernelCall& c) {
  Geom g = backwardFilterGeom(c);
  const float* x = c.inputs[0].data;
  const float* dy = c.inputs[1].data;
  float* dw = c.outputs[0].data;
  const int64_t P = g.n * g.ho * g.wo, K = g.kdim(), dwSize = g.co * K;
  if (dwSize == 0) return;
  if (P == 0) {
    std::fill(dw, dw + dwSize, 0.f);
    return;
  }
  Window win{x, g.h, g.w, g.ci, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.ho, g.wo, nullptr};
  gemm::Blocking bl;
  // dw[o, k'] over depth P: A = dyᵀ (dy is [P, Co], so A is stored transposed), B = patches.
  auto part = [&](int64_t p0, int64_t p1, int64_t j0, int64_t j1, float* out, int64_t i0 = 0, int64_t i1 = -1) {
    gemm::TransposedA a{dy, g.co};
    PatchColsB b{win};
    gemm::run(i0, i1 < 0 ? g.co : i1, j0, j1, p0, p1, a, b, out, K, 1.f, 0.f, bl);
  };
  const int64_t threads = threadCount();
  if (threads == 1 || g.flops() < 4e6) {
    part(0, P, 0, K, dw);
    return;
  }
  if (P >= threads * 4 * bl.kc) {
    // Split the pixels; thread t > 0 sums into its own partial, added at the end.
    float* partials = gemm::scratch(kPartials, size_t((threads - 1) * dwSize));
    const int64_t step = (P + threads - 1) / threads;
    parallelFor(0, threads, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t t = lo; t < hi; t++) {
        int64_t p0 = t * step, p1 = std::min(P, p0 + step);
        float* out = t == 0 ? dw : partials + (t - 1) * dwSize;
        if (p0 < p1) {
          part(p0, p1, 0, K, out);
        } else {
          std::fill(out, out + dwSize, 0.f);
        }
      }
    });
    parallelFor(0, dwSize, 1 << 14, [&](int64_t lo, int64_t hi) {
      for (int64_t t = 1; t < threads; t++) {
        const float* src = partials + (t - 1) * dwSize;
        for (int64_t i = lo; i < hi; i++) dw[i] += src[i];
      }
    });
    return;
  }
  // Few pixels: split dw so that what every task packs again is the smaller operand. Split by
  // columns, each task packs its own columns of B (the patches) and transposes all of dyᵀ; split by
  // rows, each transposes its own rows of dyᵀ and packs all of B. So rows when Co > K' (1×1 1024→256
  // at 8², batch 8: dyᵀ is 4× the patches; column tasks transposed it eight times, 32 → 17 ms).
  if (g.co > K && g.co >= 2 * 4 * kMR) {
    int64_t rows = std::max<int64_t>(kMR * 4, (g.co + threads * 4 - 1) / (threads * 4));
    rows = (rows + kMR - 1) / kMR * kMR;
    const int64_t tasks = (g.co + rows - 1) / rows;
    parallelFor(0, tasks, 1, [&](int64_t lo, int64_t hi) { part(0, P, 0, K, dw, lo * rows, std::min(g.co, hi * rows)); });
    return;
  }
  int64_t cols = std::max<int64_t>(kNR * 2, (K + threads * 4 - 1) / (threads * 4));
  cols = (cols + kNR - 1) / kNR * kNR;
  int64_t tasks = (K + cols - 1) / cols;
  parallelFor(0, tasks, 1, [&](int64_t lo, int64_t hi) { part(0, P, lo * cols, std::min(K, hi * cols), dw); });
}

}  // namespace

void registerConvKernels(KernelRegistry& r) {
  // The weight gradient is float32 from half activations (a half weight is a cast of an fp32 master).
  halfByConversion(r.add("conv2d", {2, 1, [](const KernelCall& c) { forwardGeom(c); }, forwardFast}));
  halfByConversion(r.add("conv2dBackwardInput", {2, 1, [](const KernelCall& c) { backwardInputGeom(c); }, backwardInputFast}));
  halfByConversion(r.add("conv2dBackwardFilter", {2, 1, [](const KernelCall& c) { backwardFilterGeom(c); }, backwardFilterFast}).roles("TT", "F"));
  halfByConversion(r.add("conv2dReference", {2, 1, [](const KernelCall& c) { forwardGeom(c); }, forwardReference}));
  halfByConversion(r.add("conv2dBackwardInputReference", {2, 1, [](const KernelCall& c) { backwardInputGeom(c); }, backwardInputReference}));
  halfByConversion(r.add("conv2dBackwardFilterReference", {2, 1, [](const KernelCall& c) { backwardFilterGeom(c); }, backwardFilterReference}).roles("TT", "F"));
}

}  // namespace ifa
