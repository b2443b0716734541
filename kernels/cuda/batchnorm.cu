// Batch normalisation over every axis but the last: x[..., C] read as M rows of C channels (NHWC).
//   batchNormTrain(x, gamma, beta) → y, mean, invStd (attrs eps, relu): statistics by a two-level
//       reduction — statsPartialKernel: blocks of 32 channels × 8 row lanes, each over a slice of the
//       rows (grid.y), coalesced along channels, accumulating shifted sums Σ(x − x₀), Σ(x − x₀)² in
//       double (x₀ = the channel's first value, so the variance does not cancel); statsFinishKernel
//       adds the slices per channel (32 slice lanes per channel) and writes the per-channel
//       coefficients mean, gamma·invStd, beta to a scratch [3][C]. Then normalizeKernel writes
//       y = relu?((x − mean)·gamma·invStd + beta) from those (normalizeKernel4: float4s when C % 4 == 0,
//       the coefficients read as float4s too; row loops of the partial kernels unrolled 4× so each
//       thread has several loads in flight).
//       Bytes 4·3|x| (x twice, y once); ≈ 8 FLOPs per element.
//   batchNormEval(x, gamma, beta, runningMean, runningVar) → y: evalCoefKernel (the coefficients from
//       the running statistics), then normalizeKernel. Bytes 4·2|x|.
//   batchNormBackward(dy, x, gamma, beta, mean, invStd) → dx, dgamma, dbeta (attrs relu): gradPartialKernel
//       (Σg, Σg·(x − mean), g = dy masked where the recomputed output ≤ 0), gradFinishKernel (dgamma,
//       dbeta and the dx sweep's coefficients, [5][C]), then backwardDxKernel:
//       dx = gamma·invStd·(g − Σg/M − x̂·Σg·x̂/M). Bytes 4·5|x|.
//   batchNormEvalBackward(...) → dx, dgamma, dbeta (attrs eps, relu): gradPartialKernel also writes
//       dx = g·gamma·invStd in the same sweep. Bytes 4·3|x|.
//   batchNormUpdateStats(mean, invStd) → runningMean, runningVar: one thread per channel, PyTorch's
//       momentum update with the unbiased variance.
// Forward + backward training with ReLU moves 8·4|x| bytes: the memory floor of a two-pass forward
// and a two-pass backward.
// Activations (x, y, dy, dx) may be float, bf16 or f16 (the sweeps are templated on their element
// type T, compute in float and round once on store; the float4 sweeps are float32's); gamma, beta,
// the statistics, dgamma and dbeta are always float32. A half activation halves the bytes above.
#include <algorithm>
#include <type_traits>

#include "common.cuh"
#include "half.cuh"

