// Tensor-core implicit-GEMM convolutions, NHWC, sm_80 and newer: bf16 and fp16 operands
// (mma.sync m16n8k16) or fp32 operands read as TF32 (m16n8k8), fp32 accumulation.
//   forward        y[P,Co]  = patches(x)[P,K]·wᵀ             P = N·Ho·Wo, K = KH·KW·Ci
//   input grad     dx[Q,Ci] = dyTaps[Q,K']·w, per stride phase: input pixels whose (h + padH) mod
//                  strideH (and w) agree see the same taps, so each phase is a dense GEMM over only the
//                  taps that reach it (no multiplies by the zeros a stride-2 gradient would insert)
//   weight grad    dw[Co,K] = dyᵀ[Co,P]·patches(x)[P,K], split over P into fp32 partials that a second
//                  kernel adds in a fixed order (deterministic: no float atomics), written in fp32
// Each pass is 2·N·Ho·Wo·Co·KH·KW·Ci FLOPs; operands are read once per output tile from L2.
//
// One kernel template does all three: a CTA computes a BM×BN tile of C over its K range, through a
// STAGES-deep cp.async pipeline global→shared (16-byte chunks; a scalar gather for channel counts
// that are not a multiple of 16 bytes, e.g. the 1- or 3-channel stem) and ldmatrix shared→registers.
// Shared tiles are 64 bytes of K per row (32 bf16/fp16 or 16 fp32), XOR-swizzled in 16-byte chunks so
// both the cp.async stores and the ldmatrix loads are free of bank conflicts. An operand is either
// K-major (K contiguous in memory: the patches and weights of the forward pass) or M/N-major (the
// other index contiguous: dy and x in the weight gradient, w in the input gradient), read with
// ldmatrix.trans (16-bit) or 32-bit shared loads (TF32). Loaders compute addresses from the
// convolution geometry with multiply-shift division, so the patch matrix is never materialised.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "half.cuh"
#include "mma.cuh"

#ifdef IFA_CUDA_EMULATOR
#include "emu/wmma.h"
using WmmaHalf = nvcuda::wmma::half;
#else
#include <mma.h>
using WmmaHalf = __half;
#endif

