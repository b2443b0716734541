// DICOM pixel data to one float32 channel in the file's own units. Tags are parsed by dicom-parser;
// the pixels of the first frame are read here for the native syntaxes (implicit / explicit little
// endian, explicit big endian, deflated explicit little endian via node:zlib) and for RLE lossless
// (our own, small PackBits decoder), and by well-kept codecs for the rest (src/data/dicom-codecs.ts).
// Then, the same for every syntax: samples masked to BitsStored and sign-extended, the modality rescale
// (slope, intercept) applied, colour (RGB or YBR) turned to gray with Rec. 601 luma (YBR: its Y), and
// MONOCHROME1 inverted so that bright is always dense.
import { inflateRawSync } from 'node:zlib';
import dicomParser from 'dicom-parser';
import type { DataSet, Element } from 'dicom-parser';
import { DecodeError, type DecodedImage } from './decode-error.js';
import { decodeHtj2k, decodeJ2k, decodeJpeg8, decodeJpegLossless, decodeJpegLs, type CodecFrame } from './dicom-codecs.js';
import { grayImage } from './image.js';

type Family = 'native' | 'big-endian' | 'deflate' | 'rle' | 'jpeg' | 'jpeg-ls' | 'j2k' | 'htj2k';

/** The transfer syntaxes decoded, by UID: name, and how. */
export const DICOM_SYNTAXES: Readonly<Record<string, { name: string; family: Family }>> = Object.freeze({
  '1.2.840.10008.1.2': { name: 'Implicit VR Little Endian', family: 'native' },
  '1.2.840.10008.1.2.1': { name: 'Explicit VR Little Endian', family: 'native' },
  '1.2.840.10008.1.2.1.99': { name: 'Deflated Explicit VR Little Endian', family: 'deflate' },
  '1.2.840.10008.1.2.2': { name: 'Explicit VR Big Endian', family: 'big-endian' },
  '1.2.840.10008.1.2.4.50': { name: 'JPEG Baseline (Process 1)', family: 'jpeg' },
  '1.2.840.10008.1.2.4.51': { name: 'JPEG Extended (Process 2 & 4)', family: 'jpeg' },
  '1.2.840.10008.1.2.4.57': { name: 'JPEG Lossless, Non-Hierarchical (Process 14)', family: 'jpeg' },
  '1.2.840.10008.1.2.4.70': { name: 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])', family: 'jpeg' },
  '1.2.840.10008.1.2.4.80': { name: 'JPEG-LS Lossless', family: 'jpeg-ls' },
  '1.2.840.10008.1.2.4.81': { name: 'JPEG-LS Lossy (Near-Lossless)', family: 'jpeg-ls' },
  '1.2.840.10008.1.2.4.90': { name: 'JPEG 2000 (Lossless Only)', family: 'j2k' },
  '1.2.840.10008.1.2.4.91': { name: 'JPEG 2000', family: 'j2k' },
  '1.2.840.10008.1.2.4.201': { name: 'High-Throughput JPEG 2000 (Lossless Only)', family: 'htj2k' },
  '1.2.840.10008.1.2.4.202': { name: 'High-Throughput JPEG 2000 with RPCL Options (Lossless Only)', family: 'htj2k' },
  '1.2.840.10008.1.2.4.203': { name: 'High-Throughput JPEG 2000', family: 'htj2k' },
  '1.2.840.10008.1.2.5': { name: 'RLE Lossless', family: 'rle' },
});

export const UNCOMPRESSED_LE_SYNTAXES: Readonly<Record<string, string>> = Object.freeze({
  '1.2.840.10008.1.2': 'Implicit VR Little Endian',
  '1.2.840.10008.1.2.1': 'Explicit VR Little Endian',
});

