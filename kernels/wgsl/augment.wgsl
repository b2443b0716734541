// The batched augmentation kernels (issue 20; src/backends/kernels.ts, "augmentation on the device"),
// the WGSL twins of kernels/cuda/augment.cu: each applies one plan step to every image of a stack
// x [B, H, W] (f32), image b's parameters in row b of rows [B, P]. One dispatch per call, one
// invocation per output pixel of the whole stack (the linear index i = b·H·W + y·W + x, the grid
// folded into 2-D by the host), so neighbouring invocations take neighbouring pixels of one row:
// loads and stores are contiguous, the filters' neighbours and the warps' gathers hit the cache.
//   augmentUnpack16(packed) → y = word / 65535, an invocation per packed 32-bit word (two pixels).
//   augmentPointwise(x, [k, scale, shift, a0, b0, …]) → y = chain of clip01(v·aj + bj), then ·scale + shift.
//   augmentWarpAffine(x, [active, m0 … m5]) → bilinear x at (m0·x + m1·y + m2, m3·x + m4·y + m5).
//   augmentOptical(x, [active, k, dx, dy]) → bilinear x at opticalDistortionKernel's point.
//   augmentMedian3(x, [active]) → 3×3 median, replicated borders (medianBlurKernel's network).
//   augmentTaps(x, [active, n, dx0, dy0, w0, …]) → Σt wt·x(reflect101 of the tap's neighbour), tap order.
//   augmentSharpen(x, [active, alpha, lightness]) → clip01(x·(1 + α(8 + L)) − α·box3(x)).
//   augmentCutout(x, [n, fill, x1, y1, x2, y2, …]) → fill inside any rectangle, x elsewhere.
//   augmentGaussNoise(x, [active, sigma, keyLo, keyHi], table[4097]) → clip01(x + σ·gaussFromU32(r_i)).
//   augmentMulNoise(x, [active, lo, hi, keyLo, keyHi]) → clip01(x·(lo + (hi − lo)·r_i/2³²)).
// Cost: bandwidth-bound, one read of x and one write of y per pixel (unpack: 2 bytes read per pixel),
// plus the image's parameter row (cached); FLOPs as KERNEL_COSTS says. Borders, the |s| ≥ 1e9 rule,
// the integer conversions of counts, offsets and corners, and the noise hash are the CPU kernels'
// (kernels/cpu/augment_kernels.cc). The arithmetic is f32 where the CPU's is f64, so results agree
// within test/augment-device.test.ts's tolerances; the median, cutout, unpack and the noise words
// are exact. WGSL's division is not correctly rounded (2.5 ulp), so the unpack builds k/65535 from
// integer bits instead of dividing.
//
// Bindings: 0 x, 1 rows, 2 table (gaussNoise), 3 y, 4 packed (unpack16), 8 params.
// Params (u32 words, src/backends/webgpu/kernels-augment.ts):
//   [0] B  [1] H  [2] W  [3] P  [4] count (invocations: B·H·W, or packed words)  [5] 1.0 (f32 bits)
//   [6] n (unpack16: pixels written)

