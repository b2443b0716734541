// Run-time ISA dispatch for the CPU kernels' hot loops. A loop is written once as an always-inline
// NAME##Body; IFA_DISPATCH(NAME, PARAMS, ARGS) compiles it for the baseline ISA and, on x86-64, for
// AVX2+FMA, and NAME(...) picks one at run time (IFA_CPU_PORTABLE=1 forces the baseline).
#pragma once
#include <cstdlib>
#include <cstring>

#define IFA_INLINE inline __attribute__((always_inline))

namespace ifa {

#if defined(__x86_64__)
inline bool useAvx2() {
  static const bool ok = [] {
    const char* force = std::getenv("IFA_CPU_PORTABLE");
    if (force && *force && std::strcmp(force, "0") != 0) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return ok;
}
// IFA_DISPATCH_ISA names the ISA of the fast copy: "avx2" alone keeps the compiler from contracting
// a·b + c into an FMA, for loops that must round as a reference does (kernels/cpu/augment.cc).
#define IFA_DISPATCH_ISA(NAME, ISA, PARAMS, ARGS)                           \
  void NAME##Base PARAMS { NAME##Body ARGS; }                              \
  __attribute__((target(ISA))) void NAME##Avx2 PARAMS { NAME##Body ARGS; } \
  void NAME PARAMS {                                                        \
    if (useAvx2())                                                          \
      NAME##Avx2 ARGS;                                                      \
    else                                                                    \
      NAME##Base ARGS;                                                      \
  }
#else
#define IFA_DISPATCH_ISA(NAME, ISA, PARAMS, ARGS) \
  void NAME PARAMS { NAME##Body ARGS; }
#endif
#define IFA_DISPATCH(NAME, PARAMS, ARGS) IFA_DISPATCH_ISA(NAME, "avx2,fma", PARAMS, ARGS)

}  // namespace ifa
