// Losses and normalisation along the last axis.
//   softmaxCrossEntropy(logits[N,K], labels[N]) → loss[1]: mean over rows of logsumexp(row) −
//       row[label] (max-shifted, sums in double). Labels hold class indices as floats; a label
//       that is not an integer in [0, K) makes its row's loss NaN (and so the mean, and its row of
//       the gradient): kernels cannot throw at run time, and the values are not visible to the
//       validator. Two sweeps over each row (max, then Σ exp(x − max) in double): bytes 4·|logits|
//       (a row stays in cache), one exp and ≈ 4 FLOPs per logit.
//   softmaxCrossEntropyBackward(dloss[1], logits, labels) → dlogits = dloss/N·(softmax − onehot).
//       Three sweeps per row (max; exp written and summed; scaled): bytes 4·2|logits|, one exp per
//       logit. The exps are 8-wide (Cephes expf's polynomial, within 1 ulp).
//   ifaLoss(q[...,C], p[...,C]) → loss[1]: mean over the M = |q|/C pixels of |target − cos|, with
//       cos = ⟨q,p⟩ / (max(‖q‖, eps)·max(‖p‖, eps)), which is what
//       torch.nn.functional.cosine_similarity computes in PyTorch 1.13 (each norm clamped on its
//       own; checked against torch 1.13: cos([1e-7,0], [100,0]) = 0.1 at eps 1e-6). One sweep over
//       q and p: bytes 4·2|q|, 6 FLOPs per channel.
//   ifaLossBackward(dloss[1], q, p) → dq[, dp]: per pixel, the three sums again (the pixel's q and p
//       stay in L1), then dq = α·p − βq·q and dp = α·q − βp·p with s = −sign(target − cos)·dloss/M,
//       α = s/(max(‖q‖,eps)·max(‖p‖,eps)), βq = s·cos/‖q‖² where ‖q‖ ≥ eps (else 0; the clamp passes
//       no gradient), βp likewise. Bytes 4·(2|q| + |dq| [+ |dp|]); ≈ 10 FLOPs per channel.
//   ifaLossWithGrad(q, p) → loss[1], dq[, dp] (attrs target, eps, gradScale): the forward and the
//       backward for dloss = gradScale (the upstream gradient, when the host knows it ahead) in one
//       sweep: per pixel the three sums, |target − cos| kept for the mean, then dq (dp) as
//       ifaLossBackward writes them. Bytes 4·(2|q| + |dq| [+ |dp|]) instead of 4·2|q| more for a
//       separate forward. ifaLossWithGradReference: the same in plain double loops, for the tests.
//   l2Normalize(x[...,D]) → y = x / max(‖x‖, eps) per row (torch.nn.functional.normalize).
//       Bytes 4·2|x|.
//   l2NormalizeBackward(dy, x) → dx = dy/d − [‖x‖ ≥ eps]·x·⟨x,dy⟩/(d·‖x‖²), d = max(‖x‖, eps).
//       Bytes 4·3|x|.
// Dot products over a row use 8-float vectors (GCC/Clang vector extensions) with two accumulators
// each, flushed to double every 128 elements: vectorised, and accurate to a few float ulps. On x86-64
// the IFA and l2 row loops are compiled twice, for the baseline ISA and for AVX2+FMA, and picked at
// run time (IFA_CPU_PORTABLE=1 forces the baseline). The means over rows and pixels are summed in
// double in a fixed order, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu_kernels.h"
#include "parallel.h"
#include "simd.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"  // 32-byte vectors in always-inlined helpers only
#endif

