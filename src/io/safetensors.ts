// safetensors read/write (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON {"__metadata__": {string: string}, name: {dtype, shape, data_offsets}},
// padded with spaces so the data starts 8-byte aligned, then the tensors' bytes, back to back.
// Writes are atomic: temp file in the target's directory, fsync, rename; a failure leaves no file.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import {
  DTYPE_BYTES,
  type IoData,
  type IoDtype,
  type TensorRecord,
  assertLittleEndianHost,
  bf16ToFloat32,
  dtypeOfData,
  formatShape,
  halfToFloat,
  hasOwn,
  isIoDtype,
  setOwn,
  shapeSize,
} from './types.js';

/** A tensor to write. dtype defaults to the typed array's (pass 'BOOL' for a 0/1 Uint8Array). */
export interface SafetensorsInput {
  shape: readonly number[];
  data: IoData;
  dtype?: IoDtype;
}

export interface SafetensorsContents {
  /** In file order. F16/BF16 tensors come back widened to F32; every other dtype as stored. */
  tensors: Record<string, TensorRecord>;
  metadata: Record<string, string>;
}

/** The reference implementation's limit; a larger header is taken as a corrupt length. */
export const MAX_HEADER_BYTES = 100_000_000;

const WRITABLE: ReadonlySet<IoDtype> = new Set(['F64', 'F32', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL']);

interface Prepared {
  name: string;
  dtype: IoDtype;
  shape: number[];
  bytes: Buffer;
}

function fail(label: string, msg: string, tensor?: string): never {
  throw new Error(`safetensors ${label}: ${tensor === undefined ? '' : `tensor "${tensor}": `}${msg}`);
}

function prepare(tensors: Record<string, SafetensorsInput>, label: string): Prepared[] {
  if (typeof tensors !== 'object' || tensors === null || Array.isArray(tensors)) fail(label, 'tensors must be an object of {shape, data}');
  const out: Prepared[] = [];
  for (const name of Object.keys(tensors)) {
    if (name.length === 0) fail(label, 'tensor names must be non-empty');
    if (name === '__metadata__') fail(label, '"__metadata__" is reserved and cannot name a tensor');
    const t = tensors[name];
    if (typeof t !== 'object' || t === null) fail(label, 'expected {shape, data}', name);
    const kind = dtypeOfData(t.data);
    if (kind === undefined) fail(label, 'data must be a Float32Array, Float64Array, BigInt64Array, Int32Array, Int16Array, Int8Array or Uint8Array', name);
    const dtype = t.dtype ?? kind;
    if (!isIoDtype(dtype) || !WRITABLE.has(dtype)) fail(label, `cannot write dtype ${String(dtype)} (writable: ${[...WRITABLE].join(', ')})`, name);
    if (dtype !== kind && !(dtype === 'BOOL' && kind === 'U8')) fail(label, `dtype ${dtype} does not match its ${t.data.constructor.name}`, name);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(label, `shape must be an array of non-negative integers, got ${JSON.stringify(t.shape)}`, name);
    }
    const shape = [...t.shape];
    const numel = shapeSize(shape);
    if (t.data.length !== numel) fail(label, `${t.data.length} values do not fill shape ${formatShape(shape)} (${numel})`, name);
    if (dtype === 'BOOL' && (t.data as Uint8Array).some((v) => v > 1)) fail(label, 'BOOL data must hold only 0 and 1', name);
    out.push({ name, dtype, shape, bytes: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength) });
  }
  // The reference writer's order: larger elements first (keeps every tensor aligned), then by name.
  out.sort((a, b) => DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return out;
}

function checkMetadata(metadata: Record<string, string>, label: string): void {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) fail(label, 'metadata must be an object of strings');
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') fail(label, `metadata "${k}" must be a string, got ${typeof v} (JSON.stringify it)`);
  }
}

