// The transform table: each augmentation's options (with albumentations' defaults), their checks and
// how it samples its parameters from the rng into a plan step (./plan.ts), which a kernel of
// ./pixels.ts (CPU, compose.ts) or a device kernel (device.ts) then applies. AugSpec, the
// plain-data form of a pipeline, is typed from this table.
import { Rng } from '../../core/random.js';
import { motionBlurTaps, shiftScaleRotateMatrix } from './pixels.js';
import type { PlanStep } from './plan.js';

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

export interface TransformOptionsMap {
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

// Transforms: sample parameters from the rng into a plan step, or null where the draw is the identity.
// Pointwise intensity transforms give a 'pointwise' step (x·α + β, then clip), so that a pipeline can
// fuse runs of them, and the final normalisation, into one pass.

export interface TransformImpl<O> {
  defaults: Required<O>;
  check(o: Required<O>): void;
  plan(o: Required<O>, w: number, h: number, rng: Rng): PlanStep | null;
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

export const IMPLS: { [K in TransformName]: TransformImpl<TransformOptionsMap[K]> } = {
  shiftScaleRotate: {
    defaults: { shiftLimit: 0.0625, scaleLimit: 0.1, rotateLimit: 45 },
    check: (o) => {
      nonNeg(o.shiftLimit, 'shiftScaleRotate.shiftLimit');
      nonNeg(o.scaleLimit, 'shiftScaleRotate.scaleLimit');
      nonNeg(o.rotateLimit, 'shiftScaleRotate.rotateLimit');
      if (o.scaleLimit >= 1) throw new RangeError(`shiftScaleRotate.scaleLimit must be < 1, got ${o.scaleLimit}`);
    },
    plan: (o, w, h, rng) => {
      const angle = uniform(rng, [-o.rotateLimit, o.rotateLimit]);
      const scale = 1 + uniform(rng, [-o.scaleLimit, o.scaleLimit]);
      const dx = uniform(rng, [-o.shiftLimit, o.shiftLimit]);
      const dy = uniform(rng, [-o.shiftLimit, o.shiftLimit]);
      return { op: 'warpAffine', m: shiftScaleRotateMatrix(w, h, angle, scale, dx, dy) as [number, number, number, number, number, number] };
    },
  },
  medianBlur: {
    defaults: { ksize: 3 },
    check: (o) => oddRange([o.ksize, o.ksize], 'medianBlur.ksize'),
    plan: (o) => (o.ksize === 1 ? null : { op: 'median', ksize: o.ksize }),
  },
  motionBlur: {
    defaults: { blurLimit: [3, 7] },
    check: (o) => oddRange(o.blurLimit, 'motionBlur.blurLimit'),
    plan: (o, _w, _h, rng) => {
      const k = o.blurLimit[0] + 2 * randint(rng, 0, (o.blurLimit[1] - o.blurLimit[0]) >> 1);
      if (k === 1) return null;
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
      return { op: 'taps', taps: motionBlurTaps(k, xs, ys, xe, ye) };
    },
  },
  sharpen: {
    defaults: { alpha: [0.2, 0.5], lightness: [0.5, 1] },
    check: (o) => {
      range(o.alpha, 'sharpen.alpha');
      range(o.lightness, 'sharpen.lightness');
      if (o.alpha[0] < 0 || o.alpha[1] > 1) throw new RangeError(`sharpen.alpha must lie in [0, 1], got ${JSON.stringify(o.alpha)}`);
    },
    plan: (o, _w, _h, rng) => {
      const alpha = uniform(rng, o.alpha), lightness = uniform(rng, o.lightness);
      return alpha === 0 ? null : { op: 'sharpen', alpha, lightness };
    },
  },
  cutout: {
    defaults: { numHoles: 8, size: 1 / 16, fill: 0 },
    check: (o) => {
      if (!Number.isInteger(o.numHoles) || o.numHoles < 0) throw new RangeError(`cutout.numHoles must be an integer ≥ 0, got ${o.numHoles}`);
      nonNeg(o.size, 'cutout.size');
      if (!Number.isFinite(o.fill)) throw new RangeError(`cutout.fill must be finite, got ${o.fill}`);
    },
    plan: (o, w, h, rng) => {
      const side = Math.max(1, Math.round(o.size * Math.min(w, h)));
      const holes: [number, number, number, number][] = [];
      for (let k = 0; k < o.numHoles; k++) {
        const cy = randint(rng, 0, h - 1), cx = randint(rng, 0, w - 1);
        const y1 = Math.max(0, cy - (side >> 1)), x1 = Math.max(0, cx - (side >> 1));
        holes.push([x1, y1, Math.min(w, x1 + side), Math.min(h, y1 + side)]);
      }
      return holes.length === 0 ? null : { op: 'cutout', holes, fill: o.fill };
    },
  },
  opticalDistortion: {
    defaults: { distortLimit: 0.05, shiftLimit: 0.05 },
    check: (o) => {
      nonNeg(o.distortLimit, 'opticalDistortion.distortLimit');
      nonNeg(o.shiftLimit, 'opticalDistortion.shiftLimit');
    },
    plan: (o, w, h, rng) => {
      const k = uniform(rng, [-o.distortLimit, o.distortLimit]);
      const dx = uniform(rng, [-o.shiftLimit, o.shiftLimit]) * w;
      const dy = uniform(rng, [-o.shiftLimit, o.shiftLimit]) * h;
      return { op: 'optical', k, dx, dy };
    },
  },
  brightness: {
    defaults: { limit: [-0.2, 0.2] },
    check: (o) => range(o.limit, 'brightness.limit'),
    plan: (o, _w, _h, rng) => ({ op: 'pointwise', stages: [1, uniform(rng, o.limit)] }),
  },
  contrast: {
    defaults: { limit: [-0.2, 0.2] },
    check: (o) => range(o.limit, 'contrast.limit'),
    plan: (o, _w, _h, rng) => ({ op: 'pointwise', stages: [1 + uniform(rng, o.limit), 0] }),
  },
  brightnessContrast: {
    defaults: { brightnessLimit: [-0.2, 0.2], contrastLimit: [-0.2, 0.2] },
    check: (o) => {
      range(o.brightnessLimit, 'brightnessContrast.brightnessLimit');
      range(o.contrastLimit, 'brightnessContrast.contrastLimit');
    },
    plan: (o, _w, _h, rng) => {
      // albumentations draws alpha (contrast) first, then beta (brightness).
      const alpha = 1 + uniform(rng, o.contrastLimit);
      return { op: 'pointwise', stages: [alpha, uniform(rng, o.brightnessLimit)] };
    },
  },
  gaussNoise: {
    defaults: { varLimit: [0, 0.005] },
    check: (o) => {
      range(o.varLimit, 'gaussNoise.varLimit');
      nonNeg(o.varLimit[0], 'gaussNoise.varLimit[0]');
    },
    plan: (o, _w, _h, rng) => {
      const sigma = Math.sqrt(uniform(rng, o.varLimit));
      const seed = rng.nextU32();
      return sigma > 0 ? { op: 'gaussNoise', sigma, seed } : null;
    },
  },
  multiplicativeNoise: {
    defaults: { multiplier: [0.9, 1.1], elementwise: false },
    check: (o) => {
      range(o.multiplier, 'multiplicativeNoise.multiplier');
      nonNeg(o.multiplier[0], 'multiplicativeNoise.multiplier[0]');
    },
    plan: (o, _w, _h, rng) =>
      o.elementwise ? { op: 'mulNoise', lo: o.multiplier[0], hi: o.multiplier[1], seed: rng.nextU32() } : { op: 'pointwise', stages: [uniform(rng, o.multiplier), 0] },
  },
};

export function resolve<K extends TransformName>(type: K, opts: object, what: string): Required<TransformOptionsMap[K]> {
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