namespace ifa {
namespace {

typedef float F8 __attribute__((vector_size(32)));

typedef int32_t I8 __attribute__((vector_size(32)));

IFA_INLINE F8 load8(const float* p) {
  F8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
IFA_INLINE void store8(float* p, const F8& v) { std::memcpy(p, &v, sizeof v); }
IFA_INLINE F8 splat(float v) { return F8{} + v; }

// y = exp(x) for 8 floats: Cephes expf's range reduction and polynomial (within 1 ulp of the exact
// value on [−87, 0]); below −87.34 gives 0 (so exp(−∞) = 0), NaN stays NaN.
IFA_INLINE void exp8(const F8& x, F8& y) {
  const F8 lo = splat(-87.33654f), hi = splat(88.37626f), magic = splat(12582912.f);  // magic = 1.5·2^23
  F8 xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  const F8 t = xc * 1.44269504088896341f + magic;  // t − magic = round(x·log2 e) = n
  const F8 n = t - magic;
  F8 r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;  // r = x − n·ln 2 in two parts
  F8 p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.f;
  const I8 pow2n = ((I8)t - (I8)magic + 127) << 23;  // the bits of 2^n
  y = p * (F8)pow2n;
  y = x < lo ? F8{} : y;
}


constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A finite number >= lo: required when fallback is NaN (kernels keep no defaults), else optional
// with a neutral fallback (gradScale 1).
double finiteAttr(const KernelCall& c, const char* name, double fallback, double lo) {
  double v = std::isnan(fallback) ? requiredAttr(c, name) : c.attrs.number(name, fallback);
  if (!std::isfinite(v) || v < lo)
    argFail(c, std::string("attrs.") + name + " must be a finite number" + (lo > -1e300 ? " >= " + std::to_string(lo) : "") +
                   ", got " + std::to_string(v));
  return v;
}

void expectScalar(const KernelCall& c, const TensorView& t, const char* what) {
  if (t.numel() != 1) argFail(c, std::string(what) + " must hold one value, got shape " + shapeString(t.shape));
}

// Σ a·b, Σ a², Σ b² over n floats.
IFA_INLINE void dot3(const float* __restrict a, const float* __restrict b, int64_t n, double& ab, double& aa, double& bb) {
  double dab = 0, daa = 0, dbb = 0;
  int64_t i = 0;
  for (; i + 128 <= n; i += 128) {
    F8 s0 = {}, s1 = {}, t0 = {}, t1 = {}, u0 = {}, u1 = {};
    for (int64_t j = i; j < i + 128; j += 16) {
      F8 x0 = load8(a + j), x1 = load8(a + j + 8), y0 = load8(b + j), y1 = load8(b + j + 8);
      s0 += x0 * y0;
      s1 += x1 * y1;
      t0 += x0 * x0;
      t1 += x1 * x1;
      u0 += y0 * y0;
      u1 += y1 * y1;
    }
    F8 s = s0 + s1, t = t0 + t1, u = u0 + u1;
    for (int l = 0; l < 8; l++) {
      dab += s[l];
      daa += t[l];
      dbb += u[l];
    }
  }
  for (; i < n; i++) {
    dab += double(a[i]) * b[i];
    daa += double(a[i]) * a[i];
    dbb += double(b[i]) * b[i];
  }
  ab = dab;
  aa = daa;
  bb = dbb;
}

// Σ a·b and Σ a² over n floats.
IFA_INLINE void dot2(const float* __restrict a, const float* __restrict b, int64_t n, double& ab, double& aa) {
  double dab = 0, daa = 0;
  int64_t i = 0;
  for (; i + 128 <= n; i += 128) {
    F8 s0 = {}, s1 = {}, t0 = {}, t1 = {};
    for (int64_t j = i; j < i + 128; j += 16) {
      F8 x0 = load8(a + j), x1 = load8(a + j + 8);
      s0 += x0 * load8(b + j);
      s1 += x1 * load8(b + j + 8);
      t0 += x0 * x0;
      t1 += x1 * x1;
    }
    F8 s = s0 + s1, t = t0 + t1;
    for (int l = 0; l < 8; l++) {
      dab += s[l];
      daa += t[l];
    }
  }
  for (; i < n; i++) {
    dab += double(a[i]) * b[i];
    daa += double(a[i]) * a[i];
  }
  ab = dab;
  aa = daa;
}

// Sums in double, in index order: the same result on any number of threads.
double orderedSum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

// ---- softmax cross-entropy ----

void validateSoftmaxCE(const KernelCall& c, size_t logitsAt, size_t labelsAt) {
  const Shape& ls = c.inputs[logitsAt].shape;
  if (ls.size() != 2) argFail(c, "logits must be 2-D [N,K], got " + shapeString(ls));
  const Shape& ys = c.inputs[labelsAt].shape;
  if (ys.size() != 1 || ys[0] != ls[0])
    argFail(c, "labels shape " + shapeString(ys) + " should be [" + std::to_string(ls[0]) + "] for logits " + shapeString(ls));
}

// The label of row i as an index, or −1 when it is not an integer in [0, K).
inline int64_t labelIndex(float v, int64_t K) {
  if (!(v >= 0.f) || !(v < float(K)) || std::floor(v) != v) return -1;
  int64_t j = int64_t(v);
  return j < K ? j : -1;
}

// Row max (8-float vectors); −∞ for an empty row.
IFA_INLINE float rowMax(const float* row, int64_t K) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  F8 m8 = splat(kNegInf);
  int64_t j = 0;
  for (; j + 8 <= K; j += 8) {
    const F8 v = load8(row + j);
    m8 = v > m8 ? v : m8;
  }
  float m = kNegInf;
  for (int l = 0; l < 8; l++) m = m8[l] > m ? m8[l] : m;
  for (; j < K; j++) m = row[j] > m ? row[j] : m;
  return m;
}

// Row max and Σ exp(x − max) (8-float vectors, flushed to double every 128 elements).
IFA_INLINE void rowSoftmaxStats(const float* row, int64_t K, float& mx, double& sum) {
  const float m = rowMax(row, K);
  double s = 0;
  int64_t j = 0;
  while (j + 8 <= K) {
    F8 acc = {}, e;
    for (int64_t end = std::min(K - 7, j + 128); j < end; j += 8) {
      exp8(load8(row + j) - m, e);
      acc += e;
    }
    for (int l = 0; l < 8; l++) s += acc[l];
  }
  for (; j < K; j++) s += std::exp(row[j] - m);
  mx = m;
  sum = s;
}

IFA_INLINE void softmaxLossRowsBody(const float* x, const float* labels, int64_t K, int64_t lo, int64_t hi, double* rowLoss) {
  for (int64_t i = lo; i < hi; i++) {
    const float* row = x + i * K;
    const int64_t t = labelIndex(labels[i], K);
    if (t < 0) {
      rowLoss[i] = kNaN;
      continue;
    }
    float m;
    double s;
    rowSoftmaxStats(row, K, m, s);
    rowLoss[i] = std::log(s) + double(m) - double(row[t]);
  }
}
IFA_DISPATCH(softmaxLossRows, (const float* x, const float* labels, int64_t K, int64_t lo, int64_t hi, double* rowLoss),
             (x, labels, K, lo, hi, rowLoss))

// dlogits rows: exp(x − max) is written once, then scaled by dloss/(N·Σ); the label's entry gets −1.
IFA_INLINE void softmaxGradRowsBody(const float* x, const float* labels, float* dx, int64_t K, int64_t lo, int64_t hi,
                                    double scale) {
  for (int64_t i = lo; i < hi; i++) {
    const float* row = x + i * K;
    float* out = dx + i * K;
    const int64_t t = labelIndex(labels[i], K);
    if (t < 0) {
      std::fill(out, out + K, std::numeric_limits<float>::quiet_NaN());
      continue;
    }
    const float m = rowMax(row, K);
    double s = 0;
    int64_t j = 0;
    while (j + 8 <= K) {
      F8 acc = {}, e;
      for (int64_t end = std::min(K - 7, j + 128); j < end; j += 8) {
        exp8(load8(row + j) - m, e);
        store8(out + j, e);
        acc += e;
      }
      for (int l = 0; l < 8; l++) s += acc[l];
    }
    for (; j < K; j++) {
      out[j] = std::exp(row[j] - m);
      s += out[j];
    }
    const double et = out[t];
    const float k = float(scale / s);
    for (j = 0; j < K; j++) out[j] *= k;
    out[t] = float((et / s - 1.0) * scale);
  }
}
IFA_DISPATCH(softmaxGradRows,
             (const float* x, const float* labels, float* dx, int64_t K, int64_t lo, int64_t hi, double scale),
             (x, labels, dx, K, lo, hi, scale))

void runSoftmaxCE(const KernelCall& c) {
  const int64_t N = c.inputs[0].shape[0], K = c.inputs[0].shape[1];
  std::vector<double> rowLoss(static_cast<size_t>(N));
  parallelFor(0, N, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, K)), [&](int64_t lo, int64_t hi) {
    softmaxLossRows(c.inputs[0].data, c.inputs[1].data, K, lo, hi, rowLoss.data());
  });
  c.outputs[0].data[0] = N ? float(orderedSum(rowLoss) / double(N)) : float(kNaN);
}

