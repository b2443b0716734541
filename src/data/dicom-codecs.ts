// The compressed-DICOM codecs, each a well-kept library rather than our own:
//   JPEG baseline / extended, 8-bit   libjpeg-turbo   (@cornerstonejs/codec-libjpeg-turbo-8bit, WASM)
//   JPEG lossless (process 14)        jpeg-lossless-decoder-js (plain JS)
//   JPEG-LS                           CharLS          (@cornerstonejs/codec-charls, WASM)
//   JPEG 2000                         OpenJPEG        (@cornerstonejs/codec-openjpeg, WASM)
//   HTJ2K                             OpenJPH         (@cornerstonejs/codec-openjph, WASM)
// A WASM module is instantiated on first use, once per thread (each loader worker has its own), from
// the package's own folder (emscripten finds the .wasm beside its .js), so it works wherever the
// package is installed. A codec that throws may leave its WASM heap in a bad state, so that instance
// is dropped and the next call starts a fresh one.

/** One decoded frame, samples as the codec wrote them. */
export interface CodecFrame {
  width: number;
  height: number;
  components: number;
  /** Bits per sample in the codestream, and whether the codestream says they are signed. */
  bits: number;
  signed: boolean;
  samples: Uint8Array | Uint16Array;
  /** Colour samples are stored plane by plane (else pixel by pixel). */
  planar: boolean;
}

type Codec = 'libjpeg-turbo' | 'charls' | 'openjpeg' | 'openjph';

interface Loaded {
  module: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  messages: string[];
}

const loading = new Map<Codec, Promise<Loaded>>();

async function importFactory(codec: Codec): Promise<(o: EmscriptenOptions) => Promise<unknown>> {
  switch (codec) {
    case 'libjpeg-turbo':
      return (await import('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs')).default;
    case 'charls':
      return (await import('@cornerstonejs/codec-charls/decodewasmjs')).default;
    case 'openjpeg':
      return (await import('@cornerstonejs/codec-openjpeg/decodewasmjs')).default;
    case 'openjph':
      return (await import('@cornerstonejs/codec-openjph/wasmjs')).default;
  }
}

/** The codec's WASM module, instantiated once per thread on first use. */
function load(codec: Codec): Promise<Loaded> {
  let p = loading.get(codec);
  if (!p) {
    p = (async () => {
      // What the codec prints (OpenJPEG reports errors this way) is kept for the error message, not shown.
      const messages: string[] = [];
      const keep = (s: string): void => {
        messages.push(s);
        if (messages.length > 20) messages.shift();
      };
      const factory = await importFactory(codec);
      return { module: await factory({ print: keep, printErr: keep }), messages };
    })();
    loading.set(codec, p);
    p.catch(() => loading.delete(codec));
  }
  return p;
}

async function withDecoder(codec: Codec, cls: string, bytes: Uint8Array, read: (d: any) => CodecFrame): Promise<CodecFrame> { // eslint-disable-line @typescript-eslint/no-explicit-any
  let loaded: Loaded;
  try {
    loaded = await load(codec);
  } catch (e) {
    throw new Error(`cannot load the ${codec} codec: ${(e as Error).message}`);
  }
  const { module, messages } = loaded;
  messages.length = 0;
  let decoder: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    decoder = new module[cls]();
    decoder.getEncodedBuffer(bytes.length).set(bytes);
    decoder.decode();
    return read(decoder);
  } catch (e) {
    loading.delete(codec); // a fresh instance next time
    let text = e instanceof Error ? e.message : typeof e === 'number' && module.getExceptionMessage ? String(module.getExceptionMessage(e)) : String(e);
    if (typeof decoder?.getLastErrorMessage === 'function') text = `${decoder.getLastErrorMessage() || text}`;
    const said = messages.filter((m) => m.trim()).join('; ');
    throw new Error(`${codec}: ${text}${said ? ` (${said})` : ''}`);
  } finally {
    try {
      decoder?.delete();
    } catch {
      // the instance is already dropped
    }
  }
}

