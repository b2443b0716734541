// N-API entry points of ifa_native. Every entry point checks its arguments and throws a TypeError or
// RangeError naming itself; kernels are checked here (dtypes against the kernel's contract, then the
// validator) and run on the CPU stream thread (CPU buffers) or are launched on the CUDA stream (CUDA
// buffers; see cuda_device.h). Each entry point dispatches on the device of the buffers it is given;
// a kernel's buffers must all be on one device. Buffers hold float32, bfloat16 or float16; JS always
// sees Float32Arrays, converted here on the host (round to nearest even one way, exact the other).
#include <napi.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <mutex>
#include <new>
#include <sstream>
#include <vector>

#ifndef _WIN32
#include <fcntl.h>
#include <unistd.h>
#endif

#include "../kernels/cpu/cpu_kernels.h"
#include "../kernels/cpu/parallel.h"
#include "cpu_stream.h"
#include "cuda_device.h"
#include "cuda_info.h"
#include "cuda_kernels.h"
#include "kernel_registry.h"
#include "storage.h"

#ifndef IFA_VERSION
#define IFA_VERSION "0.0.0"
#endif
#ifndef IFA_BUILD_SYSTEM
#define IFA_BUILD_SYSTEM "unknown"
#endif

namespace ifa {

std::string shapeString(const Shape& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); i++) o << (i ? "," : "") << s[i];
  o << "]";
  return o.str();
}

KernelRegistry& KernelRegistry::cpu() {
  static KernelRegistry r;
  return r;
}

KernelRegistry& KernelRegistry::cuda() {
  static KernelRegistry r;
  return r;
}

void argFail(const KernelCall& c, const std::string& msg) { throw ArgError(c.name + ": " + msg); }

double requiredAttr(const KernelCall& c, const char* name) {
  if (!c.attrs.has(name)) argFail(c, std::string("attrs.") + name + " is required");
  return c.attrs.number(name, 0);
}

void expectSameShape(const KernelCall& c, const Shape& got, const Shape& want, const char* what) {
  if (got != want)
    argFail(c, std::string(what) + " shape " + shapeString(got) + " should be " + shapeString(want));
}