namespace ifa {
namespace cuda {
namespace {

constexpr int kLanes = 8;  // row lanes per 32-channel block

// Adds a and b over the block's Lanes rows of threads (threadIdx.y) through shared memory; true in
// the row-0 thread of an active column, which then holds the sums. Every thread must call it.
template <int Lanes>
__device__ __forceinline__ bool laneSum(double& a, double& b, bool active) {
  __shared__ double sa[Lanes][33], sb[Lanes][33];
  sa[threadIdx.y][threadIdx.x] = a;
  sb[threadIdx.y][threadIdx.x] = b;
  __syncthreads();
  if (threadIdx.y != 0 || !active) return false;
  for (int k = 1; k < Lanes; k++) {
    a += sa[k][threadIdx.x];
    b += sb[k][threadIdx.x];
  }
  return true;
}

template <class T>
__global__ void statsPartialKernel(const T* __restrict x, double* __restrict s1, double* __restrict s2, int64_t M, int64_t C,
                                   int64_t rowsPerSlice) {
  const int64_t ch = int64_t(blockIdx.x) * 32 + threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.y) * rowsPerSlice, r1 = min(M, r0 + rowsPerSlice);
  double a = 0, b = 0;
  if (ch < C) {
    const float pivot = toFloat(x[ch]);
#pragma unroll 4
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kLanes) {
      const double d = double(toFloat(x[r * C + ch]) - pivot);
      a += d;
      b += d * d;
    }
  }
  if (laneSum<kLanes>(a, b, ch < C)) {
    s1[int64_t(blockIdx.y) * C + ch] = a;
    s2[int64_t(blockIdx.y) * C + ch] = b;
  }
}

// Adds the slices' partial sums per channel: blocks of 32 channels × 32 slice lanes, each lane over
// every 32nd slice, then the lanes through shared memory (one thread per channel walking all the
// slices was latency-bound: 107 µs for 256 slices × 256 channels on an H200).
constexpr int kFinishLanes = 32;
__device__ __forceinline__ bool sumSlices(const double* __restrict s1, const double* __restrict s2, int64_t C, int64_t slices, double& a,
                                          double& b) {
  const int64_t ch = int64_t(blockIdx.x) * 32 + threadIdx.x;
  a = 0;
  b = 0;
  if (ch < C) {
#pragma unroll 4
    for (int64_t s = threadIdx.y; s < slices; s += kFinishLanes) {
      a += s1[s * C + ch];
      b += s2[s * C + ch];
    }
  }
  return laneSum<kFinishLanes>(a, b, ch < C);
}

// mean, invStd, and the forward's per-channel coefficients coef[0..2][C] = mean, gamma·invStd, beta.
template <class T>
__global__ void statsFinishKernel(const T* __restrict x, const double* __restrict s1, const double* __restrict s2, float* __restrict mean,
                                  float* __restrict invStd, const float* __restrict gamma, const float* __restrict beta, float* __restrict coef,
                                  int64_t M, int64_t C, int64_t slices, double eps) {
  double a, b;
  if (!sumSlices(s1, s2, C, slices, a, b)) return;
  const int64_t ch = int64_t(blockIdx.x) * 32 + threadIdx.x;
  const double m = a / double(M);
  const double var = max(0.0, b / double(M) - m * m);
  const float mf = float(double(toFloat(x[ch])) + m), is = float(1.0 / sqrt(var + eps));
  mean[ch] = mf;
  invStd[ch] = is;
  coef[ch] = mf;
  coef[C + ch] = is * gamma[ch];
  coef[2 * C + ch] = beta[ch];
}

// y = relu?((x − center)·scale + beta), scale = gamma·invStd; invStd from runningVar when var != null.
struct Affine {
  const float *gamma, *beta, *center, *invStd, *var;
  float eps;
  __device__ __forceinline__ float scale(int64_t ch) const {
    const float is = var ? 1.f / sqrtf(var[ch] + eps) : invStd[ch];
    return is * gamma[ch];
  }
  __device__ __forceinline__ float invstd(int64_t ch) const { return var ? 1.f / sqrtf(var[ch] + eps) : invStd[ch]; }
};

// The forward's per-channel coefficients for eval: coef[0..2][C] = runningMean, gamma/√(runningVar+eps), beta.
__global__ void evalCoefKernel(float* __restrict coef, int64_t C, Affine f) {
  const int64_t ch = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (ch >= C) return;
  coef[ch] = f.center[ch];
  coef[C + ch] = f.scale(ch);
  coef[2 * C + ch] = f.beta[ch];
}

// y = relu?((x − coef[0])·coef[1] + coef[2]) per channel (coef from statsFinishKernel or evalCoefKernel).
// I: uint32_t when |x| < 2^32 (a 64-bit modulo per element would make these sweeps compute-bound).
template <bool Relu, typename I, class T>
__global__ void normalizeKernel(const T* __restrict x, T* __restrict y, I n, I C, const float* __restrict coef) {
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < n; i += I(gridDim.x) * blockDim.x) {
    const I ch = i % C;
    const float o = (toFloat(x[i]) - coef[ch]) * coef[C + ch] + coef[2 * C + ch];
    y[i] = fromFloat<T>(Relu && o <= 0.f ? 0.f : o);
  }
}

