// The augmentation kernels as the loader runs them: the addon's C++ ports (kernels/cpu/augment.cc),
// each bit-identical to its TypeScript reference in ./pixels.ts (test/augment-native.test.ts), with
// the reference as the fallback where the addon is not built or IFA_AUGMENT_NATIVE=0. Same
// signatures as the references; the C++ runs synchronously on the calling thread (a loader worker).
// Measured: bench/RESULTS.md's CPU data-path table; README, "Data path".
import { nativeAddon } from '../../native.js';
import * as ref from './pixels.js';
import { normalTable } from './plan.js';

interface AugmentAddon {
  unit16(src: Uint16Array, dst: Float32Array): void;
  pointwiseChain(src: Float32Array, dst: Float32Array, n: number, stages: Float64Array, k: number, scale: number, shift: number): void;
  warpAffineInverse(src: Float32Array, dst: Float32Array, w: number, h: number, m: Float64Array): void;
  opticalDistortion(src: Float32Array, dst: Float32Array, w: number, h: number, k: number, dx: number, dy: number): void;
  median3(src: Float32Array, dst: Float32Array, w: number, h: number): void;
  filterTaps(src: Float32Array, dst: Float32Array, w: number, h: number, dxy: Int32Array, weights: Float64Array): void;
  sharpen(src: Float32Array, dst: Float32Array, w: number, h: number, alpha: number, lightness: number): void;
  gaussNoise(src: Float32Array, dst: Float32Array, n: number, sigma: number, seed: number, table: Float64Array): void;
  multiplicativeNoise(src: Float32Array, dst: Float32Array, n: number, lo: number, hi: number, seed: number): void;
}

let addon: AugmentAddon | null | undefined;

/** The addon's kernels, or null (not built, an addon without them, or IFA_AUGMENT_NATIVE=0). */
export function nativeAugment(): AugmentAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.env.IFA_AUGMENT_NATIVE === '0') return addon;
  try {
    addon = (nativeAddon() as unknown as { augment?: AugmentAddon }).augment ?? null;
  } catch {
    // No addon: the TypeScript kernels compute the same images, slower.
  }
  return addon;
}

let forceReference = false;

/** Runs the TypeScript references even where the addon has the kernels (tests; A/B benches). */
export function useReferenceKernels(on: boolean): void {
  forceReference = on;
}

function kernels(): AugmentAddon | null {
  return forceReference ? null : nativeAugment();
}

/** Which kernels augment here: 'native' (C++) or 'typescript' (the reference). */
export function augmentKernels(): 'native' | 'typescript' {
  return kernels() ? 'native' : 'typescript';
}

let table64: Float64Array | null = null;
/** plan.ts's float32 quantile table as the C++ kernels read it. */
function normalTable64(): Float64Array {
  return (table64 ??= Float64Array.from(normalTable()));
}

/** k · (1/65535) for each k of src into dst (the preprocessing cache's pixels). */
export function unit16(src: Uint16Array, dst: Float32Array): void {
  const a = kernels();
  if (a) return a.unit16(src, dst);
  for (let i = 0; i < src.length; i++) dst[i] = src[i] * (1 / 65535);
}

export function pointwiseChain(src: Float32Array, dst: Float32Array, offset: number, n: number, stages: number[], k: number, scale: number, shift: number): void {
  const a = kernels();
  if (!a) return ref.pointwiseChain(src, dst, offset, n, stages, k, scale, shift);
  a.pointwiseChain(src, dst.subarray(offset, offset + n), n, Float64Array.from(stages.slice(0, 2 * k)), k, scale, shift);
}

export function warpAffineInverse(src: Float32Array, dst: Float32Array, w: number, h: number, m: readonly number[]): void {
  const a = kernels();
  if (!a) return ref.warpAffineInverse(src, dst, w, h, m);
  a.warpAffineInverse(src, dst, w, h, Float64Array.from(m));
}

export function opticalDistortionKernel(src: Float32Array, dst: Float32Array, w: number, h: number, k: number, dx: number, dy: number): void {
  const a = kernels();
  if (!a) return ref.opticalDistortionKernel(src, dst, w, h, k, dx, dy);
  a.opticalDistortion(src, dst, w, h, k, dx, dy);
}

/** 3×3 in C++; other apertures (not in any preset) run the reference. */
export function medianBlurKernel(src: Float32Array, dst: Float32Array, w: number, h: number, ksize: number): void {
  const a = kernels();
  if (!a || ksize !== 3) return ref.medianBlurKernel(src, dst, w, h, ksize);
  a.median3(src, dst, w, h);
}

/** Taps reaching at most 64 pixels in C++ (motion blur up to 129 px); longer ones run the reference. */
export function filterTaps(src: Float32Array, dst: Float32Array, w: number, h: number, taps: readonly (readonly [number, number, number])[]): void {
  const a = kernels();
  if (!a || taps.some(([dx, dy]) => Math.abs(dx) > 64 || Math.abs(dy) > 64)) return ref.filterTaps(src, dst, w, h, taps);
  const dxy = new Int32Array(2 * taps.length), wt = new Float64Array(taps.length);
  taps.forEach(([dx, dy, t], i) => {
    dxy[2 * i] = dx;
    dxy[2 * i + 1] = dy;
    wt[i] = t;
  });
  a.filterTaps(src, dst, w, h, dxy, wt);
}

export function sharpenKernel(src: Float32Array, dst: Float32Array, w: number, h: number, alpha: number, lightness: number): void {
  const a = kernels();
  if (!a) return ref.sharpenKernel(src, dst, w, h, alpha, lightness);
  a.sharpen(src, dst, w, h, alpha, lightness);
}

/** The noise kernels take a step's 32-bit seed: each pixel's word is plan.ts's noiseU32(seed, i). */
export function gaussNoiseKernel(src: Float32Array, dst: Float32Array, n: number, sigma: number, seed: number): void {
  const a = kernels();
  if (!a) return ref.gaussNoiseKernel(src, dst, n, sigma, seed);
  a.gaussNoise(src, dst, n, sigma, seed >>> 0, normalTable64());
}

export function multiplicativeNoiseElementwise(src: Float32Array, dst: Float32Array, n: number, lo: number, hi: number, seed: number): void {
  const a = kernels();
  if (!a) return ref.multiplicativeNoiseElementwise(src, dst, n, lo, hi, seed);
  a.multiplicativeNoise(src, dst, n, lo, hi, seed >>> 0);
}

export { motionBlurTaps, shiftScaleRotateMatrix } from './pixels.js';
export { inverseNormalCdf } from './plan.js';
