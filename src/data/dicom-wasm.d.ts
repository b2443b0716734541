// Types for the DICOM codecs, which ship none: the cornerstone WASM builds (emscripten factories that
// resolve to a module holding the embind classes) and jpeg-lossless-decoder-js (whose package.json
// names a .d.ts it does not ship). Only what src/data/dicom-codecs.ts calls is declared.

interface CodecFrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned?: boolean;
}

interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): CodecFrameInfo;
  delete(): void;
}

interface EmscriptenOptions {
  print?: (text: string) => void;
  printErr?: (text: string) => void;
}

declare module '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs' {
  const factory: (options?: EmscriptenOptions) => Promise<{ JPEGDecoder: new () => WasmDecoder }>;
  export default factory;
}
declare module '@cornerstonejs/codec-charls/decodewasmjs' {
  const factory: (options?: EmscriptenOptions) => Promise<{ JpegLSDecoder: new () => WasmDecoder & { getInterleaveMode(): number }; getExceptionMessage?: (e: unknown) => string }>;
  export default factory;
}
declare module '@cornerstonejs/codec-openjpeg/decodewasmjs' {
  const factory: (options?: EmscriptenOptions) => Promise<{ J2KDecoder: new () => WasmDecoder }>;
  export default factory;
}
declare module '@cornerstonejs/codec-openjph/wasmjs' {
  const factory: (options?: EmscriptenOptions) => Promise<{ HTJ2KDecoder: new () => WasmDecoder & { readHeader(): void; getLastErrorMessage?(): string } }>;
  export default factory;
}
declare module 'jpeg-lossless-decoder-js' {
  export class Decoder {
    decode(buffer: ArrayBuffer, offset: number, length: number, numBytes?: number): Uint8Array | Uint16Array;
    frame: { dimX: number; dimY: number; numComp: number; precision: number };
  }
}
