// The contract between sampling and applying augmentations (issue 20): a view's augmentations as a
// list of steps with every random parameter already drawn (a ViewPlan), so the same plan can be applied
// by the CPU kernels of ./pixels.ts or by batched device kernels (CUDA, WGSL) and give the same view.
//
// Per-pixel noise cannot follow one sequential generator on a device, so noise steps carry a 32-bit
// seed and each pixel's random word is a counter-based hash of (seed, pixel index): noiseU32 below.
// Every implementation (TS, C++, CUDA, WGSL) computes exactly these 32-bit integer operations; the
// CPU kernels are pixels.ts's gaussNoiseKernel and multiplicativeNoiseElementwise.

/** One step of a view, parameters drawn. Pixel indices are row-major, i = y·w + x. */
export type PlanStep =
  /** dst(x, y) = src(m0·x + m1·y + m2, m3·x + m4·y + m5), bilinear, BORDER_REFLECT_101 (warpAffineInverse). */
  | { op: 'warpAffine'; m: [number, number, number, number, number, number] }
  /** Median of ksize×ksize (odd), replicated borders (medianBlurKernel). */
  | { op: 'median'; ksize: number }
  /** Correlation with sparse taps [dx, dy, weight], BORDER_REFLECT_101 (filterTaps; motion blur). */
  | { op: 'taps'; taps: [number, number, number][] }
  /** sharpenKernel(alpha, lightness), clipped to [0, 1]. */
  | { op: 'sharpen'; alpha: number; lightness: number }
  /** Rectangles [x1, y1, x2, y2) (already clamped to the image) set to fill. */
  | { op: 'cutout'; holes: [number, number, number, number][]; fill: number }
  /** opticalDistortionKernel(k, dx, dy): dx, dy in pixels. */
  | { op: 'optical'; k: number; dx: number; dy: number }
  /** Stages (a, b) pairs: v = clip01(v·a + b) for each in order (brightness, contrast, scalar multiplicative noise). */
  | { op: 'pointwise'; stages: number[] }
  /** v = clip01(v + sigma·z_i), z_i = gaussFromU32(noiseU32(seed, i)). */
  | { op: 'gaussNoise'; sigma: number; seed: number }
  /** v = clip01(v·(lo + (hi − lo)·noiseU32(seed, i)/2³²)). */
  | { op: 'mulNoise'; lo: number; hi: number; seed: number };

export type PlanOp = PlanStep['op'];

/** A view: its steps in order, then the normalisation (v − mean)/std. */
export interface ViewPlan {
  steps: PlanStep[];
  mean: number;
  std: number;
}

/** Chris Wellons' lowbias32 integer hash (a bijection on 32-bit words). */
export function lowbias32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x21f0aaad) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x735a2d97) >>> 0;
  return (x ^ (x >>> 15)) >>> 0;
}

/**
 * The random word of pixel i for a noise step's seed: lowbias32((i·0x9E3779B9 + lowbias32(seed)) mod 2³²).
 * Device kernels hoist key = lowbias32(seed) per image.
 */
export function noiseU32(seed: number, i: number): number {
  return noiseU32Keyed(lowbias32(seed >>> 0), i);
}

/** noiseU32 with key = lowbias32(seed) precomputed. */
export function noiseU32Keyed(key: number, i: number): number {
  return lowbias32((Math.imul(i, 0x9e3779b9) + key) >>> 0);
}

/** Segments of the piecewise-linear inverse normal CDF that gaussFromU32 reads. */
export const NORMAL_TABLE_SEGMENTS = 4096;

let normalT: Float32Array | null = null;
/**
 * Φ⁻¹(k/4096) for k = 0..4096, the ends clamped at ±Φ⁻¹(1 − 0.5/4096), scaled so that the
 * piecewise-uniform mixture has unit variance; float32, so every device reads the same table.
 */
export function normalTable(): Float32Array {
  if (normalT) return normalT;
  const N = NORMAL_TABLE_SEGMENTS;
  const t = new Float64Array(N + 1);
  for (let k = 0; k <= N; k++) t[k] = inverseNormalCdf(Math.min(1 - 0.5 / N, Math.max(0.5 / N, k / N)));
  let v = 0;
  for (let k = 0; k < N; k++) v += (t[k] * t[k] + t[k] * t[k + 1] + t[k + 1] * t[k + 1]) / 3 / N;
  const s = 1 / Math.sqrt(v);
  normalT = Float32Array.from(t, (x) => x * s);
  return normalT;
}

/** z from a random word r: segment r >>> 20 of the table, linear within it by the low 20 bits. */
export function gaussFromU32(r: number, table: Float32Array = normalTable()): number {
  const k = r >>> 20;
  const a = table[k];
  return a + (table[k + 1] - a) * ((r & 0xfffff) * (1 / (1 << 20)));
}

/** Acklam's rational approximation of the inverse normal CDF (relative error < 1.2e-9). */
export function inverseNormalCdf(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const pl = 0.02425;
  if (p < pl) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - pl) return -inverseNormalCdf(1 - p);
  const q = p - 0.5, r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}