Shape broadcastShapes(const KernelCall& c, const Shape& a, const Shape& b) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; i++) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      argFail(c, "shapes " + shapeString(a) + " and " + shapeString(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace {

constexpr double kMaxSafe = 9007199254740991.0;
constexpr int64_t kMaxNumel = int64_t(1) << 36;  // 256 GiB of float32: larger is surely a mistake
constexpr size_t kMaxRank = 8;

struct ReadJob {
  Napi::Promise::Deferred deferred;
  Napi::Reference<Napi::Float32Array> target;  // empty for sync()
  std::string error;
  bool hasValue = false;  // resolve with `value` (a number) instead
  double value = 0;
  struct AddonState* owner = nullptr;  // the environment (main thread or worker) that asked
};

void deliverRead(Napi::Env env, Napi::Function, std::nullptr_t*, ReadJob* job);
using ReadTsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, ReadJob, deliverRead>;

// Per environment: the addon may be loaded by the main thread and by worker threads (the data
// loader's workers call its augmentation kernels), each with its own delivery function. The CPU
// stream and the CUDA device are process-wide; they are shut down with the last environment.
struct AddonState {
  ReadTsfn tsfn;
  int pendingReads = 0;
};
std::atomic<int> liveEnvs{0};

AddonState* stateOf(Napi::Env env) { return env.GetInstanceData<AddonState>(); }

// A new read job of env's, counted so the delivery function keeps the loop alive until it arrives.
ReadJob* newReadJob(Napi::Env env) {
  auto job = new ReadJob{Napi::Promise::Deferred::New(env), {}, {}};
  job->owner = stateOf(env);
  return job;
}
void countPending(Napi::Env env, AddonState* st) {
  if (st->pendingReads++ == 0) st->tsfn.Ref(env);
}

void deliverRead(Napi::Env env, Napi::Function, std::nullptr_t*, ReadJob* job) {
  if (env != nullptr) {
    if (!job->error.empty()) {
      job->deferred.Reject(Napi::Error::New(env, job->error).Value());
    } else if (job->hasValue) {
      job->deferred.Resolve(Napi::Number::New(env, job->value));
    } else if (job->target.IsEmpty()) {
      job->deferred.Resolve(env.Undefined());
    } else {
      job->deferred.Resolve(job->target.Value());
    }
    if (--job->owner->pendingReads == 0) job->owner->tsfn.Unref(env);
  } else {
    job->target.SuppressDestruct();  // the environment is going away; nothing to release into
  }
  delete job;
}

[[noreturn]] void typeError(Napi::Env env, const std::string& fn, const std::string& msg) {
  throw Napi::TypeError::New(env, "ifa_native." + fn + ": " + msg);
}
[[noreturn]] void rangeError(Napi::Env env, const std::string& fn, const std::string& msg) {
  throw Napi::RangeError::New(env, "ifa_native." + fn + ": " + msg);
}

// "cpu" (also when undefined) or "cuda".
Device deviceArg(Napi::Env env, const std::string& fn, const Napi::Value& v) {
  if (v.IsUndefined()) return Device::Cpu;
  if (!v.IsString()) typeError(env, fn, "device must be 'cpu' or 'cuda'");
  std::string d = v.As<Napi::String>().Utf8Value();
  if (d == "cpu") return Device::Cpu;
  if (d == "cuda") {
    if (!cudaCompiledIn()) rangeError(env, fn, "device 'cuda': the addon was built without CUDA");
    return Device::Cuda;
  }
  typeError(env, fn, "device must be 'cpu' or 'cuda', got '" + d.substr(0, 32) + "'");
}

// "float32" (also when undefined), "bfloat16" or "float16".
DType dtypeArg(Napi::Env env, const std::string& fn, const Napi::Value& v) {
  const char* allowed = "dtype must be 'float32', 'bfloat16' or 'float16'";
  if (v.IsUndefined()) return DType::Float32;
  if (!v.IsString()) typeError(env, fn, allowed);
  std::string s = v.As<Napi::String>().Utf8Value();
  DType d;
  if (!parseDType(s, &d)) typeError(env, fn, std::string(allowed) + ", got '" + s.substr(0, 32) + "'");
  return d;
}

// Host conversions between JS's float32 values and a buffer's dtype.
void encodeFloats(const float* src, void* dst, size_t n, DType t) {
  if (t == DType::Float32) {
    std::memcpy(dst, src, n * sizeof(float));
    return;
  }
  uint16_t* h = static_cast<uint16_t*>(dst);
  for (size_t i = 0; i < n; i++) h[i] = fromFloat(t, src[i]);
}
void decodeFloats(const void* src, float* dst, size_t n, DType t) {
  if (t == DType::Float32) {
    std::memcpy(dst, src, n * sizeof(float));
    return;
  }
  const uint16_t* h = static_cast<const uint16_t*>(src);
  for (size_t i = 0; i < n; i++) dst[i] = toFloat(t, h[i]);
}

// Rethrows a failure of a CUDA call as a JS error naming fn: out of memory as a RangeError with the
// requested and free bytes, anything else as an Error.
[[noreturn]] void rethrowDeviceError(Napi::Env env, const std::string& fn) {
  try {
    throw;
  } catch (const Napi::Error&) {
    throw;
  } catch (const CudaOutOfMemory& e) {
    rangeError(env, fn, e.what());
  } catch (const ArgError& e) {
    if (e.isType) typeError(env, fn, e.what());
    rangeError(env, fn, e.what());
  } catch (const std::bad_alloc&) {
    rangeError(env, fn, "out of host memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, "ifa_native." + fn + ": " + e.what());
  }
}

void expectArgs(const Napi::CallbackInfo& info, const std::string& fn, size_t min, size_t max) {
  if (info.Length() < min || info.Length() > max) {
    std::string want = min == max ? std::to_string(min) : std::to_string(min) + "-" + std::to_string(max);
    typeError(info.Env(), fn, "expects " + want + " argument(s), got " + std::to_string(info.Length()));
  }
}

int64_t integerArg(Napi::Env env, const std::string& fn, const Napi::Value& v, const std::string& what,
                   double lo, double hi) {
  if (!v.IsNumber()) typeError(env, fn, what + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d) rangeError(env, fn, what + " must be a finite integer, got " + std::to_string(d));
  if (d < lo || d > hi)
    rangeError(env, fn, what + " must be in [" + std::to_string(int64_t(lo)) + ", " + std::to_string(int64_t(hi)) + "], got " + std::to_string(int64_t(d)));
  return int64_t(d);
}

std::shared_ptr<Buffer> bufferArg(Napi::Env env, const std::string& fn, const Napi::Value& v, const std::string& what) {
  if (!v.IsNumber()) typeError(env, fn, what + " must be a buffer handle (number)");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < 1 || d > kMaxSafe)
    typeError(env, fn, what + " is not a buffer handle");
  auto buf = BufferTable::instance().find(uint64_t(d));
  if (!buf) rangeError(env, fn, what + " (handle " + std::to_string(uint64_t(d)) + ") is not a live buffer: it was disposed or never allocated");
  return buf;
}

Shape shapeArg(Napi::Env env, const std::string& fn, const Napi::Value& v, const std::string& what) {
  if (!v.IsArray()) typeError(env, fn, what + " must be an array of dimensions");
  auto arr = v.As<Napi::Array>();
  if (arr.Length() > kMaxRank) rangeError(env, fn, what + " has rank " + std::to_string(arr.Length()) + "; at most 8 is supported");
  Shape s;
  int64_t n = 1;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    int64_t d = integerArg(env, fn, arr.Get(i), what + "[" + std::to_string(i) + "]", 0, double(kMaxNumel));
    s.push_back(d);
    if (d != 0 && n > kMaxNumel / d) rangeError(env, fn, what + " " + shapeString(s) + "... is too large");
    n *= d;
  }
  return s;
}

// [[handle, shape], ...] → views; each shape must hold exactly the buffer's element count.
std::vector<TensorView> tensorsArg(Napi::Env env, const std::string& fn, const Napi::Value& v, const std::string& what) {
  if (!v.IsArray()) typeError(env, fn, what + " must be an array of [handle, shape] pairs");
  auto arr = v.As<Napi::Array>();
  if (arr.Length() > 1024) rangeError(env, fn, what + " has " + std::to_string(arr.Length()) + " entries; at most 1024");
  std::vector<TensorView> out;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    std::string name = what + "[" + std::to_string(i) + "]";
    Napi::Value pair = arr.Get(i);
    if (!pair.IsArray() || pair.As<Napi::Array>().Length() != 2) typeError(env, fn, name + " must be a [handle, shape] pair");
    auto p = pair.As<Napi::Array>();
    TensorView t;
    t.buffer = bufferArg(env, fn, p.Get(0u), name);
    t.shape = shapeArg(env, fn, p.Get(1u), name + " shape");
    if (uint64_t(t.numel()) != t.buffer->numel)
      rangeError(env, fn, name + " shape " + shapeString(t.shape) + " has " + std::to_string(t.numel()) +
                              " elements but its buffer holds " + std::to_string(t.buffer->numel));
    t.dtype = t.buffer->dtype;
    t.ptr = t.buffer->data;
    t.data = t.dtype == DType::Float32 ? static_cast<float*>(t.ptr) : nullptr;
    out.push_back(std::move(t));
  }
  return out;
}

Attrs attrsArg(Napi::Env env, const std::string& fn, const Napi::Value& v) {
  Attrs a;
  if (v.IsUndefined() || v.IsNull()) return a;
  if (!v.IsObject() || v.IsArray()) typeError(env, fn, "attrs must be a plain object");
  auto obj = v.As<Napi::Object>();
  auto keys = obj.GetPropertyNames();
  if (keys.Length() > 64) rangeError(env, fn, "attrs has too many keys");
  for (uint32_t i = 0; i < keys.Length(); i++) {
    Napi::Value kv = keys.Get(i);
    std::string key = kv.ToString().Utf8Value();
    Napi::Value val = obj.Get(kv);
    if (val.IsNumber()) {
      a.numbers[key] = val.As<Napi::Number>().DoubleValue();
    } else if (val.IsBoolean()) {
      a.numbers[key] = val.As<Napi::Boolean>().Value() ? 1 : 0;
    } else if (val.IsArray()) {
      auto arr = val.As<Napi::Array>();
      if (arr.Length() > 65536) rangeError(env, fn, "attrs." + key + " is too long (at most 65536 entries)");
      std::vector<int64_t> list;
      for (uint32_t j = 0; j < arr.Length(); j++)
        list.push_back(integerArg(env, fn, arr.Get(j), "attrs." + key + "[" + std::to_string(j) + "]", -double(kMaxNumel), double(kMaxNumel)));
      a.lists[key] = std::move(list);
    } else if (!val.IsUndefined()) {
      typeError(env, fn, "attrs." + key + " must be a number, boolean or array of integers");
    }
  }
  return a;
}

// alloc(numel[, data: Float32Array[, device[, dtype]]]) → handle; data is rounded to the dtype.
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expectArgs(info, "alloc", 1, 4);
  int64_t n = integerArg(env, "alloc", info[0], "numel", 0, double(kMaxNumel));
  const float* src = nullptr;
  const Device device = deviceArg(env, "alloc", info.Length() > 2 ? info[2] : env.Undefined());
  const DType dtype = dtypeArg(env, "alloc", info.Length() > 3 ? info[3] : env.Undefined());
  if (info.Length() >= 2 && !info[1].IsUndefined()) {
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      typeError(env, "alloc", "data must be a Float32Array");
    auto arr = info[1].As<Napi::Float32Array>();
    if (int64_t(arr.ElementLength()) != n)
      rangeError(env, "alloc", "data has " + std::to_string(arr.ElementLength()) + " elements, numel is " + std::to_string(n));
    src = arr.Data();
  }
  std::shared_ptr<Buffer> buf;
  try {
    buf = std::make_shared<Buffer>(device, size_t(n), dtype);
  } catch (const std::bad_alloc&) {
    rangeError(env, "alloc", "out of host memory allocating " + std::to_string(n * int64_t(dtypeSize(dtype))) + " bytes");
  } catch (...) {
    rethrowDeviceError(env, "alloc");
  }
#ifdef IFA_WITH_CUDA
  if (device == Device::Cuda) {
    try {
      if (src && n) {
        std::vector<uint16_t> half;
        const void* bytes = src;
        if (isHalf(dtype)) {
          half.resize(size_t(n));
          encodeFloats(src, half.data(), size_t(n), dtype);
          bytes = half.data();
        }
        cuda::uploadBytes(buf->data, bytes, buf->bytes(), "alloc");
      }
    } catch (...) {
      rethrowDeviceError(env, "alloc");
    }
    return Napi::Number::New(env, double(BufferTable::instance().add(std::move(buf))));
  }
#endif
  // A fresh buffer is referenced by no queued task, so it can be filled here synchronously.
  if (src && n) encodeFloats(src, buf->data, size_t(n), dtype);
  return Napi::Number::New(env, double(BufferTable::instance().add(std::move(buf))));
}