namespace ifa {
namespace cuda {
namespace tc {

// n / d and n % d for 0 ≤ n < 2^31 by one 64-bit multiply and a shift (m = ⌈2^(32+l)/d⌉, l = ⌈log2 d⌉).
struct FastDiv {
  uint32_t d = 1, s = 32;
  uint64_t m = uint64_t(1) << 32;
  FastDiv() = default;
  explicit FastDiv(uint32_t dv) : d(dv < 1 ? 1 : dv) {
    uint32_t l = 0;
    while ((uint64_t(1) << l) < d) l++;
    s = 32 + l;
    m = ((uint64_t(1) << s) + d - 1) / d;
  }
  __device__ __forceinline__ uint32_t div(uint32_t n) const { return uint32_t((uint64_t(n) * m) >> s); }
  __device__ __forceinline__ uint32_t mod(uint32_t n, uint32_t q) const { return n - q * d; }
};

template <int BM_, int BN_, int WarpsM_, int WarpsN_, int Stages_>
struct Tile {
  static constexpr int BM = BM_, BN = BN_, WarpsM = WarpsM_, WarpsN = WarpsN_, Stages = Stages_;
  static constexpr int Threads = 32 * WarpsM * WarpsN;
  static constexpr int WTM = BM / WarpsM, WTN = BN / WarpsN, MT = WTM / 16, NT = WTN / 8;
  static constexpr int ABytes = BM * 64, BBytes = BN * 64, StageBytes = ABytes + BBytes, SmemBytes = Stages * StageBytes;
  static_assert(WTM % 16 == 0 && WTN % 16 == 0, "a warp tile is whole 16×16 blocks");
  static_assert(Stages >= 3, "the main loop refills a slot one tile after it was read");
};

// Padded: the sm_70 WMMA kernels' element type (f16w), whose tiles are unswizzled rows padded by 16
// bytes (WMMA loads take a plain leading dimension; the padding staggers rows across banks).
template <class T>
struct Elem {
  static constexpr int Size = int(sizeof(T)), Vec = 16 / Size, BK = 64 / Size, KStep = Size == 2 ? 16 : 8;
  static constexpr bool Padded = std::is_same<T, f16w>::value;
};

// Byte offset of 16-byte chunk `chunk` (0..3) of row `row` in a K-major tile (64-byte rows). Rows r
// and r + 1 share a 128-byte bank line; the XOR spreads the 8 rows an ldmatrix reads over all 8
// 16-byte bank groups. (Padded: 80-byte rows.)
template <class T>
__device__ __forceinline__ int kOff(int row, int chunk) {
  if constexpr (Elem<T>::Padded) return row * 80 + (chunk << 4);
  return row * 64 + ((chunk ^ ((row >> 1) & 3)) << 4);
}

// The same in an M/N-major tile: row = k, Cols elements per row. ldmatrix.trans reads one chunk of 8
// consecutive rows (16-bit); the TF32 fragment loads read rows t and chunks 2t-apart (32-bit).
// (Padded: rows of Cols elements + 16 bytes.)
template <class T, int Cols>
__device__ __forceinline__ int mnOff(int krow, int chunk) {
  if constexpr (Elem<T>::Padded) return krow * (Cols * 2 + 16) + (chunk << 4);
  constexpr int ChunksPerRow = Cols * int(sizeof(T)) / 16;
  constexpr int Mask = ChunksPerRow >= 8 ? 7 : ChunksPerRow - 1;
  const int sw = (sizeof(T) == 2 ? krow : krow << 1) & Mask;
  return krow * (Cols * int(sizeof(T))) + ((chunk ^ sw) << 4);
}

// Bytes of one stage's A or B tile (Rows = BM or BN).
template <class T, bool KMajor, int Rows>
constexpr int tileBytes() {
  return !Elem<T>::Padded ? Rows * 64 : KMajor ? Rows * 80 : Elem<T>::BK * (Rows * 2 + 16);
}
template <class T, class Cfg, bool AK, bool BK>
struct Smem {
  static constexpr int A = tileBytes<T, AK, Cfg::BM>(), B = tileBytes<T, BK, Cfg::BN>(), Stage = A + B, Total = Cfg::Stages * Stage;
};

__device__ __forceinline__ uint32_t lds32(const unsigned char* p) { return *reinterpret_cast<const uint32_t*>(p); }

// A fragment: 16 rows (m0 … m0+15 of the CTA tile) × one k-step.
template <class T, bool KMajor, int BM>
__device__ __forceinline__ void loadA(uint32_t (&a)[4], const unsigned char* As, int m0, int ks, int lane) {
  if constexpr (KMajor) {
    ldmatrixX4(a, As + kOff<T>(m0 + (lane & 15), 2 * ks + (lane >> 4)));
  } else if constexpr (sizeof(T) == 2) {
    const int j = lane >> 3, k = ks * 16 + (j >> 1) * 8 + (lane & 7);
    ldmatrixX4Trans(a, As + mnOff<T, BM>(k, (m0 + (j & 1) * 8) >> 3));
  } else {
    const int g = lane >> 2, t = lane & 3, k = ks * 8 + t;
    auto at = [&](int kk, int m) { return lds32(As + mnOff<T, BM>(kk, m >> 2) + (m & 3) * 4); };
    a[0] = at(k, m0 + g);
    a[1] = at(k, m0 + g + 8);
    a[2] = at(k + 4, m0 + g);
    a[3] = at(k + 4, m0 + g + 8);
  }
}

// B fragments of two n8 tiles (n0 … n0+15) × one k-step: b[0] for n0, b[1] for n0 + 8.
template <class T, bool KMajor, int BN>
__device__ __forceinline__ void loadB(uint32_t (&b)[2][2], const unsigned char* Bs, int n0, int ks, int lane) {
  uint32_t r[4];
  if constexpr (KMajor) {
    ldmatrixX4(r, Bs + kOff<T>(n0 + (lane & 7) + ((lane >> 4) << 3), 2 * ks + ((lane >> 3) & 1)));
  } else if constexpr (sizeof(T) == 2) {
    const int j = lane >> 3, k = ks * 16 + (j & 1) * 8 + (lane & 7);
    ldmatrixX4Trans(r, Bs + mnOff<T, BN>(k, (n0 + (j >> 1) * 8) >> 3));
  } else {
    const int g = lane >> 2, t = lane & 3, k = ks * 8 + t;
    auto at = [&](int kk, int n) { return lds32(Bs + mnOff<T, BN>(kk, n >> 2) + (n & 3) * 4); };
    r[0] = at(k, n0 + g);
    r[1] = at(k + 4, n0 + g);
    r[2] = at(k, n0 + 8 + g);
    r[3] = at(k + 4, n0 + 8 + g);
  }
  b[0][0] = r[0];
  b[0][1] = r[1];
  b[1][0] = r[2];
  b[1][1] = r[3];
}

template <class T>
__device__ __forceinline__ void mmaT(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  if constexpr (DTypeOf<T>::value == DType::BFloat16) mmaBf16(d, a, b);
  else if constexpr (DTypeOf<T>::value == DType::Float16) mmaF16(d, a, b);
  else mmaTf32(d, a, b);
}

// 16 bytes of elements gathered one by one (the scalar loaders) as one shared-memory store.
template <class T>
struct alignas(16) Chunk {
  T v[Elem<T>::Vec];
  __device__ __forceinline__ void zero() {
    for (int e = 0; e < Elem<T>::Vec; e++) v[e] = T{};
  }
  __device__ __forceinline__ void storeTo(unsigned char* dst) const {
#ifdef IFA_CUDA_EMULATOR
    std::memcpy(dst, v, 16);
#else
    *reinterpret_cast<float4*>(dst) = *reinterpret_cast<const float4*>(v);
#endif
  }
};

// --- Loaders: each thread owns fixed 16-byte chunks of the tile; load(tile, kt) fills k-tile kt of
// the CTA's K range (called for kt = 0, 1, 2, … in order). ---------------------------------------

// K-major operand whose rows are pixels of an NHWC tensor src[·,Hs,Ws,C] and whose k = (a, b, c)
// indexes a tap (a, b) and a channel c: element (row, k) = src[n, y0 + Sign·a, x0 + Sign·b, c], zero
// outside. Row m = (n, u, v) (u < U, v < V) has y0 = ru·u + bu, x0 = rv·v + bv.
//   forward:    rows = output pixels (U = Ho, V = Wo), y0 = strideH·ho − padH, Sign = +1, taps (kh, kw)
//   input grad: rows = input pixels of one phase, y0 = u + q0, Sign = −1 (ho = qh − j), taps (j, j')
struct PatchRowsGeom {
  const void* src;
  int Hs, Ws, C;         // source tensor
  int ru, bu, rv, bv;    // row → (y0, x0)
  int nB;                // taps per row of the kernel (b < nB); k = (a·nB + b)·C + c
  int M, K;
  FastDiv divU, divV;    // m → (n, u, v): v = m mod V, u = (m / V) mod U
  FastDiv divC, divB;
};

template <class T, int Rows, int Threads, int Sign, bool Vec>
struct PatchRows {
  static constexpr int ChunksPerThread = Rows * 4 / Threads, RowStep = Threads / 4;
  static_assert(ChunksPerThread >= 1 && Rows * 4 % Threads == 0, "whole chunks per thread");
  PatchRowsGeom g;
  int col, kBase;
  int64_t base[ChunksPerThread];
  int y0[ChunksPerThread], x0[ChunksPerThread];