// The same over float4s when C % 4 == 0 (and the buffers 16-byte aligned): one channel index per 4
// elements, 128-bit loads and stores, the coefficients as float4s too (scalar loads of four
// parameters per element kept the sweep at 3.1 TB/s of the H200's 4.2). n4 = n/4, C4 = C/4
// (uint32: n < 2^31).
template <bool Relu>
__global__ void normalizeKernel4(const float4* __restrict x, float4* __restrict y, uint32_t n4, uint32_t C4, const float4* __restrict coef) {
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += gridDim.x * blockDim.x) {
    const uint32_t c = i % C4;
    const float4 v = x[i], m = coef[c], sc = coef[C4 + c], b = coef[2 * C4 + c];
    float o[4] = {(v.x - m.x) * sc.x + b.x, (v.y - m.y) * sc.y + b.y, (v.z - m.z) * sc.z + b.z, (v.w - m.w) * sc.w + b.w};
#pragma unroll
    for (int k = 0; k < 4; k++)
      if (Relu && o[k] <= 0.f) o[k] = 0.f;
    y[i] = make_float4(o[0], o[1], o[2], o[3]);
  }
}

// Σg and Σg·(x − center) per channel over a slice of rows; with WriteDx also dx = g·scale (eval).
template <bool Relu, bool WriteDx, class T>
__global__ void gradPartialKernel(const T* __restrict dy, const T* __restrict x, T* __restrict dx, double* __restrict s1,
                                  double* __restrict s2, int64_t M, int64_t C, int64_t rowsPerSlice, Affine f) {
  const int64_t ch = int64_t(blockIdx.x) * 32 + threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.y) * rowsPerSlice, r1 = min(M, r0 + rowsPerSlice);
  double a = 0, b = 0;
  if (ch < C) {
    const float center = f.center[ch], scale = f.scale(ch), beta = f.beta[ch];
#pragma unroll 4
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kLanes) {
      const int64_t i = r * C + ch;
      const float xc = toFloat(x[i]) - center;
      float g = toFloat(dy[i]);
      if (Relu && !(xc * scale + beta > 0.f)) g = 0.f;
      if (WriteDx) dx[i] = fromFloat<T>(g * scale);
      a += g;
      b += double(g) * xc;
    }
  }
  if (laneSum<kLanes>(a, b, ch < C)) {
    s1[int64_t(blockIdx.y) * C + ch] = a;
    s2[int64_t(blockIdx.y) * C + ch] = b;
  }
}

// dbeta = Σg, dgamma = Σg·(x − center)·invStd; with coef (training) also the dx sweep's per-channel
// coefficients coef[0..4][C] = center, gamma·invStd, beta, dbeta/M, invStd·dgamma/M.
__global__ void gradFinishKernel(const double* __restrict s1, const double* __restrict s2, float* __restrict dgamma, float* __restrict dbeta,
                                 float* __restrict coef, int64_t C, int64_t slices, double invM, Affine f) {
  double a, b;
  if (!sumSlices(s1, s2, C, slices, a, b)) return;
  const int64_t ch = int64_t(blockIdx.x) * 32 + threadIdx.x;
  const float db = float(a), is = f.invstd(ch), dg = float(b * double(is));
  dbeta[ch] = db;
  dgamma[ch] = dg;
  if (!coef) return;
  coef[ch] = f.center[ch];
  coef[C + ch] = is * f.gamma[ch];
  coef[2 * C + ch] = f.beta[ch];
  coef[3 * C + ch] = float(db * invM);
  coef[4 * C + ch] = is * float(dg * invM);
}

// dx = scale·(g − dbeta/M − (x − center)·invStd·dgamma/M), g = dy masked where the recomputed output
// ≤ 0; the per-channel terms from gradFinishKernel's coef.
template <bool Relu, typename I, class T>
__global__ void backwardDxKernel(const T* __restrict dy, const T* __restrict x, T* __restrict dx, I n, I C, const float* __restrict coef) {
  for (I i = blockIdx.x * I(blockDim.x) + threadIdx.x; i < n; i += I(gridDim.x) * blockDim.x) {
    const I ch = i % C;
    const float scale = coef[C + ch], xc = toFloat(x[i]) - coef[ch];
    float g = toFloat(dy[i]);
    if (Relu && !(xc * scale + coef[2 * C + ch] > 0.f)) g = 0.f;
    dx[i] = fromFloat<T>(scale * (g - coef[3 * C + ch] - xc * coef[4 * C + ch]));
  }
}