// free(handle) → true when it was live
Napi::Value Free(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expectArgs(info, "free", 1, 1);
  if (!info[0].IsNumber()) typeError(env, "free", "handle must be a number");
  double d = info[0].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < 1 || d > kMaxSafe) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(env, BufferTable::instance().remove(uint64_t(d)));
}

// write(handle, data: Float32Array): rounded to the buffer's dtype; queued behind earlier work.
Napi::Value Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expectArgs(info, "write", 2, 2);
  auto buf = bufferArg(env, "write", info[0], "handle");
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    typeError(env, "write", "data must be a Float32Array");
  auto arr = info[1].As<Napi::Float32Array>();
  if (arr.ElementLength() != buf->numel)
    rangeError(env, "write", "data has " + std::to_string(arr.ElementLength()) + " elements, the buffer holds " + std::to_string(buf->numel));
#ifdef IFA_WITH_CUDA
  if (buf->device == Device::Cuda) {
    try {
      // upload() copies into pinned staging before it returns, so the source may go at once.
      if (buf->dtype == DType::Float32) {
        cuda::uploadBytes(buf->data, arr.Data(), buf->bytes(), "write");
      } else {
        std::vector<uint16_t> half(buf->numel);
        encodeFloats(arr.Data(), half.data(), buf->numel, buf->dtype);
        cuda::uploadBytes(buf->data, half.data(), buf->bytes(), "write");
      }
    } catch (...) {
      rethrowDeviceError(env, "write");
    }
    return env.Undefined();
  }
