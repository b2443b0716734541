// The paper's chest-radiograph preprocessing: resize to S×S (bilinear), clip intensities at the 99th
// percentile (the L/R marker and other burned-in glare sit above it), min-max scale to [0, 1]; after
// augmentation, normalise with mean 0.658 / std 0.221. Everything here is O(pixels) except the
// percentile, which is a selection (expected O(n)), not a sort.
import { checkImage, grayImage, type GrayImage } from './image.js';

export interface PreprocessOptions {
  /** Output side S (the image becomes S×S). Default 512. */
  imageSize?: number;
  /** Upper clipping percentile, 0..100 (numpy's linear interpolation). Default 99. */
  clipPercentile?: number;
}

export interface NormalizeOptions {
  mean?: number;
  std?: number;
}

export const CXR_DEFAULTS = Object.freeze({ imageSize: 512, clipPercentile: 99, mean: 0.658, std: 0.221 });

/**
 * Bilinear resize with OpenCV's INTER_LINEAR sampling (pixel centres aligned, half-pixel offset,
 * edge pixels replicated, no antialiasing), which is what cv2.resize / albumentations do by default.
 */
export function resizeBilinear(img: GrayImage, width: number, height: number = width): GrayImage {
  checkImage(img, 'resizeBilinear');
  const out = grayImage(width, height);
  const sw = img.width, sh = img.height, src = img.data, dst = out.data;
  if (sw === width && sh === height) {
    dst.set(src);
    return out;
  }
  const xs = axisTable(sw, width);
  const ys = axisTable(sh, height);
  // Two cached horizontally-interpolated rows: consecutive output rows mostly share source rows.
  const rows = [new Float32Array(width), new Float32Array(width)];
  const tag = [-1, -1];
  const rowSlot = (y: number, keep: number): number => {
    if (tag[0] === y) return 0;
    if (tag[1] === y) return 1;
    const s = keep >= 0 ? 1 - keep : tag[0] <= tag[1] ? 0 : 1;
    const row = rows[s], base = y * sw;
    for (let x = 0; x < width; x++) {
      const a = src[base + xs.i0[x]], b = src[base + xs.i1[x]];
      row[x] = a + (b - a) * xs.w[x];
    }
    tag[s] = y;
    return s;
  };
  for (let y = 0; y < height; y++) {
    const s0 = rowSlot(ys.i0[y], -1);
    const s1 = rowSlot(ys.i1[y], s0);
    const r0 = rows[s0], r1 = rows[s1], wy = ys.w[y];
    const o = y * width;
    for (let x = 0; x < width; x++) dst[o + x] = r0[x] + (r1[x] - r0[x]) * wy;
  }
  return out;
}

function axisTable(srcLen: number, dstLen: number): { i0: Int32Array; i1: Int32Array; w: Float32Array } {
  const i0 = new Int32Array(dstLen), i1 = new Int32Array(dstLen), w = new Float32Array(dstLen);
  const scale = srcLen / dstLen;
  for (let d = 0; d < dstLen; d++) {
    const s = (d + 0.5) * scale - 0.5;
    let f = Math.floor(s);
    let t = s - f;
    if (f < 0) {
      f = 0;
      t = 0;
    }
    if (f >= srcLen - 1) {
      f = srcLen - 1;
      t = 0;
    }
    i0[d] = f;
    i1[d] = Math.min(f + 1, srcLen - 1);
    w[d] = t;
  }
  return { i0, i1, w };
}

/**
 * The q-th percentile (0..100) with numpy's default 'linear' method: the sorted values are indexed at
 * (n − 1)·q/100 and neighbours are interpolated. Uses quickselect on a copy.
 */
export function percentile(values: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 100)) throw new RangeError(`percentile: q must be in [0, 100], got ${q}`);
  const n = values.length;
  if (n === 0) throw new RangeError('percentile: no values');
  const a = Float64Array.from(values as ArrayLike<number>);
  for (let i = 0; i < n; i++) if (Number.isNaN(a[i])) return NaN;
  const pos = ((n - 1) * q) / 100;
  const lo = Math.floor(pos);
  const frac = pos - lo;
  const vlo = select(a, lo, 0, n - 1);
  if (frac === 0 || lo + 1 >= n) return vlo;
  // After selecting lo, everything right of it is >= a[lo]; the next order statistic is their minimum.
  let vhi = Infinity;
  for (let i = lo + 1; i < n; i++) if (a[i] < vhi) vhi = a[i];
  return vlo + (vhi - vlo) * frac;
}

