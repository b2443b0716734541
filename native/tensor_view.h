// What a kernel sees: buffers of one dtype each with the shapes given by the call, plus parsed
// attributes. Shapes travel with each call (storage is a flat array), so a reshape costs nothing.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "dtype.h"

namespace ifa {

using Shape = std::vector<int64_t>;

inline int64_t numelOf(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shapeString(const Shape& s);

struct Buffer;  // storage.h

struct TensorView {
  std::shared_ptr<Buffer> buffer;  // keeps the memory alive while the kernel is queued
  DType dtype = DType::Float32;
  void* ptr = nullptr;
  // ptr for a float32 buffer, nullptr for a half one: a kernel body not written for half dtypes
  // fails at once on a null pointer instead of reading 16-bit values as floats.
  float* data = nullptr;
  Shape shape;
  int64_t numel() const { return numelOf(shape); }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr);
  }
};

// Attributes from JS: numbers, booleans (as 0/1) and integer lists.
struct Attrs {
  std::map<std::string, double> numbers;
  std::map<std::string, std::vector<int64_t>> lists;
  double number(const std::string& k, double fallback) const {
    auto it = numbers.find(k);
    return it == numbers.end() ? fallback : it->second;
  }
  bool flag(const std::string& k) const { return number(k, 0) != 0; }
  bool has(const std::string& k) const { return numbers.count(k) != 0; }
  // A required attribute in a kernel body, after its validator has checked that it is present.
  double at(const std::string& k) const {
    auto it = numbers.find(k);
    if (it == numbers.end()) throw std::logic_error("attrs." + k + " read but not validated as present");
    return it->second;
  }
  const std::vector<int64_t>* list(const std::string& k) const {
    auto it = lists.find(k);
    return it == lists.end() ? nullptr : &it->second;
  }
};

// Thrown by validators; the addon turns it into a JS RangeError (shape/value) or TypeError.
struct ArgError : std::runtime_error {
  bool isType;
  ArgError(const std::string& m, bool type = false) : std::runtime_error(m), isType(type) {}
};

struct KernelCall {
  std::string name;
  std::vector<TensorView> inputs;
  std::vector<TensorView> outputs;
  Attrs attrs;
};

}  // namespace ifa