#endif
  // The encoded bytes, taken now: JS may change the array once write() returns.
  auto copy = std::make_shared<std::vector<uint8_t>>(buf->bytes());
  encodeFloats(arr.Data(), copy->data(), buf->numel, buf->dtype);
  CpuStream::instance().enqueue("write", [buf, copy] { std::memcpy(buf->data, copy->data(), copy->size()); });
  return env.Undefined();
}

// buf null: a sync of `device`'s stream.
Napi::Value enqueueRead(Napi::Env env, std::shared_ptr<Buffer> buf, Device device = Device::Cpu) {
  if (buf) device = buf->device;
  (void)device;  // only read in a build with CUDA
  auto job = newReadJob(env);
  float* dst = nullptr;
  if (buf) {
    auto arr = Napi::Float32Array::New(env, buf->numel);
    dst = arr.Data();
    job->target = Napi::Persistent(arr);
  }
  Napi::Promise promise = job->deferred.Promise();
#ifdef IFA_WITH_CUDA
  if (device == Device::Cuda) {
    try {
      // buf is captured so the block outlives the copy even if JS frees the handle meanwhile; dst
      // belongs to job->target, alive until the job is delivered.
      cuda::download(buf ? buf->data : nullptr, buf ? buf->bytes() : 0, [job, buf, dst](const std::string& err, const void* staged) {
        if (staged && buf) decodeFloats(staged, dst, buf->numel, buf->dtype);
        job->error = err;
        job->owner->tsfn.NonBlockingCall(job);
      });
    } catch (...) {
      delete job;
      rethrowDeviceError(env, buf ? "read" : "sync");
    }
    countPending(env, job->owner);
    return promise;
  }
#endif
  countPending(env, job->owner);
  CpuStream::instance().enqueue("read", [job, buf, dst] {
    if (buf && buf->numel) decodeFloats(buf->data, dst, buf->numel, buf->dtype);
    std::string err = CpuStream::instance().takeError();
    if (!err.empty()) job->error = "CPU stream: " + err;
    job->owner->tsfn.BlockingCall(job);
  });
  return promise;
}

// read(handle) → Promise<Float32Array>, resolved when the stream reaches it (half values widened,
// exactly).
Napi::Value Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expectArgs(info, "read", 1, 1);
  return enqueueRead(env, bufferArg(env, "read", info[0], "handle"));
}

// sync(device = 'cpu') → Promise<void>, resolved when all work queued on that device is done
// (rejects with a kernel's error).
Napi::Value Sync(const Napi::CallbackInfo& info) {
  expectArgs(info, "sync", 0, 1);
  Device d = deviceArg(info.Env(), "sync", info.Length() ? info[0] : info.Env().Undefined());
  return enqueueRead(info.Env(), nullptr, d);
}

// The call's dtypes against the kernel's contract (KernelDef roles and dtypes); "" when they fit.
std::string dtypeMismatch(const KernelDef& def, const KernelCall& c, Device device) {
  if (def.anyDtype) return "";
  const TensorView* first = nullptr;
  std::string firstName;
  auto slots = [&](const std::vector<TensorView>& ts, const char* what, bool outputs) -> std::string {
    for (size_t i = 0; i < ts.size(); i++) {
      const char role = outputs ? def.outputRole(i) : def.inputRole(i);
      const DType got = ts[i].dtype;
      const std::string here = std::string(what) + " " + std::to_string(i);
      if (role == 'F') {
        if (got != DType::Float32) return here + " (float32 expected) is " + dtypeName(got);
      } else if (!first) {
        first = &ts[i];
        firstName = here;
        if (!def.takes(got)) {
          std::string list;
          for (DType d : def.accepted()) list += std::string(list.empty() ? "" : ", ") + dtypeName(d);
          return here + " is " + dtypeName(got) + ", but the " + deviceName(device) + " " + c.name + " kernel takes " + list;
        }
      } else if (got != first->dtype) {
        return here + " (" + dtypeName(first->dtype) + " expected, the dtype of " + firstName + ") is " + dtypeName(got);
      }
    }
    return "";
  };
  std::string e = slots(c.inputs, "input", false);
  return e.empty() ? slots(c.outputs, "output", true) : e;
}

