// Element types of tensors and the host-side conversions between them. float32 is the default and the
// reference; bfloat16 and float16 are 16-bit storage types whose kernels compute in float32 and round
// on output. Conversions round to nearest, ties to even, as the hardware's cvt.rn does; NaN stays NaN
// (quiet), overflow goes to ±inf in float16 and bfloat16 alike. Plain inline C++, so the CPU kernels,
// the addon and the CUDA emulator's device code share them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace ifa {

enum class DType : uint8_t { Float32 = 0, BFloat16 = 1, Float16 = 2 };

constexpr size_t dtypeSize(DType d) { return d == DType::Float32 ? 4 : 2; }
constexpr bool isHalf(DType d) { return d != DType::Float32; }

inline const char* dtypeName(DType d) {
  switch (d) {
    case DType::Float32:
      return "float32";
    case DType::BFloat16:
      return "bfloat16";
    case DType::Float16:
      return "float16";
  }
  return "unknown";
}

inline bool parseDType(const std::string& s, DType* out) {
  if (s == "float32") *out = DType::Float32;
  else if (s == "bfloat16") *out = DType::BFloat16;
  else if (s == "float16") *out = DType::Float16;
  else return false;
  return true;
}

inline uint32_t floatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// bfloat16 is float32's top half: round the dropped 16 bits to nearest even.
inline uint16_t floatToBf16(float f) {
  const uint32_t u = floatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x0040u);  // NaN: keep sign, make quiet
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
inline float bf16ToFloat(uint16_t h) { return bitsFloat(uint32_t(h) << 16); }

// IEEE binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits; subnormals below 2^-14.
inline uint16_t floatToHalf(float f) {
  const uint32_t u = floatBits(f);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return uint16_t(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN (quiet)
  if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to ≥ 65520: ±inf (and inf itself)
  if (a < 0x38800000u) {                                   // below 2^-14: subnormal or zero
    // value = a's float; in units of 2^-24 it is a / 2^-24, rounded to nearest even.
    if (a < 0x33000000u) return sign;  // below 2^-25: rounds to zero (2^-25 exactly ties to 0, even)
    const uint32_t mant = (a & 0x7fffffu) | 0x800000u;
    const int shift = 126 - int(a >> 23);  // 14..24 for exponents 2^-15..2^-25
    const uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
    return uint16_t(sign | (q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u)));
  }
  // Normal: rebias the exponent (127 → 15) and round the 13 dropped mantissa bits to nearest even;
  // a carry into the exponent is the correct result (up to inf, handled above).
  const uint32_t r = a - 0x38000000u;
  return uint16_t(sign | ((r + 0xfffu + ((r >> 13) & 1u)) >> 13));
}
inline float halfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1f) return bitsFloat(sign | 0x7f800000u | (m << 13));  // inf / NaN
  if (e == 0) {
    if (m == 0) return bitsFloat(sign);
    const float v = float(m) * (1.0f / 16777216.0f);  // m · 2^-24, exact
    return sign ? -v : v;
  }
  return bitsFloat(sign | ((e + 112u) << 23) | (m << 13));
}

// TF32 (what tensor cores read of a float32 operand): 10 mantissa bits, rounded to nearest with ties
// away from zero, as cvt.rna.tf32.f32. The result is a float32 with the low 13 bits zero.
inline float roundToTf32(float f) {
  const uint32_t u = floatBits(f);
  if ((u & 0x7f800000u) == 0x7f800000u) return f;  // inf / NaN unchanged
  return bitsFloat((u + 0x1000u) & 0xffffe000u);
}

inline float toFloat(DType d, uint16_t h) { return d == DType::BFloat16 ? bf16ToFloat(h) : halfToFloat(h); }
inline uint16_t fromFloat(DType d, float f) { return d == DType::BFloat16 ? floatToBf16(f) : floatToHalf(f); }

}  // namespace ifa
