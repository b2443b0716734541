// reduceSum(x) → y = scale · Σ over attrs.axes (all when absent), kept axes in row-major order.
// Bandwidth-bound: bytes size·(|x| + |y|), |x| adds. Accumulates in double, like the CPU reference,
// for every element type (float, bf16, f16 in and out: a half sum is rounded once, at the end).
// The input is viewed as [A, R, B] when the reduced axes are contiguous:
//   B == 1 (trailing axes, or all): rowPartialKernel sums chunks of each row (one block per
//          (chunk, row)), then finishKernel adds the chunks — a two-level reduction, so reducing
//          everything still uses the whole GPU;
//   B > 1: columnPartialKernel, 32 columns × 8 row lanes per block, coalesced along B, with the R axis
//          split over grid.z, then finishKernel;
// otherwise (reduced axes interleaved with kept ones) genericKernel: one thread per output.
#include <algorithm>

#include "common.cuh"
#include "half.cuh"

namespace ifa {
namespace cuda {
namespace {

template <class T>
__global__ void rowPartialKernel(const T* __restrict x, double* __restrict partial, int64_t rows, int64_t inner, int64_t chunk) {
  __shared__ double sh[32];
  const int64_t row = blockIdx.y;
  const int64_t lo = int64_t(blockIdx.x) * chunk, hi = min(inner, lo + chunk);
  const T* r = x + row * inner;
  double s = 0;
  for (int64_t j = lo + threadIdx.x; j < hi; j += blockDim.x) s += toFloat(r[j]);
  s = blockSumD(s, sh);
  if (threadIdx.x == 0) partial[int64_t(blockIdx.x) * rows + row] = s;
}

// Many short rows: one warp per row.
template <class T>
__global__ void rowWarpKernel(const T* __restrict x, T* __restrict y, int64_t rows, int64_t inner, double scale) {
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t row = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32; row < rows; row += warps) {
    const T* r = x + row * inner;
    double s = 0;
    for (int64_t j = threadIdx.x & 31; j < inner; j += 32) s += toFloat(r[j]);
    s = warpSumD(s);
    if ((threadIdx.x & 31) == 0) y[row] = fromFloat<T>(float(s * scale));
  }
}

template <class T>
__global__ void columnPartialKernel(const T* __restrict x, double* __restrict partial, int64_t A, int64_t R, int64_t B, int64_t rchunk) {
  const int64_t b = int64_t(blockIdx.x) * 32 + threadIdx.x;
  const int64_t a = blockIdx.y;
  const int64_t r0 = int64_t(blockIdx.z) * rchunk, r1 = min(R, r0 + rchunk);
  __shared__ double sh[8][33];
  double s = 0;
  if (b < B)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += 8) s += toFloat(x[(a * R + r) * B + b]);
  sh[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && b < B) {
    for (int k = 1; k < 8; k++) s += sh[k][threadIdx.x];
    partial[int64_t(blockIdx.z) * A * B + a * B + b] = s;
  }
}

template <class T>
__global__ void finishKernel(const double* __restrict partial, T* __restrict y, int64_t kept, int64_t parts, double scale) {
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < kept; o += int64_t(gridDim.x) * blockDim.x) {
    double s = 0;
    for (int64_t p = 0; p < parts; p++) s += partial[p * kept + o];
    y[o] = fromFloat<T>(float(s * scale));
  }
}

struct Dims8 {
  int rank, nk, nr;
  int64_t dims[8], stride[8];
  int keptDims[8], redDims[8];
};

template <class T>
__global__ void genericKernel(const T* __restrict x, T* __restrict y, int64_t kept, int64_t reduced, Dims8 g, double scale) {
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < kept; o += int64_t(gridDim.x) * blockDim.x) {
    int64_t rem = o, base = 0;
    for (int k = g.nk - 1; k >= 0; k--) {
      int d = g.keptDims[k];
      base += (rem % g.dims[d]) * g.stride[d];
      rem /= g.dims[d];
    }
    double s = 0;
    for (int64_t q = 0; q < reduced; q++) {
      int64_t rr = q, off = base;
      for (int k = g.nr - 1; k >= 0; k--) {
        int d = g.redDims[k];
        off += (rr % g.dims[d]) * g.stride[d];
        rr /= g.dims[d];
      }
      s += toFloat(x[off]);
    }
    y[o] = fromFloat<T>(float(s * scale));
  }
}

template <class T>
__global__ void zeroKernel(T* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) y[i] = fromFloat<T>(0.f);
}

// ---- launcher ----

