// GPU experiment: the tensor-core convolutions of kernels/cuda/conv_tc_launch.cuh on the ResNet-50
// layers of `ifa-ssl bench conv --layer`, every tile and split-K plan of each pass, in bf16, fp16 and
// TF32. Each plan is first checked against a direct convolution (double accumulation) at a small
// batch, then timed at --batch with CUDA events (--iters launches back to back, median of --samples).
// Prints one JSON line per (layer, dtype, pass, plan) and marks the plan choosePlan() picks, so the
// heuristic can be checked against the fastest plan.
//
// Build here (no GPU needed), into .device/exp/, which travels with the device call's .device carry:
//   mkdir -p .device/exp && nvcc -std=c++17 -O3 -arch=sm_90 -DIFA_WITH_CUDA -Xptxas -v -o .device/exp/conv-tc bench/gpu/conv-tc.cu 2> .device/exp/conv-tc.ptxas
// (a minute and a half; -Xptxas -v reports registers and spills per kernel). On the emulator, for
// small --custom shapes: translate it and kernels/cuda/*.cuh with kernels/cuda/emu/translate.cmake and
// compile with g++ -DIFA_CUDA_EMULATOR -DIFA_WITH_CUDA -I kernels/cuda/emu … kernels/cuda/emu/emulator.cc.
// Run there: .device/exp/conv-tc [--batch 128] [--check-batch 4] [--iters 10] [--samples 5] [--layers a,b] [--dtypes bf16,fp16,tf32,fp16-wmma]
// (fp16-wmma: the sm_70 WMMA kernels, which also run on sm_80+).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../../kernels/cuda/conv_tc_launch.cuh"

using namespace ifa;
using namespace ifa::cuda;
using namespace ifa::cuda::tc;

namespace {

struct Layer {
  const char* name;
  int hw, cin, cout, k, stride;
};
const Layer kLayers[] = {
    {"conv1_rgb", 224, 3, 64, 7, 2},     {"conv1_1ch", 224, 1, 64, 7, 2},        {"1x1_256_64_56", 56, 256, 64, 1, 1},
    {"3x3_64_64_56", 56, 64, 64, 3, 1},  {"3x3_256_256_14", 14, 256, 256, 3, 1}, {"1x1_1024_256_14", 14, 1024, 256, 1, 1},
    {"3x3_512_512_7", 7, 512, 512, 3, 1},
    // Not in the table: the strided layers of ResNet-50's first blocks, for the phase-split input gradient.
    {"3x3s2_128_128_56", 56, 128, 128, 3, 2},  {"1x1s2_256_512_56", 56, 256, 512, 1, 2},
};

#define CHECK(x)                                                                              \
  do {                                                                                        \
    cudaError_t e_ = (x);                                                                     \
    if (e_ != cudaSuccess) {                                                                  \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                           \
    }                                                                                         \
  } while (0)

__device__ float hashUniform(uint64_t i, uint32_t seed) {
  uint64_t z = i * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return float(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
}
template <class T>
__global__ void fillKernel(T* p, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    p[i] = fromFloat<T>(hashUniform(uint64_t(i), seed));
}
template <class T>
__global__ void toFloatKernel(const T* p, float* q, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) q[i] = toFloat(p[i]);
}

// Direct convolutions in double, from float copies of the operands.
__global__ void refForward(ConvGeom g, const float* x, const float* w, double* y) {
  const int64_t total = int64_t(g.n) * g.ho * g.wo * g.co;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int co = int(i % g.co), wo = int(i / g.co % g.wo), ho = int(i / g.co / g.wo % g.ho), n = int(i / g.co / g.wo / g.ho);
    double s = 0;
    for (int kh = 0; kh < g.kh; kh++)
      for (int kw = 0; kw < g.kw; kw++) {
        const int h = ho * g.sh - g.ph + kh, ww = wo * g.sw - g.pw + kw;
        if (h < 0 || h >= g.h || ww < 0 || ww >= g.w) continue;
        for (int ci = 0; ci < g.ci; ci++)
          s += double(x[((int64_t(n) * g.h + h) * g.w + ww) * g.ci + ci]) * w[((int64_t(co) * g.kh + kh) * g.kw + kw) * g.ci + ci];
      }
    y[i] = s;
  }
}
__global__ void refInputGrad(ConvGeom g, const float* dy, const float* w, double* dx) {
  const int64_t total = int64_t(g.n) * g.h * g.w * g.ci;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int ci = int(i % g.ci), ww = int(i / g.ci % g.w), h = int(i / g.ci / g.w % g.h), n = int(i / g.ci / g.w / g.h);
    double s = 0;
    for (int kh = 0; kh < g.kh; kh++)
      for (int kw = 0; kw < g.kw; kw++) {
        const int hn = h + g.ph - kh, wn = ww + g.pw - kw;
        if (hn < 0 || wn < 0 || hn % g.sh || wn % g.sw) continue;
        const int ho = hn / g.sh, wo = wn / g.sw;
        if (ho >= g.ho || wo >= g.wo) continue;
        for (int co = 0; co < g.co; co++)
          s += double(dy[((int64_t(n) * g.ho + ho) * g.wo + wo) * g.co + co]) * w[((int64_t(co) * g.kh + kh) * g.kw + kw) * g.ci + ci];
      }
    dx[i] = s;
  }
}
__global__ void refWeightGrad(ConvGeom g, const float* x, const float* dy, double* dw) {
  const int64_t total = int64_t(g.co) * g.kh * g.kw * g.ci;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int ci = int(i % g.ci), kw = int(i / g.ci % g.kw), kh = int(i / g.ci / g.kw % g.kh), co = int(i / g.ci / g.kw / g.kh);
    double s = 0;
    for (int n = 0; n < g.n; n++)
      for (int ho = 0; ho < g.ho; ho++)
        for (int wo = 0; wo < g.wo; wo++) {
          const int h = ho * g.sh - g.ph + kh, ww = wo * g.sw - g.pw + kw;
          if (h < 0 || h >= g.h || ww < 0 || ww >= g.w) continue;
          s += double(x[((int64_t(n) * g.h + h) * g.w + ww) * g.ci + ci]) * dy[((int64_t(n) * g.ho + ho) * g.wo + wo) * g.co + co];
        }
    dw[i] = s;
  }
}