struct Params {
  v: array<vec4<u32>, 16>,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> rows: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> packed: array<u32>;
@group(0) @binding(8) var<uniform> params: Params;

const WG: u32 = 256u;

fn word(i: u32) -> u32 {
  return params.v[i >> 2u][i & 3u];
}

fn linearIndex(wg: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
  return (wg.y * nwg.x + wg.x) * WG + lid.x;
}

// 1.0 read from the params, which the compiler cannot see through: multiplying by it keeps
// twoSum's (a + b) − a from being simplified to b (an algebraic rewrite valid only for real numbers).
fn one() -> f32 {
  return bitcast<f32>(word(5u));
}

// The pixel an invocation writes: its image b, its column px and row py, and the image's first word.
struct Pixel {
  b: u32,
  px: i32,
  py: i32,
  base: u32,
  i: u32,
}

fn pixelOf(i: u32) -> Pixel {
  let w = word(2u);
  let n = word(1u) * w;
  let b = i / n;
  let p = i - b * n;
  let row = p / w;
  return Pixel(b, i32(p - row * w), i32(row), b * n, p);
}

// Word k of image b's parameter row.
fn param(b: u32, k: u32) -> f32 {
  return rows[b * word(3u) + k];
}

// An inactive row (its word 0 is 0) copies its image through: true when pixel i was copied.
fn copiedThrough(i: u32) -> bool {
  if (param(i / (word(1u) * word(2u)), 0u) != 0.0) { return false; }
  y[i] = x[i];
  return true;
}

// A count or coordinate from a float parameter: truncated toward zero, clamped to [lo, hi], NaN → lo
// (the CPU's clampedInt), so no parameter value can index outside the row or the image.
fn clampedInt(v: f32, lo: i32, hi: i32) -> i32 {
  if (!(v >= f32(lo))) { return lo; }
  if (v >= f32(hi)) { return hi; }
  return clamp(i32(v), lo, hi);
}

fn clip01(v: f32) -> f32 {
  return select(select(v, 1.0, v > 1.0), 0.0, v < 0.0);
}

// BORDER_REFLECT_101: i mod (2n − 2), mirrored; n = 1 gives 0.
fn reflect101(i: i32, n: i32) -> i32 {
  if (n == 1) { return 0; }
  let period = 2 * n - 2;
  var r = i % period;
  if (r < 0) { r += period; }
  return select(period - r, r, r < n);
}

fn at(base: u32, w: i32, cx: i32, cy: i32) -> f32 {
  return x[base + u32(cy * w + cx)];
}

// ---- source coordinates as unevaluated sums hi + lo (kernels/cuda/augment.cu explains why: a plain
// f32 point loses its fraction with the image size, ulp(512) = 6e-5 px). Knuth's twoSum and
// Dekker's twoProd. twoProd splits with a bit mask rather than fma: WGSL's fma (Vulkan's) may be
// evaluated unfused, which loses the product's error (2e-5 px at 512² on lavapipe), while products of
// 12-bit halves are exact however the compiler fuses them.

struct Coord {
  hi: f32,
  lo: f32,
}

// s + err = a + b exactly (returned as Coord(s, err)).
fn twoSum(a: f32, b: f32) -> Coord {
  let s = a + b;
  let bb = s * one() - a;
  return Coord(s, (a - (s - bb)) + (b - bb));
}

// a's top 12 significant bits (a − split(a) holds the other 12, exactly).
fn split(a: f32) -> f32 {
  return bitcast<f32>(bitcast<u32>(a) & 0xfffff000u);
}

// p + err = a·b exactly (|a·b| well inside the f32 range).
fn twoProd(a: f32, b: f32) -> Coord {
  let p = (a * b) * one();
  let ah = split(a);
  let al = a - ah;
  let bh = split(b);
  let bl = b - bh;
  return Coord(p, al * bl - (((p - ah * bh) - al * bh) - ah * bl));
}

// a·x + b·y + c with the products' and the sums' rounding errors carried in lo.
fn affineCoord(a: f32, px: f32, b: f32, py: f32, c: f32) -> Coord {
  let ax = twoProd(a, px);
  let by = twoProd(b, py);
  let s1 = twoSum(by.hi, c);
  let s = twoSum(ax.hi, s1.hi);
  return twoSum(s.hi, (ax.lo + by.lo) + (s1.lo + s.lo));
}

// base + t·g for an integer pixel coordinate base (the optical distortion's source point).
fn displacedCoord(base: f32, t: f32, g: f32) -> Coord {
  let d = twoProd(t, g);
  let s = twoSum(base, d.hi);
  return twoSum(s.hi, s.lo + d.lo);
}

// floor(hi + lo) in .x and the fraction in [0, 1) in .y.
fn splitFloor(c: Coord) -> vec2<f32> {
  var i = floor(c.hi);
  var f = (c.hi - i) + c.lo;
  if (f < 0.0) {
    i -= 1.0;
    f += 1.0;
  } else if (f >= 1.0) {
    i += 1.0;
    f -= 1.0;
  }
  return vec2<f32>(i, f);
}

// Bilinear sample of image base (w×h) at (sx, sy), reflect101 indices; |sx| or |sy| ≥ 1e9 samples 0.
fn bilinear(base: u32, w: i32, h: i32, sx: Coord, sy: Coord) -> f32 {
  if (!(abs(sx.hi) < 1e9 && abs(sy.hi) < 1e9)) { return 0.0; }
  let fx = splitFloor(sx);
  let fy = splitFloor(sy);
  let xi = i32(fx.x);
  let yi = i32(fy.x);
  var xa = xi;
  var xb = xi + 1;
  var ya = yi;
  var yb = yi + 1;
  if (!(xi >= 0 && xi < w - 1 && yi >= 0 && yi < h - 1)) {
    xa = reflect101(xi, w);
    xb = reflect101(xi + 1, w);
    ya = reflect101(yi, h);
    yb = reflect101(yi + 1, h);
  }
  let p00 = at(base, w, xa, ya);
  let p01 = at(base, w, xb, ya);
  let p10 = at(base, w, xa, yb);
  let p11 = at(base, w, xb, yb);
  let top = p00 + (p01 - p00) * fx.y;
  return top + (p10 + (p11 - p10) * fx.y - top) * fy.y;
}

// Chris Wellons' lowbias32 (plan.ts), and pixel i's random word for a noise key (noiseU32Keyed).
fn lowbias32(v: u32) -> u32 {
  var h = v;
  h ^= h >> 16u;
  h *= 0x21f0aaadu;
  h ^= h >> 15u;
  h *= 0x735a2d97u;
  return h ^ (h >> 15u);
}

fn noiseWord(key: u32, i: u32) -> u32 {
  return lowbias32(i * 0x9e3779b9u + key);
}

// A noise key from its 16-bit halves at row words k and k + 1 (each clamped to [0, 65535]).
fn keyOf(b: u32, k: u32) -> u32 {
  return u32(clampedInt(param(b, k), 0, 65535)) | (u32(clampedInt(param(b, k + 1u), 0, 65535)) << 16u);
}

// ---- kernels

// k/65535 correctly rounded, from bits: in binary k/65535 = 0.kkkk… (k's 16 bits repeating), so its
// float is the 24 bits from the leading one, rounded up when the 25th is set (never a tie: k ≠ 0
// repeats forever past it; 65535 rounds up to exactly 1). Equal to the CPU's float(k · (1/65535.0)).
fn unit16(k: u32) -> f32 {
  if (k == 0u) { return 0.0; }
  let lead = firstLeadingBit(k);
  let i0 = 15u - lead;
  let head = (k << 16u) | k;
  var m = head << i0;
  if (i0 > 0u) { m |= (k << 16u) >> (32u - i0); }
  let m25 = m >> 7u;
  let mant = (m25 >> 1u) + (m25 & 1u);
  return ldexp(f32(mant), i32(lead) - 39);
}

// Invocation j converts packed word j: pixel 2j is its low half, 2j + 1 its high half (when < n).
@compute @workgroup_size(256)
fn unpack16(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
  let j = linearIndex(wg, nwg, lid);
  if (j >= word(4u)) { return; }
  let v = packed[j];
  y[2u * j] = unit16(v & 0xffffu);
  if (2u * j + 1u < word(6u)) { y[2u * j + 1u] = unit16(v >> 16u); }
}

@compute @workgroup_size(256)
fn pointwise(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(4u)) { return; }
  let b = i / (word(1u) * word(2u));
  let k = u32(clampedInt(param(b, 0u), 0, i32((word(3u) - 3u) / 2u)));
  var v = x[i];
  for (var s = 0u; s < k; s++) { v = clip01(v * param(b, 3u + 2u * s) + param(b, 4u + 2u * s)); }
  y[i] = v * param(b, 1u) + param(b, 2u);
}

