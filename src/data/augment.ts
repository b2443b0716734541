// Augmentations for one-channel float32 images in [0, 1], following albumentations' definitions (the
// library the reference code uses): each is a seeded, pure function `(image, options, seed) → image`,
// and compositions (a list of transforms with probabilities, OneOf groups) are plain data (AugSpec) so
// they can be sent to the loader's workers.
//
// Cost per 512×512 image, one core of the 2-core dev VM: a pointwise pass ~0.8 ms (runs of
// brightness/contrast/multiplicative steps and the final normalisation are fused into one pass);
// 3×3 median ~6 ms (sorted columns, branchless int32 keys); motion blur one pass over ≤ 7 taps;
// sharpen = separable 3×3 box; affine / optical warps ~4–6 ms (one bilinear gather per pixel with an
// in-bounds fast path); Gaussian noise ~1.7 ms (inverse-CDF table, not Box–Muller).
import { Rng, rotl } from '../core/random.js';
import { checkImage, type GrayImage } from './image.js';

export type Range = readonly [number, number];

export interface ShiftScaleRotateOptions {
  /** dx, dy ~ U(−l, l) as a fraction of the width/height. Default 0.0625. */
  shiftLimit?: number;
  /** scale ~ 1 + U(−l, l). Default 0.1. */
  scaleLimit?: number;
  /** angle ~ U(−l, l) degrees. Default 45 (albumentations); the CXR presets use 10. */
  rotateLimit?: number;
}
export interface MedianBlurOptions {
  /** Odd aperture; 1 is the identity. Default 3. */
  ksize?: number;
}
export interface MotionBlurOptions {
  /** Kernel size drawn from the odd numbers in [lo, hi]; [1, 1] is the identity. Default [3, 7]. */
  blurLimit?: Range;
}
export interface SharpenOptions {
  /** Blend of the sharpened image, U(lo, hi); 0 is the identity. Default [0.2, 0.5]. */
  alpha?: Range;
  /** Centre weight 8 + lightness of the effect kernel, U(lo, hi). Default [0.5, 1]. */
  lightness?: Range;
}
export interface CutoutOptions {
  /** Number of square holes. Default 8. */
  numHoles?: number;
  /** Side of a hole as a fraction of the image's shorter side. Default 1/16. */
  size?: number;
  /** Value written into the holes. Default 0. */
  fill?: number;
}
export interface OpticalDistortionOptions {
  /** Radial coefficient k ~ U(−l, l) (k1 = k2 = k, as albumentations). Default 0.05. */
  distortLimit?: number;
  /** Centre shift ~ U(−l, l) as a fraction of the width/height. Default 0.05. */
  shiftLimit?: number;
}
export interface BrightnessOptions {
  /** x + β, β ~ U(lo, hi) (in units of the [0, 1] range). Default [−0.2, 0.2]. */
  limit?: Range;
}
export interface ContrastOptions {
  /** x·α, α ~ 1 + U(lo, hi). Default [−0.2, 0.2]. */
  limit?: Range;
}
export interface BrightnessContrastOptions {
  brightnessLimit?: Range;
  contrastLimit?: Range;
}
export interface GaussNoiseOptions {
  /** Variance ~ U(lo, hi); noise N(0, var) per pixel. Default [0, 0.005]. */
  varLimit?: Range;
}
export interface MultiplicativeNoiseOptions {
  /** x·m, m ~ U(lo, hi). Default [0.9, 1.1]. */
  multiplier?: Range;
  /** One multiplier per pixel instead of one per image (albumentations' elementwise). Default false. */
  elementwise?: boolean;
}

interface TransformOptionsMap {
  shiftScaleRotate: ShiftScaleRotateOptions;
  medianBlur: MedianBlurOptions;
  motionBlur: MotionBlurOptions;
  sharpen: SharpenOptions;
  cutout: CutoutOptions;
  opticalDistortion: OpticalDistortionOptions;
  brightness: BrightnessOptions;
  contrast: ContrastOptions;
  brightnessContrast: BrightnessContrastOptions;
  gaussNoise: GaussNoiseOptions;
  multiplicativeNoise: MultiplicativeNoiseOptions;
}
export type TransformName = keyof TransformOptionsMap;
export const TRANSFORM_NAMES = Object.freeze([
  'shiftScaleRotate',
  'medianBlur',
  'motionBlur',
  'sharpen',
  'cutout',
  'opticalDistortion',
  'brightness',
  'contrast',
  'brightnessContrast',
  'gaussNoise',
  'multiplicativeNoise',
] as const satisfies readonly TransformName[]);

/** One transform applied with probability p (default 1), or a OneOf group (children's p are weights). */
export type AugSpec =
  | { [K in TransformName]: { type: K; p?: number } & TransformOptionsMap[K] }[TransformName]
  | { type: 'oneOf'; p?: number; transforms: AugSpec[] };

// ---------------------------------------------------------------------------------------------
// Randomness helpers

export function toRng(seed: number | Rng): Rng {
  return seed instanceof Rng ? seed : new Rng(seed);
}
function uniform(rng: Rng, r: Range): number {
  return r[0] + (r[1] - r[0]) * rng.uniform();
}
/** Integer in [lo, hi] inclusive. */
function randint(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng.uniform() * (hi - lo + 1));
}

