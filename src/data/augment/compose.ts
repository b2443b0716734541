// Composition: a list of transforms with probabilities and OneOf groups (AugSpec, plain data that can
// be sent to the loader's workers) compiled into an augmenter. The augmenter first draws a view's plan
// (./plan.ts: its steps with every parameter drawn, runs of pointwise steps fused into one), then
// applies it with the CPU kernels here, or hands it to the device kernels (./device.ts), which give
// the same view. The single-transform functions `(image, options, seed) → image` are built on it.
import { Rng } from '../../core/random.js';
import { checkImage, type GrayImage } from '../image.js';
import { filterTaps, gaussNoiseKernel, medianBlurKernel, multiplicativeNoiseElementwise, opticalDistortionKernel, pointwiseChain, sharpenKernel, warpAffineInverse } from './native.js';
import type { PlanStep } from './plan.js';
import { preset, type PresetName } from './presets.js';
import {
  IMPLS,
  resolve,
  toRng,
  type AugSpec,
  type BrightnessContrastOptions,
  type BrightnessOptions,
  type ContrastOptions,
  type CutoutOptions,
  type GaussNoiseOptions,
  type MedianBlurOptions,
  type MotionBlurOptions,
  type MultiplicativeNoiseOptions,
  type OpticalDistortionOptions,
  type SharpenOptions,
  type ShiftScaleRotateOptions,
  type TransformImpl,
  type TransformName,
  type TransformOptionsMap,
} from './transforms.js';

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

type Compiled =
  | { kind: 'one'; p: number; impl: TransformImpl<object>; opts: object }
  | { kind: 'oneOf'; p: number; weights: number[]; children: Compiled[] };

export interface Augmenter {
  /** The spec it was compiled from. */
  readonly spec: readonly AugSpec[];
  /**
   * A view's plan for a w×h image: the steps drawn from rng, in order, consecutive pointwise steps
   * fused into one. Draws exactly what run and runInto draw.
   */
  plan(w: number, h: number, rng: Rng): PlanStep[];
  /**
   * Augments src (not modified) with rng. The result may be src itself or one of the augmenter's
   * work buffers, which the next call reuses: copy it out before calling again.
   */
  run(src: Float32Array, w: number, h: number, rng: Rng): Float32Array;
  /** As run, then (x − mean)/std written into out at offset; a last pointwise step is fused in. */
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

/** One non-pointwise plan step on the CPU: reads src, writes all of dst (never src). */
export function applyStep(step: Exclude<PlanStep, { op: 'pointwise' }>, src: Float32Array, dst: Float32Array, w: number, h: number): void {
  const n = w * h;
  switch (step.op) {
    case 'warpAffine':
      return warpAffineInverse(src, dst, w, h, step.m);
    case 'median':
      return medianBlurKernel(src, dst, w, h, step.ksize);
    case 'taps':
      return filterTaps(src, dst, w, h, step.taps);
    case 'sharpen':
      return sharpenKernel(src, dst, w, h, step.alpha, step.lightness);
    case 'cutout':
      dst.set(src.subarray(0, n));
      for (const [x1, y1, x2, y2] of step.holes) for (let y = y1; y < y2; y++) dst.fill(step.fill, y * w + x1, y * w + x2);
      return;
    case 'optical':
      return opticalDistortionKernel(src, dst, w, h, step.k, step.dx, step.dy);
    case 'gaussNoise':
      return gaussNoiseKernel(src, dst, n, step.sigma, step.seed);
    case 'mulNoise':
      return multiplicativeNoiseElementwise(src, dst, n, step.lo, step.hi, step.seed);
  }
}

/** Compiles a list of transforms (applied in order, each with its p) into an augmenter. */
export function compileAugmentations(spec: readonly AugSpec[]): Augmenter {
  if (!Array.isArray(spec)) throw new TypeError('compileAugmentations: expects an array of transforms');
  const steps = spec.map((s, i) => compileOne(s, `augmentations[${i}]`));
  const draw = (c: Compiled, w: number, h: number, rng: Rng): PlanStep | null => {
    if (c.kind === 'oneOf') {
      const total = c.weights.reduce((a, b) => a + b, 0);
      let u = rng.uniform() * total, i = 0;
      while (i < c.weights.length - 1 && u >= c.weights[i]) u -= c.weights[i++];
      return draw(c.children[i], w, h, rng);
    }
    return c.impl.plan(c.opts, w, h, rng);
  };
  const plan = (w: number, h: number, rng: Rng): PlanStep[] => {
    const out: PlanStep[] = [];
    for (const c of steps) {
      if (!(rng.uniform() < c.p)) continue;
      const s = draw(c, w, h, rng);
      if (!s) continue;
      const last = out[out.length - 1];
      if (s.op === 'pointwise' && last?.op === 'pointwise') out[out.length - 1] = { op: 'pointwise', stages: [...last.stages, ...s.stages] };
      else out.push(s);
    }
    return out;
  };
  let bufA = new Float32Array(0), bufB = new Float32Array(0);
  // Applies all but a last pointwise step (returned for runInto to fuse); the result in a work buffer or src.
  const apply = (src: Float32Array, w: number, h: number, rng: Rng): { cur: Float32Array; tail: number[] } => {
    const n = w * h;
    if (bufA.length !== n) {
      bufA = new Float32Array(n);
      bufB = new Float32Array(n);
    }
    const p = plan(w, h, rng);
    const tail = p[p.length - 1]?.op === 'pointwise' ? (p.pop() as { stages: number[] }).stages : [];
    let cur = src; // read-only: every kernel writes a work buffer
    for (const s of p) {
      const dst = cur === bufA ? bufB : bufA;
      if (s.op === 'pointwise') pointwiseChain(cur, dst, 0, n, s.stages, s.stages.length / 2, 1, 0);
      else applyStep(s, cur, dst, w, h);
      cur = dst;
    }
    return { cur, tail };
  };
  return {
    spec,
    plan,
    run(src, w, h, rng) {
      const { cur, tail } = apply(src, w, h, rng);
      if (tail.length === 0) return cur;
      const dst = cur === bufA ? bufB : bufA;
      pointwiseChain(cur, dst, 0, w * h, tail, tail.length / 2, 1, 0);
      return dst;
    },
    runInto(src, w, h, rng, out, offset, mean, std) {
      const { cur, tail } = apply(src, w, h, rng);
      pointwiseChain(cur, out, offset, w * h, tail, tail.length / 2, 1 / std, -mean / std);
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