void runSoftmaxCEBackward(const KernelCall& c) {
  const int64_t N = c.inputs[1].shape[0], K = c.inputs[1].shape[1];
  const double scale = double(c.inputs[0].data[0]) / double(std::max<int64_t>(N, 1));
  parallelFor(0, N, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, K)), [&](int64_t lo, int64_t hi) {
    softmaxGradRows(c.inputs[1].data, c.inputs[2].data, c.outputs[0].data, K, lo, hi, scale);
  });
}

// ---- IFA ----

struct IfaAttrs {
  double target, eps;
};
IfaAttrs ifaAttrs(const KernelCall& c) { return {finiteAttr(c, "target", kNaN, -1e308), finiteAttr(c, "eps", kNaN, 0)}; }

void validateIfaPair(const KernelCall& c, const TensorView& q, const TensorView& p) {
  if (q.shape.empty() || q.shape.back() < 1) argFail(c, "q must be [..., C] with C >= 1, got " + shapeString(q.shape));
  expectSameShape(c, p.shape, q.shape, "p");
  ifaAttrs(c);
}

inline double pixelCos(double w, double qq, double pp, double eps, double& nq, double& np) {
  nq = std::sqrt(qq);
  np = std::sqrt(pp);
  return w / (std::max(nq, eps) * std::max(np, eps));
}

