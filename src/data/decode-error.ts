// What every decoder returns or throws (its own module so that decode.ts and dicom.ts share it).
import type { GrayImage } from './image.js';

export type ImageFormat = 'png' | 'jpeg' | 'dicom';

export interface DecodedImage extends GrayImage {
  format: ImageFormat;
  /** Bits per sample in the file (8 or 16 for PNG/JPEG; BitsStored for DICOM). */
  bits: number;
}

/** Why a file could not be decoded; `path` when known. */
export class DecodeError extends Error {
  constructor(message: string, readonly path?: string) {
    super(path ? `${path}: ${message}` : message);
    this.name = 'DecodeError';
  }
}