ConvGeom geomOf(const Layer& l, int batch) {
  const int p = l.k / 2, o = (l.hw + 2 * p - l.k) / l.stride + 1;
  return ConvGeom{batch, l.hw, l.hw, l.cin, l.cout, l.k, l.k, l.stride, l.stride, p, p, o, o};
}

struct Buffers {
  void *x = nullptr, *w = nullptr, *dy = nullptr, *y = nullptr, *dx = nullptr;
  float* dw = nullptr;
  void* ws = nullptr;
  size_t wsBytes = 0;
  void release() {
    for (void* p : {x, w, dy, y, dx, static_cast<void*>(dw), ws})
      if (p) cudaFree(p);
    *this = Buffers();
  }
};

template <class T>
Buffers makeBuffers(const ConvGeom& g) {
  Buffers b;
  const int64_t nx = int64_t(g.n) * g.h * g.w * g.ci, nw = int64_t(g.co) * g.kh * g.kw * g.ci, ny = int64_t(g.n) * g.ho * g.wo * g.co;
  CHECK(cudaMalloc(&b.x, nx * sizeof(T)));
  CHECK(cudaMalloc(&b.w, nw * sizeof(T)));
  CHECK(cudaMalloc(&b.dy, ny * sizeof(T)));
  CHECK(cudaMalloc(&b.y, ny * sizeof(T)));
  CHECK(cudaMalloc(&b.dx, nx * sizeof(T)));
  CHECK(cudaMalloc(reinterpret_cast<void**>(&b.dw), nw * sizeof(float)));
  fillKernel<T><<<1024, 256>>>(static_cast<T*>(b.x), nx, 1);
  fillKernel<T><<<1024, 256>>>(static_cast<T*>(b.w), nw, 2);
  fillKernel<T><<<1024, 256>>>(static_cast<T*>(b.dy), ny, 3);
  CHECK(cudaGetLastError());
  return b;
}

void ensureWs(Buffers& b, size_t bytes) {
  if (bytes <= b.wsBytes) return;
  if (b.ws) cudaFree(b.ws);
  CHECK(cudaMalloc(&b.ws, bytes));
  b.wsBytes = bytes;
}

template <class T>
std::vector<float> toHost(const void* p, int64_t n) {
  float* f;
  CHECK(cudaMalloc(reinterpret_cast<void**>(&f), n * sizeof(float)));
  toFloatKernel<T><<<1024, 256>>>(static_cast<const T*>(p), f, n);
  std::vector<float> h(n);
  CHECK(cudaMemcpy(h.data(), f, n * sizeof(float), cudaMemcpyDeviceToHost));
  cudaFree(f);
  return h;
}

// max |ours − ref| / max |ref|
double relError(const std::vector<float>& ours, const double* refDev, int64_t n) {
  std::vector<double> ref(n);
  CHECK(cudaMemcpy(ref.data(), refDev, n * sizeof(double), cudaMemcpyDeviceToHost));
  double maxRef = 0, maxErr = 0;
  for (int64_t i = 0; i < n; i++) {
    maxRef = std::max(maxRef, std::fabs(ref[i]));
    const double e = std::fabs(double(ours[i]) - ref[i]);
    if (!(e <= maxErr)) maxErr = std::isnan(e) ? INFINITY : std::max(maxErr, e);
  }
  return maxRef > 0 ? maxErr / maxRef : maxErr;
}

