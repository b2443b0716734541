// 2-D convolution, NHWC activations, [Co,KH,KW,Ci] weights, zero padding, no bias, as implicit GEMMs
// on the tiled SGEMM of gemm.cuh (the patch matrix is never materialised; loaders compute addresses):
//   conv2d                y[P,Co]   = patches(x)[P,K'] · wᵀ            P = N·Ho·Wo, K' = KH·KW·Ci
//   conv2dBackwardInput   dx[Q,Ci]  = dyTaps[Q, KH·KW·Co] · w          Q = N·H·W: for input pixel q and
//                         tap (kh, kw), the output pixel that read it, if any (stride divides), else 0
//   conv2dBackwardFilter  dw[Co,K'] = dyᵀ[Co,P] · patches(x)[P,K']     split over P (split-K) with
//                         atomicAdd into a zeroed dw, since Co×K' alone is too few tiles to fill the GPU
// Each is 2·N·Ho·Wo·Co·KH·KW·Ci FLOPs. Channels are innermost in every operand, so the loaders read
// consecutive addresses along ci / co. Correct first: the stride-2 backward input still multiplies the
// zero taps (4× the needed FLOPs), and there are no tensor cores; conv speed is a later issue.
#include "gemm.cuh"

namespace ifa {
namespace cuda {
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
  g.sh = int64_t(c.attrs.number("strideH", 1));
  g.sw = int64_t(c.attrs.number("strideW", 1));
  g.ph = int64_t(c.attrs.number("padH", 0));
  g.pw = int64_t(c.attrs.number("padW", 0));
  return g;
}

void launchConv2d(const KernelCall& c) {
  const Geom g = geomOf(c, c.inputs[0].shape, c.inputs[1].shape, c.outputs[0].shape);
  const int64_t P = g.n * g.ho * g.wo, K = g.kh * g.kw * g.ci;
  launchGemm<true, false>(c, "gemmKernel<Patch, Weight>", P, g.co, K, splitKChunk(P, g.co, K, false), PatchAsA{Patch{c.inputs[0].data, g}},
                          ColMajor{c.inputs[1].data, K}, Store{c.outputs[0].data, g.co});
}

void launchConv2dBackwardInput(const KernelCall& c) {
  // inputs: dy, w; output dx has x's shape.
  const Geom g = geomOf(c, c.outputs[0].shape, c.inputs[1].shape, c.inputs[0].shape);
  const int64_t Q = g.n * g.h * g.w, K = g.kh * g.kw * g.co;
  launchGemm<true, true>(c, "gemmKernel<DyTaps, WeightTaps>", Q, g.ci, K, splitKChunk(Q, g.ci, K, false), DyTaps{c.inputs[0].data, g},
                         WeightTaps{c.inputs[1].data, g}, Store{c.outputs[0].data, g.ci});
}

void launchConv2dBackwardFilter(const KernelCall& c) {
  // inputs: x, dy; output dw.
  const Geom g = geomOf(c, c.inputs[0].shape, c.outputs[0].shape, c.inputs[1].shape);
  const int64_t P = g.n * g.ho * g.wo, Kp = g.kh * g.kw * g.ci;
  float* dw = c.outputs[0].data;
  zero(dw, size_t(c.outputs[0].numel()), "conv2dBackwardFilter");
  launchGemm<false, true>(c, "gemmKernel<dyT, Patch>", g.co, Kp, P, splitKChunk(g.co, Kp, P, true), ColMajor{c.inputs[1].data, g.co},
                          PatchAsB{Patch{c.inputs[0].data, g}}, StoreAdd{dw, Kp});
}

}  // namespace

void registerConv(KernelRegistry& r, const KernelRegistry& cpu) {
  addCuda(r, cpu, "conv2d", launchConv2d);
  addCuda(r, cpu, "conv2dBackwardInput", launchConv2dBackwardInput);
  addCuda(r, cpu, "conv2dBackwardFilter", launchConv2dBackwardFilter);
}

}  // namespace cuda
}  // namespace ifa
