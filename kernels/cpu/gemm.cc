// SGEMM micro-kernels, scratch buffers and the threaded plain-matrix sgemm (see gemm.h for the
// structure). The AVX2+FMA micro-kernel is compiled with a target attribute (the build sets no
// -march), and chosen at run time when the CPU has both; the portable one is the same loop on a
// float[6][16] accumulator that the compiler vectorises for the baseline ISA.
#include "gemm.h"

#include <cstdlib>
#include <cstring>
#include <memory>

#include "parallel.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define IFA_GEMM_X86 1
#endif

namespace ifa {
namespace gemm {
namespace {

// The mr×nr corner of acc (row stride kNR) into c: alpha·acc + beta·c.
inline void storeTile(const float* acc, float* c, int64_t ldc, int mr, int nr, float alpha, float beta) {
  for (int r = 0; r < mr; r++) {
    float* cr = c + r * ldc;
    const float* ar = acc + r * kNR;
    if (beta == 0.f) {
      for (int j = 0; j < nr; j++) cr[j] = alpha * ar[j];
    } else {
      for (int j = 0; j < nr; j++) cr[j] = alpha * ar[j] + beta * cr[j];
    }
  }
}

void microPortable(int64_t pieces, const float* const* ptrs, const int64_t* lens, const float* b,
                   float* c, int64_t ldc, int mr, int nr, float alpha, float beta) {
  float acc[kMR * kNR] = {};
  for (int64_t q = 0; q < pieces; q++) {
    const float* a[kMR];
    for (int r = 0; r < kMR; r++) a[r] = ptrs[q * kMR + r];
    int64_t len = lens[q];
    for (int64_t k = 0; k < len; k++, b += kNR) {
      for (int r = 0; r < kMR; r++) {
        float av = a[r][k];
        for (int j = 0; j < kNR; j++) acc[r * kNR + j] += av * b[j];
      }
    }
  }
  storeTile(acc, c, ldc, mr, nr, alpha, beta);
}

#ifdef IFA_GEMM_X86
// 6×16: per depth step two 8-wide loads of B, six broadcasts of A, twelve FMAs (15 of 16 ymm
// registers). Zen 3 issues two FMAs per cycle, so the 12 independent accumulators cover the 4-cycle
// FMA latency.
__attribute__((target("avx2,fma"))) void microAvx2(int64_t pieces, const float* const* ptrs,
                                                   const int64_t* lens, const float* b, float* c,
                                                   int64_t ldc, int mr, int nr, float alpha,
                                                   float beta) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int r = 0; r < mr; r++) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
  // The depth loop is assembly: GCC's register allocator spills accumulators of this 15-register
  // kernel. B is read through %[b] (advancing 64 bytes per step), row r of A through r8..r13 plus a
  // shared index; ymm13/14 hold B, ymm15 the broadcast A value.
  for (int64_t q = 0; q < pieces; q++) {
    const float* const* p = ptrs + q * kMR;
    int64_t k = lens[q], idx;
    asm volatile(
        "mov 0(%[p]), %%r8\n\t"
        "mov 8(%[p]), %%r9\n\t"
        "mov 16(%[p]), %%r10\n\t"
        "mov 24(%[p]), %%r11\n\t"
        "mov 32(%[p]), %%r12\n\t"
        "mov 40(%[p]), %%r13\n\t"
        "xor %[i], %[i]\n\t"
        "cmp $4, %[k]\n\t"
        "jl 2f\n\t"
        "1:\n\t"
        "vmovups 0(%[b]), %%ymm13\n\t"
        "vmovups 32(%[b]), %%ymm14\n\t"
        "vbroadcastss 0(%%r8,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c00]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c01]\n\t"
        "vbroadcastss 0(%%r9,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c10]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c11]\n\t"
        "vbroadcastss 0(%%r10,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c20]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c21]\n\t"
        "vbroadcastss 0(%%r11,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c30]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c31]\n\t"
        "vbroadcastss 0(%%r12,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c40]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c41]\n\t"
        "vbroadcastss 0(%%r13,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c50]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c51]\n\t"
        "vmovups 64(%[b]), %%ymm13\n\t"
        "vmovups 96(%[b]), %%ymm14\n\t"
        "vbroadcastss 4(%%r8,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c00]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c01]\n\t"
        "vbroadcastss 4(%%r9,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c10]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c11]\n\t"
        "vbroadcastss 4(%%r10,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c20]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c21]\n\t"
        "vbroadcastss 4(%%r11,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c30]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c31]\n\t"
        "vbroadcastss 4(%%r12,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c40]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c41]\n\t"
        "vbroadcastss 4(%%r13,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c50]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c51]\n\t"
        "vmovups 128(%[b]), %%ymm13\n\t"
        "vmovups 160(%[b]), %%ymm14\n\t"
        "vbroadcastss 8(%%r8,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c00]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c01]\n\t"
        "vbroadcastss 8(%%r9,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c10]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c11]\n\t"
        "vbroadcastss 8(%%r10,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c20]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c21]\n\t"
        "vbroadcastss 8(%%r11,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c30]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c31]\n\t"
        "vbroadcastss 8(%%r12,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c40]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c41]\n\t"
        "vbroadcastss 8(%%r13,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c50]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c51]\n\t"
        "vmovups 192(%[b]), %%ymm13\n\t"
        "vmovups 224(%[b]), %%ymm14\n\t"
        "vbroadcastss 12(%%r8,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c00]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c01]\n\t"
        "vbroadcastss 12(%%r9,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c10]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c11]\n\t"
        "vbroadcastss 12(%%r10,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c20]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c21]\n\t"
        "vbroadcastss 12(%%r11,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c30]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c31]\n\t"
        "vbroadcastss 12(%%r12,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c40]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c41]\n\t"
        "vbroadcastss 12(%%r13,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c50]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c51]\n\t"
        "add $4, %[i]\n\t"
        "add $256, %[b]\n\t"
        "sub $4, %[k]\n\t"
        "cmp $4, %[k]\n\t"
        "jge 1b\n\t"
        "2:\n\t"
        "test %[k], %[k]\n\t"
        "jz 4f\n\t"
        "3:\n\t"
        "vmovups 0(%[b]), %%ymm13\n\t"
        "vmovups 32(%[b]), %%ymm14\n\t"
        "vbroadcastss 0(%%r8,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c00]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c01]\n\t"
        "vbroadcastss 0(%%r9,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c10]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c11]\n\t"
        "vbroadcastss 0(%%r10,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c20]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c21]\n\t"
        "vbroadcastss 0(%%r11,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c30]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c31]\n\t"
        "vbroadcastss 0(%%r12,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c40]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c41]\n\t"
        "vbroadcastss 0(%%r13,%[i],4), %%ymm15\n\t"
        "vfmadd231ps %%ymm13, %%ymm15, %[c50]\n\t"
        "vfmadd231ps %%ymm14, %%ymm15, %[c51]\n\t"
        "add $1, %[i]\n\t"
        "add $64, %[b]\n\t"
        "sub $1, %[k]\n\t"
        "jnz 3b\n\t"
        "4:\n\t"
        : [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20),
          [c21] "+x"(c21), [c30] "+x"(c30), [c31] "+x"(c31), [c40] "+x"(c40), [c41] "+x"(c41),
          [c50] "+x"(c50), [c51] "+x"(c51), [b] "+r"(b), [k] "+r"(k), [i] "=&r"(idx)
        : [p] "r"(p)
        : "r8", "r9", "r10", "r11", "r12", "r13", "xmm13", "xmm14", "xmm15", "cc", "memory");
  }
  const __m256 va = _mm256_set1_ps(alpha);
  if (mr == kMR && nr == kNR) {
    // A macro, not a lambda: lambdas do not inherit the target attribute.
#define IFA_ROW(r, lo, hi)                                          \
  {                                                                 \
    float* cr = c + (r) * ldc;                                      \
    __m256 l = _mm256_mul_ps(lo, va), h = _mm256_mul_ps(hi, va);    \
    if (beta != 0.f) {                                              \
      __m256 vb = _mm256_set1_ps(beta);                             \
      l = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), l);              \
      h = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), h);          \
    }                                                               \
    _mm256_storeu_ps(cr, l);                                        \
    _mm256_storeu_ps(cr + 8, h);                                    \
  }
    IFA_ROW(0, c00, c01)
    IFA_ROW(1, c10, c11)
    IFA_ROW(2, c20, c21)
    IFA_ROW(3, c30, c31)
    IFA_ROW(4, c40, c41)
    IFA_ROW(5, c50, c51)
