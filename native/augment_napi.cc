// `addon.augment`: the loader's augmentation kernels (kernels/cpu/augment.h) for JS, synchronous on
// the calling thread (a loader worker). Arguments are checked here — typed-array kinds, lengths
// against w·h, no overlap where the kernel reads neighbours — so a bad call is a TypeError or
// RangeError naming the kernel and the argument, never a stray write.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "../kernels/cpu/augment.h"

namespace ifa {
namespace {

constexpr int64_t kMaxSide = 1 << 16;

[[noreturn]] void fail(Napi::Env env, const std::string& fn, const std::string& msg, bool type = false) {
  std::string m = "augment." + fn + ": " + msg;
  if (type) throw Napi::TypeError::New(env, m);
  throw Napi::RangeError::New(env, m);
}

template <typename T>
struct View {
  T* data;
  int64_t length;
};

template <typename T>
View<T> arrayArg(const Napi::CallbackInfo& info, const std::string& fn, size_t i, napi_typedarray_type kind, const char* kindName, const char* what) {
  if (i >= info.Length() || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != kind)
    fail(info.Env(), fn, std::string(what) + " must be a " + kindName, true);
  auto a = info[i].As<Napi::TypedArray>();
  auto* base = static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  return {reinterpret_cast<T*>(base), int64_t(a.ElementLength())};
}

View<float> floats(const Napi::CallbackInfo& info, const std::string& fn, size_t i, const char* what) {
  return arrayArg<float>(info, fn, i, napi_float32_array, "Float32Array", what);
}
View<double> doubles(const Napi::CallbackInfo& info, const std::string& fn, size_t i, const char* what) {
  return arrayArg<double>(info, fn, i, napi_float64_array, "Float64Array", what);
}

double number(const Napi::CallbackInfo& info, const std::string& fn, size_t i, const char* what) {
  if (i >= info.Length() || !info[i].IsNumber()) fail(info.Env(), fn, std::string(what) + " must be a number", true);
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) fail(info.Env(), fn, std::string(what) + " must be finite, got " + std::to_string(d));
  return d;
}

int64_t integer(const Napi::CallbackInfo& info, const std::string& fn, size_t i, const char* what, int64_t lo, int64_t hi) {
  double d = number(info, fn, i, what);
  if (std::floor(d) != d || d < double(lo) || d > double(hi))
    fail(info.Env(), fn, std::string(what) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(d));
  return int64_t(d);
}

void atLeast(Napi::Env env, const std::string& fn, int64_t have, int64_t need, const char* what) {
  if (have < need) fail(env, fn, std::string(what) + " holds " + std::to_string(have) + " values; the image needs " + std::to_string(need));
}

template <typename A, typename B>
void disjoint(Napi::Env env, const std::string& fn, View<A> a, View<B> b, int64_t n) {
  auto a0 = reinterpret_cast<uintptr_t>(a.data), a1 = a0 + sizeof(A) * size_t(n);
  auto b0 = reinterpret_cast<uintptr_t>(b.data), b1 = b0 + sizeof(B) * size_t(n);
  if (a0 < b1 && b0 < a1) fail(env, fn, "dst overlaps src (this kernel reads neighbouring pixels: give it another buffer)");
}

// (src, dst, w, h) at arguments 0–3, checked: the common head of the image kernels.
struct Image {
  View<float> src, dst;
  int w, h;
  int64_t n;
};
Image image(const Napi::CallbackInfo& info, const std::string& fn, bool mayAlias) {
  Image im{floats(info, fn, 0, "src"), floats(info, fn, 1, "dst"), 0, 0, 0};
  im.w = int(integer(info, fn, 2, "w", 1, kMaxSide));
  im.h = int(integer(info, fn, 3, "h", 1, kMaxSide));
  im.n = int64_t(im.w) * im.h;
  atLeast(info.Env(), fn, im.src.length, im.n, "src");
  atLeast(info.Env(), fn, im.dst.length, im.n, "dst");
  if (!mayAlias) disjoint(info.Env(), fn, im.src, im.dst, im.n);
  return im;
}

thread_local std::vector<float> scratch;
float* scratchFloats(int64_t n) {
  if (int64_t(scratch.size()) < n) scratch.resize(size_t(n));
  return scratch.data();
}

// unit16(src: Uint16Array, dst: Float32Array): dst[i] = src[i] / 65535 for every src value.
Napi::Value Unit16(const Napi::CallbackInfo& info) {
  const std::string fn = "unit16";
  auto src = arrayArg<uint16_t>(info, fn, 0, napi_uint16_array, "Uint16Array", "src");
  auto dst = floats(info, fn, 1, "dst");
  atLeast(info.Env(), fn, dst.length, src.length, "dst");
  augment::unit16(src.data, dst.data, src.length);
  return info.Env().Undefined();
}

// pointwiseChain(src, dst, n, stages: Float64Array, k, scale, shift)
Napi::Value Pointwise(const Napi::CallbackInfo& info) {
  const std::string fn = "pointwiseChain";
  auto src = floats(info, fn, 0, "src"), dst = floats(info, fn, 1, "dst");
  int64_t n = integer(info, fn, 2, "n", 0, int64_t(1) << 40);
  auto stages = doubles(info, fn, 3, "stages");
  int k = int(integer(info, fn, 4, "k", 0, 1 << 20));
  double scale = number(info, fn, 5, "scale"), shift = number(info, fn, 6, "shift");
  atLeast(info.Env(), fn, src.length, n, "src");
  atLeast(info.Env(), fn, dst.length, n, "dst");
  if (stages.length < 2 * int64_t(k)) fail(info.Env(), fn, "stages holds " + std::to_string(stages.length) + " values; k = " + std::to_string(k) + " needs " + std::to_string(2 * k));
  augment::pointwiseChain(src.data, dst.data, n, stages.data, k, scale, shift);
  return info.Env().Undefined();
}

// warpAffineInverse(src, dst, w, h, m: Float64Array(6))
Napi::Value WarpAffine(const Napi::CallbackInfo& info) {
  const std::string fn = "warpAffineInverse";
  Image im = image(info, fn, false);
  auto m = doubles(info, fn, 4, "m");
  if (m.length < 6) fail(info.Env(), fn, "m must hold the 6 coefficients of the inverse map");
  augment::warpAffineInverse(im.src.data, im.dst.data, im.w, im.h, m.data);
  return info.Env().Undefined();
}

// opticalDistortion(src, dst, w, h, k, dx, dy)
Napi::Value Optical(const Napi::CallbackInfo& info) {
  const std::string fn = "opticalDistortion";
  Image im = image(info, fn, false);
  double k = number(info, fn, 4, "k"), dx = number(info, fn, 5, "dx"), dy = number(info, fn, 6, "dy");
  augment::opticalDistortion(im.src.data, im.dst.data, im.w, im.h, k, dx, dy);
  return info.Env().Undefined();
}

// median3(src, dst, w, h)
Napi::Value Median3(const Napi::CallbackInfo& info) {
  const std::string fn = "median3";
  Image im = image(info, fn, false);
  augment::median3(im.src.data, im.dst.data, im.w, im.h, scratchFloats(3 * (int64_t(im.w) + 2)));
  return info.Env().Undefined();
}

// filterTaps(src, dst, w, h, dxy: Int32Array(2·taps), weights: Float64Array(taps))
Napi::Value FilterTaps(const Napi::CallbackInfo& info) {
  const std::string fn = "filterTaps";
  Image im = image(info, fn, false);
  auto dxy = arrayArg<int32_t>(info, fn, 4, napi_int32_array, "Int32Array", "dxy");
  auto wt = doubles(info, fn, 5, "weights");
  if (dxy.length != 2 * wt.length) fail(info.Env(), fn, "dxy must hold 2 offsets per weight (" + std::to_string(dxy.length) + " for " + std::to_string(wt.length) + ")");
  int64_t r = 0;
  for (int64_t i = 0; i < dxy.length; i++) r = std::max<int64_t>(r, std::abs(int64_t(dxy.data[i])));
  if (r > 64) fail(info.Env(), fn, "tap offsets reach " + std::to_string(r) + " pixels; at most 64");
  float* pad = scratchFloats((im.w + 2 * r) * (im.h + 2 * r));
  augment::filterTaps(im.src.data, im.dst.data, im.w, im.h, dxy.data, wt.data, int(wt.length), pad);
  return info.Env().Undefined();
}

// sharpen(src, dst, w, h, alpha, lightness)
Napi::Value Sharpen(const Napi::CallbackInfo& info) {
  const std::string fn = "sharpen";
  Image im = image(info, fn, false);
  double alpha = number(info, fn, 4, "alpha"), lightness = number(info, fn, 5, "lightness");
  float* s = scratchFloats((int64_t(im.w) + 2) * (im.h + 2) + int64_t(im.w) * (im.h + 2));
  augment::sharpen(im.src.data, im.dst.data, im.w, im.h, alpha, lightness, s);
  return info.Env().Undefined();
}

// A noise step's 32-bit seed (plan.ts): the kernels hash it into their key.
uint32_t seedArg(const Napi::CallbackInfo& info, const std::string& fn, size_t i) {
  return uint32_t(integer(info, fn, i, "seed", 0, int64_t(0xffffffff)));
}

// gaussNoise(src, dst, n, sigma, seed, table: Float64Array(4097)); dst may be src.
Napi::Value GaussNoise(const Napi::CallbackInfo& info) {
  const std::string fn = "gaussNoise";
  auto src = floats(info, fn, 0, "src"), dst = floats(info, fn, 1, "dst");
  int64_t n = integer(info, fn, 2, "n", 0, int64_t(1) << 32);
  double sigma = number(info, fn, 3, "sigma");
  uint32_t seed = seedArg(info, fn, 4);
  auto table = doubles(info, fn, 5, "table");
  if (table.length != 4097) fail(info.Env(), fn, "table must hold the 4097 quantiles, got " + std::to_string(table.length));
  atLeast(info.Env(), fn, src.length, n, "src");
  atLeast(info.Env(), fn, dst.length, n, "dst");
  augment::gaussNoise(src.data, dst.data, n, sigma, augment::noiseKey(seed), table.data);
  return info.Env().Undefined();
}

// multiplicativeNoise(src, dst, n, lo, hi, seed); dst may be src.
Napi::Value MultNoise(const Napi::CallbackInfo& info) {
  const std::string fn = "multiplicativeNoise";
  auto src = floats(info, fn, 0, "src"), dst = floats(info, fn, 1, "dst");
  int64_t n = integer(info, fn, 2, "n", 0, int64_t(1) << 32);
  double lo = number(info, fn, 3, "lo"), hi = number(info, fn, 4, "hi");
  uint32_t seed = seedArg(info, fn, 5);
  atLeast(info.Env(), fn, src.length, n, "src");
  atLeast(info.Env(), fn, dst.length, n, "dst");
  augment::multiplicativeNoise(src.data, dst.data, n, lo, hi, augment::noiseKey(seed));
  return info.Env().Undefined();
}

}  // namespace

void registerAugment(Napi::Env env, Napi::Object exports) {
  Napi::Object a = Napi::Object::New(env);
  a.Set("unit16", Napi::Function::New(env, Unit16, "unit16"));
  a.Set("pointwiseChain", Napi::Function::New(env, Pointwise, "pointwiseChain"));
  a.Set("warpAffineInverse", Napi::Function::New(env, WarpAffine, "warpAffineInverse"));
  a.Set("opticalDistortion", Napi::Function::New(env, Optical, "opticalDistortion"));
  a.Set("median3", Napi::Function::New(env, Median3, "median3"));
  a.Set("filterTaps", Napi::Function::New(env, FilterTaps, "filterTaps"));
  a.Set("sharpen", Napi::Function::New(env, Sharpen, "sharpen"));
  a.Set("gaussNoise", Napi::Function::New(env, GaussNoise, "gaussNoise"));
  a.Set("multiplicativeNoise", Napi::Function::New(env, MultNoise, "multiplicativeNoise"));
  exports.Set("augment", a);
}

}  // namespace ifa
