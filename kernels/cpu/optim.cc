// Optimizer updates, in place and multi-tensor: one launch updates every tensor of a parameter group.
//   sgd(grad0, …, gradK) → param0, …, paramK[, momentum0, …, momentumK]: torch.optim.SGD's step,
//       d = g + weightDecay·p; buf = firstStep ? d : momentum·buf + (1 − dampening)·d;
//       d = nesterov ? d + momentum·buf : buf (when momentum ≠ 0); p −= lr·d. The momentum buffers
//       may be left out when momentum = 0. Bytes 4·(|g| + 2|p| + 2|buf|); ≈ 7 FLOPs per element.
//   ema(source0, …, sourceK) → target0, …, targetK: MoCo's momentum encoder, t = m·t + (1 − m)·s.
//       Bytes 4·3|t|; 3 FLOPs per element.
// Float arithmetic in PyTorch's order (each scalar rounded to float as its CPU kernels do).
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu_kernels.h"
#include "parallel.h"

namespace ifa {
namespace {

constexpr int64_t kChunk = 1 << 14;

// Work split across every tensor of the group: (tensor, begin, end) pieces of at most kChunk.
struct Piece {
  size_t t;
  int64_t lo, hi;
};
std::vector<Piece> piecesOf(const std::vector<TensorView>& ts) {
  std::vector<Piece> out;
  for (size_t t = 0; t < ts.size(); t++)
    for (int64_t lo = 0, n = ts[t].numel(); lo < n; lo += kChunk) out.push_back({t, lo, std::min(n, lo + kChunk)});
  return out;
}

double finiteAttr(const KernelCall& c, const char* name) {
  double v = requiredAttr(c, name);
  if (!std::isfinite(v)) argFail(c, std::string("attrs.") + name + " must be a finite number, got " + std::to_string(v));
  return v;
}

void expectPairedShapes(const KernelCall& c, size_t k, size_t firstOut, const char* inName, const char* outName) {
  for (size_t i = 0; i < k; i++)
    if (c.outputs[firstOut + i].shape != c.inputs[i].shape)
      argFail(c, std::string(outName) + " " + std::to_string(i) + " shape " + shapeString(c.outputs[firstOut + i].shape) +
                     " differs from " + inName + " " + std::to_string(i) + " shape " + shapeString(c.inputs[i].shape));
}

void validateSgd(const KernelCall& c) {
  const size_t k = c.inputs.size();
  finiteAttr(c, "lr");
  double momentum = finiteAttr(c, "momentum"), dampening = finiteAttr(c, "dampening");
  finiteAttr(c, "weightDecay");
  if (momentum < 0) argFail(c, "attrs.momentum must be >= 0, got " + std::to_string(momentum));
  if (c.attrs.flag("nesterov") && (momentum <= 0 || dampening != 0))
    argFail(c, "nesterov momentum requires momentum > 0 and dampening = 0");
  bool withBuffers = c.outputs.size() == 2 * k;
  if (!withBuffers && !(c.outputs.size() == k && momentum == 0))
    argFail(c, "takes " + std::to_string(k) + " gradient(s), so expects " + std::to_string(2 * k) +
                   " outputs (parameters, then momentum buffers) or, with momentum 0, " + std::to_string(k) + "; got " +
                   std::to_string(c.outputs.size()));
  expectPairedShapes(c, k, 0, "gradient", "parameter");
  if (withBuffers) expectPairedShapes(c, k, k, "gradient", "momentum buffer");
}

template <bool Momentum, bool Nesterov, bool First>
void sgdPiece(const float* __restrict g, float* __restrict p, float* __restrict buf, int64_t n, float lr, float wd, float mom,
              float keep) {
  for (int64_t i = 0; i < n; i++) {
    float d = g[i];
    if (wd != 0.f) d = d + wd * p[i];
    if (Momentum) {
      float b = First ? d : buf[i] * mom + keep * d;
      buf[i] = b;
      d = Nesterov ? d + mom * b : b;
    }
    p[i] = p[i] + lr * d;
  }
}

void runSgd(const KernelCall& c) {
  const size_t k = c.inputs.size();
  const float lr = float(-c.attrs.at("lr")), wd = float(c.attrs.at("weightDecay"));
  const float mom = float(c.attrs.at("momentum")), keep = float(1.0 - c.attrs.at("dampening"));
  const bool useMomentum = mom != 0.f, nesterov = c.attrs.flag("nesterov"), first = c.attrs.flag("firstStep");
  auto pieces = piecesOf(c.inputs);
  parallelFor(0, int64_t(pieces.size()), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t j = lo; j < hi; j++) {
      const Piece& pc = pieces[j];
      const float* g = c.inputs[pc.t].data + pc.lo;
      float* p = c.outputs[pc.t].data + pc.lo;
      float* buf = useMomentum ? c.outputs[k + pc.t].data + pc.lo : nullptr;
      int64_t n = pc.hi - pc.lo;
      if (!useMomentum)
        sgdPiece<false, false, false>(g, p, buf, n, lr, wd, mom, keep);
      else if (first)
        nesterov ? sgdPiece<true, true, true>(g, p, buf, n, lr, wd, mom, keep) : sgdPiece<true, false, true>(g, p, buf, n, lr, wd, mom, keep);
      else
        nesterov ? sgdPiece<true, true, false>(g, p, buf, n, lr, wd, mom, keep) : sgdPiece<true, false, false>(g, p, buf, n, lr, wd, mom, keep);
    }
  });
}

void validateEma(const KernelCall& c) {
  if (c.outputs.size() != c.inputs.size())
    argFail(c, "takes " + std::to_string(c.inputs.size()) + " source(s) but " + std::to_string(c.outputs.size()) + " target(s)");
  double m = requiredAttr(c, "m");
  if (!(m >= 0 && m <= 1)) argFail(c, "attrs.m must be in [0, 1], got " + std::to_string(m));
  expectPairedShapes(c, c.inputs.size(), 0, "source", "target");
}

void runEma(const KernelCall& c) {
  const float m = float(c.attrs.at("m")), rest = float(1.0 - c.attrs.at("m"));
  auto pieces = piecesOf(c.inputs);
  parallelFor(0, int64_t(pieces.size()), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t j = lo; j < hi; j++) {
      const Piece& pc = pieces[j];
      const float* __restrict s = c.inputs[pc.t].data + pc.lo;
      float* __restrict t = c.outputs[pc.t].data + pc.lo;
      for (int64_t i = 0, n = pc.hi - pc.lo; i < n; i++) t[i] = t[i] * m + s[i] * rest;
    }
  });
}

}  // namespace

void registerOptimKernels(KernelRegistry& r) {
  // float32 only: parameters, momenta and MoCo's key encoder are fp32 masters in mixed precision.
  r.add("sgd", {-1, -1, validateSgd, runSgd}).inPlace();
  r.add("ema", {-1, -1, validateEma, runEma}).inPlace();
}

}  // namespace ifa