#undef IFA_ROW
    return;
  }
  alignas(32) float acc[kMR * kNR];
  _mm256_store_ps(acc + 0 * kNR, c00);
  _mm256_store_ps(acc + 0 * kNR + 8, c01);
  _mm256_store_ps(acc + 1 * kNR, c10);
  _mm256_store_ps(acc + 1 * kNR + 8, c11);
  _mm256_store_ps(acc + 2 * kNR, c20);
  _mm256_store_ps(acc + 2 * kNR + 8, c21);
  _mm256_store_ps(acc + 3 * kNR, c30);
  _mm256_store_ps(acc + 3 * kNR + 8, c31);
  _mm256_store_ps(acc + 4 * kNR, c40);
  _mm256_store_ps(acc + 4 * kNR + 8, c41);
  _mm256_store_ps(acc + 5 * kNR, c50);
  _mm256_store_ps(acc + 5 * kNR + 8, c51);
  storeTile(acc, c, ldc, mr, nr, alpha, beta);
}

// 8×8 tiles: eight rows of src in, unpack/shuffle/permute, eight columns out (rows of dst).
__attribute__((target("avx2,fma"))) void transposeAvx2(const float* src, int64_t ss, int64_t R, int64_t C,
                                                       float* dst, int64_t ds) {
  const int64_t R8 = R / 8 * 8, C8 = C / 8 * 8;
  for (int64_t r = 0; r < R8; r += 8) {
    const float* s0 = src + r * ss;
    for (int64_t c = 0; c < C8; c += 8) {
      const float* s = s0 + c;
      __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + ss);
      __m256 r2 = _mm256_loadu_ps(s + 2 * ss), r3 = _mm256_loadu_ps(s + 3 * ss);
      __m256 r4 = _mm256_loadu_ps(s + 4 * ss), r5 = _mm256_loadu_ps(s + 5 * ss);
      __m256 r6 = _mm256_loadu_ps(s + 6 * ss), r7 = _mm256_loadu_ps(s + 7 * ss);
      __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
      __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
      __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
      __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
      __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
      __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
      __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float* d = dst + c * ds + r;
      _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
      _mm256_storeu_ps(d + ds, _mm256_permute2f128_ps(u1, u5, 0x20));
      _mm256_storeu_ps(d + 2 * ds, _mm256_permute2f128_ps(u2, u6, 0x20));
      _mm256_storeu_ps(d + 3 * ds, _mm256_permute2f128_ps(u3, u7, 0x20));
      _mm256_storeu_ps(d + 4 * ds, _mm256_permute2f128_ps(u0, u4, 0x31));
      _mm256_storeu_ps(d + 5 * ds, _mm256_permute2f128_ps(u1, u5, 0x31));
      _mm256_storeu_ps(d + 6 * ds, _mm256_permute2f128_ps(u2, u6, 0x31));
      _mm256_storeu_ps(d + 7 * ds, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
  }
  // The ragged edges: the last C % 8 columns of the tiled rows, then the last R % 8 rows.
  if (C8 < C) transposeBlockScalar(src + C8, ss, R8, C - C8, dst + C8 * ds, ds);
  if (R8 < R) transposeBlockScalar(src + R8 * ss, ss, R - R8, C, dst + R8, ds);
}

bool cpuHasAvx2Fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

using Transpose = void (*)(const float*, int64_t, int64_t, int64_t, float*, int64_t);

struct Selected {
  MicroKernel fn;
  const char* name;
  Transpose transpose;
};

Selected select() {
  if (const char* force = std::getenv("IFA_GEMM_PORTABLE"); force && *force && std::strcmp(force, "0") != 0)
    return {microPortable, "portable", transposeBlockScalar};
#ifdef IFA_GEMM_X86
  if (cpuHasAvx2Fma()) return {microAvx2, "avx2-fma 6x16", transposeAvx2};
#endif
  return {microPortable, "portable", transposeBlockScalar};
}

const Selected& selected() {
  static const Selected s = select();
  return s;
}

struct AlignedBuffer {
  std::unique_ptr<float[]> storage;
  size_t capacity = 0;  // usable floats
  float* aligned = nullptr;
};

}  // namespace

