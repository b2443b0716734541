// reduceSum: y = scale · Σ x over `axes` (y holds the kept axes in row-major order; mean passes
// scale = 1/count). Accumulates in double so the oracle stays exact to float32 rounding.
// Memory-bound: bytes = 4·(|x| + |y|); FLOPs = |x|.
#include <algorithm>
#include <vector>

#include "cpu_kernels.h"
#include "parallel.h"

namespace ifa {
namespace {

std::vector<bool> reducedMask(const KernelCall& c) {
  const Shape& xs = c.inputs[0].shape;
  std::vector<bool> mask(xs.size(), false);
  const auto* axes = c.attrs.list("axes");
  if (!axes) {
    std::fill(mask.begin(), mask.end(), true);
    return mask;
  }
  for (int64_t a : *axes) {
    int64_t r = int64_t(xs.size());
    int64_t ax = a < 0 ? a + r : a;
    if (ax < 0 || ax >= r)
      argFail(c, "axis " + std::to_string(a) + " is out of range for input shape " + shapeString(xs));
    if (mask[ax]) argFail(c, "axis " + std::to_string(a) + " is listed twice");
    mask[ax] = true;
  }
  return mask;
}

void validateReduce(const KernelCall& c) {
  auto mask = reducedMask(c);
  const Shape& xs = c.inputs[0].shape;
  int64_t kept = 1;
  for (size_t i = 0; i < xs.size(); i++)
    if (!mask[i]) kept *= xs[i];
  if (c.outputs[0].numel() != kept)
    argFail(c, "output shape " + shapeString(c.outputs[0].shape) + " must hold " + std::to_string(kept) +
                   " elements (input " + shapeString(xs) + " with the reduced axes removed)");
}

void runReduce(const KernelCall& c) {
  auto mask = reducedMask(c);
  const Shape& xs = c.inputs[0].shape;
  const float* x = c.inputs[0].data;
  float* y = c.outputs[0].data;
  double scale = c.attrs.number("scale", 1.0);
  int64_t r = int64_t(xs.size());
  int64_t kept = c.outputs[0].numel();
  int64_t total = c.inputs[0].numel();
  int64_t reduced = kept ? total / std::max<int64_t>(kept, 1) : 0;
  if (kept == 0) return;
  if (total == 0) {
    std::fill(y, y + kept, 0.f);
    return;
  }
  // Where the reduced axes sit decides the loop: a suffix (row sums), a prefix (column sums), or
  // the general walk.
  int64_t firstKept = -1, lastKept = -1;
  for (int64_t i = 0; i < r; i++)
    if (!mask[i]) {
      if (firstKept < 0) firstKept = i;
      lastKept = i;
    }
  bool suffix = true, prefix = true;
  for (int64_t i = 0; i < r; i++) {
    if (mask[i] && i < lastKept && firstKept >= 0) suffix = false;
    if (mask[i] && i > firstKept && firstKept >= 0) prefix = false;
  }
  if (firstKept < 0 || suffix) {  // includes "reduce everything" (kept == 1)
    int64_t inner = reduced;
    parallelFor(0, kept, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, inner)), [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; o++) {
        const float* row = x + o * inner;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int64_t j = 0;
        for (; j + 4 <= inner; j += 4) {
          s0 += row[j];
          s1 += row[j + 1];
          s2 += row[j + 2];
          s3 += row[j + 3];
        }
        for (; j < inner; j++) s0 += row[j];
        y[o] = float((s0 + s1 + s2 + s3) * scale);
      }
    });
    return;
  }
  if (prefix) {
    int64_t rows = reduced, cols = kept;
    parallelFor(0, cols, 64, [&](int64_t lo, int64_t hi) {
      std::vector<double> acc(hi - lo, 0.0);
      for (int64_t i = 0; i < rows; i++) {
        const float* row = x + i * cols;
        for (int64_t j = lo; j < hi; j++) acc[j - lo] += row[j];
      }
      for (int64_t j = lo; j < hi; j++) y[j] = float(acc[j - lo] * scale);
    });
    return;
  }
  // General: for each output element, walk the reduced index space.
  std::vector<int64_t> stride(r, 1);
  for (int64_t i = r - 2; i >= 0; i--) stride[i] = stride[i + 1] * xs[i + 1];
  std::vector<int64_t> keptDims, redDims;
  for (int64_t i = 0; i < r; i++) (mask[i] ? redDims : keptDims).push_back(i);
  parallelFor(0, kept, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; o++) {
      int64_t rem = o, base = 0;
      for (int64_t k = int64_t(keptDims.size()) - 1; k >= 0; k--) {
        int64_t d = keptDims[k];
        base += (rem % xs[d]) * stride[d];
        rem /= xs[d];
      }
      double s = 0;
      for (int64_t q = 0; q < reduced; q++) {
        int64_t rr = q, off = base;
        for (int64_t k = int64_t(redDims.size()) - 1; k >= 0; k--) {
          int64_t d = redDims[k];
          off += (rr % xs[d]) * stride[d];
          rr /= xs[d];
        }
        s += x[off];
      }
      y[o] = float(s * scale);
    }
  });
}

}  // namespace

void registerReduceKernels(KernelRegistry& r) { halfByConversion(r.add("reduceSum", {1, 1, validateReduce, runReduce})); }

}  // namespace ifa
