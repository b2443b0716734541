// Elementwise kernels, one thread per output element (grid-stride loops), each templated on the
// element type T (float, bf16, f16; half values are computed in float and rounded once on store):
//   add(a, b) / mul(a, b) → out with numpy broadcasting; broadcastTo(x) → scale·x broadcast;
//   relu, reluBackward(dy, y), fill; gatherRows(x) → y[i] = x[index[i]]; copyRows(src) → dst rows.
// All are bandwidth-bound: bytes = size(T)·(inputs read + output written); ≤ 1 FLOP per element.
// Broadcast indexing decomposes the flat output index over ≤ 8 dims with per-input strides (0 on
// broadcast axes); the same-shape float32 case takes a float4 path.
#include "common.cuh"
#include "half.cuh"

namespace ifa {
namespace cuda {
namespace {

constexpr int kThreads = 256;

struct Bcast {
  int rank;
  int64_t dims[8];
  int64_t sa[8], sb[8];
};

enum class Op { Add, Mul };

template <Op op>
__device__ __forceinline__ float apply(float a, float b) {
  return op == Op::Add ? a + b : a * b;
}

template <Op op>
__global__ void binarySameFloat4Kernel(const float* __restrict a, const float* __restrict b, float* __restrict out, int64_t n) {
  const int64_t n4 = n / 4;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n4; i += stride) {
    float4 x = reinterpret_cast<const float4*>(a)[i], y = reinterpret_cast<const float4*>(b)[i];
    reinterpret_cast<float4*>(out)[i] = make_float4(apply<op>(x.x, y.x), apply<op>(x.y, y.y), apply<op>(x.z, y.z), apply<op>(x.w, y.w));
  }
  for (int64_t i = n4 * 4 + blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride) out[i] = apply<op>(a[i], b[i]);
}

template <Op op, class T>
__global__ void binarySameKernel(const T* __restrict a, const T* __restrict b, T* __restrict out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = fromFloat<T>(apply<op>(toFloat(a[i]), toFloat(b[i])));
}

template <Op op, class T>
__global__ void binaryBroadcastKernel(const T* __restrict a, const T* __restrict b, T* __restrict out, int64_t n, Bcast g) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t rem = i, oa = 0, ob = 0;
    for (int d = g.rank - 1; d >= 0; d--) {
      int64_t idx = rem % g.dims[d];
      rem /= g.dims[d];
      oa += idx * g.sa[d];
      ob += idx * g.sb[d];
    }
    out[i] = fromFloat<T>(apply<op>(toFloat(a[oa]), toFloat(b[ob])));
  }
}

template <class T>
__global__ void broadcastToKernel(const T* __restrict x, T* __restrict out, int64_t n, Bcast g, float scale) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t rem = i, o = 0;
    for (int d = g.rank - 1; d >= 0; d--) {
      o += (rem % g.dims[d]) * g.sa[d];
      rem /= g.dims[d];
    }
    out[i] = fromFloat<T>(toFloat(x[o]) * scale);
  }
}

template <class T>
__global__ void reluKernel(const T* __restrict x, T* __restrict y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
#ifdef IFA_PLANT_OOB  // the sanitizer's positive control (CMake IFA_PLANT_OOB): x[n] is past the end
    y[i] = toFloat(x[i + 1 == n ? n : i]) <= 0.f ? fromFloat<T>(0.f) : x[i];
#else
    y[i] = toFloat(x[i]) <= 0.f ? fromFloat<T>(0.f) : x[i];  // relu(NaN) = NaN, as in PyTorch
#endif
}

template <class T>
__global__ void reluBackwardKernel(const T* __restrict dy, const T* __restrict y, T* __restrict dx, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = toFloat(y[i]) <= 0.f ? fromFloat<T>(0.f) : dy[i];
}

// relu(a + b): the sum rounded to T once (as addKernel rounds it), then the ReLU of that.
template <class T>
__global__ void addReluKernel(const T* __restrict a, const T* __restrict b, T* __restrict y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const T s = fromFloat<T>(toFloat(a[i]) + toFloat(b[i]));
    y[i] = toFloat(s) <= 0.f ? fromFloat<T>(0.f) : s;
  }
}

template <class T>
__global__ void fillKernel(T* __restrict y, int64_t n, T v) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) y[i] = v;
}

// A copy, so it moves 16-bit values as they are.
template <class T>
__global__ void gatherRowsKernel(const T* __restrict x, const int64_t* __restrict index, T* __restrict y, int64_t n, int64_t row) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t r = i / row;
    y[i] = x[index[r] * row + (i - r * row)];
  }
}

// ---- launchers ----

// Strides of `in` (right-aligned) within `out`, 0 on broadcast axes.
void stridesInto(const Shape& in, const Shape& out, int64_t* st) {
  size_t r = out.size();
  int64_t s = 1;
  for (size_t i = 0; i < r; i++) st[i] = 0;
  for (size_t i = 0; i < in.size(); i++) {
    size_t di = in.size() - 1 - i, dout = r - 1 - i;
    st[dout] = in[di] == 1 ? 0 : s;
    s *= in[di];
  }
}

Bcast bcastOf(const Shape& out, const Shape& a, const Shape* b) {
  Bcast g{};
  g.rank = int(out.size());
  for (size_t i = 0; i < out.size(); i++) g.dims[i] = out[i];
  stridesInto(a, out, g.sa);
  if (b) stridesInto(*b, out, g.sb);
  return g;
}