/** Transfer syntaxes known but not decoded, by name (anything else is refused with its UID). */
const REFUSED_SYNTAXES: Readonly<Record<string, string>> = {
  '1.2.840.10008.1.2.4.92': 'JPEG 2000 Part 2 Multi-component (Lossless Only)',
  '1.2.840.10008.1.2.4.93': 'JPEG 2000 Part 2 Multi-component',
  '1.2.840.10008.1.2.4.94': 'JPIP Referenced',
  '1.2.840.10008.1.2.4.95': 'JPIP Referenced Deflate',
  '1.2.840.10008.1.2.4.100': 'MPEG2 Main Profile / Main Level',
  '1.2.840.10008.1.2.4.101': 'MPEG2 Main Profile / High Level',
  '1.2.840.10008.1.2.4.102': 'MPEG-4 AVC/H.264 High Profile / Level 4.1',
  '1.2.840.10008.1.2.4.103': 'MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1',
  '1.2.840.10008.1.2.4.104': 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video',
  '1.2.840.10008.1.2.4.105': 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video',
  '1.2.840.10008.1.2.4.106': 'MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2',
  '1.2.840.10008.1.2.4.107': 'HEVC/H.265 Main Profile / Level 5.1',
  '1.2.840.10008.1.2.4.108': 'HEVC/H.265 Main 10 Profile / Level 5.1',
  '1.2.840.10008.1.2.4.110': 'JPEG XL Lossless',
  '1.2.840.10008.1.2.4.111': 'JPEG XL JPEG Recompression',
  '1.2.840.10008.1.2.4.112': 'JPEG XL',
};

/** The most a deflated data set may inflate to (a guard against decompression bombs). */
const MAX_INFLATED = 512 * 2 ** 20;

const syntaxLabel = (uid: string): string => {
  const name = DICOM_SYNTAXES[uid]?.name ?? REFUSED_SYNTAXES[uid];
  return name ? `${name} (${uid})` : `${uid} (unknown)`;
};

/** Decodes the first frame of a DICOM file (any syntax in DICOM_SYNTAXES). */
export async function decodeDicom(bytes: Uint8Array, path?: string): Promise<DecodedImage> {
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
  const entry = DICOM_SYNTAXES[syntax];
  if (!entry) {
    throw new DecodeError(
      `DICOM transfer syntax ${syntaxLabel(syntax)} is not supported: decoded are native (little/big endian, deflated), RLE, ` +
        `JPEG, JPEG-LS, JPEG 2000 and HTJ2K; convert the file first (e.g. gdcmconv --raw in.dcm out.dcm)`,
      path,
    );
  }
  let ds: DataSet;
  try {
    const inflater = (arr: Uint8Array, position: number): Uint8Array => {
      const body = inflateRawSync(arr.subarray(position), { maxOutputLength: MAX_INFLATED });
      const full = new Uint8Array(position + body.length);
      full.set(arr.subarray(0, position));
      full.set(body, position);
      return full;
    };
    const options = hasPreamble ? { inflater: inflater as unknown as (a: Uint8Array, p: number) => void } : { TransferSyntaxUID: syntax };
    ds = dicomParser.parseDicom(bytes, options);
  } catch (e) {
    throw new DecodeError(`invalid DICOM${entry.family === 'deflate' ? ' (deflated data set)' : ''}: ${errorText(e)}`, path);
  }
  const g = geometry(ds, path);
  const pixel = ds.elements.x7fe00010;
  if (!pixel) throw new DecodeError('DICOM without Pixel Data (7FE0,0010)', path);
  let frame: Samples;
  try {
    frame = await readFirstFrame(ds, pixel, g, entry.family, path);
  } catch (e) {
    if (e instanceof DecodeError) throw e;
    throw new DecodeError(`cannot decode ${syntaxLabel(syntax)} pixel data: ${errorText(e)}`, path);
  }
  const out = grayImage(g.cols, g.rows, toGray(frame, g));
  return { ...out, format: 'dicom', bits: g.bitsStored };
}

interface Geometry {
  rows: number;
  cols: number;
  bitsAllocated: number;
  bitsStored: number;
  signed: boolean;
  spp: number;
  planar: boolean;
  photometric: string;
  slope: number;
  intercept: number;
  frames: number;
}

const COLOUR = ['RGB', 'YBR_FULL', 'YBR_FULL_422', 'YBR_RCT', 'YBR_ICT'];

