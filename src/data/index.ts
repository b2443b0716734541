// The chest-radiograph data pipeline: decoding, preprocessing, augmentations, datasets, loader.
export type { GrayImage } from './image.js';
export { grayImage, cloneImage } from './image.js';
export { decodeImage, decodeFile, decodeDicom, sniffFormat, DecodeError, DICOM_SYNTAXES, UNCOMPRESSED_LE_SYNTAXES } from './decode.js';
export type { DecodedImage, ImageFormat } from './decode.js';
export { CXR_DEFAULTS, resizeBilinear, percentile, clipAndScaleInPlace, preprocessCxr, normalize } from './preprocess.js';
export type { PreprocessOptions, NormalizeOptions } from './preprocess.js';
export {
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
  preset,
  mixSeed,
  PRESET_NAMES,
  TRANSFORM_NAMES,
} from './augment.js';
export type { AugSpec, Augmenter, PresetName, TransformName, Range } from './augment.js';
export { syntheticRadiograph } from './synthetic.js';
export type { SyntheticOptions } from './synthetic.js';
export { ImageFolder, CsvManifest, SyntheticCxr, parseCsv, IMAGE_EXTENSIONS } from './datasets.js';
export type { Dataset, DatasetDescriptor, ImageFolderOptions, CsvManifestOptions, SyntheticCxrOptions } from './datasets.js';
export { PreprocessCache, defaultCacheDir, loadPreprocessed } from './cache.js';
export { CxrLoader } from './loader.js';
export type { LoaderOptions, Batch, LoaderStats } from './loader.js';