/**
 * The file as a list of buffers (header, then each tensor's bytes as a view of its data, no copy).
 * Validates everything first: a bad input throws here, before any file is touched.
 */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsInput>,
  metadata: Record<string, string> = {},
  label = '<buffer>',
): Buffer[] {
  assertLittleEndianHost(`safetensors ${label}`);
  const prepared = prepare(tensors, label);
  checkMetadata(metadata, label);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) setOwn(header, '__metadata__', { ...metadata });
  let offset = 0;
  for (const p of prepared) {
    setOwn(header, p.name, { dtype: p.dtype, shape: p.shape, data_offsets: [offset, offset + p.bytes.length] });
    offset += p.bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded > MAX_HEADER_BYTES) fail(label, `header of ${padded} bytes exceeds ${MAX_HEADER_BYTES}`);
  const head = Buffer.alloc(8 + padded, 0x20);
  head.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(head, 8);
  return [head, ...prepared.map((p) => p.bytes)];
}

/** The whole file in one buffer. */
export function serializeSafetensors(tensors: Record<string, SafetensorsInput>, metadata: Record<string, string> = {}): Buffer {
  return Buffer.concat(encodeSafetensors(tensors, metadata));
}

function tempPathFor(path: string): string {
  const abs = resolve(path);
  return join(dirname(abs), `.${basename(abs)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

function syncDirectory(dir: string): void {
  // Makes the rename durable; not every platform lets a directory be opened, so best effort.
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* ignored */
  }
}

function writeError(path: string, err: unknown): Error {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.startsWith('safetensors ') ? (err as Error) : new Error(`safetensors ${path}: write failed: ${msg}`, { cause: err });
}

/**
 * Writes tensors and string metadata to path atomically: the target is either untouched or the
 * complete new file; no temp file is left behind on failure.
 */
export function writeSafetensors(
  path: string,
  tensors: Record<string, SafetensorsInput>,
  metadata: Record<string, string> = {},
): void {
  const parts = encodeSafetensors(tensors, metadata, path);
  const tmp = tempPathFor(path);
  let fd = -1;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    for (const part of parts) {
      let done = 0;
      while (done < part.length) done += writeSync(fd, part, done, part.length - done);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
  } catch (err) {
    if (fd >= 0) {
      try {
        closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      /* never created, or already renamed */
    }
    throw writeError(path, err);
  }
  syncDirectory(dirname(resolve(path)));
}

/** writeSafetensors with fs/promises: the same atomic write, off the event loop. */
export async function writeSafetensorsAsync(
  path: string,
  tensors: Record<string, SafetensorsInput>,
  metadata: Record<string, string> = {},
): Promise<void> {
  const parts = encodeSafetensors(tensors, metadata, path);
  const tmp = tempPathFor(path);
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(tmp, 'wx', 0o644);
    for (const part of parts) {
      let done = 0;
      while (done < part.length) done += (await handle.write(part, done, part.length - done)).bytesWritten;
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, path);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw writeError(path, err);
  }
  await syncDirectoryAsync(dirname(resolve(path)));
}

/** syncDirectory off the JS thread: an fsync of the folder can take hundreds of milliseconds. */
async function syncDirectoryAsync(dir: string): Promise<void> {
  try {
    const h = await open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    /* ignored, as in syncDirectory */
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeData(dtype: IoDtype, src: Uint8Array): { dtype: IoDtype; data: IoData } {
  // A copy into a fresh, aligned ArrayBuffer: file offsets need not be aligned. (Not src.slice():
  // on a Buffer that is a view, not a copy.)
  const copy = new Uint8Array(src.length);
  copy.set(src);
  const buf = copy.buffer;
  switch (dtype) {
    case 'F32': return { dtype, data: new Float32Array(buf) };
    case 'F64': return { dtype, data: new Float64Array(buf) };
    case 'I64': return { dtype, data: new BigInt64Array(buf) };
    case 'I32': return { dtype, data: new Int32Array(buf) };
    case 'I16': return { dtype, data: new Int16Array(buf) };
    case 'I8': return { dtype, data: new Int8Array(buf) };
    case 'U8':
    case 'BOOL': return { dtype, data: new Uint8Array(buf) };
    case 'F16': {
      const h = new Uint16Array(buf);
      const out = new Float32Array(h.length);
      for (let i = 0; i < h.length; i++) out[i] = halfToFloat(h[i]);
      return { dtype: 'F32', data: out };
    }
    case 'BF16': {
      const h = new Uint16Array(buf);
      const out = new Float32Array(h.length);
      bf16ToFloat32(h, out);
      return { dtype: 'F32', data: out };
    }
  }
}

/** Parses and validates a whole safetensors file held in memory; label names it in errors. */
export function decodeSafetensors(bytes: Uint8Array, label = '<buffer>'): SafetensorsContents {
  assertLittleEndianHost(`safetensors ${label}`);
  if (bytes.length < 8) fail(label, `${bytes.length} bytes is too short for a safetensors file (8-byte header length missing)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n < 2n || n > BigInt(MAX_HEADER_BYTES) || n > BigInt(bytes.length - 8)) {
    fail(label, `header length ${n} is impossible for a file of ${bytes.length} bytes (corrupt or not a safetensors file)`);
  }
  const headerLen = Number(n);
  let text: string;
  try {
    text = utf8.decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    fail(label, 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail(label, 'header does not start with "{" (corrupt or not a safetensors file)');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    fail(label, `header is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail(label, 'header must be a JSON object');
  const h = header as Record<string, unknown>;

  const metadata: Record<string, string> = {};
  if (hasOwn(h, '__metadata__')) {
    const m = h.__metadata__;
    if (m !== null) {
      if (typeof m !== 'object' || Array.isArray(m)) fail(label, '"__metadata__" must be an object of strings');
      for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(label, `metadata "${k}" is a ${typeof v}, not a string`);
        setOwn(metadata, k, v);
      }
    }
  }

  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const entries: { name: string; dtype: IoDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const name of Object.keys(h)) {
    if (name === '__metadata__') continue;
    const info = h[name];
    if (typeof info !== 'object' || info === null || Array.isArray(info)) fail(label, 'entry must be {dtype, shape, data_offsets}', name);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (!isIoDtype(dtype)) fail(label, `unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_BYTES).join(', ')})`, name);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(label, `shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`, name);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(label, `data_offsets must be [begin, end], got ${JSON.stringify(offsets)}`, name);
    }
    const [begin, end] = offsets as number[];
    if (begin > end || end > dataLen) fail(label, `data_offsets [${begin}, ${end}] out of range of the ${dataLen} data bytes`, name);
    const want = shapeSize(shape) * DTYPE_BYTES[dtype];
    if (end - begin !== want) {
      fail(label, `shape ${formatShape(shape)} of ${dtype} needs ${want} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`, name);
    }
    entries.push({ name, dtype, shape, begin, end });
  }

  // The tensors must tile the data section exactly: no overlap, no gap, nothing after the last one.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev = '';
  for (const e of sorted) {
    if (e.begin < cursor) fail(label, `data overlaps tensor "${prev}" (data_offsets [${e.begin}, ${e.end}])`, e.name);
    if (e.begin > cursor) fail(label, `${e.begin - cursor} unused bytes before its data (data_offsets begin at ${e.begin}, expected ${cursor})`, e.name);
    cursor = e.end;
    prev = e.name;
  }
  if (cursor !== dataLen) fail(label, `${dataLen - cursor} bytes after the last tensor's data (file truncated or corrupt header)`);

  const tensors: Record<string, TensorRecord> = {};
  for (const e of entries) {
    const { dtype, data } = decodeData(e.dtype, bytes.subarray(dataStart + e.begin, dataStart + e.end));
    setOwn(tensors, e.name, { dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

/** Reads and validates a safetensors file; errors name the file and the tensor. */
export function readSafetensors(path: string): SafetensorsContents {
  return decodeSafetensors(readFileSync(path), path);
}

export async function readSafetensorsAsync(path: string): Promise<SafetensorsContents> {
  return decodeSafetensors(await readFile(path), path);
}
