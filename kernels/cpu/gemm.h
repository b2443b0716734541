// SGEMM for the CPU kernels: C = alpha·op(A)·op(B) + beta·C, row-major, with leading dimensions.
// FLOPs = 2·M·N·K; bytes ≥ 4·(MK + KN + 2MN).
//
// Structure (GotoBLAS/BLIS): C is computed in kMR×kNR tiles by a register-blocked micro-kernel (6×16:
// twelve 8-wide AVX2 accumulators) that streams a packed B sliver ([k][16]) and broadcasts A from
// kMR row pointers. A is read in place when its rows are contiguous (no packing: a panel is just six
// pointers), which is also what lets conv2d run as an implicit GEMM: a row of its A is an output
// pixel's receptive field, a few contiguous runs of the NHWC input ("pieces"), and padding points at
// zeros. B is packed into kNR-wide slivers ([k][16], zero past the last column).
//
// Loops. When all of B fits in 4 MiB it is packed once (weights are packed once per call by conv.cc),
// and rows go outermost: MC rows, KC depth, then every kMR panel against every sliver, so each C
// block stays in cache over the whole depth and A is read once, in order; while a depth step of B
// fits in half of L2 the panel is the outer of the two inner loops (it sits in L1 for all slivers).
// Larger B takes the classic order: NC columns, KC depth (pack B), MC rows (prepare A), NR sliver,
// MR panel, so a 16 KiB B sliver stays in L1 while the A block streams from L2. KC = 256 (depth split
// evenly), MC = 144, NC = 2048.
//
// gemm::run is a template so conv.cc can plug in its own A and B sources; sgemm is the plain-matrix
// instance, threaded over blocks of M (or of N when M is small) with parallelFor.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace ifa {

// C = alpha·op(A)·op(B) + beta·C. op(A) is [m,k] (A stored [m,k], or [k,m] when transA); op(B) is
// [k,n] (B stored [k,n], or [n,k] when transB). beta == 0 never reads C. Threads: threadCount().
void sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// The triple loop with double accumulation, single-threaded: what the tests compare sgemm with.
void sgemmReference(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                    int64_t ldc);

