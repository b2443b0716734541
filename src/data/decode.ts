// Decoding radiographs to one float32 channel in the file's own intensity units (no scaling):
//   PNG / JPEG  via sharp (libvips: libspng/libpng, mozjpeg); 8- and 16-bit kept exact; colour → gray
//               with Rec. 601 luma (0.299 R + 0.587 G + 0.114 B), as cv2/PIL do; alpha dropped.
//   DICOM       via dicom-parser (element parsing only); pixel data read here for the uncompressed
//               little-endian transfer syntaxes; modality rescale (slope, intercept) applied, then
//               MONOCHROME1 inverted so that bright is always dense. Compressed syntaxes are refused.
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import dicomParser from 'dicom-parser';
import type { DataSet } from 'dicom-parser';
import { grayImage, type GrayImage } from './image.js';

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

export const UNCOMPRESSED_LE_SYNTAXES: Readonly<Record<string, string>> = Object.freeze({
  '1.2.840.10008.1.2': 'Implicit VR Little Endian',
  '1.2.840.10008.1.2.1': 'Explicit VR Little Endian',
});

/** Transfer syntaxes we refuse, by name (anything else unknown is refused with its UID). */
const REFUSED_SYNTAXES: Readonly<Record<string, string>> = {
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline (Process 1)',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended (Process 2 & 4)',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless, Non-Hierarchical (Process 14)',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Lossy (Near-Lossless)',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 (Lossless Only)',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
  '1.2.840.10008.1.2.4.201': 'High-Throughput JPEG 2000 (Lossless Only)',
  '1.2.840.10008.1.2.4.202': 'High-Throughput JPEG 2000 with RPCL Options (Lossless Only)',
  '1.2.840.10008.1.2.4.203': 'High-Throughput JPEG 2000',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
  '1.2.840.10008.1.2.4.100': 'MPEG2 Main Profile / Main Level',
  '1.2.840.10008.1.2.4.102': 'MPEG-4 AVC/H.264 High Profile / Level 4.1',
};

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

/** Decodes an uncompressed little-endian DICOM (first frame). */
export function decodeDicom(bytes: Uint8Array, path?: string): DecodedImage {
  const hasPreamble = bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
  let syntax = '1.2.840.10008.1.2';
  if (hasPreamble) {
    let meta: DataSet;
    try {
      meta = dicomParser.readPart10Header(bytes);
    } catch (e) {
      throw new DecodeError(`invalid DICOM file meta header: ${errorText(e)}`, path);
    }
    syntax = (meta.string('x00020010') ?? '').replace(/\0/g, '').trim() || syntax;
  }
  if (!(syntax in UNCOMPRESSED_LE_SYNTAXES)) {
    const name = REFUSED_SYNTAXES[syntax];
    throw new DecodeError(
      `DICOM transfer syntax ${name ? `${name} (${syntax})` : `${syntax} (unknown)`} is not supported: only uncompressed little-endian ` +
        `(Implicit/Explicit VR Little Endian) pixel data is decoded; convert the file first (e.g. dcmdjpeg / gdcmconv --raw)`,
      path,
    );
  }
  let ds: DataSet;
  try {
    ds = dicomParser.parseDicom(bytes, hasPreamble ? undefined : { TransferSyntaxUID: syntax });
  } catch (e) {
    throw new DecodeError(`invalid DICOM: ${errorText(e)}`, path);
  }
  const rows = ds.uint16('x00280010'), cols = ds.uint16('x00280011');
  const bitsAllocated = ds.uint16('x00280100') ?? 16;
  const bitsStored = ds.uint16('x00280101') ?? bitsAllocated;
  const signed = (ds.uint16('x00280103') ?? 0) === 1;
  const spp = ds.uint16('x00280002') ?? 1;
  const planar = ds.uint16('x00280006') ?? 0;
  const photometric = (ds.string('x00280004') ?? 'MONOCHROME2').trim().toUpperCase();
  const slope = ds.floatString('x00281053') ?? 1;
  const intercept = ds.floatString('x00281052') ?? 0;
  const pixel = ds.elements.x7fe00010;
  if (!rows || !cols) throw new DecodeError('DICOM without Rows/Columns (not an image?)', path);
  if (!pixel) throw new DecodeError('DICOM without Pixel Data (7FE0,0010)', path);
  if (![8, 16, 32].includes(bitsAllocated)) throw new DecodeError(`DICOM BitsAllocated ${bitsAllocated} is not supported (8, 16 or 32)`, path);
  if (spp !== 1 && !(spp === 3 && photometric === 'RGB')) throw new DecodeError(`DICOM with ${spp} samples per pixel and ${photometric} is not supported`, path);
  if (spp === 1 && photometric !== 'MONOCHROME1' && photometric !== 'MONOCHROME2') throw new DecodeError(`DICOM photometric interpretation ${photometric} is not supported`, path);
  const n = rows * cols;
  const bytesPer = bitsAllocated >>> 3;
  const need = n * spp * bytesPer;
  if (pixel.length < need || pixel.dataOffset + need > bytes.length) {
    throw new DecodeError(`DICOM pixel data is truncated: ${Math.min(pixel.length, bytes.length - pixel.dataOffset)} bytes for ${cols}×${rows}×${spp} at ${bitsAllocated} bits (${need} needed)`, path);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + pixel.dataOffset, need);
  const read = sampleReader(view, bitsAllocated, bitsStored, signed);
  const out = grayImage(cols, rows);
  const d = out.data;
  if (spp === 1) {
    for (let i = 0; i < n; i++) d[i] = read(i) * slope + intercept;
  } else {
    for (let i = 0; i < n; i++) {
      const [r, g, b] = planar === 0 ? [read(3 * i), read(3 * i + 1), read(3 * i + 2)] : [read(i), read(n + i), read(2 * n + i)];
      d[i] = 0.299 * r + 0.587 * g + 0.114 * b;
    }
  }
  if (photometric === 'MONOCHROME1') {
    // Reflect about the image's own range, so values stay in the same units and range.
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) {
      if (d[i] < lo) lo = d[i];
      if (d[i] > hi) hi = d[i];
    }
    for (let i = 0; i < n; i++) d[i] = hi + lo - d[i];
  }
  return { ...out, format: 'dicom', bits: bitsStored };
}

function sampleReader(view: DataView, allocated: number, stored: number, signed: boolean): (i: number) => number {
  const mask = stored >= 32 ? 0xffffffff : (2 ** stored) - 1;
  const signBit = 2 ** (stored - 1);
  const fix = (raw: number): number => {
    const v = stored >= 32 ? raw : raw % (mask + 1);
    return signed && v >= signBit ? v - 2 * signBit : v;
  };
  if (allocated === 8) return (i) => fix(view.getUint8(i));
  if (allocated === 16) return (i) => fix(view.getUint16(2 * i, true));
  return (i) => (signed && stored >= 32 ? view.getInt32(4 * i, true) : fix(view.getUint32(4 * i, true)));
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