/** Copies the codec's output out of the WASM heap, as 8- or 16-bit samples. */
function copySamples(heap: Uint8Array, bits: number): Uint8Array | Uint16Array {
  if (bits <= 8) return heap.slice();
  if (heap.byteLength % 2) throw new Error(`${heap.byteLength} bytes of ${bits}-bit samples`);
  const out = new Uint16Array(heap.byteLength >>> 1);
  new Uint8Array(out.buffer).set(heap); // WASM memory is little-endian, as is every host Node runs on here
  return out;
}

function frameFrom(d: any, planar: boolean): CodecFrame { // eslint-disable-line @typescript-eslint/no-explicit-any
  const info = d.getFrameInfo() as CodecFrameInfo;
  const samples = copySamples(d.getDecodedBuffer(), info.bitsPerSample);
  return { width: info.width, height: info.height, components: info.componentCount, bits: info.bitsPerSample, signed: !!info.isSigned, samples, planar };
}

/** 8-bit JPEG (baseline, extended, progressive) via libjpeg-turbo, which outputs RGB for colour. */
export function decodeJpeg8(bytes: Uint8Array): Promise<CodecFrame> {
  return withDecoder('libjpeg-turbo', 'JPEGDecoder', bytes, (d) => frameFrom(d, false));
}

/** JPEG-LS via CharLS; colour comes out as stored: plane by plane when not interleaved. */
export function decodeJpegLs(bytes: Uint8Array): Promise<CodecFrame> {
  return withDecoder('charls', 'JpegLSDecoder', bytes, (d) => frameFrom(d, d.getInterleaveMode() === 0));
}

/** JPEG 2000 via OpenJPEG, which undoes the codestream's colour transform (YBR_RCT / YBR_ICT → RGB). */
export function decodeJ2k(bytes: Uint8Array): Promise<CodecFrame> {
  return withDecoder('openjpeg', 'J2KDecoder', bytes, (d) => frameFrom(d, false));
}

/** HTJ2K via OpenJPH, which undoes the codestream's colour transform. */
export function decodeHtj2k(bytes: Uint8Array): Promise<CodecFrame> {
  return withDecoder('openjph', 'HTJ2KDecoder', bytes, (d) => frameFrom(d, false));
}

type LosslessModule = typeof import('jpeg-lossless-decoder-js');
let lossless: Promise<LosslessModule> | null = null;

/** JPEG lossless (process 14, any predictor) via jpeg-lossless-decoder-js. */
export async function decodeJpegLossless(bytes: Uint8Array): Promise<CodecFrame> {
  lossless ??= import('jpeg-lossless-decoder-js');
  const { Decoder } = await lossless;
  const d = new Decoder();
  // jpeg-lossless-decoder-js 2.1.2 drops the last pixel when the look-ahead of its Huffman reader runs
  // into the EOI marker (seen with dcmcjpeg's first-order-prediction files); 16 stuffed one-bits
  // (FF 00 FF 00) before EOI give it something to look at and are never decoded, as it stops after
  // the last pixel. Its own copy also keeps the decoder from seeing past the frame.
  let eoi = bytes.length - 2;
  while (eoi > 2 && !(bytes[eoi] === 0xff && bytes[eoi + 1] === 0xd9)) eoi--;
  if (eoi <= 2) eoi = bytes.length;
  const copy = new Uint8Array(bytes.length + 4 + (eoi === bytes.length ? 2 : 0));
  copy.set(bytes.subarray(0, eoi));
  copy.set([0xff, 0x00, 0xff, 0x00, 0xff, 0xd9], eoi);
  const samples = d.decode(copy.buffer, 0, copy.byteLength);
  const { dimX, dimY, numComp, precision } = d.frame;
  return { width: dimX, height: dimY, components: numComp, bits: precision, signed: false, samples, planar: false };
}
