// Optimizer updates over all parameters in one multi-tensor launch each: the tensors are cut into
// chunks of ≤ 64K elements, a table of chunk pointers goes to the device (stream-ordered scratch),
// and block b updates chunk b.
//   sgd(grad0…gradK) → param0…paramK[, momentum0…momentumK] (in place), attrs {lr, momentum,
//       weightDecay, dampening, nesterov, firstStep}: PyTorch's SGD, as the CPU kernel.
//       Bytes 4·(2 + 2·[momentum])·|params|·… read+write; ≈ 6 FLOPs per element.
//   ema(source0…sourceK) → target0…targetK (in place), attrs {m}: t = m·t + (1 − m)·s. Bytes 4·3|t|.
#include <vector>

#include "common.cuh"

namespace ifa {
namespace cuda {
namespace {

constexpr int64_t kChunk = 1 << 16;

struct SgdChunk {
  const float* g;
  float* p;
  float* buf;  // null without momentum
  int64_t n;
};
struct EmaChunk {
  const float* s;
  float* t;
  int64_t n;
  int64_t pad;
};

struct SgdArgs {
  float lr, wd, mom, keep;
  bool useMomentum, nesterov, first;
};

__global__ void sgdKernel(const SgdChunk* __restrict chunks, SgdArgs a) {
  const SgdChunk ck = chunks[blockIdx.x];
  for (int64_t i = threadIdx.x; i < ck.n; i += blockDim.x) {
    float d = ck.g[i];
    if (a.wd != 0.f) d = d + a.wd * ck.p[i];
    if (a.useMomentum) {
      const float b = a.first ? d : ck.buf[i] * a.mom + a.keep * d;
      ck.buf[i] = b;
      d = a.nesterov ? d + a.mom * b : b;
    }
    ck.p[i] = ck.p[i] + a.lr * d;
  }
}

__global__ void emaKernel(const EmaChunk* __restrict chunks, float m, float rest) {
  const EmaChunk ck = chunks[blockIdx.x];
  for (int64_t i = threadIdx.x; i < ck.n; i += blockDim.x) ck.t[i] = ck.t[i] * m + ck.s[i] * rest;
}

void launchSgd(const KernelCall& c) {
  const size_t k = c.inputs.size();
  SgdArgs a;
  a.lr = float(-c.attrs.at("lr"));
  a.wd = float(c.attrs.at("weightDecay"));
  a.mom = float(c.attrs.at("momentum"));
  a.keep = float(1.0 - c.attrs.at("dampening"));
  a.useMomentum = a.mom != 0.f;
  a.nesterov = c.attrs.flag("nesterov");
  a.first = c.attrs.flag("firstStep");
  std::vector<SgdChunk> chunks;
  for (size_t t = 0; t < k; t++) {
    const int64_t n = c.inputs[t].numel();
    for (int64_t lo = 0; lo < n; lo += kChunk)
      chunks.push_back({c.inputs[t].data + lo, c.outputs[t].data + lo, a.useMomentum ? c.outputs[k + t].data + lo : nullptr,
                        n - lo < kChunk ? n - lo : kChunk});
  }
  if (chunks.empty()) return;
  if (chunks.size() > 2147483647u) throw CudaError(c.name + ": too many chunks");
  ScratchArray<SgdChunk> table(chunks, "sgd chunk table");
  sgdKernel<<<unsigned(chunks.size()), 256, 0, stream()>>>(table.get(), a);
  checkLaunch(c, "sgdKernel");
}

void launchEma(const KernelCall& c) {
  const double m = c.attrs.at("m");
  std::vector<EmaChunk> chunks;
  for (size_t t = 0; t < c.inputs.size(); t++) {
    const int64_t n = c.inputs[t].numel();
    for (int64_t lo = 0; lo < n; lo += kChunk) chunks.push_back({c.inputs[t].data + lo, c.outputs[t].data + lo, n - lo < kChunk ? n - lo : kChunk, 0});
  }
  if (chunks.empty()) return;
  ScratchArray<EmaChunk> table(chunks, "ema chunk table");
  emaKernel<<<unsigned(chunks.size()), 256, 0, stream()>>>(table.get(), float(m), float(1.0 - m));
  checkLaunch(c, "emaKernel");
}

}  // namespace

void registerOptim(KernelRegistry& r, const KernelRegistry& cpu) {
  addCuda(r, cpu, "sgd", launchSgd);
  addCuda(r, cpu, "ema", launchEma);
}

}  // namespace cuda
}  // namespace ifa