  __device__ __forceinline__ void begin(int tileRow0, int kBegin, int tid) {
    col = tid & 3;
    kBase = kBegin;
#pragma unroll
    for (int i = 0; i < ChunksPerThread; i++) {
      const int m = tileRow0 + (tid >> 2) + i * RowStep;
      if (m < g.M) {
        const uint32_t q = g.divV.div(uint32_t(m)), v = g.divV.mod(uint32_t(m), q);
        const uint32_t n = g.divU.div(q), u = g.divU.mod(q, n);
        y0[i] = g.ru * int(u) + g.bu;
        x0[i] = g.rv * int(v) + g.bv;
        base[i] = ((int64_t(n) * g.Hs + y0[i]) * g.Ws + x0[i]) * g.C;
      } else {
        y0[i] = -(1 << 28);  // fails every bounds check
        x0[i] = 0;
        base[i] = 0;
      }
    }
  }
  // Tap (a, b) and channel of k, and the element offset of that tap relative to a row's base.
  __device__ __forceinline__ void tap(int k, int& dy, int& dx, int64_t& off) const {
    const uint32_t t = g.divC.div(uint32_t(k)), c = g.divC.mod(uint32_t(k), t);
    const uint32_t a = g.divB.div(t), b = g.divB.mod(t, a);
    dy = Sign * int(a);
    dx = Sign * int(b);
    off = (int64_t(dy) * g.Ws + dx) * g.C + c;
  }
  __device__ __forceinline__ bool inside(int i, int dy, int dx) const {
    return unsigned(y0[i] + dy) < unsigned(g.Hs) && unsigned(x0[i] + dx) < unsigned(g.Ws);
  }
  __device__ __forceinline__ void load(unsigned char* tile, int kt) {
    const T* src = static_cast<const T*>(g.src);
    const int k0 = kBase + kt * Elem<T>::BK + col * Elem<T>::Vec;
    if constexpr (Vec) {
      int dy = 0, dx = 0;
      int64_t off = 0;
      const bool kOk = k0 < g.K;
      if (kOk) tap(k0, dy, dx, off);
#pragma unroll
      for (int i = 0; i < ChunksPerThread; i++) {
        const bool ok = kOk && inside(i, dy, dx);
        cpAsync16(tile + kOff<T>((threadIdx.x >> 2) + i * RowStep, col), ok ? src + base[i] + off : src, ok);
      }
    } else {
      Chunk<T> ch[ChunksPerThread];
#pragma unroll
      for (int i = 0; i < ChunksPerThread; i++) ch[i].zero();
      for (int e = 0; e < Elem<T>::Vec; e++) {
        const int k = k0 + e;
        if (k >= g.K) break;
        int dy, dx;
        int64_t off;
        tap(k, dy, dx, off);
#pragma unroll
        for (int i = 0; i < ChunksPerThread; i++)
          if (inside(i, dy, dx)) ch[i].v[e] = src[base[i] + off];
      }
#pragma unroll
      for (int i = 0; i < ChunksPerThread; i++) ch[i].storeTo(tile + kOff<T>((threadIdx.x >> 2) + i * RowStep, col));
    }
  }
};

// One 16-byte chunk of a dense row-major matrix s[rows][cols] at row r, columns c0 … c0 + Vec − 1,
// zero outside it: a cp.async, or element by element (the scalar gather) where rows are not whole
// 16-byte chunks.
template <class T, bool Vec>
__device__ __forceinline__ void loadDenseChunk(unsigned char* dst, const T* s, int64_t r, int64_t rows, int c0, int cols) {
  if constexpr (Vec) {
    const bool ok = r < rows && c0 < cols;
    cpAsync16(dst, ok ? s + r * cols + c0 : s, ok);
  } else {
    Chunk<T> ch;
    ch.zero();
    if (r < rows)
      for (int e = 0; e < Elem<T>::Vec; e++)
        if (c0 + e < cols) ch.v[e] = s[r * cols + c0 + e];
    ch.storeTo(dst);
  }
}

// K-major operand stored densely: element (row, k) = src[row·cols + k] (the forward pass's weights
// [Co, KH·KW·Ci], the input gradient's phase weights, matmul's K-contiguous operands).
template <class T, int Rows, int Threads, bool Vec>
struct DenseRows {
  static constexpr int ChunksPerThread = Rows * 4 / Threads, RowStep = Threads / 4;
  const void* src;
  int rows, cols;  // cols = K
  int col, kBase, row0;
  __device__ __forceinline__ void begin(int tileRow0, int kBegin, int tid) {
    col = tid & 3;
    kBase = kBegin;
    row0 = tileRow0 + (tid >> 2);
  }
  __device__ __forceinline__ void load(unsigned char* tile, int kt) {
    const int k0 = kBase + kt * Elem<T>::BK + col * Elem<T>::Vec;
#pragma unroll
    for (int i = 0; i < ChunksPerThread; i++)
      loadDenseChunk<T, Vec>(tile + kOff<T>((threadIdx.x >> 2) + i * RowStep, col), static_cast<const T*>(src), row0 + i * RowStep, rows, k0, cols);
  }
};

// M/N-major operands: the tile is BK rows (k) × Cols columns; a thread owns chunk column `cc` and
// rows r0, r0 + RowStep, … . ChunksPerRow = Cols·size/16.
template <class T, int Cols, int Threads>
struct MnMap {
  static constexpr int ChunksPerRow = Cols * int(sizeof(T)) / 16;
  static constexpr int RowStep = Threads / ChunksPerRow, RowsPerThread = Elem<T>::BK / RowStep;
  static_assert(Threads % ChunksPerRow == 0 && Elem<T>::BK % RowStep == 0, "whole rows per thread");
};

// M/N-major operand stored densely: element (k, col) = src[k·cols + col] (the weight gradient's A,
// dy[p, co] with k = pixel p; matmul's M/N-contiguous operands).
template <class T, int Cols, int Threads, bool Vec>
struct PixelRows {
  using Map = MnMap<T, Cols, Threads>;
  const void* src;
  int rows, cols;  // rows = K
  int cc, kBase, c0, r0;
  __device__ __forceinline__ void begin(int tileCol0, int kBegin, int tid) {
    cc = tid % Map::ChunksPerRow;
    r0 = tid / Map::ChunksPerRow;
    kBase = kBegin;
    c0 = tileCol0 + cc * Elem<T>::Vec;
  }
  __device__ __forceinline__ void load(unsigned char* tile, int kt) {
#pragma unroll
    for (int i = 0; i < Map::RowsPerThread; i++) {
      const int r = r0 + i * Map::RowStep;
      loadDenseChunk<T, Vec>(tile + mnOff<T, Cols>(r, cc), static_cast<const T*>(src), kBase + kt * Elem<T>::BK + r, rows, c0, cols);
    }
  }
};

// Weight gradient's B: rows k = output pixel p = (n, ho, wo), columns (kh, kw, ci):
// x[n, ho·sh − ph + kh, wo·sw − pw + kw, ci], zero outside.
struct PixelPatchesGeom {
  const void* x;
  int H, W, Ci, Ho, Wo, sh, sw, ph, pw, Kp, pEnd;
  FastDiv divWo, divHo, divCi, divKW;
};
template <class T, int Cols, int Threads, bool Vec>
struct PixelPatches {
  using Map = MnMap<T, Cols, Threads>;
  static constexpr int E = Vec ? 1 : Elem<T>::Vec;  // taps tracked per chunk: one, or one per element
  PixelPatchesGeom g;
  int cc, kBase, r0;
  int kh[E], kw[E];
  int64_t off[E];
  bool nOk[E];
  __device__ __forceinline__ void begin(int tileCol0, int kBegin, int tid) {
    cc = tid % Map::ChunksPerRow;
    r0 = tid / Map::ChunksPerRow;
    kBase = kBegin;
    for (int e = 0; e < E; e++) {
      const int n = tileCol0 + cc * Elem<T>::Vec + e;
      nOk[e] = n < g.Kp;
      const uint32_t t = g.divCi.div(uint32_t(nOk[e] ? n : 0)), ci = g.divCi.mod(uint32_t(nOk[e] ? n : 0), t);
      const uint32_t a = g.divKW.div(t), b = g.divKW.mod(t, a);
      kh[e] = int(a);
      kw[e] = int(b);
      off[e] = (int64_t(a) * g.W + b) * g.Ci + ci;
    }
  }
  __device__ __forceinline__ void load(unsigned char* tile, int kt) {
    const T* x = static_cast<const T*>(g.x);
#pragma unroll
    for (int i = 0; i < Map::RowsPerThread; i++) {
      const int r = r0 + i * Map::RowStep, p = kBase + kt * Elem<T>::BK + r;
      unsigned char* dst = tile + mnOff<T, Cols>(r, cc);
      int h0 = -(1 << 28), w0 = 0;
      int64_t base = 0;
      if (p < g.pEnd) {
        const uint32_t q = g.divWo.div(uint32_t(p)), wo = g.divWo.mod(uint32_t(p), q);
        const uint32_t n = g.divHo.div(q), ho = g.divHo.mod(q, n);
        h0 = int(ho) * g.sh - g.ph;
        w0 = int(wo) * g.sw - g.pw;
        base = ((int64_t(n) * g.H + h0) * g.W + w0) * g.Ci;
      }
      if constexpr (Vec) {
        const bool ok = nOk[0] && unsigned(h0 + kh[0]) < unsigned(g.H) && unsigned(w0 + kw[0]) < unsigned(g.W);
        cpAsync16(dst, ok ? x + base + off[0] : x, ok);
      } else {
        Chunk<T> ch;
        ch.zero();
        for (int e = 0; e < E; e++)
          if (nOk[e] && unsigned(h0 + kh[e]) < unsigned(g.H) && unsigned(w0 + kw[e]) < unsigned(g.W)) ch.v[e] = x[base + off[e]];
        ch.storeTo(dst);
      }
    }
  }
};

// --- Epilogues: C(m, n) for the pair (n, n + 1) of one thread's accumulator row. ---

// out[row(m)·N + n] in TOut; row(m) maps a phase's pixel m = (img, i, i') to the input pixel
// (img, fh + sh·i, fw + sw·i') of dx[·,H,W,·] (identity for the forward pass: U = 0).
template <class TOut>
struct StoreRows {
  TOut* out;
  int M, N;
  int U, fh, sh, H, fw, sw, W;  // U = 0: row(m) = m
  FastDiv divU, divV;
  __device__ __forceinline__ int64_t row(int m) const {
    if (U == 0) return m;
    const uint32_t q = divV.div(uint32_t(m)), v = divV.mod(uint32_t(m), q);
    const uint32_t img = divU.div(q), u = divU.mod(q, img);
    return (int64_t(img) * H + fh + sh * int(u)) * W + fw + sw * int(v);
  }
  __device__ __forceinline__ void store(int m, int n, float v0, float v1, int /*split*/) const {
    if (m >= M || n >= N) return;
    TOut* p = out + row(m) * N + n;
    if (n + 1 < N) {
      if constexpr (sizeof(TOut) == 2) {
        if ((N & 1) == 0) {
          *reinterpret_cast<uint32_t*>(p) = pack2<TOut>(v0, v1);
          return;
        }
      } else if ((N & 1) == 0) {
        *reinterpret_cast<float2*>(p) = make_float2(v0, v1);
        return;
      }
      p[1] = fromFloat<TOut>(v1);
    }
    p[0] = fromFloat<TOut>(v0);
  }
};

// fp32 partials of split s: ws[s·M·N + m·N + n].
struct StorePartial {
  float* ws;
  int M, N;
  __device__ __forceinline__ void store(int m, int n, float v0, float v1, int split) const {
    if (m >= M || n >= N) return;
    float* p = ws + (int64_t(split) * M + m) * N + n;
    p[0] = v0;
    if (n + 1 < N) p[1] = v1;
  }
};

// Both main loops: k-tile kt of the CTA's range into its stage slot (slot kt mod Stages), A then B,
// closing the thread's cp.async group (an empty group past the range keeps the wait counts simple).
template <class S, int Stages, class LA, class LB>
__device__ __forceinline__ void loadStage(LA& la, LB& lb, unsigned char* smem, int kt, int nk) {
  if (kt < nk) {
    unsigned char* slot = smem + (kt % Stages) * S::Stage;
    la.load(slot, kt);
    lb.load(slot + S::A, kt);
  }
  cpAsyncCommit();
}

// --- The kernel. grid.x: M tiles, grid.y: N tiles, grid.z: K splits of kTilesPerSplit k-tiles. ---
template <class T, class Cfg, bool AKMajor, bool BKMajor, class LA, class LB, class Ep>
__global__ void __launch_bounds__(Cfg::Threads) tcGemmKernel(LA la, LB lb, Ep ep, int kTiles, int kTilesPerSplit) {
// Compiled for sm_80 and newer only (older devices run wmmaGemmKernel): keeps the build of the other
// architectures short.
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800 || defined(IFA_CUDA_EMULATOR)
  IFA_DYNAMIC_SHARED(smem);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp % Cfg::WarpsM, wn = warp / Cfg::WarpsM;
  const int m0 = int(blockIdx.x) * Cfg::BM, n0 = int(blockIdx.y) * Cfg::BN, split = int(blockIdx.z);
  const int kt0 = split * kTilesPerSplit;
  const int nk = min(kTiles - kt0, kTilesPerSplit);
  constexpr int BK = Elem<T>::BK;
  using S = Smem<T, Cfg, AKMajor, BKMajor>;
  la.begin(m0, kt0 * BK, tid);
  lb.begin(n0, kt0 * BK, tid);

  float acc[Cfg::MT][Cfg::NT][4];
#pragma unroll
  for (int i = 0; i < Cfg::MT; i++)
#pragma unroll
    for (int j = 0; j < Cfg::NT; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) acc[i][j][e] = 0.f;

#pragma unroll
  for (int s = 0; s < Cfg::Stages - 1; s++) loadStage<S, Cfg::Stages>(la, lb, smem, s, nk);
  // Fragments are double-buffered: those of the next k-step are read from shared memory while the
  // mma of this one run. At a tile's last k-step, the barrier that frees its slot comes first, then
  // the next tile's global loads are issued into that slot and its first fragments read.
  constexpr int KSteps = BK / Elem<T>::KStep;
  uint32_t a[2][Cfg::MT][4], b[2][Cfg::NT][2];
  auto loadFrags = [&](int buf, const unsigned char* As, int ks) {
    const unsigned char* Bs = As + S::A;
#pragma unroll
    for (int i = 0; i < Cfg::MT; i++) loadA<T, AKMajor, Cfg::BM>(a[buf][i], As, wm * Cfg::WTM + i * 16, ks, lane);
#pragma unroll
    for (int j = 0; j < Cfg::NT; j += 2) {
      uint32_t bb[2][2];
      loadB<T, BKMajor, Cfg::BN>(bb, Bs, wn * Cfg::WTN + j * 8, ks, lane);
      b[buf][j][0] = bb[0][0];
      b[buf][j][1] = bb[0][1];
      b[buf][j + 1][0] = bb[1][0];
      b[buf][j + 1][1] = bb[1][1];
    }
  };
  if (nk > 0) {
    cpAsyncWait<Cfg::Stages - 2>();
    __syncthreads();
    loadFrags(0, smem, 0);
  }
  for (int kt = 0; kt < nk; kt++) {
    const unsigned char* As = smem + (kt % Cfg::Stages) * S::Stage;
#pragma unroll
    for (int ks = 0; ks < KSteps; ks++) {
      const int cur = ks & 1;  // KSteps is even, so k-step 0 of every tile is in buffer 0
      if (ks == KSteps - 1) {
        // Committed so far: Stages − 1 + kt groups (tile i in group i); tile kt + 1 must be complete.
        cpAsyncWait<Cfg::Stages - 3>();
        __syncthreads();  // tile kt + 1 has landed; every warp is done reading tile kt − 1's slot
        loadStage<S, Cfg::Stages>(la, lb, smem, kt + Cfg::Stages - 1, nk);
        if (kt + 1 < nk) loadFrags(cur ^ 1, smem + ((kt + 1) % Cfg::Stages) * S::Stage, 0);
      } else {
        loadFrags(cur ^ 1, As, ks + 1);
      }
#pragma unroll
      for (int i = 0; i < Cfg::MT; i++)
#pragma unroll
        for (int j = 0; j < Cfg::NT; j++) mmaT<T>(acc[i][j], a[cur][i], b[cur][j]);
    }
  }
  cpAsyncWait<0>();

  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int i = 0; i < Cfg::MT; i++)
#pragma unroll
    for (int j = 0; j < Cfg::NT; j++) {
      const int m = m0 + wm * Cfg::WTM + i * 16 + g, n = n0 + wn * Cfg::WTN + j * 8 + 2 * t;
      ep.store(m, n, acc[i][j][0], acc[i][j][1], split);
      ep.store(m + 8, n, acc[i][j][2], acc[i][j][3], split);
    }
#endif
}

// sm_70 and sm_75 (V100, T4): fp16 only, on WMMA 16×16×16 with fp32 accumulators, from the same
// loaders writing padded tiles (T = f16w), then through shared memory to the same epilogues (a WMMA
// accumulator's layout is opaque). cp.async is a synchronous copy there (mma.cuh).
template <class Cfg, bool AKMajor, bool BKMajor, class LA, class LB, class Ep>
__global__ void __launch_bounds__(Cfg::Threads) wmmaGemmKernel(LA la, LB lb, Ep ep, int kTiles, int kTilesPerSplit) {
#if !defined(__CUDA_ARCH__) || (__CUDA_ARCH__ >= 700 && __CUDA_ARCH__ < 800) || defined(IFA_CUDA_EMULATOR)
  using T = f16w;
  using namespace nvcuda;
  using S = Smem<T, Cfg, AKMajor, BKMajor>;
  using LayoutA = typename std::conditional<AKMajor, wmma::row_major, wmma::col_major>::type;
  using LayoutB = typename std::conditional<BKMajor, wmma::col_major, wmma::row_major>::type;
  constexpr int FM = Cfg::WTM / 16, FN = Cfg::WTN / 16, BK = Elem<T>::BK;
  constexpr int ldA = AKMajor ? 40 : Cfg::BM + 8, ldB = BKMajor ? 40 : Cfg::BN + 8;
  IFA_DYNAMIC_SHARED(smem);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp % Cfg::WarpsM, wn = warp / Cfg::WarpsM;
  const int m0 = int(blockIdx.x) * Cfg::BM, n0 = int(blockIdx.y) * Cfg::BN, split = int(blockIdx.z);
  const int kt0 = split * kTilesPerSplit;
  const int nk = min(kTiles - kt0, kTilesPerSplit);
  la.begin(m0, kt0 * BK, tid);
  lb.begin(n0, kt0 * BK, tid);
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[FM][FN];
#pragma unroll
  for (int i = 0; i < FM; i++)
#pragma unroll
    for (int j = 0; j < FN; j++) wmma::fill_fragment(acc[i][j], 0.f);
#pragma unroll
  for (int s = 0; s < Cfg::Stages - 1; s++) loadStage<S, Cfg::Stages>(la, lb, smem, s, nk);
  for (int kt = 0; kt < nk; kt++) {
    cpAsyncWait<Cfg::Stages - 2>();
    __syncthreads();
    loadStage<S, Cfg::Stages>(la, lb, smem, kt + Cfg::Stages - 1, nk);
    const unsigned char* As = smem + (kt % Cfg::Stages) * S::Stage;
    const unsigned char* Bs = As + S::A;
#pragma unroll
    for (int ks = 0; ks < BK / 16; ks++) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, WmmaHalf, LayoutA> fa[FM];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, WmmaHalf, LayoutB> fb[FN];
#pragma unroll
      for (int i = 0; i < FM; i++) {
        const int m = wm * Cfg::WTM + i * 16;
        const unsigned char* p = AKMajor ? As + m * 80 + ks * 32 : As + ks * 16 * (Cfg::BM * 2 + 16) + m * 2;
        wmma::load_matrix_sync(fa[i], reinterpret_cast<const WmmaHalf*>(p), ldA);
      }
#pragma unroll
      for (int j = 0; j < FN; j++) {
        const int n = wn * Cfg::WTN + j * 16;
        const unsigned char* p = BKMajor ? Bs + n * 80 + ks * 32 : Bs + ks * 16 * (Cfg::BN * 2 + 16) + n * 2;
        wmma::load_matrix_sync(fb[j], reinterpret_cast<const WmmaHalf*>(p), ldB);
      }
#pragma unroll
      for (int i = 0; i < FM; i++)
#pragma unroll
        for (int j = 0; j < FN; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
  }
  cpAsyncWait<0>();
  __syncthreads();
  // Each warp stages one 16×16 accumulator at a time in its own 1 KiB of shared memory.
  float* stage = reinterpret_cast<float*>(smem) + warp * 256;
  const int r = lane >> 1, c0 = (lane & 1) * 8;
#pragma unroll
  for (int i = 0; i < FM; i++)
#pragma unroll
    for (int j = 0; j < FN; j++) {
      wmma::store_matrix_sync(stage, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      const int m = m0 + wm * Cfg::WTM + i * 16 + r, n = n0 + wn * Cfg::WTN + j * 16 + c0;
#pragma unroll
      for (int c = 0; c < 8; c += 2) ep.store(m, n + c, stage[r * 16 + c0 + c], stage[r * 16 + c0 + c + 1], split);
      __syncwarp();
    }
#endif
}

// The input gradient's weights, K-major per stride phase: for each phase (ρh, ρw) in row-major order,
// [Ci][nkh][nkw][Co] with element w[co, ρh + sh·j, ρw + sw·j', ci] (nkh = ⌈(KH − ρh)/sh⌉ taps of
// the kernel's rows reach that phase). A phase's block starts at (Σ_{a<ρh} nkh(a)·KW + nkh(ρh)·
// Σ_{b<ρw} nkw(b))·Ci·Co. One pass over w (numel(w) elements read and written).
template <class T>
__global__ void phaseWeightsKernel(const T* w, T* wT, int Co, int KH, int KW, int Ci, int sh, int sw) {
  const int64_t total = int64_t(Co) * KH * KW * Ci;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int ci = int(i % Ci), kw = int(i / Ci % KW), kh = int(i / Ci / KW % KH), co = int(i / (int64_t(Ci) * KW * KH));
    const int rh = kh % sh, rw = kw % sw, nkh = (KH - rh + sh - 1) / sh, nkw = (KW - rw + sw - 1) / sw;
    int cumH = 0, cumW = 0;
    for (int a = 0; a < rh; a++) cumH += (KH - a + sh - 1) / sh;
    for (int b = 0; b < rw; b++) cumW += (KW - b + sw - 1) / sw;
    const int64_t base = (int64_t(cumH) * KW + int64_t(nkh) * cumW) * Ci * Co;
    wT[base + ((int64_t(ci) * nkh + kh / sh) * nkw + kw / sw) * Co + co] = w[i];
  }
}

// out[i] = Σ_s ws[s·n + i] in split order (deterministic), as TOut.
template <class TOut>
__global__ void splitSumKernel(const float* ws, TOut* out, int64_t n, int splits) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float s = 0.f;
    for (int k = 0; k < splits; k++) s += ws[int64_t(k) * n + i];
    out[i] = fromFloat<TOut>(s);
  }
}

}  // namespace tc
}  // namespace cuda
}  // namespace ifa