@compute @workgroup_size(256)
fn warpAffine(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(4u) || copiedThrough(i)) { return; }
  let q = pixelOf(i);
  let px = f32(q.px);
  let py = f32(q.py);
  let sx = affineCoord(param(q.b, 1u), px, param(q.b, 2u), py, param(q.b, 3u));
  let sy = affineCoord(param(q.b, 4u), px, param(q.b, 5u), py, param(q.b, 6u));
  y[i] = bilinear(q.base, i32(word(2u)), i32(word(1u)), sx, sy);
}

// albumentations' OpticalDistortion as opticalDistortionKernel writes it: centre (w/2 + dx, h/2 + dy),
// r² = ((u − cx)/w)² + ((v − cy)/h)², g = k·r²·(1 + r²), source (u + (u − cx)·g, v + (v − cy)·g).
@compute @workgroup_size(256)
fn optical(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(4u) || copiedThrough(i)) { return; }
  let q = pixelOf(i);
  let k = param(q.b, 1u);
  let fw = f32(word(2u));
  let fh = f32(word(1u));
  let u = f32(q.px);
  let v = f32(q.py);
  let tx = (u - 0.5 * fw) - param(q.b, 2u);
  let ty = (v - 0.5 * fh) - param(q.b, 3u);
  let xn = tx / fw;
  let yn = ty / fh;
  let r2 = xn * xn + yn * yn;
  let g = k * r2 * (1.0 + r2);
  y[i] = bilinear(q.base, i32(word(2u)), i32(word(1u)), displacedCoord(u, tx, g), displacedCoord(v, ty, g));
}

