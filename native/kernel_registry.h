// Kernels by name. Each has a validator (runs on the JS thread, throws ArgError with a message that
// names the kernel and shapes) and a body (runs on the CPU stream thread, must not throw on inputs
// its validator accepted).
#pragma once
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "dtype.h"
#include "tensor_view.h"

namespace ifa {

// Outputs are written by the kernel; a kernel that updates tensors in place (optimizers, running
// statistics) lists them as outputs and may read them too.
//
// The dtype contract: each tensor slot has a role, 'T' (the call's dtype: every T slot of one call
// has the same dtype) or 'F' (always float32: batch-norm statistics and affine parameters, a conv's
// weight gradient, a loss). A role string names the slots in order, a variadic list repeats its last
// role, and an empty string means all 'T'. `dtypes` are the T's this backend's body takes. The addon
// checks a call against both before the validator runs, so a body never sees a dtype it was not
// written for.
struct KernelDef {
  int inputs;   // -1: any number
  int outputs;  // -1: any number
  std::function<void(const KernelCall&)> validate;
  std::function<void(const KernelCall&)> run;
  std::string inputRoles = "";
  std::string outputRoles = "";
  std::vector<DType> dtypes = {DType::Float32};
  // When what the body takes depends on the device (the CUDA convolutions: bfloat16 needs sm_80's
  // tensor cores), the T dtypes on this device, asked at call time; otherwise `dtypes`.
  std::function<std::vector<DType>()> dtypesOnDevice = nullptr;
  bool anyDtype = false;        // each slot may be any dtype (cast): the body dispatches on each
  bool updatesOutputs = false;  // reads its outputs too (in place)

  KernelDef& roles(std::string in, std::string out) {
    inputRoles = std::move(in);
    outputRoles = std::move(out);
    return *this;
  }
  KernelDef& inPlace() {
    updatesOutputs = true;
    return *this;
  }
  static char roleAt(const std::string& roles, size_t i) {
    return roles.empty() ? 'T' : roles[i < roles.size() ? i : roles.size() - 1];
  }
  char inputRole(size_t i) const { return roleAt(inputRoles, i); }
  char outputRole(size_t i) const { return roleAt(outputRoles, i); }
  std::vector<DType> accepted() const { return dtypesOnDevice ? dtypesOnDevice() : dtypes; }
  bool takes(DType t) const {
    for (DType d : accepted())
      if (d == t) return true;
    return false;
  }
};

constexpr DType kAllDTypes[] = {DType::Float32, DType::BFloat16, DType::Float16};

class KernelRegistry {
 public:
  static KernelRegistry& cpu();
  static KernelRegistry& cuda();  // empty in a build without CUDA
  // A second registration of a name is a programming error (two kernels would race for one name).
  KernelDef& add(const std::string& name, KernelDef def) {
    if (defs_.count(name)) throw std::logic_error("kernel '" + name + "' is registered twice");
    return defs_[name] = std::move(def);
  }
  const KernelDef* find(const std::string& name) const {
    auto it = defs_.find(name);
    return it == defs_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> n;
    for (auto& kv : defs_) n.push_back(kv.first);
    return n;
  }

 private:
  std::map<std::string, KernelDef> defs_;
};

// Helpers for validators.
[[noreturn]] void argFail(const KernelCall& c, const std::string& msg);
void expectSameShape(const KernelCall& c, const Shape& got, const Shape& want, const char* what);
// A required numeric attribute: fails "attrs.<name> is required" when absent. Kernels hold no
// attribute defaults; the op in src/ops sets every attribute (src/backends/kernels.ts lists them).
double requiredAttr(const KernelCall& c, const char* name);
// numpy broadcasting of a and b; fails naming the kernel when incompatible.
Shape broadcastShapes(const KernelCall& c, const Shape& a, const Shape& b);

}  // namespace ifa
