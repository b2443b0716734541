// 2-D convolution, NHWC activations, [Co,KH,KW,Ci] weights, zero padding, no bias, as implicit GEMMs
// on the tiled SGEMM of gemm.cuh (the patch matrix is never materialised; loaders compute addresses):
//   conv2d                y[P,Co]   = patches(x)[P,K'] · wᵀ            P = N·Ho·Wo, K' = KH·KW·Ci
//   conv2dBackwardInput   dx[Q,Ci]  = dyTaps[Q, KH·KW·Co] · w          Q = N·H·W: for input pixel q and
//                         tap (kh, kw), the output pixel that read it, if any (stride divides), else 0
//   conv2dBackwardFilter  dw[Co,K'] = dyᵀ[Co,P] · patches(x)[P,K']     split over P (split-K) with
//                         atomicAdd into a zeroed dw, since Co×K' alone is too few tiles to fill the GPU
// Each is 2·N·Ho·Wo·Co·KH·KW·Ci FLOPs. Channels are innermost in every operand, so the loaders read
// consecutive addresses along ci / co.
//
// Two paths. float32 without TF32 runs the exact fp32 SIMT GEMM of gemm.cuh (the reference path; on
// an H200 7.5–9.5 TFLOP/s on ResNet-50's layers, 0.15–0.47× cuDNN fp32 forward+backward, except the
// 3-channel stem: its input gradient fills 3 of a tile's 64 columns and multiplies the zero taps of
// stride 2, 3 in 4, so its forward+backward runs at 0.29 TFLOP/s, 0.02×). bfloat16 and
// float16 tensors, and float32 with the tf32 attribute (setFloat32Precision('tf32')), run the
// tensor-core kernels of conv_tc.cuh on sm_80 and newer, with the plan (tile, split-K) chosen per
// shape by conv_tc_launch.cuh and recorded for convPlans().
#include <map>
#include <mutex>
#include <tuple>

#include "conv_tc_launch.cuh"
#include "gemm.cuh"