/** A 32-bit seed mixed from several integers (murmur3 finaliser per word). */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    let k = Math.imul((Math.floor(p) >>> 0) ^ Math.floor(p / 4294967296), 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Scratch memory: kernels reuse module-level buffers (one thread per module instance), never the inputs.

let scratchA = new Float32Array(0);
let scratchB = new Float32Array(0);
function scratch(which: 'a' | 'b', n: number): Float32Array {
  if (which === 'a') {
    if (scratchA.length < n) scratchA = new Float32Array(n);
    return scratchA;
  }
  if (scratchB.length < n) scratchB = new Float32Array(n);
  return scratchB;
}

function reflect101(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * n - 2;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

/** src padded by r on each side with BORDER_REFLECT_101 (cv2's default border for filters and warps). */
function padReflect101(src: Float32Array, w: number, h: number, r: number, out: Float32Array): number {
  const pw = w + 2 * r;
  for (let py = 0; py < h + 2 * r; py++) {
    const sy = reflect101(py - r, h) * w;
    const o = py * pw;
    for (let k = 0; k < r; k++) {
      out[o + k] = src[sy + reflect101(k - r, w)];
      out[o + r + w + k] = src[sy + reflect101(w + k, w)];
    }
    out.set(src.subarray(sy, sy + w), o + r);
  }
  return pw;
}

// ---------------------------------------------------------------------------------------------
// Kernels on raw buffers. Each writes dst (which may equal src only where noted) for a w×h image.

/** dst(x, y) = src(a·x + b·y + c, d·x + e·y + f), bilinear, BORDER_REFLECT_101. */
export function warpAffineInverse(src: Float32Array, dst: Float32Array, w: number, h: number, m: readonly number[]): void {
  const [a, b, c, d, e, f] = m;
  const wm1 = w - 1, hm1 = h - 1;
  for (let y = 0; y < h; y++) {
    let sx = b * y + c, sy = e * y + f;
    const o = y * w;
    for (let x = 0; x < w; x++, sx += a, sy += d) {
      // floor via truncation of a shifted value (a cvttsd2si, not a call); valid for coordinates > −2^20.
      const xi = ((sx + FLOOR_SHIFT) | 0) - FLOOR_SHIFT, yi = ((sy + FLOOR_SHIFT) | 0) - FLOOR_SHIFT;
      const fx = sx - xi, fy = sy - yi;
      if (xi >= 0 && yi >= 0 && xi < wm1 && yi < hm1) {
        const i = yi * w + xi;
        const p00 = src[i], p01 = src[i + 1], p10 = src[i + w], p11 = src[i + w + 1];
        const top = p00 + (p01 - p00) * fx;
        dst[o + x] = top + (p10 + (p11 - p10) * fx - top) * fy;
      } else dst[o + x] = sampleBorder(src, w, h, sx, sy);
    }
  }
}

const FLOOR_SHIFT = 1 << 20;

/** Bilinear sample with BORDER_REFLECT_101 indices (the slow path near and outside the edges). */
function sampleBorder(src: Float32Array, w: number, h: number, sx: number, sy: number): number {
  if (!(Math.abs(sx) < 1e9 && Math.abs(sy) < 1e9)) return 0;
  const x0 = Math.floor(sx), y0 = Math.floor(sy);
  const fx = sx - x0, fy = sy - y0;
  const xa = reflect101(x0, w), xb = reflect101(x0 + 1, w), ya = reflect101(y0, h) * w, yb = reflect101(y0 + 1, h) * w;
  const p00 = src[ya + xa], p01 = src[ya + xb], p10 = src[yb + xa], p11 = src[yb + xb];
  const top = p00 + (p01 - p00) * fx;
  return top + (p10 + (p11 - p10) * fx - top) * fy;
}

/** cv2.getRotationMatrix2D about the pixel-grid centre plus a shift, inverted for gathering. */
export function shiftScaleRotateMatrix(w: number, h: number, angleDeg: number, scale: number, dx: number, dy: number): number[] {
  const cx = (w - 1) / 2, cy = (h - 1) / 2;
  const t = (angleDeg * Math.PI) / 180;
  const al = scale * Math.cos(t), be = scale * Math.sin(t);
  // Forward: [al be tx; -be al ty]
  const tx = (1 - al) * cx - be * cy + dx * w;
  const ty = be * cx + (1 - al) * cy + dy * h;
  const det = al * al + be * be;
  const ia = al / det, ib = -be / det, id = be / det, ie = al / det;
  return [ia, ib, -(ia * tx + ib * ty), id, ie, -(id * tx + ie * ty)];
}

/** 3×3 (or larger odd) median with replicated borders (cv2.medianBlur). */
export function medianBlurKernel(src: Float32Array, dst: Float32Array, w: number, h: number, ksize: number): void {
  if (ksize <= 1) {
    dst.set(src.subarray(0, w * h));
    return;
  }
  if (ksize === 3) return median3(src, dst, w, h);
  const r = ksize >> 1;
  const win = new Float32Array(ksize * ksize);
  const mid = (ksize * ksize) >> 1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let k = 0;
      for (let dy = -r; dy <= r; dy++) {
        const row = Math.min(h - 1, Math.max(0, y + dy)) * w;
        for (let dx = -r; dx <= r; dx++) win[k++] = src[row + Math.min(w - 1, Math.max(0, x + dx))];
      }
      win.sort();
      dst[y * w + x] = win[mid];
    }
  }
}