IFA_INLINE void ifaForwardRowsBody(const float* q, const float* p, int64_t C, int64_t lo, int64_t hi, double target, double eps,
                                   double* term) {
  for (int64_t i = lo; i < hi; i++) {
    double w, qq, pp, nq, np;
    dot3(q + i * C, p + i * C, C, w, qq, pp);
    term[i] = std::abs(target - pixelCos(w, qq, pp, eps, nq, np));
  }
}
IFA_DISPATCH(ifaForwardRows,
             (const float* q, const float* p, int64_t C, int64_t lo, int64_t hi, double target, double eps, double* term),
             (q, p, C, lo, hi, target, eps, term))

void runIfa(const KernelCall& c) {
  const TensorView& qv = c.inputs[0];
  const IfaAttrs a = ifaAttrs(c);
  const int64_t C = qv.shape.back(), M = qv.numel() / C;
  std::vector<double> term(static_cast<size_t>(M));
  parallelFor(0, M, std::max<int64_t>(1, 16384 / C), [&](int64_t lo, int64_t hi) {
    ifaForwardRows(qv.data, c.inputs[1].data, C, lo, hi, a.target, a.eps, term.data());
  });
  c.outputs[0].data[0] = M ? float(orderedSum(term) / double(M)) : float(kNaN);
}

