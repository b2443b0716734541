// Batch normalisation over every axis but the last: x[..., C] is read as M = |x|/C rows of C
// channels (NHWC activations, or [N, C] features).
//   batchNormTrain(x, gamma, beta) → y, mean, invStd: batch statistics (biased variance),
//       y = relu?((x − mean)·invStd·gamma + beta). Two sweeps over x: statistics, then y.
//       Bytes 4·3|x|; FLOPs ≈ 8|x|.
//   batchNormEval(x, gamma, beta, runningMean, runningVar) → y: the same affine map with the running
//       statistics. Bytes 4·2|x|; FLOPs 4|x|.
//   batchNormBackward(dy, x, gamma, beta, mean, invStd) → dx, dgamma, dbeta: the batch-statistics
//       gradient (with relu, dy is masked where the recomputed y ≤ 0). Two sweeps over dy and x
//       (per-channel sums, then dx). Bytes 4·5|x|; FLOPs ≈ 14|x|.
//   batchNormEvalBackward(dy, x, gamma, beta, runningMean, runningVar) → dx, dgamma, dbeta: the
//       gradient of the eval-mode affine map (statistics are constants). One sweep: 4·3|x| bytes.
//   batchNormUpdateStats(mean, invStd) → runningMean, runningVar (in place): PyTorch's momentum
//       update with the unbiased batch variance var·count/(count − 1). O(C).
//   batchNormTrainReference / batchNormBackwardReference: per-channel double loops, single-threaded,
//       for the tests to compare the fast kernels with.
//
// The statistics are exact to float32 rounding: each work item (a block of rows × a block of
// channels, small enough to stay in L2) computes its block mean, then the sums of deviations from
// it (the corrected two-pass algorithm), accumulating 16 rows in float lanes over channels (so the
// inner loop vectorises) before flushing to double. Blocks merge in double in a fixed order (Chan's
// formula), so results do not depend on the thread count. Work is split over row blocks × channel
// blocks (statistics, gradient sums) or rows (the elementwise sweeps), so every core works even
// for small batches; inner loops run over channels. On x86-64 the hot loops are also compiled for
// AVX2+FMA and picked at run time (IFA_CPU_PORTABLE=1 forces the baseline ISA).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cpu_kernels.h"
#include "parallel.h"
#include "simd.h"