// The call's tensor counts against the kernel's; "" when they fit.
std::string countMismatch(const KernelDef& def, const KernelCall& c) {
  if (def.inputs >= 0 && int(c.inputs.size()) != def.inputs)
    return "expects " + std::to_string(def.inputs) + " input(s), got " + std::to_string(c.inputs.size());
  if (def.outputs >= 0 && int(c.outputs.size()) != def.outputs)
    return "expects " + std::to_string(def.outputs) + " output(s), got " + std::to_string(c.outputs.size());
  return "";
}

// validate(kernel, inputShapes, outputShapes, attrs?, device = 'cpu') → undefined, or throws what
// run() would throw for float32 tensors of these shapes: the tensor counts, then the kernel's own
// validator. It touches no memory. Messages are the validator's ("conv2d: …"), without run()'s
// "ifa_native.run: " prefix. Backends outside the addon (WebGPU) call it before they encode a
// dispatch, so every backend checks a call with the one validator and says the same thing.
Napi::Value Validate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expectArgs(info, "validate", 3, 5);
  if (!info[0].IsString()) typeError(env, "validate", "kernel name must be a string");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  Device device = deviceArg(env, "validate", info.Length() > 4 ? info[4] : env.Undefined());
  const KernelDef* def = (device == Device::Cuda ? KernelRegistry::cuda() : KernelRegistry::cpu()).find(name);
  if (!def) rangeError(env, "validate", "unknown kernel '" + name.substr(0, 64) + "' on " + deviceName(device));
  const std::string fn = "validate(" + name + ")";
  KernelCall call;
  call.name = name;
  auto shapes = [&](const Napi::Value& v, const std::string& what) {
    if (!v.IsArray()) typeError(env, fn, what + " must be an array of shapes");
    auto arr = v.As<Napi::Array>();
    if (arr.Length() > 1024) rangeError(env, fn, what + " has " + std::to_string(arr.Length()) + " entries; at most 1024");
    std::vector<TensorView> out;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      TensorView t;
      t.shape = shapeArg(env, fn, arr.Get(i), what + "[" + std::to_string(i) + "] shape");
      out.push_back(std::move(t));
    }
    return out;
  };
  call.inputs = shapes(info[1], "inputs");
  call.outputs = shapes(info[2], "outputs");
  call.attrs = attrsArg(env, fn, info.Length() > 3 ? info[3] : env.Undefined());
  const std::string counts = countMismatch(*def, call);
  if (!counts.empty()) throw Napi::TypeError::New(env, name + ": " + counts);
  try {
    def->validate(call);
  } catch (const ArgError& e) {
    if (e.isType) throw Napi::TypeError::New(env, e.what());
    throw Napi::RangeError::New(env, e.what());
  }
  return env.Undefined();
}

// run(kernel, inputs, outputs, attrs?)
Napi::Value Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expectArgs(info, "run", 3, 4);
  if (!info[0].IsString()) typeError(env, "run", "kernel name must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (!KernelRegistry::cpu().find(name) && !KernelRegistry::cuda().find(name))
    rangeError(env, "run", "unknown kernel '" + name.substr(0, 64) + "'");
  std::string fn = "run(" + name + ")";
  auto call = std::make_shared<KernelCall>();
  call->name = name;
  call->inputs = tensorsArg(env, fn, info[1], "inputs");
  call->outputs = tensorsArg(env, fn, info[2], "outputs");
  // The device is the buffers' device; all of them must agree.
  Device device = Device::Cpu;
  std::string firstName;
  bool any = false;
  auto checkDevice = [&](const std::vector<TensorView>& ts, const char* what) {
    for (size_t i = 0; i < ts.size(); i++) {
      std::string here = std::string(what) + "[" + std::to_string(i) + "]";
      if (!any) {
        any = true;
        device = ts[i].buffer->device;
        firstName = here;
      } else if (ts[i].buffer->device != device) {
        typeError(env, fn, "buffers are on different devices: " + firstName + " is on " + deviceName(device) + ", " + here +
                               " is on " + deviceName(ts[i].buffer->device));
      }
    }
  };
  checkDevice(call->inputs, "inputs");
  checkDevice(call->outputs, "outputs");
  const KernelDef* def = (device == Device::Cuda ? KernelRegistry::cuda() : KernelRegistry::cpu()).find(name);
  if (!def) rangeError(env, "run", "kernel '" + name + "' has no " + deviceName(device) + " implementation");
  call->attrs = attrsArg(env, fn, info.Length() > 3 ? info[3] : env.Undefined());
  std::string counts = countMismatch(*def, *call);
  if (!counts.empty()) typeError(env, fn, counts);
  for (size_t i = 0; i < call->outputs.size(); i++) {
    for (auto& in : call->inputs)
      if (in.buffer == call->outputs[i].buffer) rangeError(env, fn, "output " + std::to_string(i) + " is also an input; kernels do not run in place");
    for (size_t j = 0; j < i; j++)
      if (call->outputs[j].buffer == call->outputs[i].buffer) rangeError(env, fn, "the same buffer is given as two outputs");
  }
  std::string mismatch = dtypeMismatch(*def, *call, device);
  if (!mismatch.empty()) typeError(env, fn, mismatch);
  try {
    def->validate(*call);
  } catch (const ArgError& e) {
    if (e.isType) throw Napi::TypeError::New(env, std::string("ifa_native.run: ") + e.what());
    throw Napi::RangeError::New(env, std::string("ifa_native.run: ") + e.what());
  }
#ifdef IFA_WITH_CUDA
  if (device == Device::Cuda) {
    // Launchers enqueue on the CUDA stream and return; they check every call and launch.
    try {
      cuda::noteLaunch(name.c_str());
      if (trace::on()) {
        const uint64_t id = trace::nextId();
        cuda::tracedLaunch(id, name, [&] { def->run(*call); });
        return Napi::Number::New(env, double(id));
      }
      def->run(*call);
    } catch (...) {
      rethrowDeviceError(env, fn);
    }
    return env.Undefined();
  }
#endif
  auto body = def->run;
  if (trace::on()) {
    const uint64_t id = trace::nextId();
    CpuStream::instance().enqueue(name, [call, body] { body(*call); }, id);
    return Napi::Number::New(env, double(id));
  }
  CpuStream::instance().enqueue(name, [call, body] { body(*call); });
  return env.Undefined();
}

