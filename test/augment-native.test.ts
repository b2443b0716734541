// The addon's augmentation kernels (kernels/cpu/augment.cc) against their TypeScript references
// (src/data/augment/pixels.ts): bit-identical outputs for random images (including values outside
// [0, 1], NaN and ±0 where a kernel passes them through), odd sizes, images smaller than the taps,
// and the whole default and paper presets over many seeds; then the addon's argument checks, and the
// addon loaded by worker threads (the loader's), which must not stop the main thread's stream.
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { Rng } from '../src/core/random.js';
import { tensor } from '../src/core/tensor.js';
import { add } from '../src/ops/add.js';
import * as ref from '../src/data/augment/pixels.js';
import * as fast from '../src/data/augment/native.js';
import { compileAugmentations, mixSeed } from '../src/data/augment/compose.js';
import { preset } from '../src/data/augment/presets.js';
import { nativeAddon } from '../src/native.js';
import { cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);

function image(w: number, h: number, seed: number, specials = false): Float32Array {
  const r = new Rng(seed);
  const d = new Float32Array(w * h);
  for (let i = 0; i < d.length; i++) d[i] = 0.5 + 0.4 * Math.sin(i * 0.013) + 0.1 * r.uniform();
  if (specials) {
    d[3] = -0.25;
    d[5] = 1.5;
    d[7] = -0;
    d[11] = 0;
  }
  return d;
}

/** Index of the first element whose bits differ, else −1. */
function firstDiff(a: Float32Array, b: Float32Array): number {
  const ia = new Uint32Array(a.buffer, a.byteOffset, a.length), ib = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (ia[i] !== ib[i]) return i;
  return -1;
}

function same(what: string, a: Float32Array, b: Float32Array): void {
  const i = firstDiff(a, b);
  assert.is(i, -1, `${what}: element ${i} differs (native ${a[i]}, reference ${b[i]})`);
}

const SIZES: [number, number][] = [[1, 1], [2, 3], [5, 4], [37, 23], [64, 64], [129, 77]];

test('the addon has the kernels (so this file tests C++ against TypeScript, not TypeScript against itself)', () => {
  assert.is(fast.augmentKernels(), 'native');
});

test('pointwise chains (k = 0, 1, 2, 3 stages), unit16: bit-identical', () => {
  const src = image(61, 17, 1, true);
  const n = src.length;
  for (const k of [0, 1, 2, 3]) {
    const stages = [1.13, -0.04, 0.91, 0.07, 1.2, -0.1].slice(0, 2 * k);
    const a = new Float32Array(n + 9), b = new Float32Array(n + 9);
    fast.pointwiseChain(src, a, 5, n, stages, k, 1 / 0.25, -0.5 / 0.25);
    ref.pointwiseChain(src, b, 5, n, stages, k, 1 / 0.25, -0.5 / 0.25);
    same(`pointwiseChain k=${k}`, a, b);
  }
  const u = new Uint16Array(70001);
  for (let i = 0; i < u.length; i++) u[i] = i % 65536;
  const a = new Float32Array(u.length), b = new Float32Array(u.length);
  fast.unit16(u, a);
  for (let i = 0; i < u.length; i++) b[i] = u[i] * (1 / 65535);
  same('unit16', a, b);
  assert.is(a[65535], 1);
});

