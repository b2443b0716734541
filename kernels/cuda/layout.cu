// Layout kernels, pure copies. Around the axis a shape is read as [outer, dim, inner]:
//   concat(x0, x1, …) → y: one strided copy launch per input into its column range of y.
//   slice(x) → y: one strided copy. sliceBackward(dy) → dx: dx zeroed, then one strided copy.
// Bytes size·2|y| (sliceBackward size·(|dy| + 2|dx|)), size the dtype's (4 or 2); no FLOPs. The
// copies move elements as words of their size, so every dtype takes the same code.
#include "common.cuh"

namespace ifa {
namespace cuda {
namespace {

// dst[r·dstPitch + j] = src[r·srcPitch + j] for r < rows, j < len; W is a word of the element's size.
template <class W>
__global__ void stridedCopyKernel(const W* __restrict src, int64_t srcPitch, W* __restrict dst, int64_t dstPitch, int64_t rows, int64_t len) {
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

// Offsets and pitches in elements of `dtype`.
void stridedCopy(const KernelCall& c, DType dtype, const void* src, int64_t srcPitch, void* dst, int64_t dstPitch, int64_t rows, int64_t len) {
  if (rows == 0 || len == 0) return;
  if (dtypeSize(dtype) == 2)
    stridedCopyKernel<uint16_t><<<blocksFor(rows * len, 256), 256, 0, stream()>>>(static_cast<const uint16_t*>(src), srcPitch, static_cast<uint16_t*>(dst), dstPitch, rows, len);
  else
    stridedCopyKernel<float><<<blocksFor(rows * len, 256), 256, 0, stream()>>>(static_cast<const float*>(src), srcPitch, static_cast<float*>(dst), dstPitch, rows, len);
  checkLaunch(c, "stridedCopyKernel");
}

// p advanced by `elements` elements of t's dtype.
char* at(const TensorView& t, int64_t elements) { return t.as<char>() + elements * int64_t(dtypeSize(t.dtype)); }

void launchConcat(const KernelCall& c) {
  const Shape& ys = c.outputs[0].shape;
  const size_t axis = size_t(c.attrs.at("axis"));
  const int64_t outer = prod(ys, 0, axis), inner = prod(ys, axis + 1, ys.size());
  const int64_t rowOut = ys[axis] * inner;
  int64_t off = 0;
  for (const TensorView& t : c.inputs) {
    const int64_t len = t.shape[axis] * inner;
    stridedCopy(c, t.dtype, t.ptr, len, at(c.outputs[0], off), rowOut, outer, len);
    off += len;
  }
}

void launchSlice(const KernelCall& c) {
  const Shape& xs = c.inputs[0].shape;
  const size_t axis = size_t(c.attrs.at("axis"));
  const int64_t start = int64_t(c.attrs.at("start"));
  const int64_t outer = prod(xs, 0, axis), inner = prod(xs, axis + 1, xs.size());
  const int64_t len = c.outputs[0].shape[axis] * inner;
  stridedCopy(c, c.inputs[0].dtype, at(c.inputs[0], start * inner), xs[axis] * inner, c.outputs[0].ptr, len, outer, len);
}

void launchSliceBackward(const KernelCall& c) {
  const Shape& xs = c.outputs[0].shape;
  const size_t axis = size_t(c.attrs.at("axis"));
  const int64_t start = int64_t(c.attrs.at("start"));
  const int64_t outer = prod(xs, 0, axis), inner = prod(xs, axis + 1, xs.size());
  const int64_t rowX = xs[axis] * inner, len = c.inputs[0].shape[axis] * inner;
  zeroBytes(c.outputs[0].ptr, size_t(c.outputs[0].numel()) * dtypeSize(c.outputs[0].dtype), "sliceBackward");
  stridedCopy(c, c.inputs[0].dtype, c.inputs[0].ptr, len, at(c.outputs[0], start * inner), rowX, outer, len);
}

}  // namespace

void registerLayout(KernelRegistry& r, const KernelRegistry& cpu) {
  addCuda(r, cpu, "concat", launchConcat, allDTypes());
  addCuda(r, cpu, "slice", launchSlice, allDTypes());
  addCuda(r, cpu, "sliceBackward", launchSliceBackward, allDTypes());
}

}  // namespace cuda
}  // namespace ifa