function median3(src: Float32Array, dst: Float32Array, w: number, h: number): void {
  const n = w * h;
  // Non-negative floats (and +inf) order like their bit patterns as int32: then min/max are branchless
  // integer ops, which matters because the float compares mispredict on noisy images (3× slower).
  const si = new Int32Array(src.buffer, src.byteOffset, n);
  let intOk = true;
  for (let i = 0; i < n; i++) {
    const v = si[i];
    if (v < 0 || v > 0x7f800000) {
      intOk = false;
      break;
    }
  }
  if (intOk) return median3Int(si, new Int32Array(dst.buffer, dst.byteOffset, n), w, h);
  // Sort each column triple once per row, then median9 = med3(max of lows, med of mids, min of highs).
  const lo = scratch('a', 3 * (w + 2));
  const mi = lo.subarray(w + 2, 2 * (w + 2));
  const hi = lo.subarray(2 * (w + 2), 3 * (w + 2));
  for (let y = 0; y < h; y++) {
    const ra = Math.max(0, y - 1) * w, rb = y * w, rc = Math.min(h - 1, y + 1) * w;
    for (let x = 0; x < w; x++) {
      let a = src[ra + x], b = src[rb + x], c = src[rc + x], t: number;
      if (a > b) { t = a; a = b; b = t; }
      if (b > c) { t = b; b = c; c = t; }
      if (a > b) { t = a; a = b; b = t; }
      lo[x + 1] = a;
      mi[x + 1] = b;
      hi[x + 1] = c;
    }
    lo[0] = lo[1]; mi[0] = mi[1]; hi[0] = hi[1];
    lo[w + 1] = lo[w]; mi[w + 1] = mi[w]; hi[w + 1] = hi[w];
    const o = y * w;
    for (let x = 0; x < w; x++) {
      const l0 = lo[x], l1 = lo[x + 1], l2 = lo[x + 2];
      const maxLo = l0 > l1 ? (l0 > l2 ? l0 : l2) : l1 > l2 ? l1 : l2;
      const h0 = hi[x], h1 = hi[x + 1], h2 = hi[x + 2];
      const minHi = h0 < h1 ? (h0 < h2 ? h0 : h2) : h1 < h2 ? h1 : h2;
      const medMid = med3(mi[x], mi[x + 1], mi[x + 2]);
      dst[o + x] = med3(maxLo, medMid, minHi);
    }
  }
}

let intScratch = new Int32Array(0);

/** median3 on int32 keys; min(a, b) = b + (d & (d >> 31)) with d = a − b (no overflow: keys ≤ 0x7f800000). */
function median3Int(src: Int32Array, dst: Int32Array, w: number, h: number): void {
  if (intScratch.length < 3 * (w + 2)) intScratch = new Int32Array(3 * (w + 2));
  const lo = intScratch.subarray(0, w + 2), mi = intScratch.subarray(w + 2, 2 * (w + 2)), hi = intScratch.subarray(2 * (w + 2), 3 * (w + 2));
  for (let y = 0; y < h; y++) {
    const ra = (y > 0 ? y - 1 : 0) * w, rb = y * w, rc = (y < h - 1 ? y + 1 : h - 1) * w;
    for (let x = 0; x < w; x++) {
      const a = src[ra + x], b = src[rb + x], c = src[rc + x];
      let d = a - b, m = d >> 31;
      const l1 = b + (d & m), h1 = a - (d & m);
      d = l1 - c;
      m = d >> 31;
      lo[x + 1] = c + (d & m);
      const h2 = l1 - (d & m);
      d = h1 - h2;
      m = d >> 31;
      mi[x + 1] = h2 + (d & m);
      hi[x + 1] = h1 - (d & m);
    }
    lo[0] = lo[1]; mi[0] = mi[1]; hi[0] = hi[1];
    lo[w + 1] = lo[w]; mi[w + 1] = mi[w]; hi[w + 1] = hi[w];
    const o = y * w;
    for (let x = 0; x < w; x++) {
      let a = lo[x], b = lo[x + 1], c = lo[x + 2];
      let d = a - b, m = d >> 31;
      let t = a - (d & m);
      d = t - c;
      m = d >> 31;
      const maxLo = t - (d & m);
      a = hi[x]; b = hi[x + 1]; c = hi[x + 2];
      d = a - b;
      m = d >> 31;
      t = b + (d & m);
      d = t - c;
      m = d >> 31;
      const minHi = c + (d & m);
      a = mi[x]; b = mi[x + 1]; c = mi[x + 2];
      // med3(a, b, c) = max(min(a, b), min(max(a, b), c))
      d = a - b;
      m = d >> 31;
      const mn = b + (d & m), mx = a - (d & m);
      d = mx - c;
      m = d >> 31;
      const t2 = c + (d & m);
      d = mn - t2;
      m = d >> 31;
      const medMid = mn - (d & m);
      d = maxLo - medMid;
      m = d >> 31;
      const mn2 = medMid + (d & m), mx2 = maxLo - (d & m);
      d = mx2 - minHi;
      m = d >> 31;
      const t3 = minHi + (d & m);
      d = mn2 - t3;
      m = d >> 31;
      dst[o + x] = mn2 - (d & m);
    }
  }
}

function med3(a: number, b: number, c: number): number {
  return a > b ? (b > c ? b : a > c ? c : a) : a > c ? a : b > c ? c : b;
}

/** Correlation with sparse taps [dx, dy, weight] (cv2.filter2D, BORDER_REFLECT_101), in one pass. */
export function filterTaps(src: Float32Array, dst: Float32Array, w: number, h: number, taps: readonly (readonly [number, number, number])[]): void {
  let r = 0;
  for (const [dx, dy] of taps) r = Math.max(r, Math.abs(dx), Math.abs(dy));
  const pad = scratch('a', (w + 2 * r) * (h + 2 * r));
  const pw = padReflect101(src, w, h, r, pad);
  const k = taps.length;
  const off = new Int32Array(k), wt = new Float64Array(k);
  taps.forEach(([dx, dy, t], i) => {
    off[i] = (dy + r) * pw + dx + r;
    wt[i] = t;
  });
  for (let y = 0; y < h; y++) {
    const o = y * w, p = y * pw;
    for (let x = 0; x < w; x++) {
      const b = p + x;
      let acc = 0;
      for (let t = 0; t < k; t++) acc += wt[t] * pad[b + off[t]];
      dst[o + x] = acc;
    }
  }
}

