// On-disk cache of preprocessed images (resized, clipped, scaled to [0, 1]), so decoding (DICOM
// above all) and resizing happen once per image, not once per epoch. Key: source id (absolute path),
// file size and mtime, plus the preprocessing options; value: uint16 pixels (the values are already
// rounded to 1/65535 by preprocessCxr, so a cached image equals a fresh one exactly).
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { mkdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { decodeFile, DecodeError } from './decode.js';
import { syntheticImage, type DatasetDescriptor } from './datasets.js';
import { INV65535, preprocessCxr } from './preprocess.js';
import { unit16 } from './augment/native.js';

const MAGIC = 0x43414649; // 'IFAC'
const VERSION = 1;
const HEADER = 16;
const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface CacheKeyParts {
  id: string;
  size: number;
  mtimeMs: number;
  imageSize: number;
  clipPercentile: number;
}

/** Default cache folder: $IFA_SSL_CACHE, else $XDG_CACHE_HOME/ifa-ssl/cxr, else ~/.cache/ifa-ssl/cxr. */
export function defaultCacheDir(): string {
  if (process.env.IFA_SSL_CACHE) return process.env.IFA_SSL_CACHE;
  const base = process.env.XDG_CACHE_HOME || (homedir() ? join(homedir(), '.cache') : tmpdir());
  return join(base, 'ifa-ssl', 'cxr');
}

export class PreprocessCache {
  constructor(readonly dir: string) {}

  key(p: CacheKeyParts): string {
    return createHash('sha1')
      .update(JSON.stringify({ v: VERSION, id: p.id, size: p.size, mtime: p.mtimeMs, S: p.imageSize, q: p.clipPercentile }))
      .digest('hex');
  }

  file(key: string): string {
    return join(this.dir, key.slice(0, 2), `${key}.u16`);
  }

  private buf: Buffer = Buffer.alloc(0);

  /**
   * The cached S×S image, or null on a miss (a damaged entry counts as a miss). Synchronous on
   * purpose: it runs in a loader worker, where one 0.5 MB read beats two thread-pool hops.
   */
  read(key: string, size: number, into?: Float32Array): Float32Array | null {
    const buf = this.load(key, size);
    if (!buf) return null;
    const n = size * size;
    const out = into && into.length === n ? into : new Float32Array(n);
    // k · (1/65535), exactly as quantize16InPlace rounds (a table would miss the cache on noisy images).
    const u16 = (buf.byteOffset + HEADER) % 2 === 0 && isLittleEndian ? new Uint16Array(buf.buffer, buf.byteOffset + HEADER, n) : null;
    if (u16) unit16(u16, out);
    else for (let i = 0, o = HEADER; i < n; i++, o += 2) out[i] = (buf[o] | (buf[o + 1] << 8)) * INV65535;
    return out;
  }

  /** The cached S×S image as its 16-bit words k (the pixel is k/65535), into `into` (S² words). */
  readWords(key: string, size: number, into: Uint16Array): boolean {
    const buf = this.load(key, size);
    if (!buf) return false;
    const n = size * size;
    if (isLittleEndian) new Uint8Array(into.buffer, into.byteOffset, 2 * n).set(buf.subarray(HEADER, HEADER + 2 * n));
    else for (let i = 0, o = HEADER; i < n; i++, o += 2) into[i] = buf[o] | (buf[o + 1] << 8);
    return true;
  }

  /** The entry's bytes in this.buf (header checked), or null on a miss or a damaged entry. */
  private load(key: string, size: number): Buffer | null {
    const n = size * size, len = HEADER + 2 * n;
    let fd: number;
    try {
      fd = openSync(this.file(key), 'r');
    } catch {
      return null;
    }
    try {
      if (fstatSync(fd).size !== len) return null;
      if (this.buf.length < len) this.buf = Buffer.allocUnsafe(len);
      const buf = this.buf;
      let got = 0;
      while (got < len) {
        const r = readSync(fd, buf, got, len - got, got);
        if (r <= 0) return null;
        got += r;
      }
      if (buf.readUInt32LE(0) !== MAGIC || buf.readUInt32LE(4) !== VERSION || buf.readUInt32LE(8) !== size || buf.readUInt32LE(12) !== size) return null;
      return buf;
    } catch {
      return null;
    } finally {
      closeSync(fd);
    }
  }

  async write(key: string, size: number, data: Float32Array): Promise<void> {
    const n = size * size;
    const buf = Buffer.allocUnsafe(HEADER + 2 * n);
    buf.writeUInt32LE(MAGIC, 0);
    buf.writeUInt32LE(VERSION, 4);
    buf.writeUInt32LE(size, 8);
    buf.writeUInt32LE(size, 12);
    for (let i = 0, o = HEADER; i < n; i++, o += 2) {
      const v = Math.round(Math.min(1, Math.max(0, data[i])) * 65535);
      buf[o] = v & 0xff;
      buf[o + 1] = v >>> 8;
    }
    const f = this.file(key);
    const tmp = `${f}.${process.pid}.${threadId}.tmp`;
    try {
      await mkdir(join(this.dir, key.slice(0, 2)), { recursive: true });
      await writeFile(tmp, buf);
      await rename(tmp, f); // atomic: concurrent writers of one key leave one whole file
    } catch {
      await unlink(tmp).catch(() => {});
      // A cache that cannot be written only costs speed.
    }
  }
}

export interface SampleLoadOptions {
  imageSize: number;
  clipPercentile: number;
  cache: PreprocessCache | null;
}

export interface LoadedSample {
  data: Float32Array;
  cacheHit: boolean;
}

/** Sample i as its preprocessed S×S [0, 1] image: from the cache, else decoded, preprocessed and stored. */
/** into: an S×S buffer the cached pixels may be written to (saves an allocation per sample). */
export async function loadPreprocessed(desc: DatasetDescriptor, i: number, o: SampleLoadOptions, into?: Float32Array): Promise<LoadedSample> {
  const key = await cacheKeyOf(desc, i, o);
  if (o.cache) {
    const hit = o.cache.read(key, o.imageSize, into);
    if (hit) return { data: hit, cacheHit: true };
  }
  return { data: await preprocessAndStore(desc, i, o, key), cacheHit: false };
}

/**
 * Sample i as the 16-bit words of its preprocessed image (pixel = word/65535), into `into` (S²
 * words), for augmentation on a device: a cache hit is a copy of the file's words. Returns whether
 * it was a hit.
 */
export async function loadPreprocessedWords(desc: DatasetDescriptor, i: number, o: SampleLoadOptions, into: Uint16Array): Promise<boolean> {
  const key = await cacheKeyOf(desc, i, o);
  if (o.cache && o.cache.readWords(key, o.imageSize, into)) return true;
  const data = await preprocessAndStore(desc, i, o, key);
  // preprocessCxr rounds to multiples of 1/65535, so this recovers the words exactly.
  for (let k = 0; k < data.length; k++) into[k] = Math.round(data[k] * 65535);
  return false;
}

async function cacheKeyOf(desc: DatasetDescriptor, i: number, o: SampleLoadOptions): Promise<string> {
  let parts: CacheKeyParts;
  if (desc.kind === 'files') {
    const path = desc.paths[i];
    let st;
    try {
      st = await stat(path);
    } catch (e) {
      throw new DecodeError(`cannot read: ${(e as Error).message}`, path);
    }
    parts = { id: path, size: st.size, mtimeMs: st.mtimeMs, imageSize: o.imageSize, clipPercentile: o.clipPercentile };
  } else {
    parts = { id: syntheticId(desc, i), size: 0, mtimeMs: 0, imageSize: o.imageSize, clipPercentile: o.clipPercentile };
  }
  return o.cache ? o.cache.key(parts) : '';
}

function syntheticId(desc: Extract<DatasetDescriptor, { kind: 'synthetic' }>, i: number): string {
  return `synthetic:v1:${desc.seed}:${i}:${desc.width}x${desc.height}:${desc.noise}`;
}

/** Decodes and preprocesses sample i, and stores it in the cache under key (when there is one). */
async function preprocessAndStore(desc: DatasetDescriptor, i: number, o: SampleLoadOptions, key: string): Promise<Float32Array> {
  const raw = desc.kind === 'files' ? await decodeFile(desc.paths[i]) : syntheticImage(desc, i);
  let pre;
  try {
    pre = preprocessCxr(raw, { imageSize: o.imageSize, clipPercentile: o.clipPercentile });
  } catch (e) {
    throw new DecodeError((e as Error).message, desc.kind === 'files' ? desc.paths[i] : syntheticId(desc, i));
  }
  if (o.cache) await o.cache.write(key, o.imageSize, pre.data);
  return pre.data;
}
