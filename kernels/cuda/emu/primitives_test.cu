// Test only, emulator build only: an independent check of the CUDA emulator's sm_80 warp primitives
// (mma.sync, ldmatrix, cp.async as kernels/cuda/mma.cuh calls them) against the PTX ISA's fragment
// layouts and cp.async semantics, plus the launch-time additions (227 KiB dynamic shared memory,
// cudaFuncSetAttribute) and the misuse the emulator reports. CMake builds it into the executable
// ifa_emu_selftest beside the emulator addon; test/emu-primitives.test.ts runs it in both thread
// orders and counts each check. Prints "ok<TAB>check" or "FAIL<TAB>check<TAB>why" per check; exit 1
// on a failure.
//
// Independence: the layouts below are written from the PTX ISA text ("Matrix Fragments for
// mma.m16n8k16 with floating point type", "... for mma.m16n8k8" (.tf32), "ldmatrix") per element, as
// gathers, while emulator.cc scatters per register; the reference products are a double-precision
// triple loop on the host; tf32 truncation and cvt.rna rounding are recomputed here with frexp/ldexp.
// Only the bf16/f16 bit conversions (native/dtype.h) are shared, as the definition of those formats.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../../native/dtype.h"
#include "mma.cuh"

using namespace ifa::cuda;