/** The motion-blur kernel of albumentations: a 1-px line between two random points, normalised. */
export function motionBlurTaps(ksize: number, xs: number, ys: number, xe: number, ye: number): [number, number, number][] {
  const pts = new Set<number>();
  // Bresenham (cv2.line, LINE_8).
  let x = xs, y = ys;
  const ddx = Math.abs(xe - xs), ddy = -Math.abs(ye - ys);
  const sx = xs < xe ? 1 : -1, sy = ys < ye ? 1 : -1;
  let err = ddx + ddy;
  for (;;) {
    pts.add(y * ksize + x);
    if (x === xe && y === ye) break;
    const e2 = 2 * err;
    if (e2 >= ddy) { err += ddy; x += sx; }
    if (e2 <= ddx) { err += ddx; y += sy; }
  }
  const r = ksize >> 1;
  const wt = 1 / pts.size;
  return [...pts].sort((a, b) => a - b).map((p) => [(p % ksize) - r, Math.floor(p / ksize) - r, wt]);
}

/** out = x·(1 + α(8 + L)) − α·box3sum(x), i.e. filter2D with (1−α)·δ + α·[[−1…],[−1, 8+L, −1],[…−1]]; clipped to [0, 1]. */
export function sharpenKernel(src: Float32Array, dst: Float32Array, w: number, h: number, alpha: number, lightness: number): void {
  const n = w * h;
  if (alpha === 0) {
    dst.set(src.subarray(0, n));
    return;
  }
  const pad = scratch('a', (w + 2) * (h + 2));
  const pw = padReflect101(src, w, h, 1, pad);
  const rowSum = scratch('b', w * (h + 2));
  for (let py = 0; py < h + 2; py++) {
    const p = py * pw, o = py * w;
    for (let x = 0; x < w; x++) rowSum[o + x] = pad[p + x] + pad[p + x + 1] + pad[p + x + 2];
  }
  const c = 1 + alpha * (8 + lightness);
  for (let y = 0; y < h; y++) {
    const o = y * w;
    for (let x = 0; x < w; x++) {
      const box = rowSum[o + x] + rowSum[o + w + x] + rowSum[o + 2 * w + x];
      const v = c * src[o + x] - alpha * box;
      dst[o + x] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
}

/** cv2.initUndistortRectifyMap + remap as albumentations' OpticalDistortion (k1 = k2 = k). */
export function opticalDistortionKernel(src: Float32Array, dst: Float32Array, w: number, h: number, k: number, dx: number, dy: number): void {
  const fx = w, fy = h, cx = w * 0.5 + dx, cy = h * 0.5 + dy;
  const wm1 = w - 1, hm1 = h - 1;
  // Per column: u − cx and ((u − cx)/fx)². The map is written as u + (u − cx)·(kr − 1), which is
  // algebraically cv2's fx·x·kr + cx but exactly the identity when k = 0.
  const xn = scratch('a', 2 * w);
  for (let u = 0; u < w; u++) {
    const t = u - cx;
    xn[2 * u] = t;
    xn[2 * u + 1] = (t / fx) * (t / fx);
  }
  for (let v = 0; v < h; v++) {
    const ty = v - cy;
    const yn2 = (ty / fy) * (ty / fy);
    const o = v * w;
    for (let u = 0; u < w; u++) {
      const r2 = xn[2 * u + 1] + yn2;
      const g = k * r2 * (1 + r2);
      const sx = u + xn[2 * u] * g, sy = v + ty * g;
      const xi = ((sx + FLOOR_SHIFT) | 0) - FLOOR_SHIFT, yi = ((sy + FLOOR_SHIFT) | 0) - FLOOR_SHIFT;
      if (xi >= 0 && yi >= 0 && xi < wm1 && yi < hm1) {
        const fxr = sx - xi, fyr = sy - yi;
        const i = yi * w + xi;
        const p00 = src[i], p01 = src[i + 1], p10 = src[i + w], p11 = src[i + w + 1];
        const top = p00 + (p01 - p00) * fxr;
        dst[o + u] = top + (p10 + (p11 - p10) * fxr - top) * fyr;
      } else dst[o + u] = sampleBorder(src, w, h, sx, sy);
    }
  }
}

/**
 * x + σ·z per pixel, clipped to [0, 1]; dst may be src. z comes from a 4096-segment piecewise-linear
 * inverse normal CDF (tails cut at ±3.5, rescaled to unit variance) indexed by an inline
 * xoshiro128**: 4× faster than Box–Muller here, and indistinguishable for augmentation noise.
 */
export function gaussNoiseKernel(src: Float32Array, dst: Float32Array, n: number, sigma: number, rng: Rng): void {
  const T = normalTable();
  let s0 = rng.nextU32() | 1, s1 = rng.nextU32(), s2 = rng.nextU32(), s3 = rng.nextU32();
  const FRAC = 1 / (1 << 20);
  for (let i = 0; i < n; i++) {
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 11);
    const k = r >>> 20;
    const a = T[k];
    const z = a + (T[k + 1] - a) * ((r & 0xfffff) * FRAC);
    const v = src[i] + sigma * z;
    dst[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
}

let normalT: Float64Array | null = null;
/** Quantiles Φ⁻¹(k/4096), k = 0..4096, ends clamped at ±Φ⁻¹(1 − 0.5/4096), scaled to unit variance. */
function normalTable(): Float64Array {
  if (normalT) return normalT;
  const N = 4096;
  const t = new Float64Array(N + 1);
  for (let k = 0; k <= N; k++) t[k] = inverseNormalCdf(Math.min(1 - 0.5 / N, Math.max(0.5 / N, k / N)));
  // Variance of the piecewise-uniform mixture: segment k is uniform between t[k] and t[k+1].
  let v = 0;
  for (let k = 0; k < N; k++) v += (t[k] * t[k] + t[k] * t[k + 1] + t[k + 1] * t[k + 1]) / 3 / N;
  const s = 1 / Math.sqrt(v);
  for (let k = 0; k <= N; k++) t[k] *= s;
  normalT = t;
  return t;
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

/** x·U(lo, hi) per pixel, clipped; dst may be src. */
export function multiplicativeNoiseElementwise(src: Float32Array, dst: Float32Array, n: number, lo: number, hi: number, rng: Rng): void {
  let s0 = rng.nextU32() | 1, s1 = rng.nextU32(), s2 = rng.nextU32(), s3 = rng.nextU32();
  const span = (hi - lo) / 4294967296;
  for (let i = 0; i < n; i++) {
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 11);
    const v = src[i] * (lo + (r >>> 0) * span);
    dst[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
}

// ---------------------------------------------------------------------------------------------
// Transforms: sample parameters from the rng, then run a kernel that reads src and writes all of dst
// (never src). Pointwise intensity transforms instead return their x·α + β (then clip) so that a
// pipeline can fuse runs of them, and the final normalisation, into one pass.

interface TransformImpl<O> {
  defaults: Required<O>;
  check(o: Required<O>): void;
  apply?(src: Float32Array, dst: Float32Array, w: number, h: number, o: Required<O>, rng: Rng): void;
  affine?(o: Required<O>, rng: Rng): [number, number];
}

const nonNeg = (v: number, what: string): void => {
  if (!(typeof v === 'number' && v >= 0 && Number.isFinite(v))) throw new RangeError(`${what} must be a finite number ≥ 0, got ${v}`);
};
const range = (r: Range, what: string): void => {
  if (!Array.isArray(r) || r.length !== 2 || !r.every(Number.isFinite) || r[0] > r[1]) throw new RangeError(`${what} must be [lo, hi] with lo ≤ hi, got ${JSON.stringify(r)}`);
};
const oddRange = (r: Range, what: string): void => {
  range(r, what);
  if (!r.every((v) => Number.isInteger(v) && v % 2 === 1 && v >= 1 && v <= 31)) throw new RangeError(`${what} must be odd integers in [1, 31], got ${JSON.stringify(r)}`);
};

const IMPLS: { [K in TransformName]: TransformImpl<TransformOptionsMap[K]> } = {
  shiftScaleRotate: {
    defaults: { shiftLimit: 0.0625, scaleLimit: 0.1, rotateLimit: 45 },
    check: (o) => {
      nonNeg(o.shiftLimit, 'shiftScaleRotate.shiftLimit');
      nonNeg(o.scaleLimit, 'shiftScaleRotate.scaleLimit');
      nonNeg(o.rotateLimit, 'shiftScaleRotate.rotateLimit');
      if (o.scaleLimit >= 1) throw new RangeError(`shiftScaleRotate.scaleLimit must be < 1, got ${o.scaleLimit}`);
    },
    apply: (src, dst, w, h, o, rng) => {
      const angle = uniform(rng, [-o.rotateLimit, o.rotateLimit]);
      const scale = 1 + uniform(rng, [-o.scaleLimit, o.scaleLimit]);
      const dx = uniform(rng, [-o.shiftLimit, o.shiftLimit]);
      const dy = uniform(rng, [-o.shiftLimit, o.shiftLimit]);
      warpAffineInverse(src, dst, w, h, shiftScaleRotateMatrix(w, h, angle, scale, dx, dy));
    },
  },
  medianBlur: {
    defaults: { ksize: 3 },
    check: (o) => oddRange([o.ksize, o.ksize], 'medianBlur.ksize'),
    apply: (src, dst, w, h, o) => medianBlurKernel(src, dst, w, h, o.ksize),
  },
  motionBlur: {
    defaults: { blurLimit: [3, 7] },
    check: (o) => oddRange(o.blurLimit, 'motionBlur.blurLimit'),
    apply: (src, dst, w, h, o, rng) => {
      const k = o.blurLimit[0] + 2 * randint(rng, 0, (o.blurLimit[1] - o.blurLimit[0]) >> 1);
      if (k === 1) {
        dst.set(src.subarray(0, w * h));
        return;
      }
      const xs = randint(rng, 0, k - 1), xe = randint(rng, 0, k - 1);
      let ys: number, ye: number;
      if (xs === xe) {
        // Two distinct rows, as random.sample(range(k), 2).
        ys = randint(rng, 0, k - 1);
        ye = randint(rng, 0, k - 2);
        if (ye >= ys) ye++;
      } else {
        ys = randint(rng, 0, k - 1);
        ye = randint(rng, 0, k - 1);
      }
      filterTaps(src, dst, w, h, motionBlurTaps(k, xs, ys, xe, ye));
    },
  },
  sharpen: {
    defaults: { alpha: [0.2, 0.5], lightness: [0.5, 1] },
    check: (o) => {
      range(o.alpha, 'sharpen.alpha');
      range(o.lightness, 'sharpen.lightness');
      if (o.alpha[0] < 0 || o.alpha[1] > 1) throw new RangeError(`sharpen.alpha must lie in [0, 1], got ${JSON.stringify(o.alpha)}`);
    },
    apply: (src, dst, w, h, o, rng) => {
      const a = uniform(rng, o.alpha), l = uniform(rng, o.lightness);
      sharpenKernel(src, dst, w, h, a, l);
    },
  },
  cutout: {
    defaults: { numHoles: 8, size: 1 / 16, fill: 0 },
    check: (o) => {
      if (!Number.isInteger(o.numHoles) || o.numHoles < 0) throw new RangeError(`cutout.numHoles must be an integer ≥ 0, got ${o.numHoles}`);
      nonNeg(o.size, 'cutout.size');
      if (!Number.isFinite(o.fill)) throw new RangeError(`cutout.fill must be finite, got ${o.fill}`);
    },
    apply: (src, dst, w, h, o, rng) => {
      dst.set(src.subarray(0, w * h));
      const side = Math.max(1, Math.round(o.size * Math.min(w, h)));
      for (let k = 0; k < o.numHoles; k++) {
        const cy = randint(rng, 0, h - 1), cx = randint(rng, 0, w - 1);
        const y1 = Math.max(0, cy - (side >> 1)), x1 = Math.max(0, cx - (side >> 1));
        const y2 = Math.min(h, y1 + side), x2 = Math.min(w, x1 + side);
        for (let y = y1; y < y2; y++) dst.fill(o.fill, y * w + x1, y * w + x2);
      }
    },
  },
  opticalDistortion: {
    defaults: { distortLimit: 0.05, shiftLimit: 0.05 },
    check: (o) => {
      nonNeg(o.distortLimit, 'opticalDistortion.distortLimit');
      nonNeg(o.shiftLimit, 'opticalDistortion.shiftLimit');
    },
    apply: (src, dst, w, h, o, rng) => {
      const k = uniform(rng, [-o.distortLimit, o.distortLimit]);
      const dx = uniform(rng, [-o.shiftLimit, o.shiftLimit]) * w;
      const dy = uniform(rng, [-o.shiftLimit, o.shiftLimit]) * h;
      opticalDistortionKernel(src, dst, w, h, k, dx, dy);
    },
  },
  brightness: {
    defaults: { limit: [-0.2, 0.2] },
    check: (o) => range(o.limit, 'brightness.limit'),
    affine: (o, rng) => [1, uniform(rng, o.limit)],
  },
  contrast: {
    defaults: { limit: [-0.2, 0.2] },
    check: (o) => range(o.limit, 'contrast.limit'),
    affine: (o, rng) => [1 + uniform(rng, o.limit), 0],
  },
  brightnessContrast: {
    defaults: { brightnessLimit: [-0.2, 0.2], contrastLimit: [-0.2, 0.2] },
    check: (o) => {
      range(o.brightnessLimit, 'brightnessContrast.brightnessLimit');
      range(o.contrastLimit, 'brightnessContrast.contrastLimit');
    },
    affine: (o, rng) => {
      // albumentations draws alpha (contrast) first, then beta (brightness).
      const alpha = 1 + uniform(rng, o.contrastLimit);
      return [alpha, uniform(rng, o.brightnessLimit)];
    },
  },
  gaussNoise: {
    defaults: { varLimit: [0, 0.005] },
    check: (o) => {
      range(o.varLimit, 'gaussNoise.varLimit');
      nonNeg(o.varLimit[0], 'gaussNoise.varLimit[0]');
    },
    apply: (src, dst, w, h, o, rng) => {
      const sigma = Math.sqrt(uniform(rng, o.varLimit));
      if (sigma > 0) gaussNoiseKernel(src, dst, w * h, sigma, rng);
      else dst.set(src.subarray(0, w * h));
    },
  },
  multiplicativeNoise: {
    defaults: { multiplier: [0.9, 1.1], elementwise: false },
    check: (o) => {
      range(o.multiplier, 'multiplicativeNoise.multiplier');
      nonNeg(o.multiplier[0], 'multiplicativeNoise.multiplier[0]');
    },
    apply: (src, dst, w, h, o, rng) => multiplicativeNoiseElementwise(src, dst, w * h, o.multiplier[0], o.multiplier[1], rng),
    affine: (o, rng) => [uniform(rng, o.multiplier), 0],
  },
};

function resolve<K extends TransformName>(type: K, opts: object, what: string): Required<TransformOptionsMap[K]> {
  const impl = IMPLS[type] as TransformImpl<TransformOptionsMap[K]>;
  if (!impl) throw new TypeError(`${what}: unknown transform ${JSON.stringify(type)}; expected one of ${TRANSFORM_NAMES.join(', ')}, oneOf`);
  const o = { ...impl.defaults } as Record<string, unknown>;
  for (const [k, v] of Object.entries(opts)) {
    if (k === 'type' || k === 'p') continue;
    if (!(k in impl.defaults)) throw new TypeError(`${what}: ${type} has no option '${k}' (options: ${Object.keys(impl.defaults).join(', ')})`);
    if (v !== undefined) o[k] = v;
  }
  const r = o as Required<TransformOptionsMap[K]>;
  impl.check(r);
  return r;
}

/** Applies one transform as a pure function: returns a new image, the input is not touched. */
export function applyTransform<K extends TransformName>(type: K, img: GrayImage, opts: TransformOptionsMap[K] = {} as TransformOptionsMap[K], seed: number | Rng = 0): GrayImage {
  checkImage(img, type);
  const aug = compileAugmentations([{ type, ...opts } as AugSpec]);
  return { width: img.width, height: img.height, data: new Float32Array(aug.run(img.data, img.width, img.height, toRng(seed))) };
}

export const shiftScaleRotate = (img: GrayImage, o: ShiftScaleRotateOptions = {}, seed: number | Rng = 0): GrayImage => applyTransform('shiftScaleRotate', img, o, seed);
export const medianBlur = (img: GrayImage, o: MedianBlurOptions = {}, seed: number | Rng = 0): GrayImage => applyTransform('medianBlur', img, o, seed);
export const motionBlur = (img: GrayImage, o: MotionBlurOptions = {}, seed: number | Rng = 0): GrayImage => applyTransform('motionBlur', img, o, seed);
export const sharpen = (img: GrayImage, o: SharpenOptions = {}, seed: number | Rng = 0): GrayImage => applyTransform('sharpen', img, o, seed);
export const cutout = (img: GrayImage, o: CutoutOptions = {}, seed: number | Rng = 0): GrayImage => applyTransform('cutout', img, o, seed);
export const opticalDistortion = (img: GrayImage, o: OpticalDistortionOptions = {}, seed: number | Rng = 0): GrayImage => applyTransform('opticalDistortion', img, o, seed);
export const brightness = (img: GrayImage, o: BrightnessOptions = {}, seed: number | Rng = 0): GrayImage => applyTransform('brightness', img, o, seed);
export const contrast = (img: GrayImage, o: ContrastOptions = {}, seed: number | Rng = 0): GrayImage => applyTransform('contrast', img, o, seed);
export const brightnessContrast = (img: GrayImage, o: BrightnessContrastOptions = {}, seed: number | Rng = 0): GrayImage => applyTransform('brightnessContrast', img, o, seed);
export const gaussNoise = (img: GrayImage, o: GaussNoiseOptions = {}, seed: number | Rng = 0): GrayImage => applyTransform('gaussNoise', img, o, seed);
export const multiplicativeNoise = (img: GrayImage, o: MultiplicativeNoiseOptions = {}, seed: number | Rng = 0): GrayImage => applyTransform('multiplicativeNoise', img, o, seed);

// ---------------------------------------------------------------------------------------------
// Composition

type Compiled =
  | { kind: 'one'; p: number; impl: TransformImpl<object>; opts: object }
  | { kind: 'oneOf'; p: number; weights: number[]; children: Compiled[] };

export interface Augmenter {
  /** The spec it was compiled from. */
  readonly spec: readonly AugSpec[];
  /**
   * Augments src (not modified) with rng. The result may be src itself or one of the augmenter's
   * work buffers, which the next call reuses: copy it out before calling again.
   */
  run(src: Float32Array, w: number, h: number, rng: Rng): Float32Array;
  /** As run, then (x − mean)/std written into out at offset; the last pointwise steps are fused in. */
  runInto(src: Float32Array, w: number, h: number, rng: Rng, out: Float32Array, offset: number, mean: number, std: number): void;
}

function probability(p: unknown, what: string): number {
  const v = p ?? 1;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new RangeError(`${what}: p must be in [0, 1], got ${String(p)}`);
  return v;
}

function compileOne(s: AugSpec, what: string): Compiled {
  if (!s || typeof s !== 'object' || typeof (s as { type?: unknown }).type !== 'string') throw new TypeError(`${what}: each transform must be an object with a type`);
  if (s.type === 'oneOf') {
    if (!Array.isArray(s.transforms) || s.transforms.length === 0) throw new TypeError(`${what}: oneOf needs a non-empty transforms list`);
    const children = s.transforms.map((c, i) => compileOne(c, `${what}.transforms[${i}]`));
    const weights = children.map((c) => c.p);
    if (!(weights.reduce((a, b) => a + b, 0) > 0)) throw new RangeError(`${what}: oneOf children's p (weights) sum to 0`);
    return { kind: 'oneOf', p: probability(s.p, what), weights, children };
  }
  const opts = resolve(s.type, s, what);
  return { kind: 'one', p: probability(s.p, `${what} (${s.type})`), impl: IMPLS[s.type] as TransformImpl<object>, opts };
}

/** Applies k stages of v = clip01(v·α + β) and then v·scale + shift, from src into dst[offset…]. */
function pointwiseChain(src: Float32Array, dst: Float32Array, offset: number, n: number, stages: number[], k: number, scale: number, shift: number): void {
  if (k === 0) {
    for (let i = 0; i < n; i++) dst[offset + i] = src[i] * scale + shift;
  } else if (k === 1) {
    const a = stages[0], b = stages[1];
    for (let i = 0; i < n; i++) {
      const v = src[i] * a + b;
      dst[offset + i] = (v < 0 ? 0 : v > 1 ? 1 : v) * scale + shift;
    }
  } else if (k === 2) {
    const a0 = stages[0], b0 = stages[1], a1 = stages[2], b1 = stages[3];
    for (let i = 0; i < n; i++) {
      let v = src[i] * a0 + b0;
      v = (v < 0 ? 0 : v > 1 ? 1 : v) * a1 + b1;
      dst[offset + i] = (v < 0 ? 0 : v > 1 ? 1 : v) * scale + shift;
    }
  } else {
    for (let i = 0; i < n; i++) {
      let v = src[i];
      for (let s = 0; s < 2 * k; s += 2) {
        v = v * stages[s] + stages[s + 1];
        v = v < 0 ? 0 : v > 1 ? 1 : v;
      }
      dst[offset + i] = v * scale + shift;
    }
  }
}

/** Compiles a list of transforms (applied in order, each with its p) into an augmenter. */
export function compileAugmentations(spec: readonly AugSpec[]): Augmenter {
  if (!Array.isArray(spec)) throw new TypeError('compileAugmentations: expects an array of transforms');
  const steps = spec.map((s, i) => compileOne(s, `augmentations[${i}]`));
  let bufA = new Float32Array(0), bufB = new Float32Array(0);
  const stages: number[] = [];
  let k = 0;
  let cur: Float32Array = bufA;
  const fresh = (): Float32Array => (cur === bufA ? bufB : bufA);
  const flush = (n: number): void => {
    if (k === 0) return;
    const dst = fresh();
    pointwiseChain(cur, dst, 0, n, stages, k, 1, 0);
    cur = dst;
    k = 0;
  };
  const step = (c: Compiled, w: number, h: number, rng: Rng): void => {
    if (c.kind === 'oneOf') {
      const total = c.weights.reduce((a, b) => a + b, 0);
      let u = rng.uniform() * total, i = 0;
      while (i < c.weights.length - 1 && u >= c.weights[i]) u -= c.weights[i++];
      return step(c.children[i], w, h, rng);
    }
    const impl = c.impl;
    if (impl.affine && !(impl.apply && (c.opts as { elementwise?: boolean }).elementwise)) {
      const [a, b] = impl.affine(c.opts, rng);
      stages[2 * k] = a;
      stages[2 * k + 1] = b;
      k++;
      return;
    }
    flush(w * h);
    const dst = fresh();
    impl.apply!(cur, dst, w, h, c.opts, rng);
    cur = dst;
  };
  const pipeline = (src: Float32Array, w: number, h: number, rng: Rng): void => {
    const n = w * h;
    if (bufA.length !== n) {
      bufA = new Float32Array(n);
      bufB = new Float32Array(n);
    }
    cur = src; // read-only: every kernel writes a work buffer
    k = 0;
    for (const c of steps) if (rng.uniform() < c.p) step(c, w, h, rng);
  };
  return {
    spec,
    run(src, w, h, rng) {
      pipeline(src, w, h, rng);
      flush(w * h);
      const out = cur;
      cur = bufA;
      return out;
    },
    runInto(src, w, h, rng, out, offset, mean, std) {
      pipeline(src, w, h, rng);
      pointwiseChain(cur, out, offset, w * h, stages, k, 1 / std, -mean / std);
      k = 0;
      cur = bufA;
    },
  };
}

/** Two independently augmented views of one image (seeded by seed and the view number). */
export function augmentPair(img: GrayImage, spec: readonly AugSpec[] | PresetName, seed: number): [GrayImage, GrayImage] {
  checkImage(img, 'augmentPair');
  const aug = compileAugmentations(typeof spec === 'string' ? preset(spec) : spec);
  const view = (v: number): GrayImage => ({ width: img.width, height: img.height, data: new Float32Array(aug.run(img.data, img.width, img.height, new Rng(mixSeed(seed, v)))) });
  return [view(0), view(1)];
}

export type PresetName = 'default' | 'easy' | 'paper' | 'none';
export const PRESET_NAMES: readonly PresetName[] = Object.freeze(['default', 'easy', 'paper', 'none']);

/**
 * default: the reference code's pipeline (albumentations); easy: mild intensity + geometry only;
 * paper: default plus Cutout (listed in the paper, absent from the public code); none: identity.
 */
export function preset(name: PresetName): AugSpec[] {
  switch (name) {
    case 'default':
      return [
        { type: 'oneOf', p: 0.2, transforms: [{ type: 'medianBlur', ksize: 3 }, { type: 'motionBlur', blurLimit: [3, 7] }, { type: 'sharpen', alpha: [0.01, 0.2], lightness: [0.5, 1] }] },
        { type: 'brightnessContrast', p: 0.6, brightnessLimit: [-0.1, 0.1], contrastLimit: [-0.2, 0.1] },
        { type: 'oneOf', p: 0.2, transforms: [{ type: 'gaussNoise', varLimit: [0, 0.005] }, { type: 'multiplicativeNoise', multiplier: [0.9, 1.1] }] },
        // HueSaturationValue on a gray image is a value (brightness) shift.
        { type: 'brightness', p: 0.3, limit: [-0.1, 0.1] },
        { type: 'shiftScaleRotate', p: 0.2, shiftLimit: 0.0625, scaleLimit: 0.2, rotateLimit: 10 },
        // OneOf([OpticalDistortion(p=.3), GridDistortion, PiecewiseAffine], p=.2) in the reference: .2 × .3.
        { type: 'opticalDistortion', p: 0.06, distortLimit: 0.05, shiftLimit: 0.05 },
      ];
    case 'easy':
      return [
        { type: 'brightnessContrast', p: 0.5, brightnessLimit: [-0.05, 0.05], contrastLimit: [-0.1, 0.05] },
        { type: 'shiftScaleRotate', p: 0.2, shiftLimit: 0.03, scaleLimit: 0.1, rotateLimit: 5 },
      ];
    case 'paper':
      return [...preset('default'), { type: 'cutout', p: 0.2, numHoles: 8, size: 1 / 16, fill: 0 }];
    case 'none':
      return [];
    default:
      throw new TypeError(`unknown augmentation preset ${JSON.stringify(name)}; expected one of ${PRESET_NAMES.join(', ')}`);
  }
}
