// Kernels by name. Each has a validator (runs on the JS thread, throws ArgError with a message that
// names the kernel and shapes) and a body (runs on the CPU stream thread, must not throw on inputs
// its validator accepted).
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tensor_view.h"

namespace ifa {

// Outputs are written by the kernel; a kernel that updates tensors in place (optimizers, running
// statistics) lists them as outputs and may read them too.
struct KernelDef {
  int inputs;   // -1: any number
  int outputs;  // -1: any number
  std::function<void(const KernelCall&)> validate;
  std::function<void(const KernelCall&)> run;
};

class KernelRegistry {
 public:
  static KernelRegistry& cpu();
  static KernelRegistry& cuda();  // empty in a build without CUDA
  void add(const std::string& name, KernelDef def) { defs_[name] = std::move(def); }
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
// numpy broadcasting of a and b; fails naming the kernel when incompatible.
Shape broadcastShapes(const KernelCall& c, const Shape& a, const Shape& b);

}  // namespace ifa