fn med3(a: f32, b: f32, c: f32) -> f32 {
  if (a > b) {
    if (b > c) { return b; }
    return select(a, c, a > c);
  }
  if (a > c) { return a; }
  return select(b, c, b > c);
}

// Column c's three rows sorted into (lo, mi, hi) by the CPU's three swaps.
fn sortedColumn(base: u32, w: i32, ya: i32, yb: i32, yc: i32, c: i32) -> vec3<f32> {
  var a = at(base, w, c, ya);
  var m = at(base, w, c, yb);
  var z = at(base, w, c, yc);
  var t = 0.0;
  if (a > m) { t = a; a = m; m = t; }
  if (m > z) { t = m; m = z; z = t; }
  if (a > m) { t = a; a = m; m = t; }
  return vec3<f32>(a, m, z);
}

// The 3×3 median with replicated borders: med3(max of the columns' lows, med3 of their mids, min of
// their highs), the CPU's network, so the result is exact.
@compute @workgroup_size(256)
fn median3(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(4u) || copiedThrough(i)) { return; }
  let q = pixelOf(i);
  let w = i32(word(2u));
  let h = i32(word(1u));
  let ya = max(q.py - 1, 0);
  let yc = min(q.py + 1, h - 1);
  let c0 = sortedColumn(q.base, w, ya, q.py, yc, max(q.px - 1, 0));
  let c1 = sortedColumn(q.base, w, ya, q.py, yc, q.px);
  let c2 = sortedColumn(q.base, w, ya, q.py, yc, min(q.px + 1, w - 1));
  var maxLo = c2.x;
  if (c0.x > c1.x) {
    if (c0.x > c2.x) { maxLo = c0.x; }
  } else if (c1.x > c2.x) {
    maxLo = c1.x;
  }
  var minHi = c2.z;
  if (c0.z < c1.z) {
    if (c0.z < c2.z) { minHi = c0.z; }
  } else if (c1.z < c2.z) {
    minHi = c1.z;
  }
  y[i] = med3(maxLo, med3(c0.y, c1.y, c2.y), minHi);
}