MicroKernel microKernel() { return selected().fn; }

const char* microKernelName() { return selected().name; }

void transposeBlock(const float* src, int64_t ss, int64_t R, int64_t C, float* dst, int64_t ds) {
  selected().transpose(src, ss, R, C, dst, ds);
}

void transposeBlockScalar(const float* src, int64_t ss, int64_t R, int64_t C, float* dst, int64_t ds) {
  // Blocks of 8 source rows (contiguous runs of C) at a time keep both sides cache friendly.
  for (int64_t r0 = 0; r0 < R; r0 += 8) {
    const int64_t r1 = std::min(R, r0 + 8);
    for (int64_t c = 0; c < C; c++)
      for (int64_t r = r0; r < r1; r++) dst[c * ds + r] = src[r * ss + c];
  }
}

float* scratch(int slot, size_t floats) {
  thread_local AlignedBuffer buffers[kScratchSlots];
  AlignedBuffer& b = buffers[slot];
  if (b.capacity < floats) {
    size_t cap = std::max(floats, b.capacity + b.capacity / 2);
    b.storage.reset(new float[cap + 16]);
    uintptr_t p = reinterpret_cast<uintptr_t>(b.storage.get());
    b.aligned = reinterpret_cast<float*>((p + 63) & ~uintptr_t(63));
    b.capacity = cap;
  }
  return b.aligned;
}

}  // namespace gemm

void sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  using namespace gemm;
  if (m <= 0 || n <= 0) return;
  // A few rows against a wide B (the projection head's 2048×2048 weight on a batch of 8): Cᵀ =
  // op(B)ᵀ·op(A)ᵀ, so the GEMM packs the few rows of A and reads B in place, instead of packing all
  // of B (16 MiB there) for 8 rows of output; then Cᵀ is transposed into C. op(B)ᵀ is B read the
  // other way, op(A)ᵀ likewise.
  if (beta == 0.f && transB && m <= 2 * kMR * 2 && n >= 8 * m && k >= 64) {
    float* ct = scratch(kTransposedC, size_t(m * n));
    sgemm(!transB, !transA, n, m, k, alpha, b, ldb, a, lda, 0.f, ct, m);
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) c[i * ldc + j] = ct[j * m + i];
    return;
  }
  Blocking bl;
  // One block of C against a B source (MatrixB packs its own; PrepackedB shares one packing).
  auto tileWith = [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1, auto& bs) {
    if (transA) {
      TransposedA as{a, lda};
      run(m0, m1, n0, n1, 0, k, as, bs, c, ldc, alpha, beta, bl);
    } else {
      RowsA as{a, lda};
      run(m0, m1, n0, n1, 0, k, as, bs, c, ldc, alpha, beta, bl);
    }
  };
  auto tile = [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    MatrixB bs{b, ldb, transB};
    tileWith(m0, m1, n0, n1, bs);
  };
  const int threads = threadCount();
  const double flops = 2.0 * double(m) * double(n) * double(k);
  if (threads == 1 || flops < 2e5) {
    tile(0, m, 0, n);
    return;
  }
  // Split the longer side. Blocks of M each repack all of B (K·N floats), blocks of N re-read A
  // (M·K floats, in place) and pack only their own columns of B, so with M < N the column split
  // moves less: a 1×1 convolution at ResNet's late stages (M = 128 pixels, N = 1024, K = 256) split
  // by rows packed its 1 MiB weight six times and ran at 39 GFLOP/s on two threads. parallelFor hands
  // the blocks out dynamically, about four per thread, so a core busy with something else does not
  // hold the rest back.
  if (m >= n && m >= int64_t(threads) * 2 * kMR) {
    int64_t rows = std::max<int64_t>(kMR * 4, (m + threads * 4 - 1) / (threads * 4));
    rows = (rows + kMR - 1) / kMR * kMR;
    int64_t blocks = (m + rows - 1) / rows;
    const int64_t slivers = (n + kNR - 1) / kNR;
    if (slivers * k * kNR <= MatrixB::kWholeLimit) {
      // Each row block would pack all of B again (a 1×1 convolution's weight, eight times per
      // call): pack it once, sliver by sliver in parallel, and let the blocks share it.
      float* packed = scratch(kSharedB, size_t(slivers * k * kNR));
      const MatrixB src{b, ldb, transB};
      parallelFor(0, slivers, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t s = lo; s < hi; s++)
          src.packInto(packed + s * k * kNR, k, 0, k, s * kNR, std::min<int64_t>(kNR, n - s * kNR));
      });
      parallelFor(0, blocks, 1, [&](int64_t lo, int64_t hi) {
        PrepackedB bs{packed, k};
        tileWith(lo * rows, std::min(m, hi * rows), 0, n, bs);
      });
      return;
    }
    parallelFor(0, blocks, 1, [&](int64_t lo, int64_t hi) { tile(lo * rows, std::min(m, hi * rows), 0, n); });
  } else {
    int64_t cols = std::max<int64_t>(kNR * 2, (n + threads * 4 - 1) / (threads * 4));
    cols = (cols + kNR - 1) / kNR * kNR;
    int64_t blocks = (n + cols - 1) / cols;
    parallelFor(0, blocks, 1, [&](int64_t lo, int64_t hi) { tile(0, m, lo * cols, std::min(n, hi * cols)); });
  }
}

void sgemmReference(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                    int64_t ldc) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t p = 0; p < k; p++) {
        double av = transA ? a[p * lda + i] : a[i * lda + p];
        double bv = transB ? b[j * ldb + p] : b[p * ldb + j];
        s += av * bv;
      }
      double prev = beta == 0.f ? 0.0 : double(beta) * c[i * ldc + j];
      c[i * ldc + j] = float(double(alpha) * s + prev);
    }
}

}  // namespace ifa