// traceEnable(on): kernel timing on (clearing what was recorded, ids from 1) or off. While on, run()
// returns the kernel's id.
Napi::Value TraceEnable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expectArgs(info, "traceEnable", 1, 1);
  if (!info[0].IsBoolean()) typeError(env, "traceEnable", "on must be a boolean");
  const bool on = info[0].As<Napi::Boolean>().Value();
#ifdef IFA_WITH_CUDA
  if (on) cuda::traceReset();
#endif
  trace::setEnabled(on);
  return env.Undefined();
}

// traceTake() → { names: string[], spans: Float64Array [id, device (0 cpu, 1 cuda), beginNs, endNs]
// per span, dropped }: the spans of the kernels and stream tasks that completed since the last take
// (CUDA: waits for the traced launches' end events), in traceNow() time.
Napi::Value TraceTake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expectArgs(info, "traceTake", 0, 0);
  uint64_t dropped = 0;
  std::vector<trace::Span> spans = trace::take(&dropped);
#ifdef IFA_WITH_CUDA
  try {
    cuda::traceCollect(spans);
  } catch (...) {
    rethrowDeviceError(env, "traceTake");
  }
#endif
  auto names = Napi::Array::New(env, spans.size());
  auto data = Napi::Float64Array::New(env, spans.size() * 4);
  for (size_t i = 0; i < spans.size(); i++) {
    names.Set(uint32_t(i), spans[i].name);
    data[i * 4] = double(spans[i].id);
    data[i * 4 + 1] = spans[i].device;
    data[i * 4 + 2] = double(spans[i].beginNs);
    data[i * 4 + 3] = double(spans[i].endNs);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("names", names);
  out.Set("spans", data);
  out.Set("dropped", double(dropped));
  return out;
}

// traceNow() → the trace clock (steady_clock) in nanoseconds.
Napi::Value TraceNow(const Napi::CallbackInfo& info) {
  expectArgs(info, "traceNow", 0, 0);
  return Napi::Number::New(info.Env(), double(trace::nowNs()));
}

#ifdef IFA_WITH_CUDA
// convPlans() → the tensor-core convolution plans chosen so far, one line per (kernel, shape, dtype),
// oldest first: "conv2d x[N,H,W,Ci] CoxKHxKW sS: forward bfloat16 tc 128x64 warps 2x2 stages 4".
Napi::Value ConvPlans(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expectArgs(info, "convPlans", 0, 0);
  const std::vector<std::string> plans = cuda::convPlans();
  auto arr = Napi::Array::New(env, plans.size());
  for (uint32_t i = 0; i < plans.size(); i++) arr.Set(i, plans[i]);
  return arr;
}

// cudaEventRecord() → a timing-event handle recorded on the CUDA stream now.
Napi::Value CudaEventRecord(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expectArgs(info, "cudaEventRecord", 0, 0);
  try {
    return Napi::Number::New(env, double(cuda::recordTimingEvent()));
  } catch (...) {
    rethrowDeviceError(env, "cudaEventRecord");
  }
}

// cudaEventElapsed(start, end) → Promise<number>: milliseconds between two recorded events, resolved
// off the event loop once `end` has completed. Each handle can be used once.
Napi::Value CudaEventElapsed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expectArgs(info, "cudaEventElapsed", 2, 2);
  uint64_t a = uint64_t(integerArg(env, "cudaEventElapsed", info[0], "start", 1, kMaxSafe));
  uint64_t b = uint64_t(integerArg(env, "cudaEventElapsed", info[1], "end", 1, kMaxSafe));
  auto job = newReadJob(env);
  job->hasValue = true;
  Napi::Promise promise = job->deferred.Promise();
  try {
    cuda::elapsedMs(a, b, [job](const std::string& err, double ms) {
      job->error = err;
      job->value = ms;
      job->owner->tsfn.NonBlockingCall(job);
    });
  } catch (...) {
    delete job;
    rethrowDeviceError(env, "cudaEventElapsed");
  }
  countPending(env, job->owner);
  return promise;
}
#endif

