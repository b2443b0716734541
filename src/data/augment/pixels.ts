// Pixel kernels of the augmentations, on raw w×h float32 buffers: no option parsing, no sampling of
// parameters (src/data/augment/transforms.ts does that), so each can be tested on its own.
//
// Cost per 512×512 image, one core of the 2-core dev VM: a pointwise pass ~0.8 ms (runs of
// brightness/contrast/multiplicative steps and the final normalisation are fused into one pass);
// 3×3 median ~6 ms (sorted columns, branchless int32 keys); motion blur one pass over ≤ 7 taps;
// sharpen = separable 3×3 box; affine / optical warps ~4–6 ms (one bilinear gather per pixel with an
// in-bounds fast path); Gaussian noise ~1.7 ms (inverse-CDF table, not Box–Muller).
import { gaussFromU32, lowbias32, noiseU32Keyed, normalTable } from './plan.js';

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

// Kernels on raw buffers. Each writes dst (which may equal src only where noted) for a w×h image.

/** dst(x, y) = src(a·x + b·y + c, d·x + e·y + f), bilinear, BORDER_REFLECT_101. */
export function warpAffineInverse(src: Float32Array, dst: Float32Array, w: number, h: number, m: readonly number[]): void {
  const [a, b, c, d, e, f] = m;
  const wm1 = w - 1, hm1 = h - 1;
  for (let y = 0; y < h; y++) {
    let sx = b * y + c, sy = e * y + f;
    const o = y * w;
    for (let x = 0; x < w; x++, sx += a, sy += d) {
      // floor via truncation of the shifted value (a cvttsd2si, not a call), tested for the interior on
      // the shifted value itself, so a coordinate past 2^31 (which | 0 would wrap) takes the slow path.
      const tx = sx + FLOOR_SHIFT, ty = sy + FLOOR_SHIFT;
      if (tx >= FLOOR_SHIFT && ty >= FLOOR_SHIFT && tx < FLOOR_SHIFT + wm1 && ty < FLOOR_SHIFT + hm1) {
        const xi = (tx | 0) - FLOOR_SHIFT, yi = (ty | 0) - FLOOR_SHIFT;
        const fx = sx - xi, fy = sy - yi;
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
      const qx = sx + FLOOR_SHIFT, qy = sy + FLOOR_SHIFT;
      if (qx >= FLOOR_SHIFT && qy >= FLOOR_SHIFT && qx < FLOOR_SHIFT + wm1 && qy < FLOOR_SHIFT + hm1) {
        const xi = (qx | 0) - FLOOR_SHIFT, yi = (qy | 0) - FLOOR_SHIFT;
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
 * x + σ·z_i per pixel, clipped to [0, 1]; dst may be src. z_i = gaussFromU32(noiseU32(seed, i)) (plan.ts):
 * a counter-based word per pixel, so every device draws the same noise for a seed, and a
 * 4096-segment piecewise-linear inverse normal CDF rather than Box–Muller (4× faster here, and
 * indistinguishable for augmentation noise).
 */
export function gaussNoiseKernel(src: Float32Array, dst: Float32Array, n: number, sigma: number, seed: number): void {
  const T = normalTable();
  const key = lowbias32(seed >>> 0);
  for (let i = 0; i < n; i++) {
    const v = src[i] + sigma * gaussFromU32(noiseU32Keyed(key, i), T);
    dst[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
}

/** x·(lo + (hi − lo)·noiseU32(seed, i)/2³²) per pixel, clipped; dst may be src. */
export function multiplicativeNoiseElementwise(src: Float32Array, dst: Float32Array, n: number, lo: number, hi: number, seed: number): void {
  const key = lowbias32(seed >>> 0);
  const span = (hi - lo) / 4294967296;
  for (let i = 0; i < n; i++) {
    const v = src[i] * (lo + noiseU32Keyed(key, i) * span);
    dst[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
}

/** Applies k stages of v = clip01(v·α + β) and then v·scale + shift, from src into dst[offset…]. */
export function pointwiseChain(src: Float32Array, dst: Float32Array, offset: number, n: number, stages: number[], k: number, scale: number, shift: number): void {
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
