// matmul: C[M,N] = op(A)·op(B), op = transpose when the flag is set (A is [M,K] or [K,M]; B is
// [K,N] or [N,K]). FLOPs = 2·M·N·K; bytes ≥ 4·(MK + KN + MN).
// matmulReference is the obvious triple loop with double accumulation; matmul is the fast path the
// ops use: B packed to [K,N], rows of C split over threads, K blocked so a panel of B stays in cache,
// and the inner loop over N left to the compiler's vectoriser.
#include <algorithm>
#include <vector>

#include "cpu_kernels.h"
#include "parallel.h"

namespace ifa {
namespace {

struct Dims {
  int64_t m, n, k;
  bool ta, tb;
};

Dims dimsOf(const KernelCall& c) {
  const Shape& a = c.inputs[0].shape;
  const Shape& b = c.inputs[1].shape;
  if (a.size() != 2 || b.size() != 2)
    argFail(c, "expects 2-D inputs, got " + shapeString(a) + " and " + shapeString(b));
  Dims d;
  d.ta = c.attrs.flag("transposeA");
  d.tb = c.attrs.flag("transposeB");
  d.m = d.ta ? a[1] : a[0];
  int64_t ka = d.ta ? a[0] : a[1];
  int64_t kb = d.tb ? b[1] : b[0];
  d.n = d.tb ? b[0] : b[1];
  if (ka != kb)
    argFail(c, "inner dimensions differ: A " + shapeString(a) + (d.ta ? " (transposed)" : "") + ", B " +
                   shapeString(b) + (d.tb ? " (transposed)" : ""));
  d.k = ka;
  return d;
}

void validateMatmul(const KernelCall& c) {
  Dims d = dimsOf(c);
  expectSameShape(c, c.outputs[0].shape, Shape{d.m, d.n}, "output");
}

void runReference(const KernelCall& c) {
  Dims d = dimsOf(c);
  const float* A = c.inputs[0].data;
  const float* B = c.inputs[1].data;
  float* C = c.outputs[0].data;
  for (int64_t i = 0; i < d.m; i++)
    for (int64_t j = 0; j < d.n; j++) {
      double s = 0;
      for (int64_t p = 0; p < d.k; p++) {
        float a = d.ta ? A[p * d.m + i] : A[i * d.k + p];
        float b = d.tb ? B[j * d.k + p] : B[p * d.n + j];
        s += double(a) * double(b);
      }
      C[i * d.n + j] = float(s);
    }
}

void runFast(const KernelCall& c) {
  Dims d = dimsOf(c);
  const float* A = c.inputs[0].data;
  const float* B = c.inputs[1].data;
  float* C = c.outputs[0].data;
  const int64_t M = d.m, N = d.n, K = d.k;
  std::vector<float> packed;
  const float* Bk = B;  // [K, N]
  if (d.tb) {
    packed.resize(size_t(K * N));
    parallelFor(0, N, 64, [&](int64_t lo, int64_t hi) {
      for (int64_t j = lo; j < hi; j++)
        for (int64_t p = 0; p < K; p++) packed[p * N + j] = B[j * K + p];
    });
    Bk = packed.data();
  }
  const int64_t KC = 256, NC = 1024;
  parallelFor(0, M, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, N)), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) std::fill(C + i * N, C + (i + 1) * N, 0.f);
    for (int64_t n0 = 0; n0 < N; n0 += NC) {
      int64_t n1 = std::min(N, n0 + NC);
      for (int64_t k0 = 0; k0 < K; k0 += KC) {
        int64_t k1 = std::min(K, k0 + KC);
        for (int64_t i = lo; i < hi; i++) {
          float* __restrict crow = C + i * N;
          for (int64_t p = k0; p < k1; p++) {
            float a = d.ta ? A[p * M + i] : A[i * K + p];
            const float* __restrict brow = Bk + p * N;
            for (int64_t j = n0; j < n1; j++) crow[j] += a * brow[j];
          }
        }
      }
    }
  });
}

}  // namespace

void registerMatmulKernels(KernelRegistry& r) {
  r.add("matmul", {2, 1, validateMatmul, runFast});
  r.add("matmulReference", {2, 1, validateMatmul, runReference});
}

}  // namespace ifa