std::vector<Plan> plansFor(Pass p, DType dt, const ConvGeom& g, bool wmma) {
  std::vector<Plan> out;
  const int vec = vectorOperands(p, dt, g);
  const int kt = kTileCountOf(dt, gemmDims(p, g).K);
  for (int tile : tilesFor(p, vec, wmma)) {
    std::vector<int> splits = {1};
    if (p == Pass::WeightGrad)
      for (int s : {4, 8, 16, 32, 64, 128, 256})
        if (kt / s >= 8) splits.push_back(s);
    for (int s : splits) {
      Plan pl;
      pl.pass = p;
      pl.dtype = dt;
      pl.tile = tile;
      pl.splits = s;
      pl.vec = vec;
      pl.wmma = wmma;
      pl.wsBytes = wsBytesFor(pl, g);
      out.push_back(pl);
    }
  }
  return out;
}

const void* inputA(Pass p, const Buffers& b) { return p == Pass::InputGrad ? b.dy : b.x; }
const void* inputB(Pass p, const Buffers& b) { return p == Pass::Forward ? b.w : p == Pass::InputGrad ? b.w : b.dy; }
void* outputOf(Pass p, const Buffers& b) { return p == Pass::Forward ? b.y : p == Pass::InputGrad ? b.dx : static_cast<void*>(b.dw); }

