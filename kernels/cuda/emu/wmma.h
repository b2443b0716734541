// The CUDA emulator's stand-in for <mma.h>'s nvcuda::wmma (16×16×16, half inputs, float
// accumulators), which the sm_70 (V100) kernels of kernels/cuda/conv_tc.cuh use. A fragment's element
// layout is opaque in CUDA, so here every lane simply holds the whole 16×16 tile: loads read all of
// it, mma_sync computes all of it in fp32 (c + Σ_k a·b, k in increasing order), stores write it (every
// lane the same values). Correct for any code that, as CUDA requires, calls these with the whole warp
// and touches fragments only through them (or elementwise, the same on every lane).
#pragma once
#include <cstdint>
#include <type_traits>

#include "../../../native/dtype.h"

namespace nvcuda {
namespace wmma {

struct half {
  uint16_t bits;
};

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  static_assert(M == 16 && N == 16 && K == 16, "the emulator has the 16×16×16 shape only");
  static constexpr int num_elements = 256;
  float x[256];  // row-major: matrix_a (m, k), matrix_b (k, n), accumulator (m, n)
};

template <class Use, class T, class L>
inline void fill_fragment(fragment<Use, 16, 16, 16, T, L>& f, float v) {
  for (float& e : f.x) e = v;
}

// Element (r, c) of the fragment's matrix is p[r·ldm + c] for row_major, p[c·ldm + r] for col_major.
template <class Use, class L>
inline void load_matrix_sync(fragment<Use, 16, 16, 16, half, L>& f, const half* p, unsigned ldm) {
  for (int r = 0; r < 16; r++)
    for (int c = 0; c < 16; c++) {
      const half h = std::is_same<L, row_major>::value ? p[r * ldm + c] : p[c * ldm + r];
      f.x[r * 16 + c] = ifa::halfToFloat(h.bits);
    }
}

template <class LA, class LB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const fragment<matrix_a, 16, 16, 16, half, LA>& a,
                     const fragment<matrix_b, 16, 16, 16, half, LB>& b, const fragment<accumulator, 16, 16, 16, float>& c) {
  float out[256];
  for (int m = 0; m < 16; m++)
    for (int n = 0; n < 16; n++) {
      float s = 0.f;
      for (int k = 0; k < 16; k++) s += a.x[m * 16 + k] * b.x[k * 16 + n];
      out[m * 16 + n] = c.x[m * 16 + n] + s;
    }
  for (int i = 0; i < 256; i++) d.x[i] = out[i];
}

inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm, layout_t layout) {
  for (int r = 0; r < 16; r++)
    for (int c = 0; c < 16; c++) (layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[r * 16 + c];
}

}  // namespace wmma
}  // namespace nvcuda