template <bool Relu>
__global__ void backwardDxKernel4(const float4* __restrict dy, const float4* __restrict x, float4* __restrict dx, uint32_t n4, uint32_t C4,
                                  const float4* __restrict coef) {
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += gridDim.x * blockDim.x) {
    const uint32_t c = i % C4;
    const float4 xv = x[i], gv = dy[i];
    const float4 ce = coef[c], sc = coef[C4 + c], be = coef[2 * C4 + c], k1 = coef[3 * C4 + c], k2 = coef[4 * C4 + c];
    const float xs[4] = {xv.x - ce.x, xv.y - ce.y, xv.z - ce.z, xv.w - ce.w};
    const float s[4] = {sc.x, sc.y, sc.z, sc.w}, b[4] = {be.x, be.y, be.z, be.w}, m1[4] = {k1.x, k1.y, k1.z, k1.w},
                m2[4] = {k2.x, k2.y, k2.z, k2.w};
    float g[4] = {gv.x, gv.y, gv.z, gv.w}, o[4];
#pragma unroll
    for (int k = 0; k < 4; k++) {
      if (Relu && !(xs[k] * s[k] + b[k] > 0.f)) g[k] = 0.f;
      o[k] = s[k] * (g[k] - m1[k] - xs[k] * m2[k]);
    }
    dx[i] = make_float4(o[0], o[1], o[2], o[3]);
  }
}

__global__ void updateStatsKernel(const float* __restrict mean, const float* __restrict invStd, float* __restrict rm, float* __restrict rv,
                                  int64_t C, double m, double eps, double n) {
  const int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (k >= C) return;
  const double is = invStd[k];
  const double var = max(0.0, 1.0 / (is * is) - eps);
  const double unbiased = var * n / (n - 1);
  rm[k] = float((1 - m) * double(rm[k]) + m * double(mean[k]));
  rv[k] = float((1 - m) * double(rv[k]) + m * unbiased);
}

// ---- launchers ----

