// Host side of the tensor-core convolutions (conv_tc.cuh): the tile configurations, the choice of
// one per (pass, dtype, shape) — a plan — and the launches. Shared by conv.cu (the addon's kernels) and
// bench/gpu/conv-tc.cu (the GPU experiment that times every plan), so both run the same code.
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "conv_tc.cuh"

namespace ifa {
namespace cuda {
namespace tc {

struct ConvGeom {
  int n, h, w, ci, co, kh, kw, sh, sw, ph, pw, ho, wo;
};

enum class Pass { Forward = 0, InputGrad = 1, WeightGrad = 2 };
inline const char* passName(Pass p) { return p == Pass::Forward ? "forward" : p == Pass::InputGrad ? "inputGrad" : "weightGrad"; }

// The tile configurations, by id. Warp tiles are 64×32 or 32×32 (or 64×64 for the largest), enough
// accumulators per warp to hide the mma latency without spilling.
struct TileInfo {
  int bm, bn, warpsM, warpsN, stages;
};
constexpr TileInfo kTiles[] = {
    {128, 128, 2, 4, 4},  // 0: 256 threads, 64 KiB
    {128, 64, 2, 2, 4},   // 1: 128 threads, 48 KiB
    {64, 64, 2, 2, 4},    // 2: 128 threads, 32 KiB
    {256, 128, 4, 2, 3},  // 3: 256 threads, 72 KiB
    {128, 32, 4, 1, 4},   // 4: 128 threads, 40 KiB (narrow N: the stem's 1–3 input channels)
    {64, 128, 2, 2, 4},   // 5: 128 threads, 48 KiB (the weight gradient of 64-channel layers)
    {128, 128, 2, 2, 4},  // 6: 128 threads, 64 KiB (64×64 warp tiles)
    {128, 64, 2, 2, 3},   // 7: 128 threads, 36 KiB
};
constexpr int kTileCount = int(sizeof(kTiles) / sizeof(kTiles[0]));
inline int tileThreads(int t) { return 32 * kTiles[t].warpsM * kTiles[t].warpsN; }
inline int tileSmem(int t) { return kTiles[t].stages * (kTiles[t].bm + kTiles[t].bn) * 64; }

// The vector loaders need each operand's contiguous channel run in whole 16-byte chunks: bit 0 for
// A, bit 1 for B. Forward: A = x (ci), B = w rows (KH·KW·ci); input gradient: A = dy (co), B = the
// phase weights (taps·co); weight gradient: A = dy (co), B = x (ci).
inline int vectorOperands(Pass p, DType dt, const ConvGeom& g) {
  const int vec = 16 / int(dtypeSize(dt));
  const bool ci = g.ci % vec == 0, co = g.co % vec == 0, k = (g.kh * g.kw * g.ci) % vec == 0;
  if (p == Pass::Forward) return (ci ? 1 : 0) | (k ? 2 : 0);
  if (p == Pass::InputGrad) return co ? 3 : 0;
  return (co ? 1 : 0) | (ci ? 2 : 0);
}

struct Plan {
  Pass pass = Pass::Forward;
  DType dtype = DType::Float32;
  int tile = 0, splits = 1;
  int vec = 3;         // vectorOperands
  bool wmma = false;   // the sm_70 kernels (fp16 only)
  size_t wsBytes = 0;  // scratch: the input gradient's phase weights, the weight gradient's fp32 partials
  std::string describe() const {
    const TileInfo& t = kTiles[tile];
    const char* gather = vec == 3 ? "" : vec == 0 ? " scalar-gather" : vec == 1 ? " scalar-gather B" : " scalar-gather A";
    return std::string(passName(pass)) + " " + (dtype == DType::Float32 ? "tf32" : dtypeName(dtype)) + (wmma ? " wmma " : " tc ") + std::to_string(t.bm) + "x" +
           std::to_string(t.bn) + " warps " + std::to_string(t.warpsM) + "x" + std::to_string(t.warpsN) + " stages " + std::to_string(t.stages) +
           gather + (splits > 1 ? " split-k " + std::to_string(splits) : "");
  }
};

// The GEMM of a pass: M × N outputs over K (the input gradient: of its largest phase).
struct GemmDims {
  int64_t M, N, K;
};
inline GemmDims gemmDims(Pass p, const ConvGeom& g) {
  if (p == Pass::Forward) return {int64_t(g.n) * g.ho * g.wo, g.co, int64_t(g.kh) * g.kw * g.ci};
  if (p == Pass::WeightGrad) return {g.co, int64_t(g.kh) * g.kw * g.ci, int64_t(g.n) * g.ho * g.wo};
  const int64_t hr = (g.h + g.sh - 1) / g.sh, wr = (g.w + g.sw - 1) / g.sw;
  const int64_t nkh = (g.kh + g.sh - 1) / g.sh, nkw = (g.kw + g.sw - 1) / g.sw;
  return {int64_t(g.n) * hr * wr, g.ci, nkh * nkw * g.co};
}

inline int kTileCountOf(DType dt, int64_t K) {
  const int bk = 64 / int(dtypeSize(dt));
  return int((K + bk - 1) / bk);
}

inline int64_t tileCount(const GemmDims& d, int tile) {
  return ((d.M + kTiles[tile].bm - 1) / kTiles[tile].bm) * ((d.N + kTiles[tile].bn - 1) / kTiles[tile].bn);
}

inline size_t wsBytesFor(const Plan& p, const ConvGeom& g) {
  if (p.pass == Pass::InputGrad) return (size_t(g.co) * g.kh * g.kw * g.ci * dtypeSize(p.dtype) + 15) / 16 * 16;
  if (p.pass == Pass::WeightGrad && p.splits > 1) return size_t(p.splits) * size_t(g.co) * size_t(g.kh) * g.kw * g.ci * 4;
  return 0;
}

// The plan for a pass, from a rule fitted to every tile and split of bench/gpu/conv-tc.cu on an H200
// (bench/RESULTS.md): the forward pass and input gradient never gained from split-K, so they run one
// split on 128×128 tiles where the output has ≥ 128 channels and ≥ 64 Ki pixels, on 128×32 where it
// has ≤ 32 (the input gradient of the 1- or 3-channel stem), else on 128×64; the weight gradient (M = Co, N = KH·KW·Ci, K =
// pixels) runs on 64×64 tiles for Co ≤ 64, else 128×64, split over pixels into enough CTAs for about
// eight per SM (each split ≥ 8 k-tiles). The same shape on the same device always gets the same plan,
// so results are reproducible bit for bit. Below sm_80 (arch = the device's and the PTX's, lower) only
// fp16 runs on tensor cores, on the WMMA kernels: one tile per pass and operand kind.
inline Plan choosePlan(Pass p, DType dt, const ConvGeom& g, int sms, int arch = 90) {
  Plan pl;
  pl.pass = p;
  pl.dtype = dt;
  pl.vec = vectorOperands(p, dt, g);
  pl.wmma = arch < 80;
  const GemmDims d = gemmDims(p, g);
  if (pl.wmma && p != Pass::WeightGrad) {
    pl.tile = p == Pass::InputGrad && (pl.vec != 3 || d.N <= 32) ? 4 : 1;
  } else if (p == Pass::WeightGrad) {
    pl.tile = pl.vec != 3 ? 5 : d.M <= 64 || pl.wmma ? 2 : 1;
    const int64_t tiles = tileCount(d, pl.tile), target = int64_t(8) * std::max(1, sms);
    const int kt = kTileCountOf(dt, d.K);
    int s = 1;
    while (s < 256 && tiles * s * 2 <= target * 3 / 2 && kt / (s * 2) >= 8) s *= 2;
    pl.splits = s;
  } else if (pl.vec != 3) {
    pl.tile = p == Pass::Forward ? 1 : 4;
  } else {
    pl.tile = p == Pass::InputGrad && d.N <= 32 ? 4 : d.N >= 128 && d.M >= 65536 ? 0 : 1;
  }
  pl.wsBytes = wsBytesFor(pl, g);
  return pl;
}

// The tiles a pass can run (what runConv instantiates), for the experiment that times them all.
inline std::vector<int> tilesFor(Pass p, int vec, bool wmma = false) {
  if (vec != 3) return {p == Pass::Forward ? 1 : p == Pass::InputGrad ? 4 : 5};
  if (wmma) {
    if (p == Pass::InputGrad) return {1, 4};
    return {p == Pass::Forward ? 1 : 2};
  }
  if (p == Pass::WeightGrad) return {1, 2, 5};
  if (p == Pass::InputGrad) return {0, 1, 4};
  return {0, 1};
}

// ---------------------------------------------------------------------------------------------
// Launches. Each returns the first launch error (cudaSuccess when all launched).

template <class T, class Cfg, bool AK, bool BK, class LA, class LB, class Ep>
cudaError_t launchTile(const LA& la, const LB& lb, const Ep& ep, int64_t M, int64_t N, int kTiles, int splits, cudaStream_t st) {
  constexpr int smemBytes = Smem<T, Cfg, AK, BK>::Total;
  const int perSplit = splits > 0 ? (kTiles + splits - 1) / splits : kTiles;
  dim3 grid(unsigned((M + Cfg::BM - 1) / Cfg::BM), unsigned((N + Cfg::BN - 1) / Cfg::BN), unsigned(splits));
  if (grid.x == 0 || grid.y == 0) return cudaSuccess;
  if constexpr (Elem<T>::Padded) {
    static const cudaError_t attr = cudaFuncSetAttribute(wmmaGemmKernel<Cfg, AK, BK, LA, LB, Ep>, cudaFuncAttributeMaxDynamicSharedMemorySize, smemBytes);
    if (attr != cudaSuccess) return attr;
    wmmaGemmKernel<Cfg, AK, BK><<<grid, Cfg::Threads, smemBytes, st>>>(la, lb, ep, kTiles, perSplit);
  } else {
    static const cudaError_t attr = cudaFuncSetAttribute(tcGemmKernel<T, Cfg, AK, BK, LA, LB, Ep>, cudaFuncAttributeMaxDynamicSharedMemorySize, smemBytes);
    if (attr != cudaSuccess) return attr;
    tcGemmKernel<T, Cfg, AK, BK><<<grid, Cfg::Threads, smemBytes, st>>>(la, lb, ep, kTiles, perSplit);
  }
  return cudaGetLastError();
}

template <class TOut>
cudaError_t launchSplitSum(const float* ws, TOut* out, int64_t n, int splits, cudaStream_t st) {
  const int threads = 256;
  const unsigned blocks = unsigned(std::min<int64_t>((n + threads - 1) / threads, 65535LL * 8));
  if (n == 0) return cudaSuccess;
  splitSumKernel<TOut><<<blocks, threads, 0, st>>>(ws, out, n, splits);
  return cudaGetLastError();
}

template <class T, class Cfg, bool VecA, bool VecB>
cudaError_t forwardWith(const ConvGeom& g, const T* x, const T* w, T* y, cudaStream_t st) {
  const int M = g.n * g.ho * g.wo, N = g.co, K = g.kh * g.kw * g.ci;
  PatchRows<T, Cfg::BM, Cfg::Threads, 1, VecA> la;
  la.g = PatchRowsGeom{x, g.h, g.w, g.ci, g.sh, -g.ph, g.sw, -g.pw, g.kw, M, K, FastDiv(g.ho), FastDiv(g.wo), FastDiv(g.ci), FastDiv(g.kw)};
  DenseRows<T, Cfg::BN, Cfg::Threads, VecB> lb;
  lb.src = w;
  lb.rows = N;
  lb.cols = K;
  StoreRows<T> ep{y, M, N, 0, 0, 1, 0, 0, 1, 0, FastDiv(1), FastDiv(1)};
  return launchTile<T, Cfg, true, true>(la, lb, ep, M, N, kTileCountOf(DTypeOf<T>::value, K), 1, st);
}

// ws holds the phase weights (phaseWeightsKernel): numel(w) elements of T.
template <class T, class Cfg, bool Vec>
cudaError_t inputGradWith(const ConvGeom& g, const T* dy, const T* w, T* dx, void* ws, cudaStream_t st) {
  T* wT = static_cast<T*>(ws);
  const int64_t nw = int64_t(g.co) * g.kh * g.kw * g.ci;
  phaseWeightsKernel<T><<<unsigned(std::min<int64_t>((nw + 255) / 256, 4096)), 256, 0, st>>>(w, wT, g.co, g.kh, g.kw, g.ci, g.sh, g.sw);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  // One dense GEMM per stride phase (ρh, ρw): input rows h with (h + ph) mod sh = ρh meet the taps
  // kh = ρh + sh·j, at output row ho = (h + ph) / sh − j.
  int64_t phaseOffset = 0;
  for (int rh = 0; rh < g.sh; rh++)
    for (int rw = 0; rw < g.sw; rw++) {
      const int nkh = rh < g.kh ? (g.kh - rh + g.sh - 1) / g.sh : 0, nkw = rw < g.kw ? (g.kw - rw + g.sw - 1) / g.sw : 0;
      const int K = nkh * nkw * g.co;
      const T* phaseW = wT + phaseOffset;
      phaseOffset += int64_t(K) * g.ci;
      const int fh = ((rh - g.ph) % g.sh + g.sh) % g.sh, fw = ((rw - g.pw) % g.sw + g.sw) % g.sw;
      const int hr = fh < g.h ? (g.h - fh + g.sh - 1) / g.sh : 0, wr = fw < g.w ? (g.w - fw + g.sw - 1) / g.sw : 0;
      if (hr == 0 || wr == 0) continue;
      const int M = g.n * hr * wr, N = g.ci;
      PatchRows<T, Cfg::BM, Cfg::Threads, -1, Vec> la;
      la.g = PatchRowsGeom{dy, g.ho, g.wo, g.co, 1, (fh + g.ph) / g.sh, 1, (fw + g.pw) / g.sw, std::max(nkw, 1), M, K, FastDiv(hr), FastDiv(wr),
                           FastDiv(g.co), FastDiv(std::max(nkw, 1))};
      DenseRows<T, Cfg::BN, Cfg::Threads, Vec> lb;
      lb.src = phaseW;
      lb.rows = N;
      lb.cols = K;
      const bool identity = g.sh == 1 && g.sw == 1;
      StoreRows<T> ep{dx, M, N, identity ? 0 : hr, fh, g.sh, g.h, fw, g.sw, g.w, FastDiv(hr), FastDiv(wr)};
      // A phase no tap reaches (K = 0) still runs: it writes its pixels' zeros.
      e = launchTile<T, Cfg, true, true>(la, lb, ep, M, N, kTileCountOf(DTypeOf<T>::value, K), 1, st);
      if (e != cudaSuccess) return e;
    }
  return cudaSuccess;
}

template <class T, class Cfg, bool VecA, bool VecB>
cudaError_t weightGradWith(const ConvGeom& g, const T* x, const T* dy, float* dw, int splits, float* ws, cudaStream_t st) {
  const int M = g.co, N = g.kh * g.kw * g.ci, P = g.n * g.ho * g.wo;
  PixelRows<T, Cfg::BM, Cfg::Threads, VecA> la;
  la.src = dy;
  la.rows = P;
  la.cols = g.co;
  PixelPatches<T, Cfg::BN, Cfg::Threads, VecB> lb;
  lb.g = PixelPatchesGeom{x, g.h, g.w, g.ci, g.ho, g.wo, g.sh, g.sw, g.ph, g.pw, N, P, FastDiv(g.wo), FastDiv(g.ho), FastDiv(g.ci), FastDiv(g.kw)};
  const int kt = kTileCountOf(DTypeOf<T>::value, P);
  if (splits <= 1) {
    StoreRows<float> ep{dw, M, N, 0, 0, 1, 0, 0, 1, 0, FastDiv(1), FastDiv(1)};
    return launchTile<T, Cfg, false, false>(la, lb, ep, M, N, kt, 1, st);
  }
  cudaError_t e = launchTile<T, Cfg, false, false>(la, lb, StorePartial{ws, M, N}, M, N, kt, splits, st);
  return e != cudaSuccess ? e : launchSplitSum<float>(ws, dw, int64_t(M) * N, splits, st);
}

template <int Id>
using TileOf = Tile<kTiles[Id].bm, kTiles[Id].bn, kTiles[Id].warpsM, kTiles[Id].warpsN, kTiles[Id].stages>;

// The plan's pass on its tile. a, b are the pass's inputs (forward: x, w; input gradient: dy, w;
// weight gradient: x, dy), out its output (y and dx in T, dw in fp32); ws holds plan.wsBytes.
template <class T>
cudaError_t runConv(const Plan& p, const ConvGeom& g, const void* a, const void* b, void* out, void* ws, cudaStream_t st) {
  const T* A = static_cast<const T*>(a);
  const T* B = static_cast<const T*>(b);
  T* Y = static_cast<T*>(out);
  float* DW = static_cast<float*>(out);
  float* WS = static_cast<float*>(ws);
  if (p.pass == Pass::Forward) {
    if (p.vec != 3) {
      if (p.tile != 1) return cudaErrorInvalidValue;
      return p.vec & 1 ? forwardWith<T, TileOf<1>, true, false>(g, A, B, Y, st) : forwardWith<T, TileOf<1>, false, false>(g, A, B, Y, st);
    }
    switch (p.tile) {
      case 0: return forwardWith<T, TileOf<0>, true, true>(g, A, B, Y, st);
      case 1: return forwardWith<T, TileOf<1>, true, true>(g, A, B, Y, st);
      default: return cudaErrorInvalidValue;
    }
  }
  if (p.pass == Pass::InputGrad) {
    if (p.vec != 3) return p.tile == 4 ? inputGradWith<T, TileOf<4>, false>(g, A, B, Y, ws, st) : cudaErrorInvalidValue;
    switch (p.tile) {
      case 0: return inputGradWith<T, TileOf<0>, true>(g, A, B, Y, ws, st);
      case 1: return inputGradWith<T, TileOf<1>, true>(g, A, B, Y, ws, st);
      case 4: return inputGradWith<T, TileOf<4>, true>(g, A, B, Y, ws, st);
      default: return cudaErrorInvalidValue;
    }
  }
  if (p.vec != 3) {
    if (p.tile != 5) return cudaErrorInvalidValue;
    return p.vec & 1 ? weightGradWith<T, TileOf<5>, true, false>(g, A, B, DW, p.splits, WS, st)
                     : weightGradWith<T, TileOf<5>, false, false>(g, A, B, DW, p.splits, WS, st);
  }
  switch (p.tile) {
    case 1: return weightGradWith<T, TileOf<1>, true, true>(g, A, B, DW, p.splits, WS, st);
    case 2: return weightGradWith<T, TileOf<2>, true, true>(g, A, B, DW, p.splits, WS, st);
    case 5: return weightGradWith<T, TileOf<5>, true, true>(g, A, B, DW, p.splits, WS, st);
    default: return cudaErrorInvalidValue;
  }
}

// The sm_70 WMMA kernels, fp16: forward and input gradient on 128×64 (the narrow input gradient on
// 128×32), the weight gradient on 64×64 (the scalar gathers as on sm_80).
inline cudaError_t runConvWmma(const Plan& p, const ConvGeom& g, const void* a, const void* b, void* out, void* ws, cudaStream_t st) {
  using T = f16w;
  const T* A = static_cast<const T*>(a);
  const T* B = static_cast<const T*>(b);
  T* Y = static_cast<T*>(out);
  float* DW = static_cast<float*>(out);
  if (p.pass == Pass::Forward) {
    if (p.tile != 1) return cudaErrorInvalidValue;
    if (p.vec == 3) return forwardWith<T, TileOf<1>, true, true>(g, A, B, Y, st);
    return p.vec & 1 ? forwardWith<T, TileOf<1>, true, false>(g, A, B, Y, st) : forwardWith<T, TileOf<1>, false, false>(g, A, B, Y, st);
  }
  if (p.pass == Pass::InputGrad) {
    if (p.vec != 3) return p.tile == 4 ? inputGradWith<T, TileOf<4>, false>(g, A, B, Y, ws, st) : cudaErrorInvalidValue;
    if (p.tile == 1) return inputGradWith<T, TileOf<1>, true>(g, A, B, Y, ws, st);
    return p.tile == 4 ? inputGradWith<T, TileOf<4>, true>(g, A, B, Y, ws, st) : cudaErrorInvalidValue;
  }
  float* WS = static_cast<float*>(ws);
  if (p.vec == 3) return p.tile == 2 ? weightGradWith<T, TileOf<2>, true, true>(g, A, B, DW, p.splits, WS, st) : cudaErrorInvalidValue;
  if (p.tile != 5) return cudaErrorInvalidValue;
  return p.vec & 1 ? weightGradWith<T, TileOf<5>, true, false>(g, A, B, DW, p.splits, WS, st)
                   : weightGradWith<T, TileOf<5>, false, false>(g, A, B, DW, p.splits, WS, st);
}

// --- matmul on the same core: c[M,N] = op(a)·op(b), a [M,K] (ta: [K,M]), b [K,N] (tb: [N,K]). A
// K-contiguous operand is read by DenseRows, an M/N-contiguous one by PixelRows (rows k of a dense
// matrix); 128×64 tiles, no split. The vector loaders need K (DenseRows) and M or N (PixelRows) in
// whole 16-byte chunks, else the scalar gather.
template <class T, bool TA, bool TB, bool Vec>
cudaError_t matmulWith(int M, int N, int K, const T* a, const T* b, T* c, cudaStream_t st) {
  using Cfg = TileOf<1>;
  using LA = typename std::conditional<TA, PixelRows<T, Cfg::BM, Cfg::Threads, Vec>, DenseRows<T, Cfg::BM, Cfg::Threads, Vec>>::type;
  using LB = typename std::conditional<TB, DenseRows<T, Cfg::BN, Cfg::Threads, Vec>, PixelRows<T, Cfg::BN, Cfg::Threads, Vec>>::type;
  // Both loaders read a dense matrix [rows][cols]: a is [M,K] or (ta) [K,M], b [K,N] or (tb) [N,K].
  LA la;
  LB lb;
  la.src = a;
  la.rows = TA ? K : M;
  la.cols = TA ? M : K;
  lb.src = b;
  lb.rows = TB ? N : K;
  lb.cols = TB ? K : N;
  StoreRows<T> ep{c, M, N, 0, 0, 1, 0, 0, 1, 0, FastDiv(1), FastDiv(1)};
  return launchTile<T, Cfg, !TA, TB>(la, lb, ep, M, N, kTileCountOf(DTypeOf<T>::value, K), 1, st);
}

template <class T>
cudaError_t matmulAs(bool ta, bool tb, int M, int N, int K, const void* a, const void* b, void* c, cudaStream_t st) {
  const int vec = 16 / int(sizeof(T));
  const bool v = K % vec == 0 && (!ta || M % vec == 0) && (tb || N % vec == 0);
  const T* A = static_cast<const T*>(a);
  const T* B = static_cast<const T*>(b);
  T* C = static_cast<T*>(c);
#define IFA_MM(TA, TB) \
  return v ? matmulWith<T, TA, TB, true>(M, N, K, A, B, C, st) : matmulWith<T, TA, TB, false>(M, N, K, A, B, C, st)
  if (!ta && !tb) IFA_MM(false, false);
  if (!ta && tb) IFA_MM(false, true);
  if (ta && !tb) IFA_MM(true, false);
  IFA_MM(true, true);
#undef IFA_MM
}

// dtype float32 runs TF32; wmma: the sm_70 kernels (float16 only).
inline cudaError_t runMatmul(DType dt, bool wmma, bool ta, bool tb, int M, int N, int K, const void* a, const void* b, void* c, cudaStream_t st) {
  if (wmma) return dt == DType::Float16 ? matmulAs<f16w>(ta, tb, M, N, K, a, b, c, st) : cudaErrorInvalidValue;
  if (dt == DType::BFloat16) return matmulAs<bf16>(ta, tb, M, N, K, a, b, c, st);
  if (dt == DType::Float16) return matmulAs<f16>(ta, tb, M, N, K, a, b, c, st);
  return matmulAs<float>(ta, tb, M, N, K, a, b, c, st);
}

inline cudaError_t runConvAny(const Plan& p, const ConvGeom& g, const void* a, const void* b, void* out, void* ws, cudaStream_t st) {
  if (p.wmma) return p.dtype == DType::Float16 ? runConvWmma(p, g, a, b, out, ws, st) : cudaErrorInvalidValue;
  if (p.dtype == DType::BFloat16) return runConv<bf16>(p, g, a, b, out, ws, st);
  if (p.dtype == DType::Float16) return runConv<f16>(p, g, a, b, out, ws, st);
  return runConv<float>(p, g, a, b, out, ws, st);
}

}  // namespace tc
}  // namespace cuda
}  // namespace ifa