namespace ifa {
namespace {


constexpr int64_t kMaxChanBlock = 512;
constexpr int64_t kBlockFloats = 32768;  // 128 KiB of x per work item
constexpr int64_t kFlushRows = 16;       // rows summed in float before flushing to double

struct Blocking {
  int64_t rows = 0, C = 0;
  int64_t cb = 1, chanBlocks = 0;  // channels per block, number of channel blocks
  int64_t rb = 1, rowBlocks = 0;   // rows per block, number of row blocks
  int64_t items() const { return rowBlocks * chanBlocks; }
};

Blocking blockingFor(int64_t rows, int64_t C) {
  Blocking b;
  b.rows = rows;
  b.C = C;
  b.cb = std::min(C, kMaxChanBlock);
  b.chanBlocks = (C + b.cb - 1) / b.cb;
  b.rb = std::max<int64_t>(kFlushRows, kBlockFloats / b.cb);
  b.rowBlocks = (rows + b.rb - 1) / b.rb;
  return b;
}

// The row range [r0, r1) and channel range [c0, c1) of work item `item`.
struct Item {
  int64_t rb, r0, r1, c0, c1;
};
Item itemAt(const Blocking& b, int64_t item) {
  Item it;
  it.rb = item / b.chanBlocks;
  int64_t cbIdx = item % b.chanBlocks;
  it.r0 = it.rb * b.rb;
  it.r1 = std::min(b.rows, it.r0 + b.rb);
  it.c0 = cbIdx * b.cb;
  it.c1 = std::min(b.C, it.c0 + b.cb);
  return it;
}

// ---- validation ----

int64_t channelsOf(const KernelCall& c, const Shape& xs) {
  if (xs.size() < 2) argFail(c, "x must have rank >= 2 ([..., C]), got " + shapeString(xs));
  int64_t C = xs.back();
  if (C < 1) argFail(c, "x " + shapeString(xs) + " has no channels");
  return C;
}

void expectVector(const KernelCall& c, const TensorView& t, int64_t C, const char* what) {
  if (t.shape.size() != 1 || t.shape[0] != C)
    argFail(c, std::string(what) + " shape " + shapeString(t.shape) + " should be [" + std::to_string(C) + "]");
}

double epsAttr(const KernelCall& c) {
  double eps = requiredAttr(c, "eps");
  if (!std::isfinite(eps) || eps < 0) argFail(c, "attrs.eps must be a finite number >= 0, got " + std::to_string(eps));
  return eps;
}

// Checks x[..., C] and the per-channel vectors inputs[first..first+n); returns C.
int64_t validateChannels(const KernelCall& c, const TensorView& x, size_t first, size_t n, const char* const* names) {
  int64_t C = channelsOf(c, x.shape);
  for (size_t i = 0; i < n; i++) expectVector(c, c.inputs[first + i], C, names[i]);
  return C;
}

void validateTrain(const KernelCall& c) {
  const char* names[] = {"gamma", "beta"};
  int64_t C = validateChannels(c, c.inputs[0], 1, 2, names);
  if (c.inputs[0].numel() / C < 1) argFail(c, "x " + shapeString(c.inputs[0].shape) + " has no rows to take statistics over");
  expectSameShape(c, c.outputs[0].shape, c.inputs[0].shape, "y");
  expectVector(c, c.outputs[1], C, "mean");
  expectVector(c, c.outputs[2], C, "invStd");
  epsAttr(c);
}

void validateEval(const KernelCall& c) {
  const char* names[] = {"gamma", "beta", "runningMean", "runningVar"};
  validateChannels(c, c.inputs[0], 1, 4, names);
  expectSameShape(c, c.outputs[0].shape, c.inputs[0].shape, "y");
  epsAttr(c);
}

void validateBackward(const KernelCall& c, bool eval) {
  const char* trainNames[] = {"gamma", "beta", "mean", "invStd"};
  const char* evalNames[] = {"gamma", "beta", "runningMean", "runningVar"};
  const TensorView& x = c.inputs[1];
  int64_t C = validateChannels(c, x, 2, 4, eval ? evalNames : trainNames);
  if (!eval && x.numel() / C < 1) argFail(c, "x " + shapeString(x.shape) + " has no rows");
  expectSameShape(c, c.inputs[0].shape, x.shape, "dy");
  expectSameShape(c, c.outputs[0].shape, x.shape, "dx");
  expectVector(c, c.outputs[1], C, "dgamma");
  expectVector(c, c.outputs[2], C, "dbeta");
  if (eval) epsAttr(c);
}

// ---- the fast kernels ----
//
// Each hot loop is an always-inline body; IFA_DISPATCH compiles it for the baseline ISA and, on
// x86-64, for AVX2+FMA, picked at run time. The second sweep of each kernel walks the rows in reverse,
// so that it starts on the rows the first sweep touched last (still in the last-level cache).

// Rows [lo, hi) of the forward: y = relu?(((x − mean) − meanLo)·scale + beta). The mean comes as a
// float pair (meanLo is the rounding residual of the double mean): x − mean is exact for x near the
// mean, so y keeps float accuracy even when |mean| ≫ std.
template <bool Relu>
IFA_INLINE void affineRowsT(const float* __restrict x, float* __restrict y, const float* __restrict mean,
                            const float* __restrict meanLo, const float* __restrict scale, const float* __restrict beta,
                            int64_t C, int64_t lo, int64_t hi) {
  for (int64_t r = lo; r < hi; r++) {
    const float* xr = x + r * C;
    float* yr = y + r * C;
    for (int64_t c = 0; c < C; c++) {
      float v = ((xr[c] - mean[c]) - meanLo[c]) * scale[c] + beta[c];
      yr[c] = Relu && v <= 0.f ? 0.f : v;  // relu(NaN) = NaN
    }
  }
}
IFA_INLINE void affineRowsBody(const float* x, float* y, const float* mean, const float* meanLo, const float* scale,
                               const float* beta, int64_t C, int64_t lo, int64_t hi, bool relu) {
  if (relu)
    affineRowsT<true>(x, y, mean, meanLo, scale, beta, C, lo, hi);
  else
    affineRowsT<false>(x, y, mean, meanLo, scale, beta, C, lo, hi);
}
IFA_DISPATCH(affineRows,
             (const float* x, float* y, const float* mean, const float* meanLo, const float* scale, const float* beta,
              int64_t C, int64_t lo, int64_t hi, bool relu),
             (x, y, mean, meanLo, scale, beta, C, lo, hi, relu))

void normalise(const TensorView& xv, const TensorView& yv, const std::vector<float>& mean, const std::vector<float>& meanLo,
               const std::vector<float>& scale, const float* beta, bool relu) {
  const int64_t C = mean.size(), rows = xv.numel() / C;
  parallelFor(0, rows, std::max<int64_t>(1, 16384 / C), [&](int64_t lo, int64_t hi) {
    affineRows(xv.data, yv.data, mean.data(), meanLo.data(), scale.data(), beta, C, rows - hi, rows - lo, relu);
  });
}

// One work item of the statistics: the block mean and M2 (sum of squared deviations from it) of
// channels [c0, c0 + w) over rows [r0, r1), written to mean[0..w) and m2[0..w).
IFA_INLINE void itemStatsBody(const float* x, int64_t C, int64_t r0, int64_t r1, int64_t c0, int64_t w, double* mean,
                              double* m2) {
  float f1[kMaxChanBlock], f2[kMaxChanBlock], shift[kMaxChanBlock];
  double d1[kMaxChanBlock], d2[kMaxChanBlock];
  const float* base = x + c0;
  const int64_t n = r1 - r0;
  // Sweep 1: the block mean (the shift for sweep 2).
  std::fill(d1, d1 + w, 0.0);
  for (int64_t a = r0; a < r1; a += kFlushRows) {
    const int64_t b = std::min(r1, a + kFlushRows);
    std::fill(f1, f1 + w, 0.f);
    for (int64_t r = a; r < b; r++) {
      const float* __restrict xr = base + r * C;
      for (int64_t c = 0; c < w; c++) f1[c] += xr[c];
    }
    for (int64_t c = 0; c < w; c++) d1[c] += f1[c];
  }
  for (int64_t c = 0; c < w; c++) shift[c] = float(d1[c] / double(n));
  // Sweep 2 (the block is in L2 now): Σ(x − shift) and Σ(x − shift)².
  std::fill(d1, d1 + w, 0.0);
  std::fill(d2, d2 + w, 0.0);
  for (int64_t a = r0; a < r1; a += kFlushRows) {
    const int64_t b = std::min(r1, a + kFlushRows);
    std::fill(f1, f1 + w, 0.f);
    std::fill(f2, f2 + w, 0.f);
    for (int64_t r = a; r < b; r++) {
      const float* __restrict xr = base + r * C;
      for (int64_t c = 0; c < w; c++) {
        float d = xr[c] - shift[c];
        f1[c] += d;
        f2[c] += d * d;
      }
    }
    for (int64_t c = 0; c < w; c++) {
      d1[c] += f1[c];
      d2[c] += f2[c];
    }
  }
  for (int64_t c = 0; c < w; c++) {
    double dm = d1[c] / double(n);
    mean[c] = double(shift[c]) + dm;
    m2[c] = std::max(0.0, d2[c] - d1[c] * dm);
  }
}
IFA_DISPATCH(itemStats,
             (const float* x, int64_t C, int64_t r0, int64_t r1, int64_t c0, int64_t w, double* mean, double* m2),
             (x, C, r0, r1, c0, w, mean, m2))

// Per item: block mean and M2 per channel ([rowBlocks, C] each).
struct BlockStats {
  std::vector<double> mean, m2;
};

BlockStats blockStatistics(const float* x, const Blocking& b) {
  BlockStats s;
  s.mean.assign(size_t(b.rowBlocks * b.C), 0.0);
  s.m2.assign(size_t(b.rowBlocks * b.C), 0.0);
  parallelFor(0, b.items(), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t item = lo; item < hi; item++) {
      Item it = itemAt(b, item);
      const int64_t at = it.rb * b.C + it.c0;
      itemStats(x, b.C, it.r0, it.r1, it.c0, it.c1 - it.c0, s.mean.data() + at, s.m2.data() + at);
    }
  });
  return s;
}

