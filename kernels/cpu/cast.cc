// Half precision on the CPU: the cast kernel, and the one adapter that gives an fp32 kernel body
// bfloat16 and float16 tensors.
//   cast(x) → y: y = x in y's dtype, any of the 9 pairs; widening is exact, narrowing rounds to
//       nearest even (native/dtype.h). Bytes |x|·size(x) + |y|·size(y); no FLOPs.
//   halfByConversion(def): half inputs are widened into fp32 temporaries (exact), the unchanged fp32
//       body runs, and half outputs are rounded back (in-place outputs are widened first). That is
//       the CPU's half reference, "fp32 math on rounded inputs, rounded outputs", which the CUDA half
//       kernels are tested against. It costs a copy of every half tensor each way, which a reference
//       can afford.
#include <cstring>
#include <vector>

#include "cpu_kernels.h"
#include "parallel.h"

namespace ifa {
namespace {

constexpr int64_t kGrain = 1 << 15;

// dst[i] = v[i] as float, for a bfloat16 or float16 view.
void widen(const TensorView& v, float* dst) {
  const uint16_t* src = v.as<uint16_t>();
  const DType t = v.dtype;
  parallelFor(0, v.numel(), kGrain, [&](int64_t lo, int64_t hi) {
    if (t == DType::BFloat16)
      for (int64_t i = lo; i < hi; i++) dst[i] = bf16ToFloat(src[i]);
    else
      for (int64_t i = lo; i < hi; i++) dst[i] = halfToFloat(src[i]);
  });
}

// v[i] = src[i] rounded to v's half dtype.
void narrow(const float* src, const TensorView& v) {
  uint16_t* dst = v.as<uint16_t>();
  const DType t = v.dtype;
  parallelFor(0, v.numel(), kGrain, [&](int64_t lo, int64_t hi) {
    if (t == DType::BFloat16)
      for (int64_t i = lo; i < hi; i++) dst[i] = floatToBf16(src[i]);
    else
      for (int64_t i = lo; i < hi; i++) dst[i] = floatToHalf(src[i]);
  });
}

void runCast(const KernelCall& c) {
  const TensorView& x = c.inputs[0];
  const TensorView& y = c.outputs[0];
  const int64_t n = x.numel();
  if (x.dtype == y.dtype) {
    std::memcpy(y.ptr, x.ptr, size_t(n) * dtypeSize(x.dtype));
  } else if (x.dtype == DType::Float32) {
    narrow(x.as<float>(), y);
  } else if (y.dtype == DType::Float32) {
    widen(x, y.as<float>());
  } else {
    // bfloat16 ↔ float16: the widened value is exact, so this rounds once.
    std::vector<float> tmp(static_cast<size_t>(n));
    widen(x, tmp.data());
    narrow(tmp.data(), y);
  }
}

}  // namespace

KernelDef& halfByConversion(KernelDef& def) {
  auto body = def.run;
  const bool inPlace = def.updatesOutputs;
  def.dtypes.assign(std::begin(kAllDTypes), std::end(kAllDTypes));
  def.run = [body, inPlace](const KernelCall& c) {
    bool half = false;
    for (auto* list : {&c.inputs, &c.outputs})
      for (const TensorView& v : *list) half = half || isHalf(v.dtype);
    if (!half) return body(c);
    KernelCall f = c;
    std::vector<std::vector<float>> temps;
    temps.reserve(c.inputs.size() + c.outputs.size());
    auto toFloat32 = [&](TensorView& v, bool fill) {
      temps.emplace_back(size_t(v.numel()));
      float* p = temps.back().data();
      if (fill) widen(v, p);
      v.ptr = p;
      v.data = p;
      v.dtype = DType::Float32;
    };
    for (TensorView& v : f.inputs)
      if (isHalf(v.dtype)) toFloat32(v, true);
    for (TensorView& v : f.outputs)
      if (isHalf(v.dtype)) toFloat32(v, inPlace);
    body(f);
    for (size_t i = 0; i < c.outputs.size(); i++)
      if (isHalf(c.outputs[i].dtype)) narrow(f.outputs[i].data, c.outputs[i]);
  };
  return def;
}

void registerCastKernels(KernelRegistry& r) {
  KernelDef& cast = r.add("cast", {1, 1,
                                   [](const KernelCall& c) {
                                     expectSameShape(c, c.outputs[0].shape, c.inputs[0].shape, "output");
                                   },
                                   runCast});
  cast.anyDtype = true;
  cast.dtypes.assign(std::begin(kAllDTypes), std::end(kAllDTypes));
}

}  // namespace ifa