function geometry(ds: DataSet, path?: string): Geometry {
  const rows = ds.uint16('x00280010') ?? 0, cols = ds.uint16('x00280011') ?? 0;
  const bitsAllocated = ds.uint16('x00280100') ?? 16;
  const g: Geometry = {
    rows,
    cols,
    bitsAllocated,
    bitsStored: ds.uint16('x00280101') ?? bitsAllocated,
    signed: (ds.uint16('x00280103') ?? 0) === 1,
    spp: ds.uint16('x00280002') ?? 1,
    planar: (ds.uint16('x00280006') ?? 0) === 1,
    photometric: (ds.string('x00280004') ?? 'MONOCHROME2').trim().toUpperCase(),
    slope: ds.floatString('x00281053') ?? 1,
    intercept: ds.floatString('x00281052') ?? 0,
    frames: ds.intString('x00280008') ?? 1,
  };
  if (!rows || !cols) throw new DecodeError('DICOM without Rows/Columns (not an image?)', path);
  if (![8, 16, 32].includes(bitsAllocated)) throw new DecodeError(`DICOM BitsAllocated ${bitsAllocated} is not supported (8, 16 or 32)`, path);
  if (!(g.bitsStored >= 1 && g.bitsStored <= bitsAllocated)) throw new DecodeError(`DICOM BitsStored ${g.bitsStored} does not fit BitsAllocated ${bitsAllocated}`, path);
  if (g.spp !== 1 && !(g.spp === 3 && COLOUR.includes(g.photometric))) throw new DecodeError(`DICOM with ${g.spp} samples per pixel and ${g.photometric} is not supported (1 sample, or 3 as ${COLOUR.join(', ')})`, path);
  if (g.spp === 1 && g.photometric !== 'MONOCHROME1' && g.photometric !== 'MONOCHROME2') throw new DecodeError(`DICOM photometric interpretation ${g.photometric} is not supported`, path);
  return g;
}

/** The first frame's samples: raw[i] is sample i before masking; colour by pixel or by plane. */
interface Samples {
  raw: (i: number) => number;
  planar: boolean;
  /** What three samples per pixel hold: RGB, YCbCr, or YCbCr 4:2:2 as two Y then Cb, Cr per pixel pair. */
  colour: 'rgb' | 'ybr' | 'ybr422';
  /** A codestream precision above BitsStored (some encoders write 12-bit data as 16-bit JPEG 2000). */
  wide?: { bits: number; signed: boolean };
}

async function readFirstFrame(ds: DataSet, pixel: Element, g: Geometry, family: Family, path?: string): Promise<Samples> {
  const n = g.rows * g.cols;
  const native = family === 'native' || family === 'deflate' || family === 'big-endian';
  if (native) {
    // Native colour is as PhotometricInterpretation says; YBR_RCT / YBR_ICT exist only inside JPEG 2000.
    if (g.spp === 3 && !['RGB', 'YBR_FULL', 'YBR_FULL_422'].includes(g.photometric)) throw new DecodeError(`native DICOM colour ${g.photometric} is not valid (RGB, YBR_FULL or YBR_FULL_422)`, path);
    const colour = g.photometric === 'YBR_FULL_422' ? 'ybr422' : g.photometric === 'YBR_FULL' ? 'ybr' : 'rgb';
    if (colour === 'ybr422' && (g.cols % 2 || g.planar)) throw new DecodeError('YBR_FULL_422 needs an even number of columns, pixel-interleaved', path);
    const bytesPer = g.bitsAllocated >>> 3;
    const need = (colour === 'ybr422' ? 2 * n : n * g.spp) * bytesPer;
    const data = ds.byteArray;
    if (pixel.encapsulatedPixelData) throw new DecodeError('native transfer syntax with encapsulated (compressed) pixel data', path);
    if (pixel.length < need || pixel.dataOffset + need > data.length) {
      throw new DecodeError(`DICOM pixel data is truncated: ${Math.max(0, Math.min(pixel.length, data.length - pixel.dataOffset))} bytes for ${g.cols}×${g.rows}×${g.spp} at ${g.bitsAllocated} bits (${need} needed)`, path);
    }
    const bigEndian = family === 'big-endian';
    // In big endian, OW words are byte-swapped even when they hold 8-bit samples (OB bytes are not).
    const swap8 = bigEndian && g.bitsAllocated === 8 && pixel.vr === 'OW';
    return { raw: nativeReader(data, pixel.dataOffset, need, g.bitsAllocated, !bigEndian, swap8), planar: g.planar, colour };
  }
  if (!pixel.encapsulatedPixelData || !pixel.fragments?.length) throw new DecodeError('compressed transfer syntax, but the pixel data is not encapsulated in fragments', path);
  const bytes = firstFragmentBytes(ds, pixel, g, family);
  if (family === 'rle') {
    if (g.spp === 3 && !['RGB', 'YBR_FULL'].includes(g.photometric)) throw new Error(`RLE colour ${g.photometric} is not valid (RGB or YBR_FULL)`);
    if (g.bitsAllocated === 32) throw new Error('32-bit RLE is not supported');
    const planes = decodeRle(bytes, n, g.spp, g.bitsAllocated >>> 3);
    return { raw: nativeReader(planes, 0, planes.length, g.bitsAllocated, true, false), planar: true, colour: g.photometric === 'YBR_FULL' ? 'ybr' : 'rgb' };
  }
  let f: CodecFrame;
  let colour: Samples['colour'];
  if (family === 'jpeg') {
    const sof = jpegFrameType(bytes);
    if (sof.process === 3) {
      f = await decodeJpegLossless(bytes);
      colour = g.photometric === 'RGB' ? 'rgb' : 'ybr';
    } else if (sof.process <= 2 && sof.precision === 8) {
      f = await decodeJpeg8(bytes); // libjpeg-turbo turns YCbCr into RGB
      colour = 'rgb';
    } else if (sof.process <= 2) {
      throw new Error(
        `${sof.precision}-bit DCT JPEG (SOF${sof.process}) is not supported: the JPEG codec here (libjpeg-turbo) is 8-bit only; ` +
          'convert the file first (e.g. dcmdjpeg in.dcm out.dcm)',
      );
    } else {
      throw new Error(`JPEG frame type SOF${sof.process} (${sof.process >= 9 ? 'arithmetic coding' : 'hierarchical'}) is not supported`);
    }
  } else if (family === 'jpeg-ls') {
    f = await decodeJpegLs(bytes);
    colour = g.photometric === 'YBR_FULL' ? 'ybr' : 'rgb';
  } else {
    f = await (family === 'j2k' ? decodeJ2k(bytes) : decodeHtj2k(bytes)); // both undo YBR_RCT / YBR_ICT
    colour = g.photometric === 'YBR_FULL' ? 'ybr' : 'rgb';
  }
  if (f.width !== g.cols || f.height !== g.rows || f.components !== g.spp) {
    throw new Error(`the codestream is ${f.width}×${f.height}×${f.components}, the DICOM header says ${g.cols}×${g.rows}×${g.spp}`);
  }
  if (f.bits > g.bitsAllocated) throw new Error(`the codestream has ${f.bits}-bit samples, more than BitsAllocated ${g.bitsAllocated}`);
  if (f.samples.length < n * g.spp) throw new Error(`the codec returned ${f.samples.length} samples for ${n * g.spp}`);
  const s = f.samples;
  const wide = f.bits > g.bitsStored ? { bits: f.bits, signed: f.signed || g.signed } : undefined;
  return { raw: (i) => s[i], planar: f.planar, colour, wide };
}