// Merges the blocks (Chan et al.) in row-block order: the batch mean and biased variance.
void mergeStatistics(const BlockStats& s, const Blocking& b, std::vector<double>& mean, std::vector<double>& var) {
  const int64_t C = b.C;
  mean.assign(size_t(C), 0.0);
  var.assign(size_t(C), 0.0);
  for (int64_t k = 0; k < b.rowBlocks; k++) {
    double nk = double(std::min(b.rows, (k + 1) * b.rb) - k * b.rb);
    for (int64_t c = 0; c < C; c++) mean[c] += nk * s.mean[k * C + c];
  }
  for (int64_t c = 0; c < C; c++) mean[c] /= double(b.rows);
  for (int64_t k = 0; k < b.rowBlocks; k++) {
    double nk = double(std::min(b.rows, (k + 1) * b.rb) - k * b.rb);
    for (int64_t c = 0; c < C; c++) {
      double d = s.mean[k * C + c] - mean[c];
      var[c] += s.m2[k * C + c] + nk * d * d;
    }
  }
  for (int64_t c = 0; c < C; c++) var[c] /= double(b.rows);
}

void runTrain(const KernelCall& c) {
  const TensorView& x = c.inputs[0];
  const float* gamma = c.inputs[1].data;
  const float* beta = c.inputs[2].data;
  const int64_t C = x.shape.back(), rows = x.numel() / C;
  const double eps = epsAttr(c);
  Blocking b = blockingFor(rows, C);
  std::vector<double> mean, var;
  mergeStatistics(blockStatistics(x.data, b), b, mean, var);
  std::vector<float> meanF(C), meanLo(C), scale(C);
  float* outMean = c.outputs[1].data;
  float* outInvStd = c.outputs[2].data;
  for (int64_t k = 0; k < C; k++) {
    float invStd = float(1.0 / std::sqrt(var[k] + eps));
    meanF[k] = float(mean[k]);
    meanLo[k] = float(mean[k] - double(meanF[k]));
    scale[k] = invStd * gamma[k];
    outMean[k] = meanF[k];
    outInvStd[k] = invStd;
  }
  normalise(x, c.outputs[0], meanF, meanLo, scale, beta, c.attrs.flag("relu"));
}