namespace ifa {
namespace cuda {

// --- shared with matmul.cu (common.cuh declares them) -----------------------------------------------

// The device's SM count, and the architecture the tensor-core code runs as: the lower of the device's
// and the one this addon's kernels were compiled for (a build carrying only compute_70 PTX runs its
// sm_70 code on an H100 too, which is how bench/gpu/check.sh's sm70 step tests the V100 path).
const TensorCoreDevice& tensorCoreDevice() {
  static const TensorCoreDevice d = [] {
    TensorCoreDevice r;
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
      r.arch = prop.major * 10 + prop.minor;
      r.sms = prop.multiProcessorCount;
    }
    cudaFuncAttributes fa;
    if (cudaFuncGetAttributes(&fa, tc::splitSumKernel<float>) == cudaSuccess && fa.ptxVersion > 0) r.arch = std::min(r.arch, fa.ptxVersion);
    return r;
  }();
  return d;
}

DTypes tensorCoreDtypes() {
  const int arch = tensorCoreDevice().arch;
  return arch >= 80 ? allDTypes() : arch >= 70 ? DTypes{DType::Float32, DType::Float16} : float32Only();
}

// Whether this call runs on the tensor cores; a dtype the device's tensor cores lack is refused
// (sm_70/sm_75 have fp16 only: bfloat16 and TF32 need sm_80).
bool useTensorCores(const KernelCall& c, DType dt) {
  if (dt == DType::Float32 && !c.attrs.flag("tf32")) return false;
  const int arch = tensorCoreDevice().arch;
  const std::string what = dt == DType::Float32 ? "TF32" : dtypeName(dt);
  if (arch >= 80 || (arch >= 70 && dt == DType::Float16)) return true;
  throw ArgError(c.name + ": " + what + (c.name == "matmul" ? " GEMMs" : " convolutions") + " need the tensor cores of sm_80 or newer; this device runs sm_" + std::to_string(arch) +
                     " code, whose tensor cores take float16 only (use float16, or float32 without TF32)",
                 true);
}

namespace {

struct Geom {
  int64_t n, h, w, ci, co, kh, kw, sh, sw, ph, pw, ho, wo;
};

// patches(x)(p, k): x at output pixel p's receptive field, tap k = (kh, kw, ci); 0 in the padding.
struct Patch {
  const float* x;
  Geom g;
  __device__ float at(int64_t p, int64_t k) const {
    const int64_t ci = k % g.ci, t = k / g.ci, kw = t % g.kw, kh = t / g.kw;
    const int64_t wo = p % g.wo, t2 = p / g.wo, ho = t2 % g.ho, n = t2 / g.ho;
    const int64_t h = ho * g.sh - g.ph + kh, w = wo * g.sw - g.pw + kw;
    if (h < 0 || h >= g.h || w < 0 || w >= g.w) return 0.f;
    return x[((n * g.h + h) * g.w + w) * g.ci + ci];
  }
};
struct PatchAsA {  // A(m = pixel, k = tap)
  Patch p;
  __device__ float operator()(int64_t m, int64_t k) const { return p.at(m, k); }
};
struct PatchAsB {  // B(k = pixel, n = tap)
  Patch p;
  __device__ float operator()(int64_t k, int64_t n) const { return p.at(k, n); }
};
struct ColMajor {  // X(r, c) = p[c·ld + r]
  const float* p;
  int64_t ld;
  __device__ float operator()(int64_t r, int64_t c) const { return p[c * ld + r]; }
};
struct Store {
  float* p;
  int64_t ld;
  __device__ void operator()(int64_t m, int64_t n, float v) const { p[m * ld + n] = v; }
};
struct StoreAdd {
  float* p;
  int64_t ld;
  __device__ void operator()(int64_t m, int64_t n, float v) const { atomicAdd(p + m * ld + n, v); }
};

// dyTaps(q, k): for input pixel q = (n, h, w) and k = (kh, kw, co), dy at the output pixel whose tap
// (kh, kw) is q, or 0 when no output pixel reads q through that tap.
struct DyTaps {
  const float* dy;
  Geom g;
  __device__ float operator()(int64_t q, int64_t k) const {
    const int64_t co = k % g.co, t = k / g.co, kw = t % g.kw, kh = t / g.kw;
    const int64_t w = q % g.w, t2 = q / g.w, h = t2 % g.h, n = t2 / g.h;
    const int64_t hn = h + g.ph - kh, wn = w + g.pw - kw;
    if (hn < 0 || wn < 0 || hn % g.sh != 0 || wn % g.sw != 0) return 0.f;
    const int64_t ho = hn / g.sh, wo = wn / g.sw;
    if (ho >= g.ho || wo >= g.wo) return 0.f;
    return dy[((n * g.ho + ho) * g.wo + wo) * g.co + co];
  }
};
// w as B(k = (kh, kw, co), n = ci).
struct WeightTaps {
  const float* w;
  Geom g;
  __device__ float operator()(int64_t k, int64_t ci) const {
    const int64_t co = k % g.co, tap = k / g.co;
    return w[(co * g.kh * g.kw + tap) * g.ci + ci];
  }
};

Geom geomOf(const KernelCall& c, const Shape& xs, const Shape& ws, const Shape& ys) {
  Geom g;
  g.n = xs[0];
  g.h = xs[1];
  g.w = xs[2];
  g.ci = xs[3];
  g.co = ws[0];
  g.kh = ws[1];
  g.kw = ws[2];
  g.ho = ys[1];
  g.wo = ys[2];
  g.sh = int64_t(c.attrs.at("strideH"));
  g.sw = int64_t(c.attrs.at("strideW"));
  g.ph = int64_t(c.attrs.at("padH"));
  g.pw = int64_t(c.attrs.at("padW"));
  return g;
}

// --- tensor-core path ---------------------------------------------------------------------------

tc::ConvGeom tcGeom(const Geom& g) {
  return tc::ConvGeom{int(g.n), int(g.h), int(g.w), int(g.ci), int(g.co), int(g.kh), int(g.kw), int(g.sh), int(g.sw), int(g.ph), int(g.pw), int(g.ho), int(g.wo)};
}

// Plans by (pass, dtype, geometry), and the description of each, newest last (convPlans()).
struct PlanCache {
  std::mutex mu;
  std::map<std::tuple<int, int, std::vector<int>>, tc::Plan> plans;
  std::vector<std::string> log;
};
PlanCache& planCache() {
  static PlanCache& p = *new PlanCache();
  return p;
}

// The plan for this call: attrs tcTile / tcSplits (tests and experiments) override the rule.
tc::Plan planFor(const KernelCall& c, tc::Pass pass, DType dt, const tc::ConvGeom& g) {
  tc::Plan p;
  {
    const std::vector<int> key = {g.n, g.h, g.w, g.ci, g.co, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.ho, g.wo};
    PlanCache& cache = planCache();
    std::lock_guard<std::mutex> lock(cache.mu);
    auto k = std::make_tuple(int(pass), int(dt), key);
    auto it = cache.plans.find(k);
    if (it == cache.plans.end()) {
      p = tc::choosePlan(pass, dt, g, tensorCoreDevice().sms, tensorCoreDevice().arch);
      cache.plans.emplace(k, p);
      std::string shape;
      for (size_t i = 0; i < 4; i++) shape += (i ? "," : "[") + std::to_string(key[i]);
      cache.log.push_back(c.name + " x" + shape + "] " + std::to_string(g.co) + "x" + std::to_string(g.kh) + "x" + std::to_string(g.kw) + " s" +
                          std::to_string(g.sh) + ": " + p.describe());
      if (cache.log.size() > 4096) cache.log.erase(cache.log.begin());
    } else {
      p = it->second;
    }
  }
  const double tile = c.attrs.number("tcTile", -1), splits = c.attrs.number("tcSplits", 0);
  if (tile >= 0) {
    const std::vector<int> ok = tc::tilesFor(pass, p.vec, p.wmma);
    if (std::find(ok.begin(), ok.end(), int(tile)) == ok.end()) argFail(c, "tcTile " + std::to_string(int(tile)) + " is not a tile this pass can run here");
    p.tile = int(tile);
  }
  if (splits >= 1) {
    if (pass != tc::Pass::WeightGrad && splits != 1) argFail(c, "tcSplits applies to the weight gradient only");
    p.splits = int(splits);
  }
  p.wsBytes = tc::wsBytesFor(p, g);
  return p;
}

void runTensorCores(const KernelCall& c, tc::Pass pass, const Geom& geom, const void* a, const void* b, void* out) {
  const DType dt = c.inputs[0].dtype;
  const tc::ConvGeom g = tcGeom(geom);
  const tc::Plan p = planFor(c, pass, dt, g);
  Scratch ws(p.wsBytes);
  checkCuda(tc::runConvAny(p, g, a, b, out, ws.as<void>(), stream()), c, "launching the tensor-core convolution");
}

// --- launchers -------------------------------------------------------------------------------------

void launchConv2d(const KernelCall& c) {
  const Geom g = geomOf(c, c.inputs[0].shape, c.inputs[1].shape, c.outputs[0].shape);
  if (useTensorCores(c, c.inputs[0].dtype)) return runTensorCores(c, tc::Pass::Forward, g, c.inputs[0].ptr, c.inputs[1].ptr, c.outputs[0].ptr);
  const int64_t P = g.n * g.ho * g.wo, K = g.kh * g.kw * g.ci;
  launchGemm<true, false>(c, "gemmKernel<Patch, Weight>", P, g.co, K, splitKChunk(P, g.co, K, false), PatchAsA{Patch{c.inputs[0].data, g}},
                          ColMajor{c.inputs[1].data, K}, Store{c.outputs[0].data, g.co});
}

void launchConv2dBackwardInput(const KernelCall& c) {
  // inputs: dy, w; output dx has x's shape.
  const Geom g = geomOf(c, c.outputs[0].shape, c.inputs[1].shape, c.inputs[0].shape);
  if (useTensorCores(c, c.inputs[0].dtype)) return runTensorCores(c, tc::Pass::InputGrad, g, c.inputs[0].ptr, c.inputs[1].ptr, c.outputs[0].ptr);
  const int64_t Q = g.n * g.h * g.w, K = g.kh * g.kw * g.co;
  launchGemm<true, true>(c, "gemmKernel<DyTaps, WeightTaps>", Q, g.ci, K, splitKChunk(Q, g.ci, K, false), DyTaps{c.inputs[0].data, g},
                         WeightTaps{c.inputs[1].data, g}, Store{c.outputs[0].data, g.ci});
}

void launchConv2dBackwardFilter(const KernelCall& c) {
  // inputs: x, dy; output dw (float32 for every input dtype).
  const Geom g = geomOf(c, c.inputs[0].shape, c.outputs[0].shape, c.inputs[1].shape);
  if (useTensorCores(c, c.inputs[0].dtype)) return runTensorCores(c, tc::Pass::WeightGrad, g, c.inputs[0].ptr, c.inputs[1].ptr, c.outputs[0].ptr);
  const int64_t P = g.n * g.ho * g.wo, Kp = g.kh * g.kw * g.ci;
  float* dw = c.outputs[0].data;
  zero(dw, size_t(c.outputs[0].numel()), "conv2dBackwardFilter");
  launchGemm<false, true>(c, "gemmKernel<dyT, Patch>", g.co, Kp, P, splitKChunk(g.co, Kp, P, true), ColMajor{c.inputs[1].data, g.co},
                          PatchAsB{Patch{c.inputs[0].data, g}}, StoreAdd{dw, Kp});
}

}  // namespace

void registerConv(KernelRegistry& r, const KernelRegistry& cpu) {
  addCuda(r, cpu, "conv2d", launchConv2d, allDTypes()).dtypesOnDevice = tensorCoreDtypes;
  addCuda(r, cpu, "conv2dBackwardInput", launchConv2dBackwardInput, allDTypes()).dtypesOnDevice = tensorCoreDtypes;
  addCuda(r, cpu, "conv2dBackwardFilter", launchConv2dBackwardFilter, allDTypes()).dtypesOnDevice = tensorCoreDtypes;
}

std::vector<std::string> convPlans() {
  PlanCache& cache = planCache();
  std::lock_guard<std::mutex> lock(cache.mu);
  return cache.log;
}

}  // namespace cuda
}  // namespace ifa
