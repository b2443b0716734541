// Augmentations: each is the identity at zero strength, keeps the shape, is deterministic for a seed
// and differs across seeds; the fast kernels agree with plain reference versions; compositions.
import * as assert from 'uvu/assert';
import {
  applyTransform,
  augmentPair,
  compileAugmentations,
  grayImage,
  medianBlur,
  normalize,
  preprocessCxr,
  preset,
  syntheticRadiograph,
  TRANSFORM_NAMES,
  PRESET_NAMES,
  type AugSpec,
  type GrayImage,
  type TransformName,
} from '../src/data/index.js';
import { filterTaps, motionBlurTaps, shiftScaleRotateMatrix, warpAffineInverse, gaussNoise, cutout } from '../src/data/augment.js';
import { Rng } from '../src/core/random.js';
import { assertClose, cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);

// A preprocessed synthetic radiograph (values in [0, 1]), non-square to catch w/h mix-ups.
const base = ((): GrayImage => {
  const sq = preprocessCxr(syntheticRadiograph(3, { width: 72 }), { imageSize: 72 });
  const d = new Float32Array(72 * 56);
  for (let y = 0; y < 56; y++) d.set(sq.data.subarray(y * 72, y * 72 + 72), y * 72);
  return grayImage(72, 56, d);
})();

const ZERO: Record<TransformName, object> = {
  shiftScaleRotate: { shiftLimit: 0, scaleLimit: 0, rotateLimit: 0 },
  medianBlur: { ksize: 1 },
  motionBlur: { blurLimit: [1, 1] },
  sharpen: { alpha: [0, 0] },
  cutout: { numHoles: 0 },
  opticalDistortion: { distortLimit: 0, shiftLimit: 0 },
  brightness: { limit: [0, 0] },
  contrast: { limit: [0, 0] },
  brightnessContrast: { brightnessLimit: [0, 0], contrastLimit: [0, 0] },
  gaussNoise: { varLimit: [0, 0] },
  multiplicativeNoise: { multiplier: [1, 1], elementwise: true },
};
const STRONG: Record<TransformName, object> = {
  shiftScaleRotate: { shiftLimit: 0.1, scaleLimit: 0.2, rotateLimit: 20 },
  medianBlur: { ksize: 3 },
  motionBlur: { blurLimit: [3, 7] },
  sharpen: { alpha: [0.2, 0.5] },
  cutout: { numHoles: 4, size: 0.2 },
  opticalDistortion: { distortLimit: 0.3, shiftLimit: 0.05 },
  brightness: { limit: [-0.2, 0.2] },
  contrast: { limit: [-0.3, 0.3] },
  brightnessContrast: {},
  gaussNoise: { varLimit: [0.001, 0.01] },
  multiplicativeNoise: { multiplier: [0.8, 1.2], elementwise: true },
};
// Deterministic transforms: no randomness at their defaults, so seeds cannot change them.
const SEED_FREE = new Set<TransformName>(['medianBlur']);

for (const name of TRANSFORM_NAMES) {
  test(`${name}: identity at zero strength; shape; deterministic for a seed`, () => {
    const before = new Float32Array(base.data);
    const id = applyTransform(name, base, ZERO[name] as never, 5);
    assert.equal([id.width, id.height], [base.width, base.height]);
    assert.equal([...id.data], [...base.data], 'identity at zero strength');
    const a = applyTransform(name, base, STRONG[name] as never, 11);
    const b = applyTransform(name, base, STRONG[name] as never, 11);
    assert.equal([a.width, a.height, a.data.length], [base.width, base.height, base.data.length]);
    assert.equal([...a.data], [...b.data], 'same seed, same image');
    assert.not.equal([...a.data], [...base.data], 'changes the image at strength');
    if (!SEED_FREE.has(name)) {
      let differs = false;
      for (let s = 12; s < 16 && !differs; s++) differs = applyTransform(name, base, STRONG[name] as never, s).data.some((v, i) => v !== a.data[i]);
      assert.ok(differs, 'another seed gives another image');
    }
    for (const v of a.data) assert.ok(Number.isFinite(v) && v >= 0 && v <= 1, `${name} keeps [0, 1] (got ${v})`);
    assert.equal([...base.data], [...before], 'pure: the input is untouched');
  });
}