/** The first frame's compressed bytes. */
function firstFragmentBytes(ds: DataSet, pixel: Element, g: Geometry, family: Family): Uint8Array {
  const fragments = pixel.fragments!;
  if (pixel.basicOffsetTable?.length) return dicomParser.readEncapsulatedImageFrame(ds, pixel, 0);
  if (g.frames <= 1) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, 0, fragments.length);
  if (fragments.length === g.frames) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, 0, 1);
  if (family === 'jpeg') return dicomParser.readEncapsulatedImageFrame(ds, pixel, 0, dicomParser.createJPEGBasicOffsetTable(ds, pixel));
  throw new Error(`${g.frames} frames in ${fragments.length} fragments and no offset table: the first frame cannot be found`);
}

/** The JPEG frame header (SOFn): process number n and sample precision. */
function jpegFrameType(b: Uint8Array): { process: number; precision: number } {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) throw new Error('not a JPEG stream (no SOI marker)');
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) throw new Error(`JPEG stream: expected a marker at byte ${i}`);
    const m = b[i + 1];
    if (m === 0xff) {
      i++;
      continue;
    }
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (i + 4 >= b.length) break;
      return { process: m - 0xc0, precision: b[i + 4] };
    }
    if (m === 0xd9 || m === 0xda) break;
    i += 2 + ((b[i + 2] << 8) | b[i + 3]);
  }
  throw new Error('JPEG stream without a frame header (SOF marker)');
}

/**
 * RLE Lossless (DICOM PS3.5 Annex G): a 64-byte header of segment offsets, one PackBits segment per
 * byte of each sample, most significant byte first. Returns the frame as little-endian samples, plane
 * by plane.
 */