/** k-th smallest of a[left..right] (inclusive), reordering a in place (Hoare partition, median of 3). */
function select(a: Float64Array, k: number, left: number, right: number): number {
  while (right > left) {
    const mid = (left + right) >>> 1;
    // Median of three as pivot guards against sorted input.
    let x = a[left], y = a[mid], z = a[right];
    if (x > y) [x, y] = [y, x];
    if (y > z) [y, z] = [z, y];
    if (x > y) [x, y] = [y, x];
    const pivot = y;
    let i = left, j = right;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return a[k];
  }
  return a[k];
}

/** min(x, p-th percentile) then min-max scaled to [0, 1] (all zeros for a constant image). In place. */
export function clipAndScaleInPlace(data: Float32Array, clipPercentile: number): { clip: number; min: number } {
  const clip = clipPercentile >= 100 ? maxOf(data) : percentile(data, clipPercentile);
  let min = Infinity;
  for (let i = 0; i < data.length; i++) if (data[i] < min) min = data[i];
  const range = clip - min;
  const inv = range > 0 ? 1 / range : 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i] < clip ? data[i] : clip;
    data[i] = (v - min) * inv;
  }
  return { clip, min };
}

function maxOf(d: Float32Array): number {
  let m = -Infinity;
  for (let i = 0; i < d.length; i++) if (d[i] > m) m = d[i];
  return m;
}

/**
 * Decoded image → the S×S [0, 1] image that is cached and augmented: resize, percentile clip, min-max.
 * Values are then rounded to 16 bits (the cache's format) so a cached and a fresh image are identical.
 */
export function preprocessCxr(img: GrayImage, opts: PreprocessOptions = {}): GrayImage {
  checkImage(img, 'preprocessCxr');
  const size = opts.imageSize ?? CXR_DEFAULTS.imageSize;
  const q = opts.clipPercentile ?? CXR_DEFAULTS.clipPercentile;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`preprocessCxr: imageSize must be a positive integer, got ${size}`);
  if (!(q > 0 && q <= 100)) throw new RangeError(`preprocessCxr: clipPercentile must be in (0, 100], got ${q}`);
  for (let i = 0; i < img.data.length; i++) {
    if (!Number.isFinite(img.data[i])) throw new RangeError(`preprocessCxr: the image has a non-finite value at ${i}`);
  }
  const out = resizeBilinear(img, size, size);
  clipAndScaleInPlace(out.data, q);
  quantize16InPlace(out.data);
  return out;
}

export const INV65535 = 1 / 65535;

/** Rounds [0, 1] values to k·(1/65535), k = 0..65535 (the cache stores k as uint16). */
export function quantize16InPlace(d: Float32Array): void {
  for (let i = 0; i < d.length; i++) d[i] = Math.round(Math.min(1, Math.max(0, d[i])) * 65535) * INV65535;
}

/** (x − mean) / std, into out (may be the input). */
export function normalize(img: GrayImage, opts: NormalizeOptions = {}, out?: Float32Array): GrayImage {
  checkImage(img, 'normalize');
  const mean = opts.mean ?? CXR_DEFAULTS.mean, std = opts.std ?? CXR_DEFAULTS.std;
  if (!(std > 0)) throw new RangeError(`normalize: std must be positive, got ${std}`);
  const dst = out ?? new Float32Array(img.data.length);
  normalizeInto(img.data, dst, 0, mean, std);
  return { width: img.width, height: img.height, data: dst };
}

function normalizeInto(src: Float32Array, dst: Float32Array, offset: number, mean: number, std: number): void {
  const inv = 1 / std;
  for (let i = 0; i < src.length; i++) dst[offset + i] = (src[i] - mean) * inv;
}