template <Op op>
void launchBinary(const KernelCall& c) {
  const auto &a = c.inputs[0], &b = c.inputs[1], &o = c.outputs[0];
  const int64_t n = o.numel();
  if (n == 0) return;
  const bool same = a.shape == o.shape && b.shape == o.shape;
  if (same && o.dtype == DType::Float32) {
    binarySameFloat4Kernel<op><<<blocksFor(n / 4 + 1, kThreads), kThreads, 0, stream()>>>(a.data, b.data, o.data, n);
    checkLaunch(c, "binarySameFloat4Kernel");
    return;
  }
  withElementType(o.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (same) {
      binarySameKernel<op, T><<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(a.as<T>(), b.as<T>(), o.as<T>(), n);
      checkLaunch(c, "binarySameKernel");
      return;
    }
    binaryBroadcastKernel<op, T><<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(a.as<T>(), b.as<T>(), o.as<T>(), n, bcastOf(o.shape, a.shape, &b.shape));
    checkLaunch(c, "binaryBroadcastKernel");
  });
}

void launchBroadcastTo(const KernelCall& c) {
  const int64_t n = c.outputs[0].numel();
  if (n == 0) return;
  withElementType(c.outputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    broadcastToKernel<T><<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(c.inputs[0].as<T>(), c.outputs[0].as<T>(), n,
                                                                           bcastOf(c.outputs[0].shape, c.inputs[0].shape, nullptr),
                                                                           float(c.attrs.number("scale", 1.0)));
    checkLaunch(c, "broadcastToKernel");
  });
}

void launchRelu(const KernelCall& c) {
  const int64_t n = c.outputs[0].numel();
  if (n == 0) return;
  withElementType(c.outputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    reluKernel<T><<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(c.inputs[0].as<T>(), c.outputs[0].as<T>(), n);
    checkLaunch(c, "reluKernel");
  });
}

void launchReluBackward(const KernelCall& c) {
  const int64_t n = c.outputs[0].numel();
  if (n == 0) return;
  withElementType(c.outputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    reluBackwardKernel<T><<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(c.inputs[0].as<T>(), c.inputs[1].as<T>(), c.outputs[0].as<T>(), n);
    checkLaunch(c, "reluBackwardKernel");
  });
}

void launchAddRelu(const KernelCall& c) {
  const int64_t n = c.outputs[0].numel();
  if (n == 0) return;
  withElementType(c.outputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    addReluKernel<T><<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(c.inputs[0].as<T>(), c.inputs[1].as<T>(), c.outputs[0].as<T>(), n);
    checkLaunch(c, "addReluKernel");
  });
}

void launchFill(const KernelCall& c) {
  const int64_t n = c.outputs[0].numel();
  if (n == 0) return;
  withElementType(c.outputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    // The value is rounded once, on the host's side of the launch (as the CPU reference rounds it).
    fillKernel<T><<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(c.outputs[0].as<T>(), n, fromFloat<T>(float(c.attrs.at("value"))));
    checkLaunch(c, "fillKernel");
  });
}

void launchGatherRows(const KernelCall& c) {
  const auto& index = *c.attrs.list("index");
  const Shape& xs = c.inputs[0].shape;
  const int64_t row = xs[0] ? c.inputs[0].numel() / xs[0] : 0;
  const int64_t n = c.outputs[0].numel();
  if (n == 0 || row == 0) return;
  ScratchArray<int64_t> idx(index, "gatherRows index");
  withElementType(c.outputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    gatherRowsKernel<T><<<blocksFor(n, kThreads), kThreads, 0, stream()>>>(c.inputs[0].as<T>(), idx.get(), c.outputs[0].as<T>(), n, row);
    checkLaunch(c, "gatherRowsKernel");
  });
}

void launchCopyRows(const KernelCall& c) {
  const Shape& ss = c.inputs[0].shape;
  const int64_t row = ss[0] ? c.inputs[0].numel() / ss[0] : 0;
  const int64_t start = int64_t(c.attrs.at("start"));
  const int64_t n = c.inputs[0].numel();
  if (n == 0) return;
  const size_t size = dtypeSize(c.inputs[0].dtype);
  checkCuda(cudaMemcpyAsync(c.outputs[0].as<char>() + size_t(start * row) * size, c.inputs[0].ptr, size_t(n) * size, cudaMemcpyDeviceToDevice, stream()), c,
            "cudaMemcpyAsync device to device");
}

}  // namespace

void registerElementwise(KernelRegistry& r, const KernelRegistry& cpu) {
  addCuda(r, cpu, "add", launchBinary<Op::Add>, allDTypes());
  addCuda(r, cpu, "mul", launchBinary<Op::Mul>, allDTypes());
  addCuda(r, cpu, "broadcastTo", launchBroadcastTo, allDTypes());
  addCuda(r, cpu, "relu", launchRelu, allDTypes());
  addCuda(r, cpu, "reluBackward", launchReluBackward, allDTypes());
  addCuda(r, cpu, "addRelu", launchAddRelu, allDTypes());
  addCuda(r, cpu, "fill", launchFill, allDTypes());
  addCuda(r, cpu, "gatherRows", launchGatherRows, allDTypes());
  addCuda(r, cpu, "copyRows", launchCopyRows, allDTypes());
}

}  // namespace cuda
}  // namespace ifa
