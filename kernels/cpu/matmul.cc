// matmul: C[M,N] = op(A)·op(B), op = transpose when the flag is set (A is [M,K] or [K,M]; B is
// [K,N] or [N,K]). FLOPs = 2·M·N·K; bytes ≥ 4·(MK + KN + MN).
// matmulReference is the obvious triple loop with double accumulation; matmul is the fast path the
// ops use: the blocked, threaded sgemm of gemm.h (packed B, 6×16 AVX2/FMA micro-kernel).
// sgemm / sgemmReference expose the full BLAS-style call for tests (CPU only, not in the backend
// catalogue): sgemm(a, b) → c in place, c[:m, :n] = alpha·op(a)·op(b) + beta·c, where op(a) is the
// [m,k] (or, transposed, [k,m]) top-left block of a and the leading dimensions are the tensors'
// second dimensions; attrs {m, n, k, alpha, beta, transposeA, transposeB}.
#include "cpu_kernels.h"
#include "gemm.h"

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
  sgemm(d.ta, d.tb, d.m, d.n, d.k, 1.f, c.inputs[0].data, d.ta ? d.m : d.k, c.inputs[1].data,
        d.tb ? d.k : d.n, 0.f, c.outputs[0].data, d.n);
}

struct GemmCall {
  bool ta, tb;
  int64_t m, n, k, lda, ldb, ldc;
  float alpha, beta;
};

GemmCall gemmCallOf(const KernelCall& c) {
  const Shape& a = c.inputs[0].shape;
  const Shape& b = c.inputs[1].shape;
  const Shape& o = c.outputs[0].shape;
  if (a.size() != 2 || b.size() != 2 || o.size() != 2)
    argFail(c, "expects 2-D a, b, c, got " + shapeString(a) + ", " + shapeString(b) + ", " + shapeString(o));
  GemmCall g;
  g.ta = c.attrs.flag("transposeA");
  g.tb = c.attrs.flag("transposeB");
  auto dim = [&](const char* name) {
    double v = requiredAttr(c, name);
    if (!(v >= 0) || v != double(int64_t(v))) argFail(c, std::string("attrs.") + name + " must be a non-negative integer");
    return int64_t(v);
  };
  g.m = dim("m");
  g.n = dim("n");
  g.k = dim("k");
  g.alpha = float(c.attrs.number("alpha", 1));
  g.beta = float(c.attrs.number("beta", 0));
  g.lda = a[1];
  g.ldb = b[1];
  g.ldc = o[1];
  int64_t ar = g.ta ? g.k : g.m, ac = g.ta ? g.m : g.k;
  int64_t br = g.tb ? g.n : g.k, bc = g.tb ? g.k : g.n;
  if (a[0] < ar || a[1] < ac) argFail(c, "a " + shapeString(a) + " is smaller than op(a)'s block");
  if (b[0] < br || b[1] < bc) argFail(c, "b " + shapeString(b) + " is smaller than op(b)'s block");
  if (o[0] < g.m || o[1] < g.n) argFail(c, "c " + shapeString(o) + " is smaller than [m,n]");
  return g;
}

}  // namespace

void registerMatmulKernels(KernelRegistry& r) {
  halfByConversion(r.add("matmul", {2, 1, validateMatmul, runFast}));
  halfByConversion(r.add("matmulReference", {2, 1, validateMatmul, runReference}));
  r.add("sgemm", {2, 1, [](const KernelCall& c) { gemmCallOf(c); }, [](const KernelCall& c) {
                    GemmCall g = gemmCallOf(c);
                    sgemm(g.ta, g.tb, g.m, g.n, g.k, g.alpha, c.inputs[0].data, g.lda, c.inputs[1].data, g.ldb,
                          g.beta, c.outputs[0].data, g.ldc);
                  }});
  r.add("sgemmReference", {2, 1, [](const KernelCall& c) { gemmCallOf(c); }, [](const KernelCall& c) {
                             GemmCall g = gemmCallOf(c);
                             sgemmReference(g.ta, g.tb, g.m, g.n, g.k, g.alpha, c.inputs[0].data, g.lda,
                                            c.inputs[1].data, g.ldb, g.beta, c.outputs[0].data, g.ldc);
                           }});
}

}  // namespace ifa
