// A one-channel float32 image, row-major (y, then x): the unit every decoder, preprocessing step and
// augmentation works on. NHWC with C = 1, so a batch is these images laid end to end.

export interface GrayImage {
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
}

export function grayImage(width: number, height: number, data?: Float32Array): GrayImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`image: width and height must be positive integers, got ${width}×${height}`);
  }
  const n = width * height;
  if (data && data.length !== n) throw new RangeError(`image: ${data.length} values do not fill ${width}×${height}`);
  return { width, height, data: data ?? new Float32Array(n) };
}

export function cloneImage(img: GrayImage): GrayImage {
  return { width: img.width, height: img.height, data: new Float32Array(img.data) };
}

export function checkImage(img: unknown, what: string): GrayImage {
  const i = img as GrayImage;
  if (!i || typeof i !== 'object' || !(i.data instanceof Float32Array) || !Number.isInteger(i.width) || !Number.isInteger(i.height) || i.width < 1 || i.height < 1) {
    throw new TypeError(`${what}: expects a GrayImage {width, height, data: Float32Array}`);
  }
  if (i.data.length !== i.width * i.height) throw new RangeError(`${what}: ${i.data.length} values do not fill ${i.width}×${i.height}`);
  return i;
}