test('warps: shift-scale-rotate (inside, at and past the edges) and optical distortion, bit-identical', () => {
  for (const [w, h] of SIZES) {
    const src = image(w, h, w * 31 + h, true);
    for (const [angle, scale, dx, dy] of [[0, 1, 0, 0], [10, 1.2, 0.06, -0.06], [-37, 0.8, 0.3, 0.1], [90, 1, 0, 0], [179, 3, -0.5, 0.5]]) {
      const m = ref.shiftScaleRotateMatrix(w, h, angle, scale, dx, dy);
      const a = new Float32Array(w * h), b = new Float32Array(w * h);
      fast.warpAffineInverse(src, a, w, h, m);
      ref.warpAffineInverse(src, b, w, h, m);
      same(`warpAffineInverse ${w}×${h} angle ${angle}`, a, b);
    }
    // Coordinates far outside (|s| ≥ 1e9 samples 0, 2^32 + 2 included, which `| 0` would wrap into the image).
    const a = new Float32Array(w * h), b = new Float32Array(w * h);
    for (const m of [[1, 0, 3e9, 0, 1, 0], [1, 0, 2 ** 32 + 2, 0, 1, 0], [1e10, 0, 0, 0, 1, -2.2e9], [Number.NaN, 0, 0, 0, 1, 0]]) {
      fast.warpAffineInverse(src, a, w, h, m);
      ref.warpAffineInverse(src, b, w, h, m);
      same(`warpAffineInverse ${w}×${h} far map ${m}`, a, b);
      if (m[2] === 2 ** 32 + 2) assert.ok(b.every((v) => v === 0), 'a map 2^32 px away samples 0 (BORDER_REFLECT_101 past 1e9)');
    }
    for (const [k, ox, oy] of [[0, 0, 0], [0.05, 3, -2], [-0.05, -0.5 * w, 0.2 * h], [0.7, 0, 0]]) {
      fast.opticalDistortionKernel(src, a, w, h, k, ox, oy);
      ref.opticalDistortionKernel(src, b, w, h, k, ox, oy);
      same(`opticalDistortion ${w}×${h} k ${k}`, a, b);
    }
  }
});

test('median 3×3 (int-key and float paths of the reference), motion-blur taps, sharpen: bit-identical', () => {
  for (const [w, h] of SIZES) {
    for (const specials of [false, true]) {
      const src = image(w, h, w + 7 * h, specials);
      if (specials && src.length > 13) src[13] = Number.NaN;
      const a = new Float32Array(w * h), b = new Float32Array(w * h);
      fast.medianBlurKernel(src, a, w, h, 3);
      ref.medianBlurKernel(src, b, w, h, 3);
      same(`median3 ${w}×${h}${specials ? ' with negatives, −0 and NaN' : ''}`, a, b);
      for (const [k, xs, ys, xe, ye] of [[3, 0, 0, 2, 2], [5, 4, 0, 0, 4], [7, 3, 0, 3, 6], [7, 0, 6, 6, 0], [9, 0, 4, 8, 4]]) {
        const taps = ref.motionBlurTaps(k, xs, ys, xe, ye);
        fast.filterTaps(src, a, w, h, taps);
        ref.filterTaps(src, b, w, h, taps);
        same(`filterTaps ${w}×${h} k ${k}`, a, b);
      }
      for (const [alpha, light] of [[0, 0.5], [0.01, 0.5], [0.2, 1], [1, 0.75]]) {
        fast.sharpenKernel(src, a, w, h, alpha, light);
        ref.sharpenKernel(src, b, w, h, alpha, light);
        same(`sharpen ${w}×${h} α ${alpha}`, a, b);
      }
    }
  }
});

test('noise from the same seed: Gaussian and multiplicative bit-identical (the counter words of plan.ts)', () => {
  const src = image(300, 7, 9, true);
  const a = new Float32Array(src.length), b = new Float32Array(src.length);
  for (const seed of [0, 1, 2, 0xffffffff]) {
    fast.gaussNoiseKernel(src, a, src.length, 0.07, seed);
    ref.gaussNoiseKernel(src, b, src.length, 0.07, seed);
    same(`gaussNoise seed ${seed}`, a, b);
    fast.multiplicativeNoiseElementwise(src, a, src.length, 0.9, 1.1, seed);
    ref.multiplicativeNoiseElementwise(src, b, src.length, 0.9, 1.1, seed);
    same(`multiplicativeNoise seed ${seed}`, a, b);
  }
  // In place (dst = src), as the kernels allow.
  const c = src.slice(), d = src.slice();
  fast.gaussNoiseKernel(c, c, c.length, 0.05, 4);
  ref.gaussNoiseKernel(d, d, d.length, 0.05, 4);
  same('gaussNoise in place', c, d);
});