void runEval(const KernelCall& c) {
  const TensorView& x = c.inputs[0];
  const float* gamma = c.inputs[1].data;
  const float* beta = c.inputs[2].data;
  const float* rm = c.inputs[3].data;
  const float* rv = c.inputs[4].data;
  const int64_t C = x.shape.back();
  const double eps = epsAttr(c);
  std::vector<float> meanF(rm, rm + C), meanLo(C, 0.f), scale(C);
  for (int64_t k = 0; k < C; k++) scale[k] = float(1.0 / std::sqrt(double(rv[k]) + eps)) * gamma[k];
  normalise(x, c.outputs[0], meanF, meanLo, scale, beta, c.attrs.flag("relu"));
}

// One work item of the backward's first sweep (and, with dx given, of the eval backward, which
// also writes dx = g·scale): Σg and Σg·(x − mean) of channels [c0, c0 + w) over rows [r0, r1),
// g = dy masked where the recomputed output (x − mean)·scale + beta is ≤ 0 (with relu).
template <bool Relu, bool WriteDx>
IFA_INLINE void itemGradSumsT(const float* dy, const float* x, float* dx, const float* mean, const float* scale,
                              const float* beta, int64_t C, int64_t r0, int64_t r1, int64_t c0, int64_t w, double* sg,
                              double* sgx) {
  float f1[kMaxChanBlock], f2[kMaxChanBlock];
  double d1[kMaxChanBlock], d2[kMaxChanBlock];
  const float* __restrict m = mean + c0;
  const float* __restrict s = scale + c0;
  const float* __restrict be = beta + c0;
  std::fill(d1, d1 + w, 0.0);
  std::fill(d2, d2 + w, 0.0);
  for (int64_t a = r0; a < r1; a += kFlushRows) {
    const int64_t b = std::min(r1, a + kFlushRows);
    std::fill(f1, f1 + w, 0.f);
    std::fill(f2, f2 + w, 0.f);
    for (int64_t r = a; r < b; r++) {
      const float* __restrict xr = x + r * C + c0;
      const float* __restrict gr = dy + r * C + c0;
      float* __restrict o = WriteDx ? dx + r * C + c0 : nullptr;
      for (int64_t k = 0; k < w; k++) {
        float xc = xr[k] - m[k];
        float g = gr[k];
        if (Relu) g = xc * s[k] + be[k] > 0.f ? g : 0.f;
        if (WriteDx) o[k] = g * s[k];
        f1[k] += g;
        f2[k] += g * xc;
      }
    }
    for (int64_t k = 0; k < w; k++) {
      d1[k] += f1[k];
      d2[k] += f2[k];
    }
  }
  std::copy(d1, d1 + w, sg);
  std::copy(d2, d2 + w, sgx);
}
IFA_INLINE void itemGradSumsBody(const float* dy, const float* x, float* dx, const float* mean, const float* scale,
                                 const float* beta, int64_t C, int64_t r0, int64_t r1, int64_t c0, int64_t w, double* sg,
                                 double* sgx, bool relu) {
  if (relu && dx)
    itemGradSumsT<true, true>(dy, x, dx, mean, scale, beta, C, r0, r1, c0, w, sg, sgx);
  else if (relu)
    itemGradSumsT<true, false>(dy, x, dx, mean, scale, beta, C, r0, r1, c0, w, sg, sgx);
  else if (dx)
    itemGradSumsT<false, true>(dy, x, dx, mean, scale, beta, C, r0, r1, c0, w, sg, sgx);
  else
    itemGradSumsT<false, false>(dy, x, dx, mean, scale, beta, C, r0, r1, c0, w, sg, sgx);
}
IFA_DISPATCH(itemGradSums,
             (const float* dy, const float* x, float* dx, const float* mean, const float* scale, const float* beta, int64_t C,
              int64_t r0, int64_t r1, int64_t c0, int64_t w, double* sg, double* sgx, bool relu),
             (dy, x, dx, mean, scale, beta, C, r0, r1, c0, w, sg, sgx, relu))

