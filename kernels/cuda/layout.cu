// Layout kernels, pure copies. Around the axis a shape is read as [outer, dim, inner]:
//   concat(x0, x1, …) → y: one strided copy launch per input into its column range of y.
//   slice(x) → y: one strided copy. sliceBackward(dy) → dx: dx zeroed, then one strided copy.
// Bytes 4·2|y| (sliceBackward 4·(|dy| + 2|dx|)); no FLOPs.
#include "common.cuh"

namespace ifa {
namespace cuda {
namespace {

// dst[r·dstPitch + j] = src[r·srcPitch + j] for r < rows, j < len.
__global__ void stridedCopyKernel(const float* __restrict src, int64_t srcPitch, float* __restrict dst, int64_t dstPitch, int64_t rows, int64_t len) {
  const int64_t total = rows * len;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / len, j = i - r * len;
    dst[r * dstPitch + j] = src[r * srcPitch + j];
  }
}

int64_t prod(const Shape& s, size_t a, size_t b) {
  int64_t p = 1;
  for (size_t i = a; i < b; i++) p *= s[i];
  return p;
}

void stridedCopy(const KernelCall& c, const float* src, int64_t srcPitch, float* dst, int64_t dstPitch, int64_t rows, int64_t len) {
  if (rows == 0 || len == 0) return;
  stridedCopyKernel<<<blocksFor(rows * len, 256), 256, 0, stream()>>>(src, srcPitch, dst, dstPitch, rows, len);
  checkLaunch(c, "stridedCopyKernel");
}

void launchConcat(const KernelCall& c) {
  const Shape& ys = c.outputs[0].shape;
  const size_t axis = size_t(c.attrs.number("axis", 0));
  const int64_t outer = prod(ys, 0, axis), inner = prod(ys, axis + 1, ys.size());
  const int64_t rowOut = ys[axis] * inner;
  int64_t off = 0;
  for (const TensorView& t : c.inputs) {
    const int64_t len = t.shape[axis] * inner;
    stridedCopy(c, t.data, len, c.outputs[0].data + off, rowOut, outer, len);
    off += len;
  }
}

void launchSlice(const KernelCall& c) {
  const Shape& xs = c.inputs[0].shape;
  const size_t axis = size_t(c.attrs.number("axis", 0));
  const int64_t start = int64_t(c.attrs.number("start", 0));
  const int64_t outer = prod(xs, 0, axis), inner = prod(xs, axis + 1, xs.size());
  const int64_t len = c.outputs[0].shape[axis] * inner;
  stridedCopy(c, c.inputs[0].data + start * inner, xs[axis] * inner, c.outputs[0].data, len, outer, len);
}

void launchSliceBackward(const KernelCall& c) {
  const Shape& xs = c.outputs[0].shape;
  const size_t axis = size_t(c.attrs.number("axis", 0));
  const int64_t start = int64_t(c.attrs.number("start", 0));
  const int64_t outer = prod(xs, 0, axis), inner = prod(xs, axis + 1, xs.size());
  const int64_t rowX = xs[axis] * inner, len = c.inputs[0].shape[axis] * inner;
  zero(c.outputs[0].data, size_t(c.outputs[0].numel()), "sliceBackward");
  stridedCopy(c, c.inputs[0].data, len, c.outputs[0].data + start * inner, rowX, outer, len);
}

}  // namespace

void registerLayout(KernelRegistry& r, const KernelRegistry& cpu) {
  addCuda(r, cpu, "concat", launchConcat);
  addCuda(r, cpu, "slice", launchSlice);
  addCuda(r, cpu, "sliceBackward", launchSliceBackward);
}

}  // namespace cuda
}  // namespace ifa
