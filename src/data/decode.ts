// Decoding radiographs to one float32 channel in the file's own intensity units (no scaling):
//   PNG / JPEG  via sharp (libvips: libspng/libpng, mozjpeg); 8- and 16-bit kept exact; colour → gray
//               with Rec. 601 luma (0.299 R + 0.587 G + 0.114 B), as cv2/PIL do; alpha dropped.
//   DICOM       src/data/dicom.ts: native, deflated, big-endian, RLE, JPEG, JPEG-LS, JPEG 2000 and
//               HTJ2K transfer syntaxes (first frame); modality rescale (slope, intercept) applied, then
//               MONOCHROME1 inverted so that bright is always dense.
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { DecodeError, type DecodedImage, type ImageFormat } from './decode-error.js';
import { decodeDicom } from './dicom.js';
import { grayImage } from './image.js';

export { DecodeError, decodeDicom };
export type { DecodedImage, ImageFormat };
export { DICOM_SYNTAXES, UNCOMPRESSED_LE_SYNTAXES } from './dicom.js';

export function sniffFormat(bytes: Uint8Array, path?: string): ImageFormat | null {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d) return 'dicom';
  const ext = path ? extname(path).toLowerCase() : '';
  if (ext === '.dcm' || ext === '.dicom') return 'dicom';
  return null;
}

/** Decodes PNG, JPEG or DICOM bytes (format sniffed from the content, then the extension). */
export async function decodeImage(bytes: Uint8Array, path?: string): Promise<DecodedImage> {
  const format = sniffFormat(bytes, path);
  if (format === null) throw new DecodeError('not a PNG, JPEG or DICOM file', path);
  if (format === 'dicom') return decodeDicom(bytes, path);
  return decodeWithSharp(bytes, format, path);
}

export async function decodeFile(path: string): Promise<DecodedImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new DecodeError(`cannot read: ${(e as Error).message}`, path);
  }
  return decodeImage(bytes, path);
}

type SharpModule = typeof import('sharp');
let sharpModule: Promise<SharpModule['default']> | null = null;
function loadSharp(): Promise<SharpModule['default']> {
  sharpModule ??= import('sharp').then((m) => {
    const s = m.default;
    // One libvips thread per worker: parallelism comes from the worker pool, not from inside sharp.
    s.concurrency(1);
    s.cache(false);
    return s;
  });
  return sharpModule;
}

async function decodeWithSharp(bytes: Uint8Array, format: 'png' | 'jpeg', path?: string): Promise<DecodedImage> {
  const sharp = await loadSharp();
  try {
    const input = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const meta = await sharp(input, { failOn: 'error' }).metadata();
    const is16 = meta.depth === 'ushort' || meta.depth === 'short';
    const gray = meta.space === 'b-w' || meta.space === 'grey16' || (meta.channels ?? 3) <= 2;
    const space = gray ? (is16 ? 'grey16' : 'b-w') : is16 ? 'rgb16' : 'srgb';
    const { data, info } = await sharp(input, { failOn: 'error' })
      .timeout({ seconds: 60 }) // a pathological file must not stall a loader worker
      .removeAlpha()
      .toColourspace(space)
      .raw({ depth: is16 ? 'ushort' : 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const w = info.width, h = info.height, c = info.channels;
    const samples = is16 ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength >>> 1) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (samples.length !== w * h * c) throw new Error(`decoder returned ${samples.length} samples for ${w}×${h}×${c}`);
    const out = grayImage(w, h);
    const d = out.data;
    if (c === 1) for (let i = 0; i < d.length; i++) d[i] = samples[i];
    else if (c >= 3) for (let i = 0, j = 0; i < d.length; i++, j += c) d[i] = 0.299 * samples[j] + 0.587 * samples[j + 1] + 0.114 * samples[j + 2];
    else throw new Error(`unexpected ${c} channels`);
    return { ...out, format, bits: is16 ? 16 : 8 };
  } catch (e) {
    if (e instanceof DecodeError) throw e;
    throw new DecodeError(`cannot decode ${format.toUpperCase()}: ${(e as Error).message}`, path);
  }
}