template <class T>
void reduceSum(const KernelCall& c) {
  const Shape& xs = c.inputs[0].shape;
  const int r = int(xs.size());
  std::vector<bool> mask(r, c.attrs.list("axes") == nullptr);
  if (const auto* axes = c.attrs.list("axes"))
    for (int64_t a : *axes) mask[size_t(a < 0 ? a + r : a)] = true;
  const double scale = c.attrs.number("scale", 1.0);
  const T* x = c.inputs[0].as<T>();
  T* y = c.outputs[0].as<T>();
  const int64_t kept = c.outputs[0].numel(), total = c.inputs[0].numel();
  if (kept == 0) return;
  if (total == 0) {
    zeroKernel<T><<<blocksFor(kept, 256), 256, 0, stream()>>>(y, kept);
    checkLaunch(c, "zeroKernel");
    return;
  }
  const int64_t reduced = total / kept;
  // Contiguous run of reduced axes [first, last]?
  int first = -1, last = -1;
  for (int i = 0; i < r; i++)
    if (mask[i] && xs[i] != 1) {
      if (first < 0) first = i;
      last = i;
    }
  bool contiguous = true;
  for (int i = first; first >= 0 && i <= last; i++)
    if (!mask[i] && xs[i] != 1) contiguous = false;
  if (first < 0) {  // only size-1 axes reduced: a scaled copy
    first = last = r;
  }
  if (contiguous) {
    int64_t A = 1, B = 1;
    for (int i = 0; i < first; i++) A *= xs[i];
    for (int i = last + 1; i < r; i++) B *= xs[i];
    const int64_t R = reduced;
    if (B == 1 && A >= 1024) {
      rowWarpKernel<T><<<blocksFor(A * 32, 256), 256, 0, stream()>>>(x, y, A, R, scale);
      checkLaunch(c, "rowWarpKernel");
      return;
    }
    if (B == 1) {
      const int64_t want = std::max<int64_t>(1, std::min<int64_t>(1024, 2048 / std::max<int64_t>(1, A)));
      const int64_t chunk = std::max<int64_t>(1024, (R + want - 1) / want);
      const int64_t chunks = (R + chunk - 1) / chunk;
      Scratch partial(size_t(chunks * A) * sizeof(double));
      rowPartialKernel<T><<<dim3(unsigned(chunks), unsigned(A)), 256, 0, stream()>>>(x, partial.as<double>(), A, R, chunk);
      checkLaunch(c, "rowPartialKernel");
      finishKernel<T><<<blocksFor(A, 256), 256, 0, stream()>>>(partial.as<double>(), y, A, chunks, scale);
      checkLaunch(c, "finishKernel");
      return;
    }
    if (A <= 65535) {
      const int64_t colBlocks = (B + 31) / 32;
      const int64_t want = std::max<int64_t>(1, std::min<int64_t>(256, 1024 / std::max<int64_t>(1, colBlocks * A)));
      const int64_t rchunk = std::max<int64_t>(64, (R + want - 1) / want);
      const int64_t splits = std::min<int64_t>(65535, (R + rchunk - 1) / rchunk);
      const int64_t rch = (R + splits - 1) / splits;
      Scratch partial(size_t(splits * A * B) * sizeof(double));
      columnPartialKernel<T><<<dim3(unsigned(colBlocks), unsigned(A), unsigned(splits)), dim3(32, 8), 0, stream()>>>(x, partial.as<double>(), A, R, B, rch);
      checkLaunch(c, "columnPartialKernel");
      finishKernel<T><<<blocksFor(A * B, 256), 256, 0, stream()>>>(partial.as<double>(), y, A * B, splits, scale);
      checkLaunch(c, "finishKernel");
      return;
    }
  }
  Dims8 g{};
  g.rank = r;
  int64_t s = 1;
  for (int i = r - 1; i >= 0; i--) {
    g.dims[i] = xs[i];
    g.stride[i] = s;
    s *= xs[i];
  }
  for (int i = 0; i < r; i++) {
    if (mask[i])
      g.redDims[g.nr++] = i;
    else
      g.keptDims[g.nk++] = i;
  }
  genericKernel<T><<<blocksFor(kept, 128), 128, 0, stream()>>>(x, y, kept, reduced, g, scale);
  checkLaunch(c, "genericKernel");
}

void launchReduceSum(const KernelCall& c) {
  withElementType(c.inputs[0].dtype, [&](auto tag) { reduceSum<decltype(tag)>(c); });
}

}  // namespace

void registerReduce(KernelRegistry& r, const KernelRegistry& cpu) { addCuda(r, cpu, "reduceSum", launchReduceSum, allDTypes()); }

}  // namespace cuda
}  // namespace ifa