// Live bytes by dtype (numel · dtype size as allocated; CUDA's `bytes` counts the allocator's blocks).
Napi::Object dtypeBytes(Napi::Env env, Device d) {
  Napi::Object o = Napi::Object::New(env);
  for (DType t : kAllDTypes) o.Set(dtypeName(t), double(liveDtypeBytes(d, t)));
  return o;
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expectArgs(info, "memory", 0, 0);
  auto& a = CpuAllocator::instance();
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("buffers", double(a.liveBuffers()));
  cpu.Set("bytes", double(a.liveBytes()));
  cpu.Set("cachedBytes", double(a.cachedBytes()));
  cpu.Set("handles", double(BufferTable::instance().size()));
  cpu.Set("dtypeBytes", dtypeBytes(env, Device::Cpu));
  Napi::Object out = Napi::Object::New(env);
  out.Set("cpu", cpu);
#ifdef IFA_WITH_CUDA
  Napi::Object gpu = Napi::Object::New(env);
  gpu.Set("buffers", double(cuda::liveBuffers()));
  gpu.Set("bytes", double(cuda::liveBytes()));
  gpu.Set("cachedBytes", double(cuda::cachedBytes()));
  gpu.Set("dtypeBytes", dtypeBytes(env, Device::Cuda));
  out.Set("cuda", gpu);
#endif
  return out;
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  expectArgs(info, "emptyCache", 0, 0);
  CpuAllocator::instance().emptyCache();
#ifdef IFA_WITH_CUDA
  try {
    cuda::emptyCache();
  } catch (...) {
    rethrowDeviceError(info.Env(), "emptyCache");
  }
#endif
  return info.Env().Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expectArgs(info, "setThreads", 1, 1);
  setThreadCount(int(integerArg(env, "setThreads", info[0], "threads", 1, 256)));
  return env.Undefined();
}

Napi::Value Kernels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expectArgs(info, "kernels", 0, 1);
  Device d = deviceArg(env, "kernels", info.Length() ? info[0] : env.Undefined());
  auto names = (d == Device::Cuda ? KernelRegistry::cuda() : KernelRegistry::cpu()).names();
  auto arr = Napi::Array::New(env, names.size());
  for (uint32_t i = 0; i < names.size(); i++) arr.Set(i, names[i]);
  return arr;
}

// kernelDtypes(device = 'cpu') → { [kernel]: dtypes its T slots take } (every dtype for cast).
Napi::Value KernelDtypes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expectArgs(info, "kernelDtypes", 0, 1);
  Device d = deviceArg(env, "kernelDtypes", info.Length() ? info[0] : env.Undefined());
  const KernelRegistry& reg = d == Device::Cuda ? KernelRegistry::cuda() : KernelRegistry::cpu();
  Napi::Object out = Napi::Object::New(env);
  for (const std::string& name : reg.names()) {
    const std::vector<DType> dtypes = reg.find(name)->accepted();
    auto arr = Napi::Array::New(env, dtypes.size());
    for (uint32_t i = 0; i < dtypes.size(); i++) arr.Set(i, dtypeName(dtypes[i]));
    out.Set(name, arr);
  }
  return out;
}

// kernelContracts(device = 'cpu') → { [kernel]: {inputs, outputs, inputRoles, outputRoles, inPlace,
// anyDtype} } as registered (counts −1 for any number; roles as in KernelDef), so a test can hold the
// TypeScript kernel table (src/backends/kernels.ts) to the registry.
Napi::Value KernelContracts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expectArgs(info, "kernelContracts", 0, 1);
  Device d = deviceArg(env, "kernelContracts", info.Length() ? info[0] : env.Undefined());
  const KernelRegistry& reg = d == Device::Cuda ? KernelRegistry::cuda() : KernelRegistry::cpu();
  Napi::Object out = Napi::Object::New(env);
  for (const std::string& name : reg.names()) {
    const KernelDef* def = reg.find(name);
    Napi::Object o = Napi::Object::New(env);
    o.Set("inputs", def->inputs);
    o.Set("outputs", def->outputs);
    o.Set("inputRoles", def->inputRoles);
    o.Set("outputRoles", def->outputRoles);
    o.Set("inPlace", def->updatesOutputs);
    o.Set("anyDtype", def->anyDtype);
    out.Set(name, o);
  }
  return out;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expectArgs(info, "info", 0, 0);
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", IFA_VERSION);
  o.Set("buildSystem", IFA_BUILD_SYSTEM);
  o.Set("threads", threadCount());
  static CudaInfo cuda = probeCuda();
  Napi::Object c = Napi::Object::New(env);
  c.Set("compiled", cuda.compiled);
  c.Set("emulator", cuda.emulator);
  c.Set("architectures", cuda.architectures);
  c.Set("toolkit", cuda.toolkit);
  c.Set("available", cuda.available);
  c.Set("deviceCount", cuda.deviceCount);
  if (!cuda.device.empty()) c.Set("device", cuda.device);
  if (!cuda.reason.empty()) c.Set("reason", cuda.reason);
  o.Set("cuda", c);
  return o;
}

