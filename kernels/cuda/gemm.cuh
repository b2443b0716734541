// A tiled shared-memory SGEMM core shared by matmul and the implicit-GEMM convolutions:
//   C[M,N] (+)= Σ_k A(m,k)·B(k,n), with A and B read through loader functors (so a convolution's
//   patch matrix is never materialised) and C written through a store functor (plain, α/β, or
//   atomicAdd for split-K). 2·M·N·K FLOPs; each A/B element is read from global memory
//   N/64 (resp. M/64) times. Tiles 64×64×16, 256 threads, 4×4 outputs per thread (rows ty+16i,
//   columns tx+16j so shared-memory reads are conflict-free), fp32 FMA only (no tensor cores, runs
//   on sm_75). Loads are mapped so consecutive threads read consecutive addresses along the loader's
//   contiguous axis (AContigK / BContigN). grid.z splits K (split-K) when the store accumulates.
// This is the exact float32 path of matmul.cu and conv.cu (float32 without TF32), kept simple: no
// register double-buffering, no vector loads. Measured on an H200 and an H100 (bench/RESULTS.md,
// Issue 4, batch 128): ResNet-50's convolutions at 7.5–9.6 TFLOP/s forward and forward+backward,
// 0.15–0.49× cuDNN fp32 forward+backward; the 3-channel stem's backward is the exception (0.29
// TFLOP/s forward+backward, 0.02×; conv.cu says why). bfloat16/float16, and float32 with TF32, run
// the tensor-core GEMM of conv_tc.cuh instead (bench/RESULTS.md, Issue 14, its kernel experiment on
// an H200: 107–209 TFLOP/s forward+backward in bf16 and 69–113 in TF32 on the layers past the stem).
#pragma once
#include "common.cuh"

namespace ifa {
namespace cuda {

constexpr int kTileM = 64, kTileN = 64, kTileK = 16, kGemmThreads = 256;

template <bool AContigK, bool BContigN, class LoadA, class LoadB, class Store>
__global__ void __launch_bounds__(kGemmThreads) gemmKernel(int64_t M, int64_t N, int64_t K, int64_t kChunk, LoadA la, LoadB lb, Store st) {
  __shared__ float As[kTileK][kTileM + 4];
  __shared__ float Bs[kTileK][kTileN + 4];
  const int t = threadIdx.x, tx = t % 16, ty = t / 16;
  const int64_t m0 = int64_t(blockIdx.x) * kTileM, n0 = int64_t(blockIdx.y) * kTileN;
  const int64_t k0 = int64_t(blockIdx.z) * kChunk, k1 = min(K, k0 + kChunk);
  float acc[4][4] = {};
  for (int64_t kt = k0; kt < k1; kt += kTileK) {
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int e = t + kGemmThreads * j;
      const int kk = AContigK ? e % kTileK : e / kTileM, mm = AContigK ? e / kTileK : e % kTileM;
      const int64_t m = m0 + mm, k = kt + kk;
      As[kk][mm] = (m < M && k < k1) ? la(m, k) : 0.f;
      const int kb = BContigN ? e / kTileN : e % kTileK, nn = BContigN ? e % kTileN : e / kTileK;
      const int64_t n = n0 + nn, k2 = kt + kb;
      Bs[kb][nn] = (n < N && k2 < k1) ? lb(k2, n) : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; kk++) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; i++) a[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; j++) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int64_t m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
      if (m < M && n < N) st(m, n, acc[i][j]);
    }
}

// Splits of K so that a small output (few tiles) still fills the GPU; 1 when the store cannot accumulate.
inline int64_t splitKChunk(int64_t M, int64_t N, int64_t K, bool canSplit) {
  if (!canSplit) return K < 1 ? 1 : K;
  const int64_t tiles = ((M + kTileM - 1) / kTileM) * ((N + kTileN - 1) / kTileN);
  int64_t splits = tiles >= 512 ? 1 : (1024 + tiles - 1) / tiles;
  const int64_t maxSplits = (K + 8 * kTileK - 1) / (8 * kTileK);  // at least 8 k-tiles per split
  if (splits > maxSplits) splits = maxSplits;
  if (splits > 65535) splits = 65535;
  if (splits < 1) splits = 1;
  int64_t chunk = (K + splits - 1) / splits;
  return (chunk + kTileK - 1) / kTileK * kTileK;
}

template <bool AContigK, bool BContigN, class LoadA, class LoadB, class Store>
void launchGemm(const KernelCall& c, const char* name, int64_t M, int64_t N, int64_t K, int64_t kChunk, LoadA la, LoadB lb, Store st) {
  if (M == 0 || N == 0) return;
  // M (pixels, in a convolution) on grid.x, which allows 2^31 − 1 tiles; N on grid.y (≤ 65535 tiles).
  const int64_t gy = (N + kTileN - 1) / kTileN, gz = K == 0 ? 1 : (K + kChunk - 1) / kChunk;
  if (gy > 65535) throw CudaError(c.name + ": " + std::to_string(N) + " output columns exceed the GEMM grid (at most 65535·64)");
  dim3 grid(unsigned((M + kTileM - 1) / kTileM), unsigned(gy), unsigned(gz));
  gemmKernel<AContigK, BContigN><<<grid, kGemmThreads, 0, stream()>>>(M, N, K, kChunk, la, lb, st);
  checkLaunch(c, name);
}

}  // namespace cuda
}  // namespace ifa