namespace {

// ---------------------------------------------------------------------------------------------
// Fragment layouts, PTX ISA (groupID = lane >> 2, threadID_in_group = lane % 4).
struct RC {
  int row, col;
};
// m16n8k16 .f16/.bf16 A, element a_i (i = 0..7; register i / 2, half i % 2, low half first).
__device__ RC fragA16(int lane, int i) {
  const int g = lane >> 2, t = lane % 4;
  const int row = (i < 2 || (i >= 4 && i < 6)) ? g : g + 8;
  const int col = i < 4 ? t * 2 + (i & 1) : t * 2 + (i & 1) + 8;
  return {row, col};
}
// m16n8k16 .f16/.bf16 B (16×8, K×N), element b_i (i = 0..3).
__device__ RC fragB16(int lane, int i) {
  const int g = lane >> 2, t = lane % 4;
  return {i < 2 ? t * 2 + (i & 1) : t * 2 + (i & 1) + 8, g};
}
// m16n8k8 .tf32 A (16×8), element a_i = register i.
__device__ RC fragA8Tf32(int lane, int i) {
  const int g = lane >> 2, t = lane % 4;
  return {(i == 0 || i == 2) ? g : g + 8, i < 2 ? t : t + 4};
}
// m16n8k8 .tf32 B (8×8), element b_i = register i.
__device__ RC fragB8Tf32(int lane, int i) {
  const int g = lane >> 2, t = lane % 4;
  return {i == 0 ? t : t + 4, g};
}
// Accumulator C/D (16×8 fp32) of both shapes, element c_i.
__device__ RC fragC(int lane, int i) {
  const int g = lane >> 2, t = lane % 4;
  return {i < 2 ? g : g + 8, t * 2 + (i & 1)};
}

enum Kind { kBf16 = 0, kF16 = 1, kTf32 = 2 };
const char* kindName(int k) { return k == kBf16 ? "bf16 m16n8k16" : k == kF16 ? "f16 m16n8k16" : "tf32 m16n8k8"; }

// ---------------------------------------------------------------------------------------------
// Kernels (one warp unless said otherwise).

// D = C + A·B (applied `reps` times) with fragments gathered from row-major A [16][K], B [K][8]
// (16-bit elements for bf16/f16, float bits for tf32 — rounded with cvt.rna first when `rna`).
__global__ void mmaDirectKernel(int kind, const uint32_t* A, const uint32_t* B, const float* C, float* D, int reps, int rna) {
  const int lane = threadIdx.x;
  uint32_t a[4] = {0, 0, 0, 0}, b[2] = {0, 0};
  if (kind == kTf32) {
    for (int i = 0; i < 4; i++) {
      const RC p = fragA8Tf32(lane, i);
      a[i] = rna ? toTf32(A[p.row * 8 + p.col]) : A[p.row * 8 + p.col];
    }
    for (int i = 0; i < 2; i++) {
      const RC p = fragB8Tf32(lane, i);
      b[i] = rna ? toTf32(B[p.row * 8 + p.col]) : B[p.row * 8 + p.col];
    }
  } else {
    for (int i = 0; i < 8; i++) {
      const RC p = fragA16(lane, i);
      a[i / 2] |= (A[p.row * 16 + p.col] & 0xffffu) << (16 * (i % 2));
    }
    for (int i = 0; i < 4; i++) {
      const RC p = fragB16(lane, i);
      b[i / 2] |= (B[p.row * 8 + p.col] & 0xffffu) << (16 * (i % 2));
    }
  }
  float d[4];
  for (int i = 0; i < 4; i++) {
    const RC p = fragC(lane, i);
    d[i] = C[p.row * 8 + p.col];
  }
  for (int r = 0; r < reps; r++) {
    if (kind == kBf16) mmaBf16(d, a, b);
    else if (kind == kF16) mmaF16(d, a, b);
    else mmaTf32(d, a, b);
  }
  for (int i = 0; i < 4; i++) {
    const RC p = fragC(lane, i);
    D[p.row * 8 + p.col] = d[i];
  }
}

// ldmatrix: the 8·count rows (16 bytes each) of `count` 8×8 matrices sit at shuffled slots of a
// shared buffer (slot[q] for matrix row q); lanes ≥ 8·count point at a decoy row, which must be ignored.
constexpr int kSlots = 40, kSlotElems = 16;  // 32-byte slot stride: rows need only 16-byte alignment
__global__ void ldmatrixKernel(const uint16_t* rows, const int* slot, int count, int trans, uint32_t* out) {
  __shared__ __align__(16) uint16_t buf[kSlots * kSlotElems];
  const int lane = threadIdx.x;
  for (int i = lane; i < kSlots * kSlotElems; i += 32) buf[i] = rows[i];
  __syncthreads();
  const void* addr = &buf[(lane < 8 * count ? slot[lane] : kSlots - 1) * kSlotElems];
  uint32_t r[4] = {0, 0, 0, 0};
  if (count == 4) {
    uint32_t (&r4)[4] = r;
    if (trans) ldmatrixX4Trans(r4, addr);
    else ldmatrixX4(r4, addr);
  } else if (count == 2) {
    uint32_t r2[2];
    if (trans) ldmatrixX2Trans(r2, addr);
    else ldmatrixX2(r2, addr);
    r[0] = r2[0], r[1] = r2[1];
  } else {
    ::ifa_emu::ldmatrix(r, 1, trans != 0, addr);  // mma.cuh has no .x1 wrapper
  }
  for (int j = 0; j < 4; j++) out[lane * 4 + j] = r[j];
}

// The usual tensor-core pipeline: A [16][16] row-major in shared memory through ldmatrix.x4, B once
// stored [k][n] (through .x2.trans) and once [n][k] (through .x2): both must give C + A·B.
__global__ void pipelineKernel(int kind, const uint16_t* A, const uint16_t* B, const float* C, float* D1, float* D2) {
  constexpr int sa = 24, sb = 16, sbt = 24;  // padded row strides (elements), 16-byte multiples
  __shared__ __align__(16) uint16_t As[16 * sa];
  __shared__ __align__(16) uint16_t Bs[16 * sb];
  __shared__ __align__(16) uint16_t Bts[8 * sbt];
  const int lane = threadIdx.x;
  for (int i = lane; i < 256; i += 32) As[(i / 16) * sa + i % 16] = A[i];
  for (int i = lane; i < 128; i += 32) {
    const int k = i / 8, n = i % 8;
    Bs[k * sb + n] = B[i];
    Bts[n * sbt + k] = B[i];
  }
  __syncthreads();
  uint32_t a[4], b1[2], b2[2];
  // ldmatrix.x4: matrices (rows 0-7, cols 0-7), (rows 8-15, cols 0-7), (0-7, 8-15), (8-15, 8-15) are
  // exactly a[0..3] of the m16n8k16 A fragment.
  ldmatrixX4(a, &As[(lane % 16) * sa + (lane / 16) * 8]);
  // B [k][n]: rows k 0-7 and 8-15, transposed: lane gets (k = 2t, 2t+1 (+8), n = g) = b0..b3.
  ldmatrixX2Trans(b1, &Bs[(lane % 16) * sb]);
  // B [n][k]: rows n, columns k 0-7 and 8-15, as stored.
  ldmatrixX2(b2, &Bts[(lane % 8) * sbt + ((lane / 8) % 2) * 8]);
  float d1[4], d2[4];
  for (int i = 0; i < 4; i++) {
    const RC p = fragC(lane, i);
    d1[i] = d2[i] = C[p.row * 8 + p.col];
  }
  if (kind == kBf16) {
    mmaBf16(d1, a, b1);
    mmaBf16(d2, a, b2);
  } else {
    mmaF16(d1, a, b1);
    mmaF16(d2, a, b2);
  }
  for (int i = 0; i < 4; i++) {
    const RC p = fragC(lane, i);
    D1[p.row * 8 + p.col] = d1[i];
    D2[p.row * 8 + p.col] = d2[i];
  }
}

// cp.async: each thread owns four 16-byte slots of dynamic shared memory, set to kOld, then issues
// group 0 (one 16-byte copy), group 1 (two 4-byte and one 8-byte copy), group 2 (a 16-byte zero fill
// from an invalid source) and one copy it does not commit; snapshots of its slots after each step
// go to `snap` [stage][thread][64 bytes].
constexpr unsigned char kOld = 0xa5;
constexpr int kCpThreads = 64, kCpStages = 6;
__global__ void cpAsyncKernel(const unsigned char* src, unsigned char* snap) {
  IFA_DYNAMIC_SHARED(sm);
  const int t = threadIdx.x;
  unsigned char* mine = sm + t * 64;
  const unsigned char* from = src + t * 64;
  auto snapshot = [&](int stage) {
    for (int i = 0; i < 64; i++) snap[(stage * kCpThreads + t) * 64 + i] = mine[i];
  };
  for (int i = 0; i < 64; i++) mine[i] = kOld;
  __syncthreads();
  cpAsync16(mine, from, true);
  cpAsyncCommit();
  cpAsync4(mine + 16, from + 16, true);
  cpAsync4(mine + 20, from + 20, true);
  ::ifa_emu::cpAsync(mine + 24, from + 24, 8, true);  // 8 bytes: no mma.cuh wrapper
  cpAsyncCommit();
  cpAsync16(mine + 32, nullptr, false);  // zero fill; the source must not be read
  cpAsyncCommit();
  cpAsync16(mine + 48, from + 48, true);  // not committed
  snapshot(0);
  __syncthreads();
  snapshot(1);  // other threads' issues do not land either
  cpAsyncWait<2>();
  snapshot(2);
  cpAsyncWait<1>();
  snapshot(3);
  cpAsyncWait<0>();
  snapshot(4);
  cpAsyncCommit();
  cpAsyncWait<0>();
  snapshot(5);
}

// Fresh dynamic shared memory: 128-byte aligned, every byte addressable, filled with 0xff (the
// emulator's NaN garbage); writes count[0] = bytes seen as 0xff, count[1] = misalignment.
__global__ void bigSharedKernel(int bytes, int* result) {
  IFA_DYNAMIC_SHARED(sm);
  __shared__ __align__(128) unsigned char aligned[256];
  const int t = threadIdx.x;
  int ff = 0;
  for (int i = t; i < bytes; i += blockDim.x) ff += sm[i] == 0xff;
  for (int i = t; i < bytes; i += blockDim.x) sm[i] = (unsigned char)(i * 7);
  __syncthreads();
  int ok = 0;
  for (int i = t; i < bytes; i += blockDim.x) ok += sm[(i + 1) % bytes] == (unsigned char)(((i + 1) % bytes) * 7);
  atomicAdd(&result[0], ff);
  atomicAdd(&result[1], ok);
  if (t == 0) result[2] = int(reinterpret_cast<uintptr_t>(sm) % 128) + int(reinterpret_cast<uintptr_t>(aligned) % 128);
}

// Misuse the emulator must report as a launch failure.
__global__ void mmaEarlyExitKernel() {
  uint32_t a[4] = {0, 0, 0, 0}, b[2] = {0, 0};
  float d[4] = {0, 0, 0, 0};
  if (threadIdx.x == 31) return;
  mmaBf16(d, a, b);
}
__global__ void mmaPartialWarpKernel() {  // launched with 16 threads
  uint32_t a[4] = {0, 0, 0, 0}, b[2] = {0, 0};
  float d[4] = {0, 0, 0, 0};
  mmaF16(d, a, b);
}
__global__ void mmaVersusShuffleKernel() {
  uint32_t a[4] = {0, 0, 0, 0}, b[2] = {0, 0};
  float d[4] = {0, 0, 0, 0};
  if (threadIdx.x == 5) d[0] = __shfl_xor_sync(0xffffffffu, d[0], 1);
  else mmaTf32(d, a, b);
}
__global__ void ldmatrixMixedKernel() {
  __shared__ __align__(16) uint16_t buf[32 * 8];
  uint32_t r4[4], r2[2];
  if (threadIdx.x == 0) ldmatrixX4(r4, &buf[threadIdx.x * 8]);
  else ldmatrixX2(r2, &buf[threadIdx.x * 8]);
}
__global__ void ldmatrixMisalignedKernel() {
  __shared__ __align__(16) uint16_t buf[33 * 8];
  uint32_t r[4];
  ldmatrixX4(r, &buf[threadIdx.x * 8 + (threadIdx.x == 3 ? 1 : 0)]);
}
__global__ void cpAsyncMisalignedKernel(const unsigned char* src) {
  __shared__ __align__(16) unsigned char buf[64];
  cpAsync16(buf + 4, src, true);
  cpAsyncCommit();
  cpAsyncWait<0>();
}

// ---------------------------------------------------------------------------------------------
// Host side.

int failures = 0, checks = 0;
std::string namePrefix;  // keeps check names unique when a case runs twice
void report(const std::string& name, bool ok, const std::string& why = "") {
  checks++;
  if (ok) {
    std::printf("ok\t%s%s\n", namePrefix.c_str(), name.c_str());
  } else {
    failures++;
    std::printf("FAIL\t%s%s\t%s\n", namePrefix.c_str(), name.c_str(), why.c_str());
  }
  std::fflush(stdout);
}

template <typename T>
T* deviceCopy(const std::vector<T>& host) {
  void* p = nullptr;
  if (cudaMalloc(&p, host.size() * sizeof(T)) != cudaSuccess) {
    std::fprintf(stderr, "cudaMalloc failed\n");
    std::exit(2);
  }
  cudaMemcpy(p, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice);
  return static_cast<T*>(p);
}
template <typename T>
std::vector<T> hostCopy(const T* dev, size_t n) {
  std::vector<T> h(n);
  cudaMemcpy(h.data(), dev, n * sizeof(T), cudaMemcpyDeviceToHost);
  return h;
}

std::string launchError() {
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? "" : std::string("launch failed: ") + cudaGetErrorName(e);
}

// What the tensor core reads of a float operand given as .tf32: sign, exponent and the top 10
// fraction bits (11 significant bits), the rest cut off. Recomputed with frexp, not with a bit mask.
float truncTf32(float x) {
  if (x == 0.0f || !std::isfinite(x)) return x;
  int e;
  const double m = std::frexp(double(x), &e);  // |m| in [0.5, 1)
  return float(std::ldexp(std::trunc(m * 2048.0) / 2048.0, e));
}
// cvt.rna.tf32.f32: nearest 11-significant-bit value, ties away from zero.
float rnaTf32(float x) {
  if (x == 0.0f || !std::isfinite(x)) return x;
  int e;
  const double m = std::frexp(double(x), &e);
  const double q = std::ldexp(std::floor(std::fabs(m) * 2048.0 + 0.5) / 2048.0, e);
  return float(m < 0 ? -q : q);
}

uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float floatOf(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// One mma case: random or small-integer A, B, C; the reference in double; exact (integers) or within
// (K + 2)·2^-24·(|c| + Σ|a·b|) per element, the bound of fp32 summation of K exact products and c.
void checkMmaDirect(int kind, bool integers, int reps, bool rna, std::mt19937& rng) {
  const int K = kind == kTf32 ? 8 : 16;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> small(-8, 8);
  std::vector<uint32_t> A(16 * K), B(K * 8);
  std::vector<double> av(16 * K), bv(K * 8);  // the values the tensor core multiplies
  std::vector<float> C(16 * 8);
  auto make = [&](uint32_t& bits, double& value) {
    const float x = integers ? float(small(rng)) : normal(rng) * (kind == kTf32 ? 1.0f : 2.0f);
    if (kind == kBf16) {
      bits = ifa::floatToBf16(x);
      value = ifa::bf16ToFloat(uint16_t(bits));
    } else if (kind == kF16) {
      bits = ifa::floatToHalf(x);
      value = ifa::halfToFloat(uint16_t(bits));
    } else {
      bits = bitsOf(x);  // full fp32: the low 13 bits must be ignored (or rounded first with rna)
      value = rna ? rnaTf32(x) : truncTf32(x);
    }
  };
  for (int i = 0; i < 16 * K; i++) make(A[i], av[i]);
  for (int i = 0; i < K * 8; i++) make(B[i], bv[i]);
  for (auto& c : C) c = integers ? float(small(rng) * 4) : normal(rng) * 4.0f;
  uint32_t *dA = deviceCopy(A), *dB = deviceCopy(B);
  float* dC = deviceCopy(C);
  float* dD = deviceCopy(std::vector<float>(128, std::nanf("")));
  mmaDirectKernel<<<1, 32>>>(kind, dA, dB, dC, dD, reps, rna ? 1 : 0);
  std::string why = launchError();
  const std::vector<float> D = hostCopy(dD, 128);
  for (int m = 0; m < 16 && why.empty(); m++)
    for (int n = 0; n < 8 && why.empty(); n++) {
      double ref = C[m * 8 + n], mag = std::fabs(C[m * 8 + n]);
      for (int k = 0; k < K; k++) {
        ref += reps * av[m * K + k] * bv[k * 8 + n];
        mag += reps * std::fabs(av[m * K + k] * bv[k * 8 + n]);
      }
      const double got = D[m * 8 + n];
      const double tol = integers ? 0.0 : (K * reps + 2) * std::ldexp(1.0, -24) * mag;
      if (!(std::fabs(got - ref) <= tol)) {
        char msg[200];
        std::snprintf(msg, sizeof msg, "D[%d][%d] = %.9g, expected %.9g (tolerance %.3g)", m, n, got, ref, tol);
        why = msg;
      }
    }
  cudaFree(dA), cudaFree(dB), cudaFree(dC), cudaFree(dD);
  std::string name = std::string("mma ") + kindName(kind) + (integers ? ": exact on small integers" : ": random values within fp32 summation error");
  if (kind == kTf32) name += rna ? ", operands rounded by toTf32 (cvt.rna)" : ", low 13 operand bits ignored";
  if (reps > 1) name += ", accumulating over " + std::to_string(reps) + " calls";
  report(name, why.empty(), why);
}

void checkLdmatrix(int count, bool trans, std::mt19937& rng) {
  // Matrix row q (matrix q / 8, row q % 8), column c holds 0x1000 + 8q + c; the decoy row 0xdead.
  std::vector<uint16_t> rows(kSlots * kSlotElems, 0xbeef);
  std::vector<int> slot(32);
  for (int q = 0; q < 32; q++) slot[q] = q + 1;  // slot 0 and the last (decoy) stay out of the shuffle
  std::shuffle(slot.begin(), slot.end(), rng);
  for (int q = 0; q < 32; q++)
    for (int c = 0; c < 8; c++) rows[slot[q] * kSlotElems + c] = uint16_t(0x1000 + 8 * q + c);
  for (int c = 0; c < 8; c++) rows[(kSlots - 1) * kSlotElems + c] = 0xdead;
  uint16_t* dRows = deviceCopy(rows);
  int* dSlot = deviceCopy(slot);
  uint32_t* dOut = deviceCopy(std::vector<uint32_t>(128, 0));
  ldmatrixKernel<<<1, 32>>>(dRows, dSlot, count, trans ? 1 : 0, dOut);
  std::string why = launchError();
  const std::vector<uint32_t> out = hostCopy(dOut, 128);
  auto element = [](int matrix, int row, int col) { return uint32_t(0x1000 + 8 * (8 * matrix + row) + col); };
  for (int lane = 0; lane < 32 && why.empty(); lane++)
    for (int j = 0; j < count && why.empty(); j++) {
      // This lane's part of matrix j: row lane / 4, columns 2(lane % 4), 2(lane % 4) + 1 — of the
      // matrix, or with .trans of its transpose (so column lane / 4 of the stored matrix).
      const int r = lane / 4, c = 2 * (lane % 4);
      const uint32_t lo = trans ? element(j, c, r) : element(j, r, c);
      const uint32_t hi = trans ? element(j, c + 1, r) : element(j, r, c + 1);
      const uint32_t want = lo | (hi << 16);
      if (out[lane * 4 + j] != want) {
        char msg[160];
        std::snprintf(msg, sizeof msg, "lane %d register %d = 0x%08x, expected 0x%08x", lane, j, out[lane * 4 + j], want);
        why = msg;
      }
    }
  cudaFree(dRows), cudaFree(dSlot), cudaFree(dOut);
  report("ldmatrix .x" + std::to_string(count) + (trans ? ".trans" : "") + " (shuffled row addresses, unused lanes ignored)", why.empty(), why);
}

void checkPipeline(int kind, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint16_t> A(256), B(128);
  std::vector<double> av(256), bv(128);
  std::vector<float> C(128);
  auto make = [&](uint16_t& bits, double& value) {
    const float x = normal(rng) * 2.0f;
    bits = kind == kBf16 ? ifa::floatToBf16(x) : ifa::floatToHalf(x);
    value = kind == kBf16 ? ifa::bf16ToFloat(bits) : ifa::halfToFloat(bits);
  };
  for (int i = 0; i < 256; i++) make(A[i], av[i]);
  for (int i = 0; i < 128; i++) make(B[i], bv[i]);
  for (auto& c : C) c = normal(rng);
  uint16_t *dA = deviceCopy(A), *dB = deviceCopy(B);
  float* dC = deviceCopy(C);
  float* dD1 = deviceCopy(std::vector<float>(128, std::nanf("")));
  float* dD2 = deviceCopy(std::vector<float>(128, std::nanf("")));
  pipelineKernel<<<1, 32>>>(kind, dA, dB, dC, dD1, dD2);
  std::string why = launchError();
  const std::vector<float> D1 = hostCopy(dD1, 128), D2 = hostCopy(dD2, 128);
  for (int m = 0; m < 16 && why.empty(); m++)
    for (int n = 0; n < 8 && why.empty(); n++) {
      double ref = C[m * 8 + n], mag = std::fabs(C[m * 8 + n]);
      for (int k = 0; k < 16; k++) ref += av[m * 16 + k] * bv[k * 8 + n], mag += std::fabs(av[m * 16 + k] * bv[k * 8 + n]);
      const double tol = 18 * std::ldexp(1.0, -24) * mag;
      for (int which = 0; which < 2 && why.empty(); which++) {
        const double got = (which ? D2 : D1)[m * 8 + n];
        if (!(std::fabs(got - ref) <= tol)) {
          char msg[200];
          std::snprintf(msg, sizeof msg, "%s: D[%d][%d] = %.9g, expected %.9g (tolerance %.3g)", which ? "B [n][k] via .x2" : "B [k][n] via .x2.trans", m, n,
                        got, ref, tol);
          why = msg;
        }
      }
    }
  cudaFree(dA), cudaFree(dB), cudaFree(dC), cudaFree(dD1), cudaFree(dD2);
  report(std::string("ldmatrix → mma ") + kindName(kind) + ": A via .x4, B via .x2.trans and .x2", why.empty(), why);
}

void checkCpAsync() {
  std::vector<unsigned char> src(kCpThreads * 64);
  for (size_t i = 0; i < src.size(); i++) src[i] = (unsigned char)(0x10 + i * 13 % 200);  // never kOld
  unsigned char* dSrc = deviceCopy(src);
  const size_t snapBytes = size_t(kCpStages) * kCpThreads * 64;
  unsigned char* dSnap = deviceCopy(std::vector<unsigned char>(snapBytes, 0));
  cpAsyncKernel<<<1, kCpThreads, kCpThreads * 64>>>(dSrc, dSnap);
  const std::string err = launchError();
  const std::vector<unsigned char> snap = hostCopy(dSnap, snapBytes);
  // Which of the four slots (group 0, group 1, zero fill = group 2, uncommitted) hold their new bytes.
  const char* stageName[kCpStages] = {"right after issue", "after a __syncthreads, no wait", "after wait_group 2",
                                      "after wait_group 1", "after wait_group 0 (one copy uncommitted)", "after commit + wait_group 0"};
  const bool landed[kCpStages][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}, {1, 0, 0, 0}, {1, 1, 0, 0}, {1, 1, 1, 0}, {1, 1, 1, 1}};
  std::string deferred, groups, zero;
  for (int s = 0; s < kCpStages; s++)
    for (int t = 0; t < kCpThreads; t++)
      for (int slotIdx = 0; slotIdx < 4; slotIdx++)
        for (int i = 0; i < 16; i++) {
          const int off = slotIdx * 16 + i;
          const unsigned char got = snap[(s * kCpThreads + t) * 64 + off];
          const unsigned char fresh = slotIdx == 2 ? 0 : src[t * 64 + off];
          const unsigned char want = landed[s][slotIdx] ? fresh : kOld;
          if (got == want) continue;
          char msg[200];
          std::snprintf(msg, sizeof msg, "%s: thread %d byte %d (slot %d) is 0x%02x, expected 0x%02x (%s)", stageName[s], t, off, slotIdx, got, want,
                        landed[s][slotIdx] ? "landed" : "still the old bytes");
          std::string& which = s < 2 ? deferred : slotIdx == 2 ? zero : groups;
          if (which.empty()) which = msg;
        }
  cudaFree(dSrc), cudaFree(dSnap);
  report("cp.async deferred: shared memory keeps its old bytes until a wait completes the group", err.empty() && deferred.empty(), err + deferred);
  report("cp.async wait_group n completes all but the n newest groups; uncommitted copies stay pending", err.empty() && groups.empty(), err + groups);
  report("cp.async zero fill when !valid (source not read)", err.empty() && zero.empty(), err + zero);
}

void checkSharedLimits() {
  const int maxBytes = 227 * 1024;
  cudaError_t e1 = cudaFuncSetAttribute(bigSharedKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, maxBytes);
  cudaError_t e2 = cudaFuncSetAttribute(bigSharedKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, maxBytes + 1);
  report("cudaFuncSetAttribute: 227 KiB accepted, 227 KiB + 1 is cudaErrorInvalidValue", e1 == cudaSuccess && e2 == cudaErrorInvalidValue,
         std::string(cudaGetErrorName(e1)) + ", " + cudaGetErrorName(e2));
  int* dRes = deviceCopy(std::vector<int>(3, 0));
  bigSharedKernel<<<2, 256, maxBytes>>>(maxBytes, dRes);
  std::string why = launchError();
  const std::vector<int> res = hostCopy(dRes, 3);
  if (why.empty() && (res[0] != 2 * maxBytes || res[1] != 2 * maxBytes || res[2] != 0))
    why = "fresh 0xff bytes " + std::to_string(res[0]) + ", read back " + std::to_string(res[1]) + " of " + std::to_string(2 * maxBytes) +
          ", misalignment " + std::to_string(res[2]);
  report("dynamic shared memory of 227 KiB: 128-byte aligned, 0xff-filled per block, all bytes usable; __align__ on __shared__", why.empty(), why);
  bigSharedKernel<<<1, 32, maxBytes + 1>>>(maxBytes + 1, dRes);
  const cudaError_t e3 = cudaGetLastError();
  report("a launch with 227 KiB + 1 of dynamic shared memory is cudaErrorInvalidValue", e3 == cudaErrorInvalidValue, cudaGetErrorName(e3));
  cudaFree(dRes);
}

void checkTf32Rounding() {
  // cvt.rna.tf32.f32 by hand: 1 + 2^-11 is a tie (rounds away to 1 + 2^-10), just below it rounds to 1.
  const float cases[] = {1.0f + std::ldexp(1.0f, -11), 1.0f + std::ldexp(1.0f, -11) - std::ldexp(1.0f, -23), -(1.0f + std::ldexp(1.0f, -11)),
                         3.14159265f, -2.7182818e-20f, 65504.0f, 1.0e30f};
  std::string why;
  for (float x : cases) {
    const float got = floatOf(toTf32(bitsOf(x))), want = rnaTf32(x);
    if (bitsOf(got) != bitsOf(want) && why.empty()) {
      char msg[160];
      std::snprintf(msg, sizeof msg, "toTf32(%.9g) = %.9g, expected %.9g", x, got, want);
      why = msg;
    }
  }
  if (floatOf(toTf32(bitsOf(1.0f + std::ldexp(1.0f, -11)))) != 1.0f + std::ldexp(1.0f, -10) && why.empty()) why = "the tie 1 + 2^-11 did not round away";
  report("toTf32 is cvt.rna.tf32.f32 (nearest, ties away from zero)", why.empty(), why);
}

void checkMisuse(const std::string& what, void (*launch)()) {
  launch();
  const cudaError_t e = cudaGetLastError();
  report("misuse reported as cudaErrorLaunchFailure: " + what, e == cudaErrorLaunchFailure, std::string("got ") + cudaGetErrorName(e));
}

}  // namespace