namespace gemm {

constexpr int kMR = 6;
constexpr int kNR = 16;

// Above this many floats (256 KiB, half of L2) a depth step of B is walked sliver by sliver.
constexpr int64_t kPanelOuterLimit = int64_t(1) << 16;

struct Blocking {
  int64_t mc = 144;  // rows of A per block (multiple of kMR)
  int64_t kc = 256;  // depth per block
  int64_t nc = 2048; // columns of B per block (multiple of kNR)
};

// Depth per block: K split into equal blocks of at most maxKc (fewer partial-C passes than a ragged
// last block).
inline int64_t balancedKc(int64_t k, int64_t maxKc = 256) {
  if (k <= maxKc) return std::max<int64_t>(k, 1);
  int64_t blocks = (k + maxKc - 1) / maxKc;
  return (k + blocks - 1) / blocks;
}

// One micro-panel of A: `pieces` runs of consecutive k; run q has length lens[q] and starts, for row
// r, at ptrs[q·kMR + r]. Rows beyond the panel's height repeat a valid row (their results are
// discarded).
struct PanelA {
  std::vector<const float*> ptrs;
  std::vector<int64_t> lens;
  void clear() {
    ptrs.clear();
    lens.clear();
  }
  int64_t pieces() const { return int64_t(lens.size()); }
};

// acc[kMR][kNR] = Σ_q Σ_k A[r](q,k)·b[k][j] with b advancing kNR floats per k across all pieces; then
// the mr×nr corner of the tile at c (row stride ldc) becomes alpha·acc + beta·c (beta == 0: c is not
// read).
using MicroKernel = void (*)(int64_t pieces, const float* const* ptrs, const int64_t* lens,
                             const float* b, float* c, int64_t ldc, int mr, int nr, float alpha,
                             float beta);

MicroKernel microKernel();  // AVX2+FMA when the CPU has both, else the portable one
const char* microKernelName();

// Thread-local, 64-byte aligned scratch that persists between calls (the pool's threads live as long
// as the addon), so the hot loops never page-fault fresh allocations. slot (< kScratchSlots) picks an
// independent buffer: 0..3 are used inside gemm::run by the sources here and in conv.cc, 4.. by
// callers on their own thread.
constexpr int kScratchSlots = 10;
// sgemm's own slots (the transposed C of a few-row product, the B that its row blocks share);
// conv.cc holds 4..7, gemm::run 0..3.
constexpr int kTransposedC = 8;
constexpr int kSharedB = 9;
float* scratch(int slot, size_t floats);

// dst[c·ds + r] = src[r·ss + c] for r < R, c < C: the packing of a transposed operand (TransposedA,
// MatrixB with trans). 8×8 AVX2 tiles with the micro-kernel (the scalar loop with the portable one);
// transposeBlockScalar is that loop.
void transposeBlock(const float* src, int64_t ss, int64_t R, int64_t C, float* dst, int64_t ds);
void transposeBlockScalar(const float* src, int64_t ss, int64_t R, int64_t C, float* dst, int64_t ds);

// Sources. An A source provides:
//   void prepare(int64_t i0, int64_t mc, int64_t p0, int64_t kc)   // e.g. pack a transposed block
//   void panel(int64_t i, int mr, int64_t p0, int64_t kc, PanelA&)  // rows i..i+mr-1, depth p0..p0+kc
// A B source provides:
//   bool packWhole(int64_t k0, int64_t k1, int64_t n0, int64_t n1)  // true: all of it is packed
//   void pack(int64_t p0, int64_t kc, int64_t j0, int64_t nc)       // select / pack one block
//   const float* sliver(int64_t s)   // columns j0+16s..: kc×kNR floats, zero past the last column

// Rows of a row-major matrix read in place (A not transposed).
struct RowsA {
  const float* a;
  int64_t lda;
  void prepare(int64_t, int64_t, int64_t, int64_t) {}
  void panel(int64_t i, int mr, int64_t p0, int64_t kc, PanelA& out) const {
    out.clear();
    out.lens.push_back(kc);
    for (int r = 0; r < kMR; r++) out.ptrs.push_back(a + (i + std::min(r, mr - 1)) * lda + p0);
  }
};

// A stored transposed ([k, m], row stride lda): each block is packed into row-major [mc][kc].
struct TransposedA {
  const float* a;
  int64_t lda;
  float* buf = nullptr;
  int64_t i0 = 0, kc = 0;
  void prepare(int64_t bi0, int64_t mc, int64_t p0, int64_t bkc) {
    i0 = bi0;
    kc = bkc;
    buf = scratch(0, size_t(mc * kc));
    transposeBlock(a + p0 * lda + i0, lda, kc, mc, buf, kc);
  }
  void panel(int64_t i, int mr, int64_t, int64_t, PanelA& out) const {
    out.clear();
    out.lens.push_back(kc);
    for (int r = 0; r < kMR; r++) out.ptrs.push_back(buf + (i - i0 + std::min(r, mr - 1)) * kc);
  }
};

// B stored [k, n] (not transposed) or [n, k] (transposed). Packed whole when it is small (then the
// driver runs rows outermost and B stays in cache), else per KC×NC block.
struct MatrixB {
  const float* b;
  int64_t ldb;
  bool trans;
  float* buf = nullptr;
  bool whole = false;
  int64_t k0 = 0, n0 = 0, kTotal = 0;  // whole: the packed range
  int64_t kc = 0, off = 0;             // the current block
  static constexpr int64_t kWholeLimit = int64_t(1) << 20;  // floats (4 MiB)