template <class T>
void runLayer(const Layer& l, DType dt, int batch, int checkBatch, int iters, int samples, int sms) {
  constexpr bool wmma = std::is_same<T, f16w>::value;  // the sm_70 kernels
  const char* dname = wmma ? "fp16-wmma" : dt == DType::BFloat16 ? "bf16" : dt == DType::Float16 ? "fp16" : "tf32";
  const ConvGeom gc = geomOf(l, checkBatch), gt = geomOf(l, batch);
  const double flops = 2.0 * gt.n * gt.ho * gt.wo * gt.co * gt.kh * gt.kw * gt.ci;
  // Reference at the check batch.
  Buffers bc = makeBuffers<T>(gc);
  const int64_t nx = int64_t(gc.n) * gc.h * gc.w * gc.ci, nw = int64_t(gc.co) * gc.kh * gc.kw * gc.ci, ny = int64_t(gc.n) * gc.ho * gc.wo * gc.co;
  float *fx, *fw, *fdy;
  double *ry, *rdx, *rdw;
  CHECK(cudaMalloc(reinterpret_cast<void**>(&fx), nx * 4));
  CHECK(cudaMalloc(reinterpret_cast<void**>(&fw), nw * 4));
  CHECK(cudaMalloc(reinterpret_cast<void**>(&fdy), ny * 4));
  CHECK(cudaMalloc(reinterpret_cast<void**>(&ry), ny * 8));
  CHECK(cudaMalloc(reinterpret_cast<void**>(&rdx), nx * 8));
  CHECK(cudaMalloc(reinterpret_cast<void**>(&rdw), nw * 8));
  toFloatKernel<T><<<1024, 256>>>(static_cast<T*>(bc.x), fx, nx);
  toFloatKernel<T><<<1024, 256>>>(static_cast<T*>(bc.w), fw, nw);
  toFloatKernel<T><<<1024, 256>>>(static_cast<T*>(bc.dy), fdy, ny);
  refForward<<<2048, 256>>>(gc, fx, fw, ry);
  refInputGrad<<<2048, 256>>>(gc, fdy, fw, rdx);
  refWeightGrad<<<(unsigned(nw) + 127) / 128, 128>>>(gc, fx, fdy, rdw);
  CHECK(cudaDeviceSynchronize());

  Buffers bt = makeBuffers<T>(gt);
  cudaEvent_t e0, e1;
  CHECK(cudaEventCreate(&e0));
  CHECK(cudaEventCreate(&e1));
  for (Pass p : {Pass::Forward, Pass::InputGrad, Pass::WeightGrad}) {
    const Plan chosen = choosePlan(p, dt, gt, sms, wmma ? 70 : 90);
    double bestMs = 1e30;
    std::string bestName;
    for (const Plan& pl : plansFor(p, dt, gt, wmma)) {
      // Correctness at the check batch (the same tile and split count where it applies).
      Plan pc = pl;
      if (pc.splits > 1 && kTileCountOf(dt, gemmDims(p, gc).K) / pc.splits < 1) pc.splits = 1;
      pc.wsBytes = wsBytesFor(pc, gc);
      ensureWs(bc, pc.wsBytes);
      CHECK(runConvAny(pc, gc, inputA(p, bc), inputB(p, bc), outputOf(p, bc), bc.ws, nullptr));
      CHECK(cudaDeviceSynchronize());
      double err;
      if (p == Pass::WeightGrad) err = relError(toHost<float>(bc.dw, nw), rdw, nw);
      else if (p == Pass::Forward) err = relError(toHost<T>(bc.y, ny), ry, ny);
      else err = relError(toHost<T>(bc.dx, nx), rdx, nx);
      // Timing at the full batch.
      ensureWs(bt, pl.wsBytes);
      auto once = [&] { CHECK(runConvAny(pl, gt, inputA(p, bt), inputB(p, bt), outputOf(p, bt), bt.ws, nullptr)); };
      for (int i = 0; i < 3; i++) once();
      std::vector<float> ms;
      for (int s = 0; s < samples; s++) {
        CHECK(cudaEventRecord(e0));
        for (int i = 0; i < iters; i++) once();
        CHECK(cudaEventRecord(e1));
        CHECK(cudaEventSynchronize(e1));
        float t;
        CHECK(cudaEventElapsedTime(&t, e0, e1));
        ms.push_back(t / iters);
      }
      std::sort(ms.begin(), ms.end());
      const double med = ms[ms.size() / 2];
      const bool isChosen = pl.tile == chosen.tile && pl.splits == chosen.splits;
      if (med < bestMs) {
        bestMs = med;
        bestName = pl.describe();
      }
      std::printf("{\"layer\":\"%s\",\"dtype\":\"%s\",\"pass\":\"%s\",\"tile\":%d,\"splits\":%d,\"vec\":%d,\"ms\":%.4f,\"TFLOPs\":%.2f,\"relErr\":%.3g,\"chosen\":%s}\n",
                  l.name, dname, passName(p), pl.tile, pl.splits, pl.vec, med, flops / med / 1e9, err, isChosen ? "true" : "false");
      std::fflush(stdout);
    }
    std::fprintf(stderr, "%-18s %s %-10s best %.4f ms (%.1f TFLOP/s) %s; chosen: %s\n", l.name, dname, passName(p), bestMs, flops / bestMs / 1e9,
                 bestName.c_str(), chosen.describe().c_str());
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  for (void* q : {static_cast<void*>(fx), static_cast<void*>(fw), static_cast<void*>(fdy), static_cast<void*>(ry), static_cast<void*>(rdx), static_cast<void*>(rdw)})
    cudaFree(q);
  bc.release();
  bt.release();
}

std::vector<std::string> splitList(const char* s) {
  std::vector<std::string> out;
  std::string cur;
  for (const char* c = s;; c++) {
    if (*c == ',' || *c == 0) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
      if (*c == 0) break;
    } else {
      cur += *c;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int batch = 128, checkBatch = 4, iters = 10, samples = 5;
  std::vector<std::string> layers, dtypes = {"bf16", "fp16", "tf32"};
  std::vector<Layer> custom;  // --custom hw,cin,cout,k,stride (repeatable): small shapes, for the emulator
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--batch") batch = std::atoi(argv[i + 1]);
    else if (a == "--check-batch") checkBatch = std::atoi(argv[i + 1]);
    else if (a == "--iters") iters = std::atoi(argv[i + 1]);
    else if (a == "--samples") samples = std::atoi(argv[i + 1]);
    else if (a == "--layers") layers = splitList(argv[i + 1]);
    else if (a == "--dtypes") dtypes = splitList(argv[i + 1]);
    else if (a == "--custom") {
      const std::vector<std::string> v = splitList(argv[i + 1]);
      if (v.size() != 5) {
        std::fprintf(stderr, "--custom takes hw,cin,cout,k,stride\n");
        return 2;
      }
      custom.push_back(Layer{"custom", std::atoi(v[0].c_str()), std::atoi(v[1].c_str()), std::atoi(v[2].c_str()), std::atoi(v[3].c_str()), std::atoi(v[4].c_str())});
    }
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  std::fprintf(stderr, "%s, %d SMs, sm_%d%d\n", prop.name, prop.multiProcessorCount, prop.major, prop.minor);
  std::vector<Layer> all(std::begin(kLayers), std::end(kLayers));
  if (!custom.empty()) all = custom;
  for (const Layer& l : all) {
    if (!layers.empty() && std::find(layers.begin(), layers.end(), l.name) == layers.end()) continue;
    for (const std::string& d : dtypes) {
      if (d == "bf16") runLayer<bf16>(l, DType::BFloat16, batch, checkBatch, iters, samples, prop.multiProcessorCount);
      else if (d == "fp16") runLayer<f16>(l, DType::Float16, batch, checkBatch, iters, samples, prop.multiProcessorCount);
      else if (d == "tf32") runLayer<float>(l, DType::Float32, batch, checkBatch, iters, samples, prop.multiProcessorCount);
      else if (d == "fp16-wmma") runLayer<f16w>(l, DType::Float16, batch, checkBatch, iters, samples, prop.multiProcessorCount);
    }
  }
  return 0;
}