test('median blur: the int-key fast path, the float path and a sort agree', () => {
  const ref = (img: GrayImage, k: number): Float32Array => {
    const out = new Float32Array(img.data.length), r = k >> 1, win: number[] = [];
    for (let y = 0; y < img.height; y++)
      for (let x = 0; x < img.width; x++) {
        win.length = 0;
        for (let dy = -r; dy <= r; dy++)
          for (let dx = -r; dx <= r; dx++) {
            const yy = Math.min(img.height - 1, Math.max(0, y + dy)), xx = Math.min(img.width - 1, Math.max(0, x + dx));
            win.push(img.data[yy * img.width + xx]);
          }
        win.sort((p, q) => p - q);
        out[y * img.width + x] = win[win.length >> 1];
      }
    return out;
  };
  const noisy = gaussNoise(base, { varLimit: [0.01, 0.01] }, 3);
  assert.equal([...medianBlur(noisy, { ksize: 3 }).data], [...ref(noisy, 3)], 'int path');
  const signed = grayImage(noisy.width, noisy.height, noisy.data.map((v) => v - 0.5)); // negatives: float path
  assert.equal([...medianBlur(signed, { ksize: 3 }).data], [...ref(signed, 3)], 'float path');
  assert.equal([...medianBlur(noisy, { ksize: 5 }).data], [...ref(noisy, 5)], '5×5');
});

test('affine warp: fast path equals a reflect-101 reference; 90° rotation of a square is exact', () => {
  const w = 9, h = 9;
  const img = grayImage(w, h, Float32Array.from({ length: 81 }, (_, i) => i / 81));
  const out = new Float32Array(81);
  warpAffineInverse(img.data, out, w, h, shiftScaleRotateMatrix(w, h, 90, 1, 0, 0));
  // cv2's +90° (counter-clockwise) rotation: dst(x, y) = src(w−1−y, x)
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) assert.ok(Math.abs(out[y * w + x] - img.data[x * w + (w - 1 - y)]) < 1e-6, `(${x},${y})`);
  // A shift past the edge reflects (BORDER_REFLECT_101): dst(x) = src(x + 2) → src(w − 1 − (x + 2 − (w − 1))) at the right edge.
  warpAffineInverse(img.data, out, w, h, [1, 0, 2, 0, 1, 0]);
  for (let x = 0; x < w; x++) {
    let sx = x + 2;
    if (sx > w - 1) sx = 2 * (w - 1) - sx;
    assert.ok(Math.abs(out[x] - img.data[sx]) < 1e-6, `reflected x=${x}`);
  }
});

test('motion blur kernel: a normalised line of taps; one-pass filter equals the shifted sum', () => {
  for (const [k, xs, ys, xe, ye] of [[3, 0, 0, 2, 2], [5, 0, 2, 4, 2], [7, 1, 6, 5, 0], [7, 3, 0, 3, 6]]) {
    const taps = motionBlurTaps(k, xs, ys, xe, ye);
    assert.ok(Math.abs(taps.reduce((s, t) => s + t[2], 0) - 1) < 1e-12);
    assert.ok(taps.length >= 2 && taps.length <= k);
  }
  const taps = motionBlurTaps(5, 0, 1, 4, 3);
  const out = new Float32Array(base.data.length);
  filterTaps(base.data, out, base.width, base.height, taps);
  const w = base.width, h = base.height;
  const refl = (i: number, n: number): number => (i < 0 ? -i : i >= n ? 2 * n - 2 - i : i);
  for (const [x, y] of [[0, 0], [5, 7], [w - 1, h - 1], [w - 2, 1]]) {
    let s = 0;
    for (const [dx, dy, wt] of taps) s += wt * base.data[refl(y + dy, h) * w + refl(x + dx, w)];
    assert.ok(Math.abs(out[y * w + x] - s) < 1e-6, `(${x},${y})`);
  }
});

test('gaussian noise has the requested spread; cutout writes holes of the fill value', () => {
  const flat = grayImage(256, 256, new Float32Array(65536).fill(0.5));
  const n = gaussNoise(flat, { varLimit: [0.0025, 0.0025] }, 9); // σ = 0.05: no clipping
  let s = 0, s2 = 0;
  for (const v of n.data) {
    s += v - 0.5;
    s2 += (v - 0.5) ** 2;
  }
  const mean = s / 65536, sd = Math.sqrt(s2 / 65536 - mean * mean);
  assert.ok(Math.abs(mean) < 0.001, `mean ${mean}`);
  assert.ok(Math.abs(sd - 0.05) < 0.001, `sd ${sd}`);
  const c = cutout(flat, { numHoles: 3, size: 0.1, fill: 0 }, 4);
  const zeros = c.data.filter((v) => v === 0).length;
  assert.ok(zeros > 0 && zeros <= 3 * 26 * 26, `hole pixels ${zeros}`);
});

