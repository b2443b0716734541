// matmul(a, b) → c[M,N] = op(a)·op(b) (attrs transposeA/B), and sgemm (attrs m, n, k, alpha, beta,
// leading dimensions from the shapes, as the CPU kernel): float32 on the tiled SGEMM of gemm.cuh with
// plain strided loaders (2·M·N·K FLOPs; bytes ≈ 4·(M·K·N/64 + K·N·M/64 + M·N)); bfloat16 and float16,
// and float32 with attrs.tf32, on the convolutions' tensor-core GEMM (conv_tc_launch.cuh). No cuBLAS.
#include "conv_tc_launch.cuh"
#include "gemm.cuh"

namespace ifa {
namespace cuda {
namespace {

struct RowMajor {  // X(r, c) = p[r·ld + c]
  const float* p;
  int64_t ld;
  __device__ float operator()(int64_t r, int64_t c) const { return p[r * ld + c]; }
};
struct ColMajor {  // X(r, c) = p[c·ld + r]
  const float* p;
  int64_t ld;
  __device__ float operator()(int64_t r, int64_t c) const { return p[c * ld + r]; }
};
struct StoreAlphaBeta {
  float* p;
  int64_t ld;
  float alpha, beta;
  __device__ void operator()(int64_t m, int64_t n, float v) const {
    float* o = p + m * ld + n;
    *o = beta == 0.f ? alpha * v : alpha * v + beta * *o;
  }
};

void gemm(const KernelCall& c, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
          int64_t ldb, float beta, float* C, int64_t ldc) {
  StoreAlphaBeta st{C, ldc, alpha, beta};
  const int64_t chunk = splitKChunk(M, N, K, false);
  if (!ta && !tb)
    launchGemm<true, true>(c, "gemmKernel", M, N, K, chunk, RowMajor{A, lda}, RowMajor{B, ldb}, st);
  else if (!ta && tb)
    launchGemm<true, false>(c, "gemmKernel", M, N, K, chunk, RowMajor{A, lda}, ColMajor{B, ldb}, st);
  else if (ta && !tb)
    launchGemm<false, true>(c, "gemmKernel", M, N, K, chunk, ColMajor{A, lda}, RowMajor{B, ldb}, st);
  else
    launchGemm<false, false>(c, "gemmKernel", M, N, K, chunk, ColMajor{A, lda}, ColMajor{B, ldb}, st);
}

void launchMatmul(const KernelCall& c) {
  const Shape &a = c.inputs[0].shape, &b = c.inputs[1].shape;
  const bool ta = c.attrs.flag("transposeA"), tb = c.attrs.flag("transposeB");
  const int64_t M = ta ? a[1] : a[0], K = ta ? a[0] : a[1], N = tb ? b[0] : b[1];
  if (useTensorCores(c, c.inputs[0].dtype)) {
    if (M > INT32_MAX / 2 || N > INT32_MAX / 2 || K > INT32_MAX / 2) argFail(c, "the tensor-core GEMM takes dimensions below 2^30");
    checkCuda(tc::runMatmul(c.inputs[0].dtype, tensorCoreDevice().arch < 80, ta, tb, int(M), int(N), int(K), c.inputs[0].ptr, c.inputs[1].ptr,
                            c.outputs[0].ptr, stream()),
              c, "launching the tensor-core GEMM");
    return;
  }
  gemm(c, ta, tb, M, N, K, 1.f, c.inputs[0].data, a[1], c.inputs[1].data, b[1], 0.f, c.outputs[0].data, N);
}

void launchSgemm(const KernelCall& c) {
  const Shape &a = c.inputs[0].shape, &b = c.inputs[1].shape, &o = c.outputs[0].shape;
  gemm(c, c.attrs.flag("transposeA"), c.attrs.flag("transposeB"), int64_t(c.attrs.at("m")), int64_t(c.attrs.at("n")),
       int64_t(c.attrs.at("k")), float(c.attrs.number("alpha", 1)), c.inputs[0].data, a[1], c.inputs[1].data, b[1],
       float(c.attrs.number("beta", 0)), c.outputs[0].data, o[1]);
}

}  // namespace

void registerMatmul(KernelRegistry& r, const KernelRegistry& cpu) {
  addCuda(r, cpu, "matmul", launchMatmul, allDTypes()).dtypesOnDevice = tensorCoreDtypes;
  addCuda(r, cpu, "sgemm", launchSgemm);
}

}  // namespace cuda
}  // namespace ifa
