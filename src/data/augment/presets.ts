// Named pipelines: the reference code's augmentations and variants of it.
import type { AugSpec } from './transforms.js';

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