// Σg and Σg·(x − mean) per channel, summed over the row blocks in order. With dx, also dx = g·scale.
void gradSums(const float* dy, const float* x, float* dx, const float* mean, const float* scale, const float* beta,
              const Blocking& b, bool relu, std::vector<double>& sg, std::vector<double>& sgx) {
  const int64_t C = b.C;
  std::vector<double> psg(size_t(b.rowBlocks * C)), psgx(size_t(b.rowBlocks * C));
  parallelFor(0, b.items(), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t item = lo; item < hi; item++) {
      Item it = itemAt(b, item);
      const int64_t at = it.rb * C + it.c0;
      itemGradSums(dy, x, dx, mean, scale, beta, C, it.r0, it.r1, it.c0, it.c1 - it.c0, psg.data() + at, psgx.data() + at, relu);
    }
  });
  sg.assign(size_t(C), 0.0);
  sgx.assign(size_t(C), 0.0);
  for (int64_t k = 0; k < b.rowBlocks; k++)
    for (int64_t ch = 0; ch < C; ch++) {
      sg[ch] += psg[k * C + ch];
      sgx[ch] += psgx[k * C + ch];
    }
}

// The backward's second sweep over rows [lo, hi): dx = k1·g − a − (x − mean)·k2.
template <bool Relu>
IFA_INLINE void gradInputT(const float* __restrict dy, const float* __restrict x, float* __restrict dx,
                           const float* __restrict mean, const float* __restrict scale, const float* __restrict beta,
                           const float* __restrict k1, const float* __restrict a, const float* __restrict k2, int64_t C,
                           int64_t lo, int64_t hi) {
  for (int64_t r = lo; r < hi; r++) {
    const float* xr = x + r * C;
    const float* gr = dy + r * C;
    float* o = dx + r * C;
    for (int64_t k = 0; k < C; k++) {
      float xc = xr[k] - mean[k];
      float g = gr[k];
      if (Relu) g = xc * scale[k] + beta[k] > 0.f ? g : 0.f;
      o[k] = k1[k] * g - a[k] - xc * k2[k];
    }
  }
}
IFA_INLINE void gradInputBody(const float* dy, const float* x, float* dx, const float* mean, const float* scale,
                              const float* beta, const float* k1, const float* a, const float* k2, int64_t C, int64_t lo,
                              int64_t hi, bool relu) {
  if (relu)
    gradInputT<true>(dy, x, dx, mean, scale, beta, k1, a, k2, C, lo, hi);
  else
    gradInputT<false>(dy, x, dx, mean, scale, beta, k1, a, k2, C, lo, hi);
}
IFA_DISPATCH(gradInput,
             (const float* dy, const float* x, float* dx, const float* mean, const float* scale, const float* beta,
              const float* k1, const float* a, const float* k2, int64_t C, int64_t lo, int64_t hi, bool relu),
             (dy, x, dx, mean, scale, beta, k1, a, k2, C, lo, hi, relu))