test('compositions: p = 0 skips, p = 1 applies, OneOf picks one, runInto = normalise(run)', () => {
  const rng = () => new Rng(1);
  const skip = compileAugmentations([{ type: 'brightness', p: 0, limit: [0.3, 0.3] }]);
  assert.equal([...skip.run(base.data, base.width, base.height, rng())], [...base.data]);
  const apply = compileAugmentations([{ type: 'brightness', p: 1, limit: [0.1, 0.1] }]);
  const up = apply.run(base.data, base.width, base.height, rng());
  base.data.forEach((v, i) => assert.is(up[i], Math.fround(Math.min(1, v + 0.1))));
  // A OneOf of two different brightness shifts: every run applies exactly one of them.
  const one = compileAugmentations([{ type: 'oneOf', p: 1, transforms: [{ type: 'brightness', limit: [0.1, 0.1] }, { type: 'brightness', limit: [-0.1, -0.1] }] }]);
  const seen = new Set<number>();
  for (let s = 0; s < 20; s++) {
    const out = one.run(base.data, base.width, base.height, new Rng(s));
    const i = base.data.findIndex((v) => v > 0.2 && v < 0.8);
    seen.add(Math.round((out[i] - base.data[i]) * 10));
  }
  assert.equal([...seen].sort(), [-1, 1]);
  // Fused pointwise chains + normalisation equal the step-by-step result.
  for (const name of PRESET_NAMES) {
    const aug = compileAugmentations(preset(name));
    for (let s = 0; s < 6; s++) {
      const ref = normalize({ ...base, data: new Float32Array(aug.run(base.data, base.width, base.height, new Rng(s))) }, { mean: 0.6, std: 0.2 });
      const out = new Float32Array(base.data.length + 3);
      aug.runInto(base.data, base.width, base.height, new Rng(s), out, 3, 0.6, 0.2);
      assertClose(out.subarray(3), ref.data, { atol: 2e-6, rtol: 0 }, `${name} seed ${s}`);
    }
  }
  const stacked: AugSpec[] = [{ type: 'brightness', limit: [0.3, 0.3] }, { type: 'contrast', limit: [0.5, 0.5] }, { type: 'multiplicativeNoise', multiplier: [0.5, 0.5] }];
  const fused = compileAugmentations(stacked).run(base.data, base.width, base.height, new Rng(0));
  base.data.forEach((v, i) => {
    let x = Math.min(1, v + 0.3);
    x = Math.min(1, x * 1.5);
    assert.ok(Math.abs(fused[i] - x * 0.5) < 1e-6);
  });
});

test('presets: default is the reference pipeline; two views differ and are seeded', () => {
  const d = preset('default');
  assert.equal(d.map((s) => s.type), ['oneOf', 'brightnessContrast', 'oneOf', 'brightness', 'shiftScaleRotate', 'opticalDistortion']);
  assert.ok(preset('paper').some((s) => s.type === 'cutout'));
  assert.equal(preset('none'), []);
  const img = preprocessCxr(syntheticRadiograph(1, { width: 64 }), { imageSize: 64 });
  const [a, b] = augmentPair(img, 'default', 4);
  const [a2, b2] = augmentPair(img, 'default', 4);
  assert.equal([...a.data], [...a2.data]);
  assert.equal([...b.data], [...b2.data]);
  let differ = 0;
  for (let s = 0; s < 10; s++) {
    const [x, y] = augmentPair(img, 'default', s);
    if (x.data.some((v, i) => v !== y.data[i])) differ++;
  }
  assert.ok(differ >= 8, `views differ in ${differ}/10 pairs`);
});

test('bad specs fail with messages that name the problem', () => {
  assert.throws(() => compileAugmentations([{ type: 'blur' } as unknown as AugSpec]), /unknown transform "blur"/);
  assert.throws(() => compileAugmentations([{ type: 'brightness', p: 2 }]), /p must be in \[0, 1\]/);
  assert.throws(() => compileAugmentations([{ type: 'brightness', amount: 1 } as unknown as AugSpec]), /has no option 'amount'/);
  assert.throws(() => compileAugmentations([{ type: 'motionBlur', blurLimit: [2, 4] }]), /odd integers/);
  assert.throws(() => compileAugmentations([{ type: 'oneOf', transforms: [] }]), /non-empty/);
  assert.throws(() => preset('hard' as never), /unknown augmentation preset/);
  assert.throws(() => applyTransform('sharpen', { width: 2, height: 2, data: new Float32Array(3) }), /do not fill/);
});

test.run();