test('the default and paper presets: 200 views at 72×56 identical with the addon and with the TypeScript', () => {
  const src = image(72, 56, 5);
  for (const name of ['default', 'paper'] as const) {
    const aug = compileAugmentations(preset(name));
    const outA = new Float32Array(src.length), outB = new Float32Array(src.length);
    for (let i = 0; i < 200; i++) {
      aug.runInto(src, 72, 56, new Rng(mixSeed(7, 1, i, i & 1)), outA, 0, 0.5, 0.25);
      fast.useReferenceKernels(true);
      try {
        aug.runInto(src, 72, 56, new Rng(mixSeed(7, 1, i, i & 1)), outB, 0, 0.5, 0.25);
      } finally {
        fast.useReferenceKernels(false);
      }
      same(`${name} view ${i}`, outA, outB);
    }
  }
});

test('bad calls into the addon are errors naming the kernel and argument, not crashes', () => {
  const a = nativeAddon() as unknown as { augment: Record<string, (...args: unknown[]) => void> };
  const k = a.augment;
  const f = new Float32Array(16);
  assert.throws(() => k.median3(f, new Float32Array(15), 4, 4), /augment\.median3: dst holds 15 values; the image needs 16/);
  assert.throws(() => k.median3(f, f, 4, 4), /augment\.median3: dst overlaps src/);
  assert.throws(() => k.median3(f, new Float64Array(16), 4, 4), /augment\.median3: dst must be a Float32Array/);
  assert.throws(() => k.median3(f, new Float32Array(16), 0, 4), /augment\.median3: w must be an integer in \[1, 65536\]/);
  assert.throws(() => k.warpAffineInverse(f, new Float32Array(16), 4, 4, new Float64Array(5)), /6 coefficients/);
  assert.throws(() => k.filterTaps(f, new Float32Array(16), 4, 4, new Int32Array([0, 0, 1]), new Float64Array(2)), /2 offsets per weight/);
  assert.throws(() => k.filterTaps(f, new Float32Array(16), 4, 4, new Int32Array([0, 65]), new Float64Array(1)), /at most 64/);
  assert.throws(() => k.gaussNoise(f, f, 16, 0.1, -1, new Float64Array(4097)), /seed must be an integer in \[0, 4294967295\]/);
  assert.throws(() => k.gaussNoise(f, f, 16, 0.1, 1.5, new Float64Array(4097)), /seed must be an integer/);
  assert.throws(() => k.gaussNoise(f, f, 16, 0.1, 4, new Float64Array(10)), /4097 quantiles/);
  assert.throws(() => k.pointwiseChain(f, f, 17, new Float64Array(0), 0, 1, 0), /src holds 16 values; the image needs 17/);
  assert.throws(() => k.pointwiseChain(f, f, 16, new Float64Array(2), 2, 1, 0), /k = 2 needs 4/);
  assert.throws(() => k.sharpen(f, new Float32Array(16), 4, 4, Number.NaN, 0), /alpha must be finite/);
});

test('loader-style worker threads load the addon, augment, and exit without stopping the main thread', async () => {
  const x = tensor([1, 2, 3, 4], [4]);
  const script = `
    const { parentPort, workerData } = require('node:worker_threads');
    const addon = require(workerData.path);
    const src = new Float32Array(64 * 64).map((_, i) => (i % 97) / 97), dst = new Float32Array(64 * 64);
    addon.augment.median3(src, dst, 64, 64);
    parentPort.postMessage(dst[65]);`;
  const { nativePath } = await import('../src/native.js');
  for (let round = 0; round < 3; round++) {
    const values = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<number>((resolve, reject) => {
            const w = new Worker(script, { eval: true, workerData: { path: nativePath() } });
            w.once('message', resolve);
            w.once('error', reject);
          }),
      ),
    );
    const src = new Float32Array(64 * 64).map((_, i) => (i % 97) / 97), dst = new Float32Array(64 * 64);
    ref.medianBlurKernel(src, dst, 64, 64, 3);
    assert.equal(values, [dst[65], dst[65]]);
    // Give the workers' environment cleanup time to run, then use the main thread's stream.
    await new Promise((r) => setTimeout(r, 50));
    const y = add(x, x);
    assert.equal(Array.from(await y.data()), [2, 4, 6, 8]);
    y.dispose();
  }
  x.dispose();
});

test.run();