  // Packs rows p0..p0+kc, columns j0..j0+nc into dst as slivers of kc×kNR (dst stride kcStride).
  void packInto(float* dst, int64_t kcStride, int64_t p0, int64_t kcur, int64_t j0, int64_t nc) const {
    const int64_t slivers = (nc + kNR - 1) / kNR;
    if (!trans) {
      // Eight slivers (128 columns, 512 bytes of each row of B) at a time: reads stay sequential
      // within a row and writes go to eight streams.
      for (int64_t s0 = 0; s0 < slivers; s0 += 8) {
        const int64_t s1 = std::min(slivers, s0 + 8);
        for (int64_t p = 0; p < kcur; p++) {
          const float* src = b + (p0 + p) * ldb + j0;
          for (int64_t s = s0; s < s1; s++) {
            float* d = dst + (s * kcStride + p) * kNR;
            const int64_t w = std::min<int64_t>(kNR, nc - s * kNR);
            const float* sr = src + s * kNR;
            if (w == kNR) {
              std::memcpy(d, sr, kNR * sizeof(float));
            } else {
              for (int64_t j = 0; j < w; j++) d[j] = sr[j];
              for (int64_t j = w; j < kNR; j++) d[j] = 0.f;
            }
          }
        }
      }
      return;
    }
    for (int64_t s = 0; s < slivers; s++) {
      float* d0 = dst + s * kcStride * kNR;
      const int64_t w = std::min<int64_t>(kNR, nc - s * kNR);
      const int64_t c0 = j0 + s * kNR;
      // The sliver is the transpose of B's rows c0..c0+w (depth p0..), zero past w.
      transposeBlock(b + c0 * ldb + p0, ldb, w, kcur, d0, kNR);
      if (w < kNR)
        for (int64_t p = 0; p < kcur; p++) std::fill(d0 + p * kNR + w, d0 + (p + 1) * kNR, 0.f);
    }
  }
  bool packWhole(int64_t bk0, int64_t k1, int64_t bn0, int64_t n1) {
    int64_t slivers = (n1 - bn0 + kNR - 1) / kNR;
    if ((k1 - bk0) * slivers * kNR > kWholeLimit) return whole = false;
    k0 = bk0;
    n0 = bn0;
    kTotal = k1 - bk0;
    buf = scratch(1, size_t(slivers * kTotal * kNR));
    packInto(buf, kTotal, k0, kTotal, n0, n1 - n0);
    return whole = true;
  }
  void pack(int64_t p0, int64_t bkc, int64_t j0, int64_t nc) {
    if (whole) {
      kc = kTotal;
      off = ((j0 - n0) / kNR * kTotal + (p0 - k0)) * kNR;
      return;
    }
    kc = bkc;
    off = 0;
    buf = scratch(1, size_t((nc + kNR - 1) / kNR * kc * kNR));
    packInto(buf, kc, p0, kc, j0, nc);
  }
  const float* sliver(int64_t s) const { return buf + off + s * kc * kNR; }
};

// B packed once by the caller for the whole K×N (weights): sliver s holds all K depth rows of columns
// 16s..16s+15 ([ceil(N/16)][K][16]), so a block is a pointer offset.
struct PrepackedB {
  const float* packed;  // [ceil(N/16)][K][16]
  int64_t k;            // full depth
  int64_t p0 = 0, j0 = 0;
  bool packWhole(int64_t, int64_t, int64_t, int64_t) { return true; }
  void pack(int64_t bp0, int64_t, int64_t bj0, int64_t) {
    p0 = bp0;
    j0 = bj0;
  }
  const float* sliver(int64_t s) const { return packed + ((j0 / kNR + s) * k + p0) * kNR; }
};

// C[m0:m1, n0:n1] = alpha·Σ_{k0≤p<k1} A[i,p]·B[p,j] + beta·C, single-threaded. C points at element
// (0, 0) of the full matrix; indices are global so sources can map them.
template <class ASrc, class BSrc>
void run(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t k0, int64_t k1, ASrc& a, BSrc& b,
         float* c, int64_t ldc, float alpha, float beta, const Blocking& bl) {
  if (m1 <= m0 || n1 <= n0) return;
  if (k1 <= k0) {  // empty sum: C = beta·C
    for (int64_t i = m0; i < m1; i++)
      for (int64_t j = n0; j < n1; j++) c[i * ldc + j] = beta == 0.f ? 0.f : beta * c[i * ldc + j];
    return;
  }
  MicroKernel uk = microKernel();
  thread_local std::vector<PanelA> panels;
  const int64_t kcMax = balancedKc(k1 - k0, bl.kc);
  // One MC×NC×KC block: A's rows i0.., B's block already selected by b.pack.
  auto block = [&](int64_t i0, int64_t mc, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
    float be = p0 == k0 ? beta : 1.f;
    a.prepare(i0, mc, p0, kc);
    int64_t npanels = (mc + kMR - 1) / kMR;
    if (int64_t(panels.size()) < npanels) panels.resize(size_t(npanels));
    for (int64_t q = 0; q < npanels; q++) {
      int mr = int(std::min<int64_t>(kMR, mc - q * kMR));
      a.panel(i0 + q * kMR, mr, p0, kc, panels[size_t(q)]);
    }
    int64_t slivers = (nc + kNR - 1) / kNR;
    if (slivers * kc * kNR <= kPanelOuterLimit) {
      // This depth step of B fits in L2: each A panel is read once (from memory, the first time)
      // and used for every sliver while it sits in L1.
      for (int64_t q = 0; q < npanels; q++) {
        const PanelA& pa = panels[size_t(q)];
        int mr = int(std::min<int64_t>(kMR, mc - q * kMR));
        float* cq = c + (i0 + q * kMR) * ldc + j0;
        for (int64_t s = 0; s < slivers; s++) {
          int nr = int(std::min<int64_t>(kNR, nc - s * kNR));
          uk(pa.pieces(), pa.ptrs.data(), pa.lens.data(), b.sliver(s), cq + s * kNR, ldc, mr, nr, alpha, be);
        }
      }
      return;
    }
    // Otherwise the classic order: a B sliver stays in L1 while the A block streams from L2.
    for (int64_t s = 0; s < slivers; s++) {
      const float* bs = b.sliver(s);
      int nr = int(std::min<int64_t>(kNR, nc - s * kNR));
      float* cs = c + j0 + s * kNR;
      for (int64_t q = 0; q < npanels; q++) {
        const PanelA& pa = panels[size_t(q)];
        int mr = int(std::min<int64_t>(kMR, mc - q * kMR));
        uk(pa.pieces(), pa.ptrs.data(), pa.lens.data(), bs, cs + (i0 + q * kMR) * ldc, ldc, mr, nr,
           alpha, be);
      }
    }
  };
  if (b.packWhole(k0, k1, n0, n1)) {
    // B fits in cache: rows outermost, so each C block stays in L1/L2 over the whole depth and A is
    // read once, in order.
    for (int64_t i0 = m0; i0 < m1; i0 += bl.mc) {
      int64_t mc = std::min(bl.mc, m1 - i0);
      for (int64_t j0 = n0; j0 < n1; j0 += bl.nc) {
        int64_t nc = std::min(bl.nc, n1 - j0);
        for (int64_t p0 = k0; p0 < k1; p0 += kcMax) {
          int64_t kc = std::min(kcMax, k1 - p0);
          b.pack(p0, kc, j0, nc);
          block(i0, mc, j0, nc, p0, kc);
        }
      }
    }
    return;
  }
  for (int64_t j0 = n0; j0 < n1; j0 += bl.nc) {
    int64_t nc = std::min(bl.nc, n1 - j0);
    for (int64_t p0 = k0; p0 < k1; p0 += kcMax) {
      int64_t kc = std::min(kcMax, k1 - p0);
      b.pack(p0, kc, j0, nc);
      for (int64_t i0 = m0; i0 < m1; i0 += bl.mc) block(i0, std::min(bl.mc, m1 - i0), j0, nc, p0, kc);
    }
  }
}

}  // namespace gemm
}  // namespace ifa
