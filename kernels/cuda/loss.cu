// Losses and normalisation along the last axis; one warp (IFA, l2) or one block (softmax) per row,
// lanes striding over the row so loads are coalesced along channels. Sums in double after per-lane
// float partials; means over rows are reduced in a fixed order (deterministic).
//   ifaLoss(q[...,C], p) → loss[1] (attrs target = 1, eps = 1e-6): mean over the M pixels of
//       |target − cos|, cos = ⟨q,p⟩/(max(‖q‖,eps)·max(‖p‖,eps)). ifaForwardKernel: a warp per pixel
//       (float4 loads when C % 4 == 0), per-block partial sums that the grid's last block adds up
//       (lastBlockMean: one launch, fixed order). Reads q and p
//       once: bytes 4·2|q|; 6 FLOPs per channel. No N·H·W·C temporaries.
//   ifaLossBackward(dloss[1], q, p) → dq[, dp]: ifaBackwardKernel<V> keeps the pixel's q and p in
//       registers (V float4 per lane, C ≤ 128·V, up to C = 1024), so q and p are read once and dq
//       (dp) written once: bytes 4·(2|q| + |dq| [+ |dp|]); dq = α·p − βq·q, dp = α·q − βp·p with
//       s = −sign(target − cos)·dloss/M, α = s/(max(‖q‖,eps)·max(‖p‖,eps)), βq = s·cos/‖q‖² where
//       ‖q‖ ≥ eps (else 0). Other C take ifaBackwardKernel<0>, which reads q and p a second time
//       (from L1/L2 in practice).
//   ifaLossWithGrad(q, p) → loss[1], dq[, dp] (attrs target, eps, gradScale): forward and backward
//       in one launch, for an upstream gradient the host knows (gradScale): ifaWithGradKernel<V>
//       does ifaBackwardKernel<V>'s work with g = gradScale/M and also sums |target − cos| into
//       per-block partials, which the last block reduces in a fixed order (deterministic). Bytes
//       4·(2|q| + |dq| [+ |dp|]), against 4·(4|q| + |dq| [+ |dp|]) for ifaLoss then ifaLossBackward.
//   q, p, dq and dp may be float, bf16 or f16 (the loss and dloss are float32): a half row takes the
//       scalar paths (<0>), reading 16-bit values, computing in float, rounding dq and dp once.
//   softmaxCrossEntropy(logits[N,K], labels[N]) → loss[1]: a block per row (max, Σexp in double),
//       row losses reduced by a final single-block kernel; an invalid label gives NaN, as on the CPU.
//       Bytes 4·2|logits| (a row re-read from L2).
//   softmaxCrossEntropyBackward(dloss, logits, labels) → dlogits = dloss/N·(softmax − onehot).
//   l2Normalize(x[...,D]) → y = x/max(‖x‖,eps); l2NormalizeBackward(dy, x) → dx = dy/d −
//       [‖x‖ ≥ eps]·x·⟨x,dy⟩/(d·‖x‖²). A warp per row; float, bf16 or f16 rows (fp32 math, rounded
//       on store). Bytes size·2|x| and size·3|x| (+ row re-reads).
#include <cmath>

#include "common.cuh"
#include "half.cuh"