struct Slicing {
  int64_t slices, rowsPerSlice;
};
// Enough row slices that (C/32)·slices blocks fill the GPU (≈ 2048 blocks), each ≥ 64 rows.
Slicing slicingFor(int64_t M, int64_t C) {
  const int64_t colBlocks = (C + 31) / 32;
  int64_t slices = std::max<int64_t>(1, std::min<int64_t>({2048 / colBlocks, (M + 63) / 64, 65535}));
  int64_t rows = (M + slices - 1) / slices;
  slices = (M + rows - 1) / rows;
  return {std::max<int64_t>(1, slices), std::max<int64_t>(1, rows)};
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <bool Relu, class T>
void normalize(const KernelCall& c, const T* x, T* y, int64_t n, int64_t C, const float* coef) {
  if (n == 0) return;
  if (std::is_same<T, float>::value && C % 4 == 0 && n < (int64_t(1) << 31) && aligned16(x) && aligned16(y) && aligned16(coef)) {
    normalizeKernel4<Relu><<<blocksFor(n / 4, 256), 256, 0, stream()>>>(reinterpret_cast<const float4*>(x), reinterpret_cast<float4*>(y),
                                                                        uint32_t(n / 4), uint32_t(C / 4), reinterpret_cast<const float4*>(coef));
    checkLaunch(c, Relu ? "normalizeKernel4<relu>" : "normalizeKernel4");
    return;
  }
  // n < 2^31 and the grid stride < 2^30 (blocksFor caps the grid), so a uint32 index never wraps.
  if (n < (int64_t(1) << 31))
    normalizeKernel<Relu, uint32_t, T><<<blocksFor(n, 256), 256, 0, stream()>>>(x, y, uint32_t(n), uint32_t(C), coef);
  else
    normalizeKernel<Relu, int64_t, T><<<blocksFor(n, 256), 256, 0, stream()>>>(x, y, n, C, coef);
  checkLaunch(c, Relu ? "normalizeKernel<relu>" : "normalizeKernel");
}

template <bool Relu, class T>
void backwardDx(const KernelCall& c, const T* dy, const T* x, T* dx, int64_t n, int64_t C, const float* coef) {
  if (n == 0) return;
  if (std::is_same<T, float>::value && C % 4 == 0 && n < (int64_t(1) << 31) && aligned16(dy) && aligned16(x) && aligned16(dx) && aligned16(coef)) {
    backwardDxKernel4<Relu><<<blocksFor(n / 4, 256), 256, 0, stream()>>>(reinterpret_cast<const float4*>(dy), reinterpret_cast<const float4*>(x),
                                                                         reinterpret_cast<float4*>(dx), uint32_t(n / 4), uint32_t(C / 4),
                                                                         reinterpret_cast<const float4*>(coef));
    checkLaunch(c, Relu ? "backwardDxKernel4<relu>" : "backwardDxKernel4");
    return;
  }
  if (n < (int64_t(1) << 31))
    backwardDxKernel<Relu, uint32_t, T><<<blocksFor(n, 256), 256, 0, stream()>>>(dy, x, dx, uint32_t(n), uint32_t(C), coef);
  else
    backwardDxKernel<Relu, int64_t, T><<<blocksFor(n, 256), 256, 0, stream()>>>(dy, x, dx, n, C, coef);
  checkLaunch(c, Relu ? "backwardDxKernel<relu>" : "backwardDxKernel");
}

const dim3 kFinishBlock(32, kFinishLanes);
unsigned finishBlocks(int64_t C) { return unsigned((C + 31) / 32); }

template <class T>
void train(const KernelCall& c) {
  const TensorView& xv = c.inputs[0];
  const T* x = xv.as<T>();
  const int64_t C = xv.shape.back(), M = xv.numel() / C, n = xv.numel();
  const double eps = c.attrs.at("eps");
  float *mean = c.outputs[1].data, *invStd = c.outputs[2].data;
  const Slicing s = slicingFor(M, C);
  Scratch s1(size_t(s.slices * C) * sizeof(double)), s2(size_t(s.slices * C) * sizeof(double)), coef(size_t(3 * C) * sizeof(float));
  statsPartialKernel<T><<<dim3(unsigned((C + 31) / 32), unsigned(s.slices)), dim3(32, kLanes), 0, stream()>>>(x, s1.as<double>(), s2.as<double>(), M,
                                                                                                           C, s.rowsPerSlice);
  checkLaunch(c, "statsPartialKernel");
  statsFinishKernel<T><<<finishBlocks(C), kFinishBlock, 0, stream()>>>(x, s1.as<double>(), s2.as<double>(), mean, invStd, c.inputs[1].data,
                                                                       c.inputs[2].data, coef.as<float>(), M, C, s.slices, eps);
  checkLaunch(c, "statsFinishKernel");
  if (c.attrs.flag("relu"))
    normalize<true>(c, x, c.outputs[0].as<T>(), n, C, coef.as<float>());
  else
    normalize<false>(c, x, c.outputs[0].as<T>(), n, C, coef.as<float>());
}

void launchTrain(const KernelCall& c) {
  withElementType(c.inputs[0].dtype, [&](auto tag) { train<decltype(tag)>(c); });
}

template <class T>
void eval(const KernelCall& c) {
  const TensorView& xv = c.inputs[0];
  const int64_t C = xv.shape.back(), n = xv.numel();
  if (C == 0 || n == 0) return;
  Affine f{c.inputs[1].data, c.inputs[2].data, c.inputs[3].data, nullptr, c.inputs[4].data, float(c.attrs.at("eps"))};
  Scratch coef(size_t(3 * C) * sizeof(float));
  evalCoefKernel<<<blocksFor(C, 128), 128, 0, stream()>>>(coef.as<float>(), C, f);
  checkLaunch(c, "evalCoefKernel");
  if (c.attrs.flag("relu"))
    normalize<true>(c, xv.as<T>(), c.outputs[0].as<T>(), n, C, coef.as<float>());
  else
    normalize<false>(c, xv.as<T>(), c.outputs[0].as<T>(), n, C, coef.as<float>());
}

void launchEval(const KernelCall& c) {
  withElementType(c.inputs[0].dtype, [&](auto tag) { eval<decltype(tag)>(c); });
}

template <bool Eval, class T>
void backward(const KernelCall& c) {
  const T* dy = c.inputs[0].as<T>();
  const TensorView& xv = c.inputs[1];
  const T* x = xv.as<T>();
  const int64_t C = xv.shape.back(), n = xv.numel(), M = C ? n / C : 0;
  T* dx = c.outputs[0].as<T>();
  float *dgamma = c.outputs[1].data, *dbeta = c.outputs[2].data;
  Affine f = Eval ? Affine{c.inputs[2].data, c.inputs[3].data, c.inputs[4].data, nullptr, c.inputs[5].data, float(c.attrs.at("eps"))}
                  : Affine{c.inputs[2].data, c.inputs[3].data, c.inputs[4].data, c.inputs[5].data, nullptr, 0.f};
  const bool relu = c.attrs.flag("relu");
  if (C == 0) return;
  if (M == 0) {  // eval backward of an empty batch: zero gradients
    zero(dgamma, size_t(C), "batchNormEvalBackward");
    zero(dbeta, size_t(C), "batchNormEvalBackward");
    return;
  }
  const Slicing s = slicingFor(M, C);
  Scratch s1(size_t(s.slices * C) * sizeof(double)), s2(size_t(s.slices * C) * sizeof(double)),
      coef(Eval ? sizeof(float) : size_t(5 * C) * sizeof(float));
  dim3 grid(unsigned((C + 31) / 32), unsigned(s.slices)), block(32, kLanes);
  if (relu)
    gradPartialKernel<true, Eval, T><<<grid, block, 0, stream()>>>(dy, x, dx, s1.as<double>(), s2.as<double>(), M, C, s.rowsPerSlice, f);
  else
    gradPartialKernel<false, Eval, T><<<grid, block, 0, stream()>>>(dy, x, dx, s1.as<double>(), s2.as<double>(), M, C, s.rowsPerSlice, f);
  checkLaunch(c, "gradPartialKernel");
  const double invM = 1.0 / double(M);
  gradFinishKernel<<<finishBlocks(C), kFinishBlock, 0, stream()>>>(s1.as<double>(), s2.as<double>(), dgamma, dbeta, Eval ? nullptr : coef.as<float>(),
                                                                   C, s.slices, invM, f);
  checkLaunch(c, "gradFinishKernel");
  if (Eval) return;
  if (relu)
    backwardDx<true>(c, dy, x, dx, n, C, coef.as<float>());
  else
    backwardDx<false>(c, dy, x, dx, n, C, coef.as<float>());
}

template <bool Eval>
void launchBackward(const KernelCall& c) {
  withElementType(c.inputs[1].dtype, [&](auto tag) { backward<Eval, decltype(tag)>(c); });
}

void launchUpdateStats(const KernelCall& c) {
  const int64_t C = c.inputs[0].numel();
  if (C == 0) return;
  updateStatsKernel<<<blocksFor(C, 128), 128, 0, stream()>>>(c.inputs[0].data, c.inputs[1].data, c.outputs[0].data, c.outputs[1].data, C,
                                                             c.attrs.at("momentum"), c.attrs.at("eps"), c.attrs.at("count"));
  checkLaunch(c, "updateStatsKernel");
}

}  // namespace

void registerBatchNorm(KernelRegistry& r, const KernelRegistry& cpu) {
  addCuda(r, cpu, "batchNormTrain", launchTrain, allDTypes());
  addCuda(r, cpu, "batchNormEval", launchEval, allDTypes());
  addCuda(r, cpu, "batchNormBackward", launchBackward<false>, allDTypes());
  addCuda(r, cpu, "batchNormEvalBackward", launchBackward<true>, allDTypes());
  addCuda(r, cpu, "batchNormUpdateStats", launchUpdateStats);
}

}  // namespace cuda
}  // namespace ifa
