// The augmentation kernels of the data loader (src/data/augment/pixels.ts), in C++ for the loader's
// worker threads: each computes exactly what its TypeScript reference computes — the same float64
// arithmetic in the same order, rounded to float32 where the reference stores into a Float32Array —
// so the two give bit-identical images (test/augment-native.test.ts). They run synchronously on
// the calling thread (no stream, no pool: the loader already runs one worker per core).
#pragma once
#include <cstdint>

namespace ifa::augment {

/** dst[i] = src[i] · (1/65535): the preprocessing cache's uint16 pixels as [0, 1] floats. */
void unit16(const uint16_t* src, float* dst, int64_t n);

/** pointwiseChain: k stages of v = clip01(v·α + β) (stages = α0, β0, α1, β1, …), then v·scale + shift. */
void pointwiseChain(const float* src, float* dst, int64_t n, const double* stages, int k, double scale, double shift);

/** warpAffineInverse: dst(x, y) = src(a·x + b·y + c, d·x + e·y + f), bilinear, BORDER_REFLECT_101. */
void warpAffineInverse(const float* src, float* dst, int w, int h, const double* m);

/** opticalDistortionKernel (albumentations' OpticalDistortion, k1 = k2 = k). */
void opticalDistortion(const float* src, float* dst, int w, int h, double k, double dx, double dy);

/** The 3×3 median with replicated borders (medianBlurKernel, ksize 3). scratch: 3·(w + 2) floats. */
void median3(const float* src, float* dst, int w, int h, float* scratch);

/** filterTaps: correlation with taps (dx, dy, weight), BORDER_REFLECT_101. pad: (w + 2r)(h + 2r) floats. */
void filterTaps(const float* src, float* dst, int w, int h, const int32_t* dxy, const double* weights, int taps, float* pad);

/** sharpenKernel. scratch: (w + 2)(h + 2) + w·(h + 2) floats. */
void sharpen(const float* src, float* dst, int w, int h, double alpha, double lightness, float* scratch);

/** lowbias32(seed): a noise step's key (plan.ts). */
uint32_t noiseKey(uint32_t seed);

/** gaussNoiseCounter (plan.ts): x + σ·z_i, z_i from the 4097-entry table by pixel i's word under key. */
void gaussNoise(const float* src, float* dst, int64_t n, double sigma, uint32_t key, const double* table);

/** multiplicativeNoiseCounter (plan.ts): x·(lo + (hi − lo)·r_i/2³²), r_i pixel i's word under key. */
void multiplicativeNoise(const float* src, float* dst, int64_t n, double lo, double hi, uint32_t key);

}  // namespace ifa::augment