namespace ifa {
namespace cuda {
namespace {

constexpr int kWarpsPerBlock = 8;

__device__ __forceinline__ int64_t warpId() { return (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5; }
__device__ __forceinline__ int64_t warpCount() { return (int64_t(gridDim.x) * blockDim.x) >> 5; }

// Per-lane partial dot products of one row, then warp sums in double: w = ⟨a,b⟩, aa = ‖a‖², bb = ‖b‖².
// Vec4 (float4 loads) only with T = float.
template <bool Vec4, class T = float>
__device__ __forceinline__ void rowDots(const T* __restrict a, const T* __restrict b, int64_t C, double& w, double& aa, double& bb) {
  const int lane = threadIdx.x & 31;
  float fw = 0.f, fa = 0.f, fb = 0.f;
  if (Vec4) {
    const float4* a4 = reinterpret_cast<const float4*>(a);
    const float4* b4 = reinterpret_cast<const float4*>(b);
    for (int64_t j = lane; j < C / 4; j += 32) {
      const float4 x = a4[j], y = b4[j];
      fw += x.x * y.x + x.y * y.y + x.z * y.z + x.w * y.w;
      fa += x.x * x.x + x.y * x.y + x.z * x.z + x.w * x.w;
      fb += y.x * y.x + y.y * y.y + y.z * y.z + y.w * y.w;
    }
  } else {
    for (int64_t j = lane; j < C; j += 32) {
      const float x = toFloat(a[j]), y = toFloat(b[j]);
      fw += x * y;
      fa += x * x;
      fb += y * y;
    }
  }
  w = warpSumD(fw);
  aa = warpSumD(fa);
  bb = warpSumD(fb);
}

// One block of 1024 threads: with 256 the few thousand partials took 7 µs on an H200 (twelve dependent
// L2 round trips per thread), a tenth of the fused IFA pass on [128,14,14,1024].
constexpr int kFinishThreads = 1024;
__global__ void __launch_bounds__(kFinishThreads) meanFinishKernel(const double* __restrict partial, int64_t parts, float* __restrict out, int64_t M) {
  __shared__ double sh[32];
  double s = 0;
  for (int64_t i = threadIdx.x; i < parts; i += blockDim.x) s += partial[i];
  s = blockSumD(s, sh);
  if (threadIdx.x == 0) out[0] = M ? float(s / double(M)) : nanf("");
}

// Blocks of the running launch that have written their partial sum; the last one resets it to 0
// (atomicInc wraps at gridDim.x − 1), so every launch starts from 0. The launches that use it are
// ordered by the device's one stream.
__device__ unsigned int gBlocksDone = 0;

// Called by every thread of every block after thread 0 wrote partial[blockIdx.x]: the last block to
// get here sums all gridDim.x partials in index order (deterministic) and writes out[0] = sum / M.
// Saves the separate meanFinishKernel launch (about 4 µs plus the gap between kernels on an H100).
__device__ __forceinline__ void lastBlockMean(double* partial, float* __restrict out, int64_t M, double* sh) {
  __shared__ bool isLast;
  if (threadIdx.x == 0) {
    __threadfence();  // this block's partial is visible to every block before the count says so
    isLast = atomicInc(&gBlocksDone, gridDim.x - 1) == gridDim.x - 1;
  }
  __syncthreads();
  if (!isLast) return;
  __threadfence();
  // __ldcg: from L2, where the other blocks' partials are (never this SM's L1). Four independent
  // sums so the loads are in flight together, not one L2 round trip after another.
  double s[4] = {0, 0, 0, 0};
  const unsigned n = gridDim.x;
  unsigned i = threadIdx.x;
  for (; i + 3 * blockDim.x < n; i += 4 * blockDim.x)
#pragma unroll
    for (int k = 0; k < 4; k++) s[k] += __ldcg(partial + i + k * blockDim.x);
  for (; i < n; i += blockDim.x) s[0] += __ldcg(partial + i);
  const double total = blockSumD((s[0] + s[1]) + (s[2] + s[3]), sh);
  if (threadIdx.x == 0) out[0] = M ? float(total / double(M)) : nanf("");
}

template <bool Vec4, class T = float>
__global__ void ifaForwardKernel(const T* __restrict q, const T* __restrict p, double* partial, float* __restrict out, int64_t M, int64_t C,
                                 double target, double eps) {
  __shared__ double sh[32];
  double acc = 0;
  for (int64_t row = warpId(); row < M; row += warpCount()) {
    double w, qq, pp;
    rowDots<Vec4, T>(q + row * C, p + row * C, C, w, qq, pp);
    const double cosv = w / (fmax(sqrt(qq), eps) * fmax(sqrt(pp), eps));
    acc += fabs(target - cosv);  // identical in every lane
  }
  // One value per warp: lane 0 contributes, the others add 0.
  double v = blockSumD((threadIdx.x & 31) == 0 ? acc : 0.0, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = v;
  lastBlockMean(partial, out, M, sh);
}

// Per-pixel gradient coefficients and loss term (as the CPU kernel).
struct IfaCoef {
  float alpha, betaQ, betaP;
  double term;  // |target − cos|
};
__device__ __forceinline__ IfaCoef ifaCoef(double w, double qq, double pp, double g, double target, double eps) {
  const double nq = sqrt(qq), np = sqrt(pp);
  const double aq = fmax(nq, eps), ap = fmax(np, eps);
  const double cosv = w / (aq * ap);
  const double diff = target - cosv;
  const double s = diff > 0 ? -g : diff < 0 ? g : 0.0;
  IfaCoef k;
  k.alpha = float(s / (aq * ap));
  k.betaQ = nq >= eps ? float(s * cosv / (aq * aq)) : 0.f;
  k.betaP = np >= eps ? float(s * cosv / (ap * ap)) : 0.f;
  k.term = fabs(diff);
  return k;
}

// One pixel by its warp: dq (and dp unless null) for g = dloss/M; returns |target − cos| (the same
// in every lane). V > 0: C % 4 == 0 and C ≤ 128·V, and the row stays in registers between the sums
// and the writes. V = 0: any C and any T; the writes read the row a second time. V > 0 only with T =
// float.
template <int V, class T = float>
__device__ __forceinline__ double ifaGradRow(const T* __restrict qr, const T* __restrict pr, T* __restrict dqr, T* __restrict dpr, int64_t C, double g,
                                             double target, double eps) {
  const int lane = threadIdx.x & 31;
  if (V > 0) {
    const int64_t C4 = C / 4;
    float4 qv[V > 0 ? V : 1], pv[V > 0 ? V : 1];
    float fw = 0.f, fa = 0.f, fb = 0.f;
#pragma unroll
    for (int v = 0; v < V; v++) {
      const int64_t j = lane + 32 * v;
      if (j < C4) {
        qv[v] = reinterpret_cast<const float4*>(qr)[j];
        pv[v] = reinterpret_cast<const float4*>(pr)[j];
      } else {
        qv[v] = make_float4(0.f, 0.f, 0.f, 0.f);
        pv[v] = qv[v];
      }
      fw += qv[v].x * pv[v].x + qv[v].y * pv[v].y + qv[v].z * pv[v].z + qv[v].w * pv[v].w;
      fa += qv[v].x * qv[v].x + qv[v].y * qv[v].y + qv[v].z * qv[v].z + qv[v].w * qv[v].w;
      fb += pv[v].x * pv[v].x + pv[v].y * pv[v].y + pv[v].z * pv[v].z + pv[v].w * pv[v].w;
    }
    const IfaCoef k = ifaCoef(warpSumD(fw), warpSumD(fa), warpSumD(fb), g, target, eps);
#pragma unroll
    for (int v = 0; v < V; v++) {
      const int64_t j = lane + 32 * v;
      if (j < C4) {
        const float4 a = qv[v], b = pv[v];
        reinterpret_cast<float4*>(dqr)[j] =
            make_float4(k.alpha * b.x - k.betaQ * a.x, k.alpha * b.y - k.betaQ * a.y, k.alpha * b.z - k.betaQ * a.z, k.alpha * b.w - k.betaQ * a.w);
        if (dpr)
          reinterpret_cast<float4*>(dpr)[j] =
              make_float4(k.alpha * a.x - k.betaP * b.x, k.alpha * a.y - k.betaP * b.y, k.alpha * a.z - k.betaP * b.z, k.alpha * a.w - k.betaP * b.w);
      }
    }
    return k.term;
  } else {
    double w, qq, pp;
    rowDots<false, T>(qr, pr, C, w, qq, pp);
    const IfaCoef k = ifaCoef(w, qq, pp, g, target, eps);
    for (int64_t j = lane; j < C; j += 32) {
      const float a = toFloat(qr[j]), b = toFloat(pr[j]);
      dqr[j] = fromFloat<T>(k.alpha * b - k.betaQ * a);
      if (dpr) dpr[j] = fromFloat<T>(k.alpha * a - k.betaP * b);
    }
    return k.term;
  }
}

// Float4 registers per lane that hold a row of C channels (1, 2, 4 or 8; up to C = 1024), or 0
// when C % 4 != 0 or the row is longer: ifaGradRow<0> then.
int ifaRowVectors(int64_t C) {
  if (C % 4 != 0) return 0;
  const int64_t perLane = (C / 4 + 31) / 32;
  return perLane <= 1 ? 1 : perLane <= 2 ? 2 : perLane <= 4 ? 4 : perLane <= 8 ? 8 : 0;
}

template <int V, class T = float>
__global__ void __launch_bounds__(256) ifaBackwardKernel(const float* __restrict dloss, const T* __restrict q, const T* __restrict p, T* __restrict dq,
                                                         T* __restrict dp, int64_t M, int64_t C, double target, double eps) {
  const double g = double(dloss[0]) / double(M > 0 ? M : 1);
  for (int64_t row = warpId(); row < M; row += warpCount())
    ifaGradRow<V, T>(q + row * C, p + row * C, dq + row * C, dp ? dp + row * C : nullptr, C, g, target, eps);
}

// ifaBackwardKernel's work for g = gradScale/M, plus the block's Σ |target − cos| in partial.
template <int V, class T = float>
__global__ void __launch_bounds__(256) ifaWithGradKernel(const T* __restrict q, const T* __restrict p, T* __restrict dq, T* __restrict dp,
                                                         double* partial, float* __restrict out, int64_t M, int64_t C, double g, double target,
                                                         double eps) {
  __shared__ double sh[32];
  double acc = 0;
  for (int64_t row = warpId(); row < M; row += warpCount())
    acc += ifaGradRow<V, T>(q + row * C, p + row * C, dq + row * C, dp ? dp + row * C : nullptr, C, g, target, eps);
  // Every thread of the block gets here (the loop above is per warp): one value per warp, from lane 0.
  const double v = blockSumD((threadIdx.x & 31) == 0 ? acc : 0.0, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = v;
  lastBlockMean(partial, out, M, sh);
}

__device__ __forceinline__ int64_t labelIndex(float v, int64_t K) {
  if (!(v >= 0.f) || !(v < float(K)) || floorf(v) != v) return -1;
  return int64_t(v);
}

// Block-wide max and double sum (blockDim.x = 256).
__device__ float blockMax(float v, float* sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warpMax(v);
  __syncthreads();
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  v = lane < int(blockDim.x >> 5) ? sh[lane] : -INFINITY;
  return warpMax(v);
}

__global__ void softmaxLossKernel(const float* __restrict x, const float* __restrict labels, double* __restrict rowLoss, int64_t K) {
  __shared__ float shf[32];
  __shared__ double shd[32];
  const int64_t row = blockIdx.x;
  const float* r = x + row * K;
  const int64_t t = labelIndex(labels[row], K);
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < K; j += blockDim.x) m = fmaxf(m, r[j]);
  m = blockMax(m, shf);
  double s = 0;
  for (int64_t j = threadIdx.x; j < K; j += blockDim.x) s += expf(r[j] - m);
  s = blockSumD(s, shd);
  if (threadIdx.x == 0) rowLoss[row] = t < 0 ? nan("") : log(s) + double(m) - double(r[t]);
}

__global__ void softmaxGradKernel(const float* __restrict dloss, const float* __restrict x, const float* __restrict labels, float* __restrict dx,
                                  int64_t N, int64_t K) {
  __shared__ float shf[32];
  __shared__ double shd[32];
  const int64_t row = blockIdx.x;
  const float* r = x + row * K;
  float* o = dx + row * K;
  const int64_t t = labelIndex(labels[row], K);
  if (t < 0) {
    for (int64_t j = threadIdx.x; j < K; j += blockDim.x) o[j] = nanf("");
    return;
  }
  const double scale = double(dloss[0]) / double(N > 0 ? N : 1);
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < K; j += blockDim.x) m = fmaxf(m, r[j]);
  m = blockMax(m, shf);
  double s = 0;
  for (int64_t j = threadIdx.x; j < K; j += blockDim.x) s += expf(r[j] - m);
  s = blockSumD(s, shd);
  const float k = float(scale / s);
  for (int64_t j = threadIdx.x; j < K; j += blockDim.x) {
    const float e = expf(r[j] - m);
    o[j] = j == t ? float((double(e) / s - 1.0) * scale) : e * k;
  }
}

// l2Normalize(+Backward) take float, bf16 or f16 rows (computed in float, rounded once on store).
template <class T>
__global__ void l2NormalizeKernel(const T* __restrict x, T* __restrict y, int64_t rows, int64_t D, double eps) {
  const int lane = threadIdx.x & 31;
  for (int64_t row = warpId(); row < rows; row += warpCount()) {
    const T* xr = x + row * D;
    float f = 0.f;
    for (int64_t j = lane; j < D; j += 32) f += toFloat(xr[j]) * toFloat(xr[j]);
    const float d = float(fmax(sqrt(warpSumD(f)), eps));
    for (int64_t j = lane; j < D; j += 32) y[row * D + j] = fromFloat<T>(toFloat(xr[j]) / d);
  }
}

template <class T>
__global__ void l2NormalizeBackwardKernel(const T* __restrict dy, const T* __restrict x, T* __restrict dx, int64_t rows, int64_t D, double eps) {
  const int lane = threadIdx.x & 31;
  for (int64_t row = warpId(); row < rows; row += warpCount()) {
    const T* xr = x + row * D;
    const T* gr = dy + row * D;
    float fxg = 0.f, fxx = 0.f;
    for (int64_t j = lane; j < D; j += 32) {
      const float xj = toFloat(xr[j]);
      fxg += xj * toFloat(gr[j]);
      fxx += xj * xj;
    }
    const double xg = warpSumD(fxg), xx = warpSumD(fxx);
    const double n = sqrt(xx), d = fmax(n, eps);
    const float inv = float(1.0 / d);
    const float k = n >= eps ? float(xg / (d * xx)) : 0.f;
    for (int64_t j = lane; j < D; j += 32) dx[row * D + j] = fromFloat<T>(toFloat(gr[j]) * inv - toFloat(xr[j]) * k);
  }
}

// ---- launchers ----

// Blocks of 8 warps, a warp per row, at most ~16 waves of 2048 blocks (grid-stride beyond).
unsigned warpBlocks(int64_t rows) { return blocksFor(rows, kWarpsPerBlock, 4096); }

void launchIfa(const KernelCall& c) {
  const TensorView& qv = c.inputs[0];
  const int64_t C = qv.shape.back(), M = C ? qv.numel() / C : 0;
  const double target = c.attrs.at("target"), eps = c.attrs.at("eps");
  float* out = c.outputs[0].data;
  if (M == 0) {  // the mean of nothing: NaN, as on the CPU
    meanFinishKernel<<<1, kFinishThreads, 0, stream()>>>(nullptr, 0, out, 0);
    checkLaunch(c, "meanFinishKernel");
    return;
  }
  const unsigned blocks = warpBlocks(M);
  Scratch partial(size_t(blocks) * sizeof(double));
  if (qv.dtype != DType::Float32) {
    withElementType(qv.dtype, [&](auto tag) {
      using T = decltype(tag);
      ifaForwardKernel<false, T><<<blocks, 32 * kWarpsPerBlock, 0, stream()>>>(qv.as<T>(), c.inputs[1].as<T>(), partial.as<double>(), out, M, C, target, eps);
    });
  } else if (C % 4 == 0) {
    ifaForwardKernel<true><<<blocks, 32 * kWarpsPerBlock, 0, stream()>>>(qv.data, c.inputs[1].data, partial.as<double>(), out, M, C, target, eps);
  } else {
    ifaForwardKernel<false><<<blocks, 32 * kWarpsPerBlock, 0, stream()>>>(qv.data, c.inputs[1].data, partial.as<double>(), out, M, C, target, eps);
  }
  checkLaunch(c, "ifaForwardKernel");
}

void launchIfaBackward(const KernelCall& c) {
  const TensorView& qv = c.inputs[1];
  const int64_t C = qv.shape.back(), M = C ? qv.numel() / C : 0;
  if (M == 0) return;
  const double target = c.attrs.at("target"), eps = c.attrs.at("eps");
  const unsigned blocks = warpBlocks(M), threads = 32 * kWarpsPerBlock;
  if (qv.dtype != DType::Float32) {
    withElementType(qv.dtype, [&](auto tag) {
      using T = decltype(tag);
      ifaBackwardKernel<0, T><<<blocks, threads, 0, stream()>>>(c.inputs[0].data, qv.as<T>(), c.inputs[2].as<T>(), c.outputs[0].as<T>(),
                                                                c.outputs.size() > 1 ? c.outputs[1].as<T>() : nullptr, M, C, target, eps);
    });
    checkLaunch(c, "ifaBackwardKernel");
    return;
  }
  float* dp = c.outputs.size() > 1 ? c.outputs[1].data : nullptr;
  const float *dl = c.inputs[0].data, *q = qv.data, *p = c.inputs[2].data;
  float* dq = c.outputs[0].data;
  switch (ifaRowVectors(C)) {
    case 1: ifaBackwardKernel<1><<<blocks, threads, 0, stream()>>>(dl, q, p, dq, dp, M, C, target, eps); break;
    case 2: ifaBackwardKernel<2><<<blocks, threads, 0, stream()>>>(dl, q, p, dq, dp, M, C, target, eps); break;
    case 4: ifaBackwardKernel<4><<<blocks, threads, 0, stream()>>>(dl, q, p, dq, dp, M, C, target, eps); break;
    case 8: ifaBackwardKernel<8><<<blocks, threads, 0, stream()>>>(dl, q, p, dq, dp, M, C, target, eps); break;
    default: ifaBackwardKernel<0><<<blocks, threads, 0, stream()>>>(dl, q, p, dq, dp, M, C, target, eps); break;
  }
  checkLaunch(c, "ifaBackwardKernel");
}

void launchIfaWithGrad(const KernelCall& c) {
  const TensorView& qv = c.inputs[0];
  const int64_t C = qv.shape.back(), M = C ? qv.numel() / C : 0;
  const double target = c.attrs.at("target"), eps = c.attrs.at("eps");
  const double g = c.attrs.number("gradScale", 1.0) / double(M > 0 ? M : 1);
  float* out = c.outputs[0].data;
  if (M == 0) {  // nothing to differentiate; the loss is NaN, as on the CPU
    meanFinishKernel<<<1, kFinishThreads, 0, stream()>>>(nullptr, 0, out, 0);
    checkLaunch(c, "meanFinishKernel");
    return;
  }
  const unsigned blocks = warpBlocks(M), threads = 32 * kWarpsPerBlock;
  Scratch partial(size_t(blocks) * sizeof(double));
  if (qv.dtype != DType::Float32) {
    withElementType(qv.dtype, [&](auto tag) {
      using T = decltype(tag);
      ifaWithGradKernel<0, T><<<blocks, threads, 0, stream()>>>(qv.as<T>(), c.inputs[1].as<T>(), c.outputs[1].as<T>(),
                                                                c.outputs.size() > 2 ? c.outputs[2].as<T>() : nullptr, partial.as<double>(), out, M, C, g,
                                                                target, eps);
    });
    checkLaunch(c, "ifaWithGradKernel");
    return;
  }
  const float *q = qv.data, *p = c.inputs[1].data;
  float* dq = c.outputs[1].data;
  float* dp = c.outputs.size() > 2 ? c.outputs[2].data : nullptr;
  double* part = partial.as<double>();
  switch (ifaRowVectors(C)) {
    case 1: ifaWithGradKernel<1><<<blocks, threads, 0, stream()>>>(q, p, dq, dp, part, out, M, C, g, target, eps); break;
    case 2: ifaWithGradKernel<2><<<blocks, threads, 0, stream()>>>(q, p, dq, dp, part, out, M, C, g, target, eps); break;
    case 4: ifaWithGradKernel<4><<<blocks, threads, 0, stream()>>>(q, p, dq, dp, part, out, M, C, g, target, eps); break;
    case 8: ifaWithGradKernel<8><<<blocks, threads, 0, stream()>>>(q, p, dq, dp, part, out, M, C, g, target, eps); break;
    default: ifaWithGradKernel<0><<<blocks, threads, 0, stream()>>>(q, p, dq, dp, part, out, M, C, g, target, eps); break;
  }
  checkLaunch(c, "ifaWithGradKernel");
}

void launchSoftmaxCE(const KernelCall& c) {
  const int64_t N = c.inputs[0].shape[0], K = c.inputs[0].shape[1];
  Scratch rowLoss(size_t(N > 0 ? N : 1) * sizeof(double));
  if (N > 0) {
    if (N > 2147483647) throw CudaError(c.name + ": too many rows");
    softmaxLossKernel<<<unsigned(N), 256, 0, stream()>>>(c.inputs[0].data, c.inputs[1].data, rowLoss.as<double>(), K);
    checkLaunch(c, "softmaxLossKernel");
  }
  meanFinishKernel<<<1, kFinishThreads, 0, stream()>>>(rowLoss.as<double>(), N, c.outputs[0].data, N);
  checkLaunch(c, "meanFinishKernel");
}

void launchSoftmaxCEBackward(const KernelCall& c) {
  const int64_t N = c.inputs[1].shape[0], K = c.inputs[1].shape[1];
  if (N == 0 || K == 0) return;
  softmaxGradKernel<<<unsigned(N), 256, 0, stream()>>>(c.inputs[0].data, c.inputs[1].data, c.inputs[2].data, c.outputs[0].data, N, K);
  checkLaunch(c, "softmaxGradKernel");
}

void launchL2(const KernelCall& c) {
  const TensorView& xv = c.inputs[0];
  const int64_t D = xv.shape.back(), rows = D ? xv.numel() / D : 0;
  if (rows == 0) return;
  withElementType(xv.dtype, [&](auto tag) {
    using T = decltype(tag);
    l2NormalizeKernel<T><<<warpBlocks(rows), 32 * kWarpsPerBlock, 0, stream()>>>(xv.as<T>(), c.outputs[0].as<T>(), rows, D, c.attrs.at("eps"));
    checkLaunch(c, "l2NormalizeKernel");
  });
}

void launchL2Backward(const KernelCall& c) {
  const TensorView& xv = c.inputs[1];
  const int64_t D = xv.shape.back(), rows = D ? xv.numel() / D : 0;
  if (rows == 0) return;
  withElementType(xv.dtype, [&](auto tag) {
    using T = decltype(tag);
    l2NormalizeBackwardKernel<T><<<warpBlocks(rows), 32 * kWarpsPerBlock, 0, stream()>>>(c.inputs[0].as<T>(), xv.as<T>(), c.outputs[0].as<T>(), rows, D,
                                                                                       c.attrs.at("eps"));
    checkLaunch(c, "l2NormalizeBackwardKernel");
  });
}

}  // namespace

void registerLoss(KernelRegistry& r, const KernelRegistry& cpu) {
  addCuda(r, cpu, "ifaLoss", launchIfa, allDTypes());
  addCuda(r, cpu, "ifaLossBackward", launchIfaBackward, allDTypes());
  addCuda(r, cpu, "ifaLossWithGrad", launchIfaWithGrad, allDTypes());
  addCuda(r, cpu, "softmaxCrossEntropy", launchSoftmaxCE);
  addCuda(r, cpu, "softmaxCrossEntropyBackward", launchSoftmaxCEBackward);
  addCuda(r, cpu, "l2Normalize", launchL2, allDTypes());
  addCuda(r, cpu, "l2NormalizeBackward", launchL2Backward, allDTypes());
}

}  // namespace cuda
}  // namespace ifa
