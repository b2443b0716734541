// Experiment beside the product (not built by CMake): the fused IFA kernel of kernels/cuda/loss.cu,
// included as is, under other launch configurations, against a copy of its row function with
// streaming (evict-first) loads and stores (__ldcs/__stcs), and against the old launch pair (the
// kernel, then meanFinishKernel), each timed with CUDA events around 20 launches back to back (median
// of 15), beside a device-to-device copy of the same bytes (the 3N·4-byte floor).
// bench/RESULTS.md has three H100 runs (2026-11-26). Streaming rows were ~1.5% faster in the two
// runs where they ran after the plain kernel and slower in the one where they ran first, so the
// product keeps plain loads and stores for now.
//
//   nvcc -O3 -arch=sm_90 -std=c++17 -DIFA_WITH_CUDA -Inative -Ikernels/cuda bench/gpu/ifa-variants.cu -o .device/exp/ifa_variants
//   (then on the GPU machine: .device/exp/ifa_variants; it needs no Node.js)
#include "../../kernels/cuda/loss.cu"
#include <cstdio>
#include <vector>
#include <random>
#include <algorithm>
namespace ifa { namespace cuda {
cudaStream_t stream() { return 0; }
float* allocate(size_t n) { float* p; cudaMalloc(&p, n * 4); return p; }
void release(float* p) { cudaFree(p); }
}}
using namespace ifa;
using namespace ifa::cuda;

// ifaGradRow<8> with streaming loads (__ldcs) and stores (__stcs).
__device__ __forceinline__ double rowStream(const float* __restrict qr, const float* __restrict pr, float* __restrict dqr, int64_t C, double g, double target, double eps) {
  constexpr int V = 8;
  const int lane = threadIdx.x & 31;
  const int64_t C4 = C / 4;
  float4 qv[V], pv[V];
  float fw = 0.f, fa = 0.f, fb = 0.f;
#pragma unroll
  for (int v = 0; v < V; v++) {
    const int64_t j = lane + 32 * v;
    if (j < C4) { qv[v] = __ldcs(reinterpret_cast<const float4*>(qr) + j); pv[v] = __ldcs(reinterpret_cast<const float4*>(pr) + j); }
    else { qv[v] = make_float4(0.f, 0.f, 0.f, 0.f); pv[v] = qv[v]; }
    fw += qv[v].x * pv[v].x + qv[v].y * pv[v].y + qv[v].z * pv[v].z + qv[v].w * pv[v].w;
    fa += qv[v].x * qv[v].x + qv[v].y * qv[v].y + qv[v].z * qv[v].z + qv[v].w * qv[v].w;
    fb += pv[v].x * pv[v].x + pv[v].y * pv[v].y + pv[v].z * pv[v].z + pv[v].w * pv[v].w;
  }
  const IfaCoef k = ifaCoef(warpSumD(fw), warpSumD(fa), warpSumD(fb), g, target, eps);
#pragma unroll
  for (int v = 0; v < V; v++) {
    const int64_t j = lane + 32 * v;
    if (j < C4) { const float4 a = qv[v], b = pv[v];
      __stcs(reinterpret_cast<float4*>(dqr) + j, make_float4(k.alpha * b.x - k.betaQ * a.x, k.alpha * b.y - k.betaQ * a.y, k.alpha * b.z - k.betaQ * a.z, k.alpha * b.w - k.betaQ * a.w)); }
  }
  return k.term;
}
__global__ void __launch_bounds__(256) streamKernel(const float* q, const float* p, float* dq, double* partial, float* out, int64_t M, int64_t C, double g, double target, double eps) {
  __shared__ double sh[32];
  double acc = 0;
  for (int64_t row = warpId(); row < M; row += warpCount()) acc += rowStream(q + row * C, p + row * C, dq + row * C, C, g, target, eps);
  const double v = blockSumD((threadIdx.x & 31) == 0 ? acc : 0.0, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = v;
  lastBlockMean(partial, out, M, sh);
}

template <class F> float timeIt(F f, int reps = 20, int samples = 15) {
  cudaEvent_t a, b; cudaEventCreate(&a); cudaEventCreate(&b);
  for (int i = 0; i < 3; i++) f();
  std::vector<float> t;
  for (int s = 0; s < samples; s++) { cudaEventRecord(a); for (int r = 0; r < reps; r++) f(); cudaEventRecord(b); cudaEventSynchronize(b); float ms; cudaEventElapsedTime(&ms, a, b); t.push_back(ms * 1000.f / reps); }
  std::sort(t.begin(), t.end()); return t[t.size() / 2];
}

int main() {
  const int64_t shapes[2][2] = {{128 * 14 * 14, 1024}, {32 * 32 * 32, 1024}};
  for (auto& sh : shapes) {
    const int64_t M = sh[0], C = sh[1], N = M * C;
    std::vector<float> h(N); std::mt19937 rng(1); std::normal_distribution<float> nd;
    for (auto& x : h) x = nd(rng);
    float *q, *p, *dq, *out, *cp, *src; double* part;
    cudaMalloc(&q, N * 4); cudaMalloc(&p, N * 4); cudaMalloc(&dq, N * 4); cudaMalloc(&cp, N * 6); cudaMalloc(&src, N * 6); cudaMalloc(&out, 4); cudaMalloc(&part, 65536 * 8);
    cudaMemcpy(q, h.data(), N * 4, cudaMemcpyHostToDevice); cudaMemcpy(p, h.data(), N * 4, cudaMemcpyHostToDevice);
    const double g = 1.0 / M;
    // 3N·4 bytes of traffic: a copy of 1.5N floats (read 6N bytes, write 6N bytes).
    const float copyUs = timeIt([&] { cudaMemcpyAsync(cp, src, N * 6, cudaMemcpyDeviceToDevice, 0); });
    printf("M %lld C %lld: floor by copy %.1f us (%.0f GB/s)\n", (long long)M, (long long)C, copyUs, 3.0 * N * 4 / copyUs / 1e3);
    for (int warps : {8, 4, 2}) {
      unsigned blocks = unsigned((M + warps - 1) / warps);
      float us = timeIt([&] { ifaWithGradKernel<8><<<blocks, 32 * warps>>>(q, p, dq, nullptr, part, out, M, C, g, 1.0, 1e-6); });
      printf("  ifaWithGradKernel<8> %d warps/block, %u blocks: %.1f us = %.3fx floor\n", warps, blocks, us, us / copyUs);
    }
    for (int warps : {8, 4}) {
      unsigned blocks = unsigned((M + warps - 1) / warps);
      float us = timeIt([&] { streamKernel<<<blocks, 32 * warps>>>(q, p, dq, part, out, M, C, g, 1.0, 1e-6); });
      printf("  streaming loads and stores %d warps/block: %.1f us = %.3fx floor\n", warps, us, us / copyUs);
    }
    {
      unsigned blocks = unsigned((M + 7) / 8);
      float us = timeIt([&] { ifaWithGradKernel<8><<<blocks, 256>>>(q, p, dq, nullptr, part, out, M, C, g, 1.0, 1e-6); meanFinishKernel<<<1, 1024>>>(part, blocks, out, M); });
      printf("  + a separate meanFinishKernel (the old launch pair): %.1f us\n", us);
    }
    printf("  err %s\n", cudaGetErrorString(cudaGetLastError()));
    cudaFree(q); cudaFree(p); cudaFree(dq); cudaFree(cp); cudaFree(src); cudaFree(out); cudaFree(part);
  }
}