// Σt wt·x(reflect101(x + dxt, w), reflect101(y + dyt, h)) over the row's n taps (clamped to the
// row), from 0 in tap order; offsets truncated and clamped to ±2^20 as on the CPU.
@compute @workgroup_size(256)
fn taps(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(4u) || copiedThrough(i)) { return; }
  let q = pixelOf(i);
  let w = i32(word(2u));
  let h = i32(word(1u));
  let n = u32(clampedInt(param(q.b, 1u), 0, i32((word(3u) - 2u) / 3u)));
  var acc = 0.0;
  for (var t = 0u; t < n; t++) {
    let dx = clampedInt(param(q.b, 2u + 3u * t), -1048576, 1048576);
    let dy = clampedInt(param(q.b, 3u + 3u * t), -1048576, 1048576);
    acc += param(q.b, 4u + 3u * t) * at(q.base, w, reflect101(q.px + dx, w), reflect101(q.py + dy, h));
  }
  y[i] = acc;
}

// clip01(c·x − α·box3(x)), c = 1 + α(8 + L), box3 the 3×3 sum with reflect101 borders (row sums
// first). α = 0 copies without the clip, as the reference does.
@compute @workgroup_size(256)
fn sharpen(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(4u)) { return; }
  let q = pixelOf(i);
  let alpha = param(q.b, 1u);
  if (param(q.b, 0u) == 0.0 || alpha == 0.0) {
    y[i] = x[i];
    return;
  }
  let w = i32(word(2u));
  let h = i32(word(1u));
  let c = 1.0 + alpha * (8.0 + param(q.b, 2u));
  let xl = reflect101(q.px - 1, w);
  let xr = reflect101(q.px + 1, w);
  var box = 0.0;
  for (var d = -1; d <= 1; d++) {
    let r = reflect101(q.py + d, h);
    box += at(q.base, w, xl, r) + at(q.base, w, q.px, r) + at(q.base, w, xr, r);
  }
  y[i] = clip01(c * x[i] - alpha * box);
}

// fill inside any of the row's holes [x1, x2) × [y1, y2) (n clamped to the row, corners truncated
// and clamped to the image), x elsewhere.
@compute @workgroup_size(256)
fn cutout(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(4u)) { return; }
  let q = pixelOf(i);
  let w = i32(word(2u));
  let h = i32(word(1u));
  let holes = u32(clampedInt(param(q.b, 0u), 0, i32((word(3u) - 2u) / 4u)));
  var inside = false;
  for (var k = 0u; k < holes && !inside; k++) {
    let o = 2u + 4u * k;
    inside = q.px >= clampedInt(param(q.b, o), 0, w) && q.py >= clampedInt(param(q.b, o + 1u), 0, h) &&
             q.px < clampedInt(param(q.b, o + 2u), 0, w) && q.py < clampedInt(param(q.b, o + 3u), 0, h);
  }
  y[i] = select(x[i], param(q.b, 1u), inside);
}

// clip01(x + σ·z_i), z_i = gaussFromU32(noiseWord(key, i)): segment r >> 20 of the 4097-entry table,
// linear within it by the low 20 bits; i the pixel's index within its image.
@compute @workgroup_size(256)
fn gaussNoise(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(4u) || copiedThrough(i)) { return; }
  let q = pixelOf(i);
  let r = noiseWord(keyOf(q.b, 2u), q.i);
  let k = r >> 20u;
  let a = table[k];
  let z = a + (table[k + 1u] - a) * (f32(r & 0xfffffu) * (1.0 / 1048576.0));
  y[i] = clip01(x[i] + param(q.b, 1u) * z);
}

// clip01(x·(lo + (hi − lo)·r_i/2³²)), r_i as gaussNoise's.
@compute @workgroup_size(256)
fn mulNoise(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linearIndex(wg, nwg, lid);
  if (i >= word(4u) || copiedThrough(i)) { return; }
  let q = pixelOf(i);
  let lo = param(q.b, 1u);
  let span = (param(q.b, 2u) - lo) * (1.0 / 4294967296.0);
  y[i] = clip01(x[i] * (lo + f32(noiseWord(keyOf(q.b, 3u), q.i)) * span));
}