int main() {
  std::mt19937 rng(20261204);
  for (int count : {1, 2, 4})
    for (bool trans : {false, true}) checkLdmatrix(count, trans, rng);
  for (int kind : {kBf16, kF16, kTf32}) {
    checkMmaDirect(kind, true, 1, false, rng);
    checkMmaDirect(kind, false, 1, false, rng);
    checkMmaDirect(kind, false, 2, false, rng);
  }
  checkMmaDirect(kTf32, false, 1, true, rng);
  checkTf32Rounding();
  checkPipeline(kBf16, rng);
  checkPipeline(kF16, rng);
  checkCpAsync();
  checkSharedLimits();
  std::fprintf(stderr, "[selftest] the following launch failures are expected (misuse checks):\n");
  checkMisuse("a lane exited before mma", [] { mmaEarlyExitKernel<<<1, 32>>>(); });
  checkMisuse("mma in a 16-thread block", [] { mmaPartialWarpKernel<<<1, 16>>>(); });
  checkMisuse("one lane at a shuffle while the others mma", [] { mmaVersusShuffleKernel<<<1, 32>>>(); });
  checkMisuse("ldmatrix .x4 in one lane, .x2 in the others", [] { ldmatrixMixedKernel<<<1, 32>>>(); });
  checkMisuse("ldmatrix row address not 16-byte aligned", [] { ldmatrixMisalignedKernel<<<1, 32>>>(); });
  static unsigned char* src = deviceCopy(std::vector<unsigned char>(64, 1));
  checkMisuse("cp.async destination not aligned to its size", [] { cpAsyncMisalignedKernel<<<1, 1>>>(src); });
  // The emulator recovers: a correct launch after the failures still computes.
  namePrefix = "after the misuse launches: ";
  checkMmaDirect(kBf16, true, 1, false, rng);
  std::printf("selftest: %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
