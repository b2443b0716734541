// Layout kernels, pure copies (no FLOPs). Around the axis a shape is read as [outer, dim, inner].
//   concat(x0, x1, …) → y: y[o, off_i + j, :] = x_i[o, j, :]; attrs {axis}. Bytes 4·2|y|.
//   slice(x) → y: y[o, j, :] = x[o, start + j, :]; attrs {axis, start}, the length from y's shape.
//       Bytes 4·2|y|.
//   sliceBackward(dy) → dx: dx[o, start + j, :] = dy[o, j, :], zeros elsewhere (the gradient of
//       slice, and the building block of concat's). Bytes 4·(|dy| + |dx|).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu_kernels.h"
#include "parallel.h"

namespace ifa {
namespace {

constexpr int64_t kCopyGrain = 1 << 15;  // floats per parallel chunk

int64_t integerAttr(const KernelCall& c, const char* name, int64_t lo, int64_t hi) {
  double v = requiredAttr(c, name);
  if (!std::isfinite(v) || std::floor(v) != v || v < double(lo) || v > double(hi))
    argFail(c, std::string("attrs.") + name + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                   "], got " + std::to_string(v));
  return int64_t(v);
}

int64_t axisAttr(const KernelCall& c, const Shape& s) {
  if (s.empty()) argFail(c, "cannot work along an axis of a scalar");
  return integerAttr(c, "axis", 0, int64_t(s.size()) - 1);
}

int64_t prod(const Shape& s, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t i = from; i < to; i++) n *= s[i];
  return n;
}

// Copies `rows` rows of `len` floats from src (row stride ss) to dst (row stride ds), split into
// chunks of about kCopyGrain floats across threads (long rows are split too).
void copyRows(const float* src, int64_t ss, float* dst, int64_t ds, int64_t rows, int64_t len) {
  if (rows <= 0 || len <= 0) return;
  const int64_t pieces = std::max<int64_t>(1, (len + kCopyGrain - 1) / kCopyGrain);
  const int64_t plen = (len + pieces - 1) / pieces;
  parallelFor(0, rows * pieces, std::max<int64_t>(1, kCopyGrain / plen), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
      int64_t r = i / pieces, p = i % pieces;
      int64_t a = p * plen, b = std::min(len, a + plen);
      std::memcpy(dst + r * ds + a, src + r * ss + a, size_t(b - a) * sizeof(float));
    }
  });
}

void validateConcat(const KernelCall& c) {
  if (c.inputs.empty()) argFail(c, "needs at least one input");
  const Shape& ys = c.outputs[0].shape;
  int64_t axis = axisAttr(c, ys);
  int64_t total = 0;
  for (size_t i = 0; i < c.inputs.size(); i++) {
    const Shape& s = c.inputs[i].shape;
    bool ok = s.size() == ys.size();
    for (size_t d = 0; ok && d < s.size(); d++)
      if (int64_t(d) != axis && s[d] != ys[d]) ok = false;
    if (!ok)
      argFail(c, "input " + std::to_string(i) + " shape " + shapeString(s) + " does not match output " + shapeString(ys) +
                     " outside axis " + std::to_string(axis));
    total += s[axis];
  }
  if (total != ys[axis])
    argFail(c, "inputs add up to " + std::to_string(total) + " along axis " + std::to_string(axis) + ", output " +
                   shapeString(ys) + " has " + std::to_string(ys[axis]));
}

void runConcat(const KernelCall& c) {
  const Shape& ys = c.outputs[0].shape;
  const size_t axis = size_t(c.attrs.at("axis"));
  const int64_t outer = prod(ys, 0, axis), inner = prod(ys, axis + 1, ys.size());
  const int64_t rowOut = ys[axis] * inner;
  int64_t off = 0;
  for (const TensorView& t : c.inputs) {
    const int64_t len = t.shape[axis] * inner;
    copyRows(t.data, len, c.outputs[0].data + off, rowOut, outer, len);
    off += len;
  }
}

// slice and sliceBackward: `big` has the full axis, `small` the slice [start, start + len).
void validateSlice(const KernelCall& c, const Shape& big, const Shape& small, const char* bigName, const char* smallName) {
  int64_t axis = axisAttr(c, big);
  bool ok = small.size() == big.size();
  for (size_t d = 0; ok && d < big.size(); d++)
    if (int64_t(d) != axis && small[d] != big[d]) ok = false;
  if (!ok)
    argFail(c, std::string(smallName) + " shape " + shapeString(small) + " must equal " + bigName + " shape " +
                   shapeString(big) + " outside axis " + std::to_string(axis));
  int64_t start = integerAttr(c, "start", 0, big[axis]);
  if (start + small[axis] > big[axis])
    argFail(c, "slice [" + std::to_string(start) + ", " + std::to_string(start + small[axis]) + ") of axis " +
                   std::to_string(axis) + " is outside " + bigName + " " + shapeString(big));
}

void runSlice(const KernelCall& c) {
  const Shape& xs = c.inputs[0].shape;
  const size_t axis = size_t(c.attrs.at("axis"));
  const int64_t start = int64_t(c.attrs.at("start"));
  const int64_t outer = prod(xs, 0, axis), inner = prod(xs, axis + 1, xs.size());
  const int64_t len = c.outputs[0].shape[axis] * inner;
  copyRows(c.inputs[0].data + start * inner, xs[axis] * inner, c.outputs[0].data, len, outer, len);
}

void runSliceBackward(const KernelCall& c) {
  const Shape& xs = c.outputs[0].shape;
  const size_t axis = size_t(c.attrs.at("axis"));
  const int64_t start = int64_t(c.attrs.at("start"));
  const int64_t outer = prod(xs, 0, axis), inner = prod(xs, axis + 1, xs.size());
  const int64_t rowX = xs[axis] * inner, len = c.inputs[0].shape[axis] * inner, head = start * inner;
  const int64_t tail = rowX - head - len;
  float* dx = c.outputs[0].data;
  if (head > 0 || tail > 0) {
    parallelFor(0, outer, std::max<int64_t>(1, kCopyGrain / std::max<int64_t>(1, head + tail)), [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; o++) {
        std::memset(dx + o * rowX, 0, size_t(head) * sizeof(float));
        std::memset(dx + o * rowX + head + len, 0, size_t(tail) * sizeof(float));
      }
    });
  }
  copyRows(c.inputs[0].data, len, dx + head, rowX, outer, len);
}

}  // namespace

void registerLayoutKernels(KernelRegistry& r) {
  halfByConversion(r.add("concat", {-1, 1, validateConcat, runConcat}));
  halfByConversion(r.add("slice", {1, 1,
                                    [](const KernelCall& c) { validateSlice(c, c.inputs[0].shape, c.outputs[0].shape, "x", "y"); },
                                    runSlice}));
  halfByConversion(r.add("sliceBackward", {1, 1,
                                            [](const KernelCall& c) { validateSlice(c, c.outputs[0].shape, c.inputs[0].shape, "dx", "dy"); },
                                            runSliceBackward}));
}

}  // namespace ifa