// Calls fn() with the process's stderr (fd 2) pointed at /dev/null, then restores it, also when fn
// throws. For native code of other packages that prints to stderr with no option to stop it (Dawn's
// "maxDynamic… artificially reduced" warnings on lavapipe, printed while requestAdapter() runs).
Napi::Value QuietStderr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expectArgs(info, "quietStderr", 1, 1);
  if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "ifa_native.quietStderr: expects a function");
  Napi::Function fn = info[0].As<Napi::Function>();
#ifdef _WIN32
  return fn.Call({});
#else
  fflush(stderr);
  int saved = dup(2);
  int devnull = open("/dev/null", O_WRONLY);
  if (saved >= 0 && devnull >= 0) dup2(devnull, 2);
  if (devnull >= 0) close(devnull);
  auto restore = [saved]() {
    fflush(stderr);
    if (saved >= 0) {
      dup2(saved, 2);
      close(saved);
    }
  };
  try {
    Napi::Value r = fn.Call({});
    restore();
    return r;
  } catch (...) {
    restore();
    throw;
  }
#endif
}

// An environment's cleanup (its thread is ending): its own delivery function goes; the stream and
// the device only with the last one (a loader worker exiting must not stop the main thread's).
void Cleanup(void* arg) {
  auto* st = static_cast<AddonState*>(arg);
  if (--liveEnvs == 0) {
    CpuStream::instance().shutdown();
#ifdef IFA_WITH_CUDA
    cuda::shutdown();
#endif
  }
  st->tsfn.Abort();
}

}  // namespace

// The kernels, registered once per process (Init runs again in each worker thread that loads the
// addon; the registries are process-wide).
void registerKernels() {
  auto& reg = KernelRegistry::cpu();
  registerElementwiseKernels(reg);
  registerReduceKernels(reg);
  registerMatmulKernels(reg);
  registerConvKernels(reg);
  registerNormKernels(reg);
  registerPoolKernels(reg);
  registerLossKernels(reg);
  registerLayoutKernels(reg);
  registerOptimKernels(reg);
  registerCastKernels(reg);
  registerAugmentKernels(reg);
#ifdef IFA_WITH_CUDA
  registerCudaKernels(KernelRegistry::cuda(), reg);
#endif
}

void registerAugment(Napi::Env env, Napi::Object exports);  // augment_napi.cc

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  static std::once_flag registered;
  try {
    std::call_once(registered, registerKernels);
  } catch (const std::exception& e) {  // a kernel registered twice: a build error, said on require()
    throw Napi::Error::New(env, std::string("ifa_native: ") + e.what());
  }
  auto* st = new AddonState();
  st->tsfn = ReadTsfn::New(env, "ifa_native.read", 0, 1);
  st->tsfn.Unref(env);
  env.SetInstanceData(st);  // deleted by N-API after the cleanup hooks
  ++liveEnvs;
  napi_add_env_cleanup_hook(env, Cleanup, st);
  exports.Set("alloc", Napi::Function::New(env, Alloc, "alloc"));
  exports.Set("free", Napi::Function::New(env, Free, "free"));
  exports.Set("write", Napi::Function::New(env, Write, "write"));
  exports.Set("read", Napi::Function::New(env, Read, "read"));
  exports.Set("sync", Napi::Function::New(env, Sync, "sync"));
  exports.Set("run", Napi::Function::New(env, Run, "run"));
  exports.Set("validate", Napi::Function::New(env, Validate, "validate"));
  exports.Set("kernelContracts", Napi::Function::New(env, KernelContracts, "kernelContracts"));
  exports.Set("memory", Napi::Function::New(env, Memory, "memory"));
  exports.Set("emptyCache", Napi::Function::New(env, EmptyCache, "emptyCache"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("kernels", Napi::Function::New(env, Kernels, "kernels"));
  exports.Set("kernelDtypes", Napi::Function::New(env, KernelDtypes, "kernelDtypes"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("quietStderr", Napi::Function::New(env, QuietStderr, "quietStderr"));
  exports.Set("traceEnable", Napi::Function::New(env, TraceEnable, "traceEnable"));
  exports.Set("traceTake", Napi::Function::New(env, TraceTake, "traceTake"));
  exports.Set("traceNow", Napi::Function::New(env, TraceNow, "traceNow"));
  registerAugment(env, exports);
#ifdef IFA_WITH_CUDA
  exports.Set("cudaEventRecord", Napi::Function::New(env, CudaEventRecord, "cudaEventRecord"));
  exports.Set("convPlans", Napi::Function::New(env, ConvPlans, "convPlans"));
  exports.Set("cudaEventElapsed", Napi::Function::New(env, CudaEventElapsed, "cudaEventElapsed"));
#endif
  return exports;
}

}  // namespace ifa

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return ifa::Init(env, exports); }

NODE_API_MODULE(ifa_native, InitModule)