void runBackward(const KernelCall& c) {
  const float* dy = c.inputs[0].data;
  const TensorView& xv = c.inputs[1];
  const float* x = xv.data;
  const float* gamma = c.inputs[2].data;
  const float* beta = c.inputs[3].data;
  const float* mean = c.inputs[4].data;
  const float* invStd = c.inputs[5].data;
  float* dx = c.outputs[0].data;
  float* dgamma = c.outputs[1].data;
  float* dbeta = c.outputs[2].data;
  const int64_t C = xv.shape.back(), rows = xv.numel() / C;
  const bool relu = c.attrs.flag("relu");
  std::vector<float> scale(C);
  for (int64_t k = 0; k < C; k++) scale[k] = invStd[k] * gamma[k];  // as the forward computed it
  std::vector<double> sg, sgx;
  gradSums(dy, x, nullptr, mean, scale.data(), beta, blockingFor(rows, C), relu, sg, sgx);
  std::vector<float> k1(C), a(C), k2(C);
  const double M = double(rows);
  for (int64_t ch = 0; ch < C; ch++) {
    double is = invStd[ch], g1 = double(gamma[ch]) * is;
    k1[ch] = float(g1);
    a[ch] = float(g1 * sg[ch] / M);
    k2[ch] = float(g1 * is * is * sgx[ch] / M);
    dbeta[ch] = float(sg[ch]);
    dgamma[ch] = float(sgx[ch] * is);
  }
  parallelFor(0, rows, std::max<int64_t>(1, 16384 / C), [&](int64_t lo, int64_t hi) {
    gradInput(dy, x, dx, mean, scale.data(), beta, k1.data(), a.data(), k2.data(), C, rows - hi, rows - lo, relu);
  });
}

void runEvalBackward(const KernelCall& c) {
  const float* dy = c.inputs[0].data;
  const TensorView& xv = c.inputs[1];
  const float* gamma = c.inputs[2].data;
  const float* beta = c.inputs[3].data;
  const float* rm = c.inputs[4].data;
  const float* rv = c.inputs[5].data;
  float* dgamma = c.outputs[1].data;
  float* dbeta = c.outputs[2].data;
  const int64_t C = xv.shape.back(), rows = xv.numel() / C;
  const double eps = epsAttr(c);
  std::vector<float> scale(C);
  std::vector<double> invStd(C);
  for (int64_t k = 0; k < C; k++) {
    invStd[k] = 1.0 / std::sqrt(double(rv[k]) + eps);
    scale[k] = float(invStd[k]) * gamma[k];  // as batchNormEval computed it
  }
  std::vector<double> sg, sgx;
  gradSums(dy, xv.data, c.outputs[0].data, rm, scale.data(), beta, blockingFor(rows, C), c.attrs.flag("relu"), sg, sgx);
  for (int64_t ch = 0; ch < C; ch++) {
    dbeta[ch] = float(sg[ch]);
    dgamma[ch] = float(sgx[ch] * double(float(invStd[ch])));
  }
}

// ---- running statistics ----

void validateUpdateStats(const KernelCall& c) {
  if (c.inputs[0].shape.size() != 1) argFail(c, "mean must be 1-D [C], got " + shapeString(c.inputs[0].shape));
  int64_t C = c.inputs[0].shape[0];
  expectVector(c, c.inputs[1], C, "invStd");
  expectVector(c, c.outputs[0], C, "runningMean");
  expectVector(c, c.outputs[1], C, "runningVar");
  epsAttr(c);
  double m = requiredAttr(c, "momentum");
  if (!(m >= 0 && m <= 1)) argFail(c, "attrs.momentum must be in [0, 1], got " + std::to_string(m));
  double n = requiredAttr(c, "count");
  if (!std::isfinite(n) || std::floor(n) != n || n < 2)
    argFail(c, "attrs.count (values per channel) must be an integer >= 2 for the unbiased variance, got " + std::to_string(n));
}