// dp is null when p needs no gradient; term, when not null, gets |target − cos| per pixel (the loss
// terms of ifaLossWithGrad, from the same sums).
IFA_INLINE void ifaGradRowsBody(const float* __restrict q, const float* __restrict p, float* __restrict dq, float* __restrict dp,
                                double* __restrict term, int64_t C, int64_t lo, int64_t hi, double g, double target, double eps) {
  for (int64_t i = lo; i < hi; i++) {
    const float* qi = q + i * C;
    const float* pi = p + i * C;
    double w, qq, pp, nq, np;
    dot3(qi, pi, C, w, qq, pp);
    const double cos = pixelCos(w, qq, pp, eps, nq, np);
    const double diff = target - cos;
    if (term) term[i] = std::abs(diff);
    const double s = diff > 0 ? -g : diff < 0 ? g : 0.0;  // d|target − cos|/dcos, sign(0) = 0
    const double aq = std::max(nq, eps), ap = std::max(np, eps);
    const float alpha = float(s / (aq * ap));
    const float betaQ = nq >= eps ? float(s * cos / (aq * aq)) : 0.f;
    float* o = dq + i * C;
    for (int64_t k = 0; k < C; k++) o[k] = alpha * pi[k] - betaQ * qi[k];
    if (dp) {
      const float betaP = np >= eps ? float(s * cos / (ap * ap)) : 0.f;
      float* op = dp + i * C;
      for (int64_t k = 0; k < C; k++) op[k] = alpha * qi[k] - betaP * pi[k];
    }
  }
}
IFA_DISPATCH(ifaGradRows,
             (const float* q, const float* p, float* dq, float* dp, double* term, int64_t C, int64_t lo, int64_t hi, double g,
              double target, double eps),
             (q, p, dq, dp, term, C, lo, hi, g, target, eps))

void runIfaBackward(const KernelCall& c) {
  const TensorView& qv = c.inputs[1];
  const IfaAttrs a = ifaAttrs(c);
  const int64_t C = qv.shape.back(), M = qv.numel() / C;
  const double g = double(c.inputs[0].data[0]) / double(std::max<int64_t>(M, 1));
  float* dp = c.outputs.size() > 1 ? c.outputs[1].data : nullptr;
  parallelFor(0, M, std::max<int64_t>(1, 8192 / C), [&](int64_t lo, int64_t hi) {
    ifaGradRows(qv.data, c.inputs[2].data, c.outputs[0].data, dp, nullptr, C, lo, hi, g, a.target, a.eps);
  });
}

double gradScaleAttr(const KernelCall& c) { return finiteAttr(c, "gradScale", 1.0, -1e308); }

void validateIfaWithGrad(const KernelCall& c) {
  validateIfaPair(c, c.inputs[0], c.inputs[1]);
  gradScaleAttr(c);
  if (c.outputs.size() < 2 || c.outputs.size() > 3)
    argFail(c, "expects 2 or 3 outputs (loss, dq[, dp]), got " + std::to_string(c.outputs.size()));
  expectScalar(c, c.outputs[0], "loss");
  expectSameShape(c, c.outputs[1].shape, c.inputs[0].shape, "dq");
  if (c.outputs.size() == 3) expectSameShape(c, c.outputs[2].shape, c.inputs[0].shape, "dp");
}

void runIfaWithGrad(const KernelCall& c) {
  const TensorView& qv = c.inputs[0];
  const IfaAttrs a = ifaAttrs(c);
  const int64_t C = qv.shape.back(), M = qv.numel() / C;
  const double g = gradScaleAttr(c) / double(std::max<int64_t>(M, 1));
  float* dp = c.outputs.size() > 2 ? c.outputs[2].data : nullptr;
  std::vector<double> term(static_cast<size_t>(M));
  parallelFor(0, M, std::max<int64_t>(1, 8192 / C), [&](int64_t lo, int64_t hi) {
    ifaGradRows(qv.data, c.inputs[1].data, c.outputs[1].data, dp, term.data(), C, lo, hi, g, a.target, a.eps);
  });
  c.outputs[0].data[0] = M ? float(orderedSum(term) / double(M)) : float(kNaN);
}