export function decodeRle(frame: Uint8Array, n: number, spp: number, bytesPer: number): Uint8Array {
  if (frame.length < 64) throw new Error(`RLE frame of ${frame.length} bytes has no 64-byte header`);
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const count = dv.getUint32(0, true);
  const want = spp * bytesPer;
  if (count !== want) throw new Error(`RLE header lists ${count} segments; ${spp} sample(s) of ${bytesPer} byte(s) need ${want}`);
  const out = new Uint8Array(n * want);
  for (let s = 0; s < count; s++) {
    const start = dv.getUint32(4 + 4 * s, true);
    const end = s + 1 < count ? dv.getUint32(8 + 4 * s, true) : frame.length;
    if (start < 64 || end < start || end > frame.length) throw new Error(`RLE segment ${s + 1} spans bytes ${start}..${end}, outside the ${frame.length}-byte frame`);
    const sample = Math.floor(s / bytesPer);
    const base = sample * n * bytesPer + (bytesPer - 1 - (s % bytesPer));
    let i = 0, p = start;
    while (i < n && p < end) {
      const h = frame[p++];
      if (h < 128) {
        const c = h + 1; // literal run
        if (p + c > end) throw new Error(`RLE segment ${s + 1}: a literal run of ${c} bytes overruns the segment`);
        for (let k = 0; k < c && i < n; k++, i++) out[base + i * bytesPer] = frame[p + k];
        p += c;
      } else if (h > 128) {
        if (p >= end) throw new Error(`RLE segment ${s + 1}: a replicate run has no byte to repeat`);
        const v = frame[p++];
        for (let k = 257 - h; k > 0 && i < n; k--, i++) out[base + i * bytesPer] = v;
      } // 128: no operation
    }
    if (i < n) throw new Error(`RLE segment ${s + 1} decodes to ${i} of ${n} bytes`);
  }
  return out;
}

function nativeReader(data: Uint8Array, offset: number, length: number, allocated: number, littleEndian: boolean, swap8: boolean): (i: number) => number {
  const view = new DataView(data.buffer, data.byteOffset + offset, length);
  if (allocated === 8) return swap8 ? (i) => view.getUint8(i ^ 1) : (i) => view.getUint8(i);
  if (allocated === 16) return (i) => view.getUint16(2 * i, littleEndian);
  return (i) => view.getUint32(4 * i, littleEndian);
}

/** Masks a raw sample to BitsStored and sign-extends it when PixelRepresentation is 1. */
function sampleFixer(stored: number, signed: boolean): (raw: number) => number {
  if (stored >= 32) return signed ? (raw) => raw | 0 : (raw) => raw >>> 0;
  const mask = 2 ** stored - 1, signBit = 2 ** (stored - 1);
  return (raw) => {
    const v = raw & mask;
    return signed && v >= signBit ? v - 2 * signBit : v;
  };
}

/**
 * For a codestream wider than BitsStored: the sample at the codestream's precision, clamped into the
 * BitsStored range (a lossy codec may overshoot it; masking would wrap an overshoot to the far end).
 */
function wideFixer(bits: number, codecSigned: boolean, stored: number, signed: boolean): (raw: number) => number {
  const read = sampleFixer(Math.min(bits, 32), codecSigned);
  const lo = signed ? -(2 ** (stored - 1)) : 0, hi = signed ? 2 ** (stored - 1) - 1 : 2 ** stored - 1;
  return (raw) => Math.min(hi, Math.max(lo, read(raw)));
}

function toGray(s: Samples, g: Geometry): Float32Array {
  const n = g.rows * g.cols;
  const fix = s.wide ? wideFixer(s.wide.bits, s.wide.signed, g.bitsStored, g.signed) : sampleFixer(g.bitsStored, g.signed);
  const d = new Float32Array(n);
  const { raw } = s;
  if (g.spp === 1) {
    for (let i = 0; i < n; i++) d[i] = fix(raw(i)) * g.slope + g.intercept;
  } else if (s.colour === 'ybr422') {
    for (let i = 0; i < n; i++) d[i] = fix(raw(4 * (i >>> 1) + (i & 1)));
  } else if (s.colour === 'ybr') {
    for (let i = 0; i < n; i++) d[i] = fix(raw(s.planar ? i : 3 * i));
  } else {
    for (let i = 0; i < n; i++) {
      const r = fix(raw(s.planar ? i : 3 * i)), gr = fix(raw(s.planar ? n + i : 3 * i + 1)), b = fix(raw(s.planar ? 2 * n + i : 3 * i + 2));
      d[i] = 0.299 * r + 0.587 * gr + 0.114 * b;
    }
  }
  if (g.photometric === 'MONOCHROME1') {
    // Reflect about the image's own range, so values stay in the same units and range.
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) {
      if (d[i] < lo) lo = d[i];
      if (d[i] > hi) hi = d[i];
    }
    for (let i = 0; i < n; i++) d[i] = hi + lo - d[i];
  }
  return d;
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (e && typeof e === 'object' && 'exception' in e) return errorText((e as { exception: unknown }).exception); // dicom-parser's wrapper
  return String(e);
}