void runUpdateStats(const KernelCall& c) {
  const float* mean = c.inputs[0].data;
  const float* invStd = c.inputs[1].data;
  float* rm = c.outputs[0].data;
  float* rv = c.outputs[1].data;
  const double eps = epsAttr(c), m = c.attrs.at("momentum"), n = c.attrs.at("count");
  const int64_t C = c.inputs[0].numel();
  for (int64_t k = 0; k < C; k++) {
    double is = invStd[k];
    double var = std::max(0.0, 1.0 / (is * is) - eps);  // invStd = 1/sqrt(var + eps)
    double unbiased = var * n / (n - 1);
    rm[k] = float((1 - m) * double(rm[k]) + m * double(mean[k]));
    rv[k] = float((1 - m) * double(rv[k]) + m * unbiased);
  }
}

// ---- references ----

void runTrainReference(const KernelCall& c) {
  const TensorView& xv = c.inputs[0];
  const float* x = xv.data;
  const float* gamma = c.inputs[1].data;
  const float* beta = c.inputs[2].data;
  float* y = c.outputs[0].data;
  const int64_t C = xv.shape.back(), rows = xv.numel() / C;
  const double eps = epsAttr(c);
  const bool relu = c.attrs.flag("relu");
  for (int64_t k = 0; k < C; k++) {
    double s = 0;
    for (int64_t r = 0; r < rows; r++) s += x[r * C + k];
    double mean = s / double(rows), v = 0;
    for (int64_t r = 0; r < rows; r++) v += (x[r * C + k] - mean) * (x[r * C + k] - mean);
    double invStd = 1.0 / std::sqrt(v / double(rows) + eps);
    c.outputs[1].data[k] = float(mean);
    c.outputs[2].data[k] = float(invStd);
    for (int64_t r = 0; r < rows; r++) {
      double o = (x[r * C + k] - mean) * invStd * gamma[k] + beta[k];
      y[r * C + k] = float(relu && o <= 0 ? 0.0 : o);
    }
  }
}

void runBackwardReference(const KernelCall& c) {
  const float* dy = c.inputs[0].data;
  const TensorView& xv = c.inputs[1];
  const float* x = xv.data;
  const float* gamma = c.inputs[2].data;
  const float* beta = c.inputs[3].data;
  const float* mean = c.inputs[4].data;
  const float* invStd = c.inputs[5].data;
  float* dx = c.outputs[0].data;
  const int64_t C = xv.shape.back(), rows = xv.numel() / C;
  const bool relu = c.attrs.flag("relu");
  for (int64_t k = 0; k < C; k++) {
    double is = invStd[k], sg = 0, sgx = 0;
    auto g = [&](int64_t r) {
      double xh = (x[r * C + k] - double(mean[k])) * is;
      return relu && xh * gamma[k] + beta[k] <= 0 ? 0.0 : double(dy[r * C + k]);
    };
    for (int64_t r = 0; r < rows; r++) {
      sg += g(r);
      sgx += g(r) * (x[r * C + k] - double(mean[k])) * is;
    }
    c.outputs[1].data[k] = float(sgx);
    c.outputs[2].data[k] = float(sg);
    for (int64_t r = 0; r < rows; r++) {
      double xh = (x[r * C + k] - double(mean[k])) * is;
      dx[r * C + k] = float(gamma[k] * is * (g(r) - sg / double(rows) - xh * sgx / double(rows)));
    }
  }
}

}  // namespace

void registerNormKernels(KernelRegistry& r) {
  // Activations (x, y, dy, dx) in the call's dtype; statistics and affine parameters float32.
  halfByConversion(r.add("batchNormTrain", {3, 3, validateTrain, runTrain}).roles("TFF", "TFF"));
  halfByConversion(r.add("batchNormEval", {5, 1, validateEval, runEval}).roles("TFFFF", "T"));
  halfByConversion(r.add("batchNormBackward", {6, 3, [](const KernelCall& c) { validateBackward(c, false); }, runBackward}).roles("TTFFFF", "TFF"));
  halfByConversion(r.add("batchNormEvalBackward", {6, 3, [](const KernelCall& c) { validateBackward(c, true); }, runEvalBackward}).roles("TTFFFF", "TFF"));
  r.add("batchNormUpdateStats", {2, 2, validateUpdateStats, runUpdateStats}).roles("FF", "FF").inPlace();
  halfByConversion(r.add("batchNormTrainReference", {3, 3, validateTrain, runTrainReference}).roles("TFF", "TFF"));
  halfByConversion(r.add("batchNormBackwardReference", {6, 3, [](const KernelCall& c) { validateBackward(c, false); }, runBackwardReference}).roles("TTFFFF", "TFF"));
}

}  // namespace ifa