// ifaLossWithGrad the obvious way: one thread, every sum and coefficient in double.
void runIfaWithGradReference(const KernelCall& c) {
  const float* q = c.inputs[0].data;
  const float* p = c.inputs[1].data;
  const IfaAttrs a = ifaAttrs(c);
  const double gradScale = gradScaleAttr(c);
  const int64_t C = c.inputs[0].shape.back(), M = c.inputs[0].numel() / C;
  float* dq = c.outputs[1].data;
  float* dp = c.outputs.size() > 2 ? c.outputs[2].data : nullptr;
  double sum = 0;
  for (int64_t i = 0; i < M; i++) {
    const float* qi = q + i * C;
    const float* pi = p + i * C;
    double w = 0, qq = 0, pp = 0;
    for (int64_t k = 0; k < C; k++) {
      w += double(qi[k]) * pi[k];
      qq += double(qi[k]) * qi[k];
      pp += double(pi[k]) * pi[k];
    }
    const double nq = std::sqrt(qq), np = std::sqrt(pp);
    const double aq = std::max(nq, a.eps), ap = std::max(np, a.eps);
    const double cos = w / (aq * ap);
    sum += std::abs(a.target - cos);
    const double s = (cos < a.target ? -1.0 : cos > a.target ? 1.0 : 0.0) * gradScale / double(M);
    const double alpha = s / (aq * ap);
    const double betaQ = nq >= a.eps ? s * cos / (aq * aq) : 0.0;
    const double betaP = np >= a.eps ? s * cos / (ap * ap) : 0.0;
    for (int64_t k = 0; k < C; k++) {
      dq[i * C + k] = float(alpha * pi[k] - betaQ * qi[k]);
      if (dp) dp[i * C + k] = float(alpha * qi[k] - betaP * pi[k]);
    }
  }
  c.outputs[0].data[0] = M ? float(sum / double(M)) : float(kNaN);
}

// ---- l2 normalisation ----

void validateL2(const KernelCall& c, const TensorView& x) {
  if (x.shape.empty() || x.shape.back() < 1) argFail(c, "x must be [..., D] with D >= 1, got " + shapeString(x.shape));
  finiteAttr(c, "eps", kNaN, 0);
}

IFA_INLINE void l2RowsBody(const float* __restrict x, float* __restrict y, int64_t D, int64_t lo, int64_t hi, double eps) {
  for (int64_t r = lo; r < hi; r++) {
    const float* xr = x + r * D;
    double xx, unused;
    dot2(xr, xr, D, unused, xx);
    const float d = float(std::max(std::sqrt(xx), eps));
    float* yr = y + r * D;
    for (int64_t k = 0; k < D; k++) yr[k] = xr[k] / d;
  }
}
IFA_DISPATCH(l2Rows, (const float* x, float* y, int64_t D, int64_t lo, int64_t hi, double eps), (x, y, D, lo, hi, eps))

IFA_INLINE void l2BackwardRowsBody(const float* __restrict dy, const float* __restrict x, float* __restrict dx, int64_t D,
                                   int64_t lo, int64_t hi, double eps) {
  for (int64_t r = lo; r < hi; r++) {
    const float* xr = x + r * D;
    const float* gr = dy + r * D;
    double xg, xx;
    dot2(xr, gr, D, xg, xx);
    const double n = std::sqrt(xx), d = std::max(n, eps);
    const float inv = float(1.0 / d);
    const float k = n >= eps ? float(xg / (d * xx)) : 0.f;
    float* o = dx + r * D;
    for (int64_t j = 0; j < D; j++) o[j] = gr[j] * inv - xr[j] * k;
  }
}
IFA_DISPATCH(l2BackwardRows, (const float* dy, const float* x, float* dx, int64_t D, int64_t lo, int64_t hi, double eps),
             (dy, x, dx, D, lo, hi, eps))

