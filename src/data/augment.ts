// Augmentations for one-channel float32 images in [0, 1], following albumentations' definitions (the
// library the reference code uses): each is a seeded, pure function `(image, options, seed) → image`,
// and compositions (a list of transforms with probabilities, OneOf groups) are plain data (AugSpec) so
// they can be sent to the loader's workers. The code lives in ./augment/:
//   pixels.ts      the kernels on raw buffers (warps, median, filters, noise, the fused pointwise pass)
//   native.ts      the same kernels from the addon's C++ (bit-identical, faster), pixels.ts as fallback
//   transforms.ts  the transform table: options, defaults, checks, parameter sampling
//   compose.ts     compiling a spec into an augmenter; the single-transform functions; view pairs
//   presets.ts     the named pipelines
export {
  warpAffineInverse,
  shiftScaleRotateMatrix,
  medianBlurKernel,
  filterTaps,
  motionBlurTaps,
  sharpenKernel,
  opticalDistortionKernel,
  gaussNoiseKernel,
  inverseNormalCdf,
  multiplicativeNoiseElementwise,
} from './augment/native.js';
export { augmentKernels } from './augment/native.js';
export { TRANSFORM_NAMES, toRng } from './augment/transforms.js';
export type {
  Range,
  ShiftScaleRotateOptions,
  MedianBlurOptions,
  MotionBlurOptions,
  SharpenOptions,
  CutoutOptions,
  OpticalDistortionOptions,
  BrightnessOptions,
  ContrastOptions,
  BrightnessContrastOptions,
  GaussNoiseOptions,
  MultiplicativeNoiseOptions,
  TransformName,
  AugSpec,
} from './augment/transforms.js';
export {
  mixSeed,
  applyTransform,
  shiftScaleRotate,
  medianBlur,
  motionBlur,
  sharpen,
  cutout,
  opticalDistortion,
  brightness,
  contrast,
  brightnessContrast,
  gaussNoise,
  multiplicativeNoise,
  compileAugmentations,
  augmentPair,
} from './augment/compose.js';
export type { Augmenter } from './augment/compose.js';
export { PRESET_NAMES, preset } from './augment/presets.js';
export type { PresetName } from './augment/presets.js';