void runL2(const KernelCall& c) {
  const TensorView& xv = c.inputs[0];
  const double eps = finiteAttr(c, "eps", kNaN, 0);
  const int64_t D = xv.shape.back(), rows = xv.numel() / D;
  parallelFor(0, rows, std::max<int64_t>(1, 16384 / D),
              [&](int64_t lo, int64_t hi) { l2Rows(xv.data, c.outputs[0].data, D, lo, hi, eps); });
}

void runL2Backward(const KernelCall& c) {
  const TensorView& xv = c.inputs[1];
  const double eps = finiteAttr(c, "eps", kNaN, 0);
  const int64_t D = xv.shape.back(), rows = xv.numel() / D;
  parallelFor(0, rows, std::max<int64_t>(1, 8192 / D),
              [&](int64_t lo, int64_t hi) { l2BackwardRows(c.inputs[0].data, xv.data, c.outputs[0].data, D, lo, hi, eps); });
}

}  // namespace

void registerLossKernels(KernelRegistry& r) {
  r.add("softmaxCrossEntropy", {2, 1,
                                [](const KernelCall& c) {
                                  validateSoftmaxCE(c, 0, 1);
                                  expectScalar(c, c.outputs[0], "loss");
                                },
                                runSoftmaxCE});
  r.add("softmaxCrossEntropyBackward", {3, 1,
                                        [](const KernelCall& c) {
                                          expectScalar(c, c.inputs[0], "dloss");
                                          validateSoftmaxCE(c, 1, 2);
                                          expectSameShape(c, c.outputs[0].shape, c.inputs[1].shape, "dlogits");
                                        },
                                        runSoftmaxCEBackward});
  // IFA: half q and p (and their gradients), fp32 arithmetic and a float32 loss. Softmax
  // cross-entropy stays float32 (the logits of the MLP head are float32 in AMP too).
  halfByConversion(r.add("ifaLoss", {2, 1,
                    [](const KernelCall& c) {
                      validateIfaPair(c, c.inputs[0], c.inputs[1]);
                      expectScalar(c, c.outputs[0], "loss");
                    },
                    runIfa}).roles("TT", "F"));
  halfByConversion(r.add("ifaLossBackward", {3, -1,
                            [](const KernelCall& c) {
                              expectScalar(c, c.inputs[0], "dloss");
                              validateIfaPair(c, c.inputs[1], c.inputs[2]);
                              if (c.outputs.empty() || c.outputs.size() > 2)
                                argFail(c, "expects 1 or 2 outputs (dq[, dp]), got " + std::to_string(c.outputs.size()));
                              expectSameShape(c, c.outputs[0].shape, c.inputs[1].shape, "dq");
                              if (c.outputs.size() == 2) expectSameShape(c, c.outputs[1].shape, c.inputs[1].shape, "dp");
                            },
                            runIfaBackward}).roles("FTT", "T"));
  halfByConversion(r.add("ifaLossWithGrad", {2, -1, validateIfaWithGrad, runIfaWithGrad}).roles("TT", "FT"));
  halfByConversion(r.add("ifaLossWithGradReference", {2, -1, validateIfaWithGrad, runIfaWithGradReference}).roles("TT", "FT"));
  halfByConversion(r.add("l2Normalize", {1, 1,
                        [](const KernelCall& c) {
                          validateL2(c, c.inputs[0]);
                          expectSameShape(c, c.outputs[0].shape, c.inputs[0].shape, "y");
                        },
                        runL2}));
  halfByConversion(r.add("l2NormalizeBackward", {2, 1,
                                [](const KernelCall& c) {
                                  validateL2(c, c.inputs[1]);
                                  expectSameShape(c, c.inputs[0].shape, c.inputs[1].shape, "dy");
                                  expectSameShape(c, c.outputs[0].shape, c.inputs[1].shape, "dx");
                                },
                                runL2Backward}));
}

}  // namespace ifa
