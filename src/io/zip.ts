// A minimal zip reader for PyTorch's checkpoint archives: central directory (with the zip64 end
// records torch always writes, and zip64 sizes/offsets), stored and deflate entries, CRC-checked.
// Entries are read on demand with positional reads, so a large checkpoint is never held twice.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import * as zlib from 'node:zlib';

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  crc32: number;
  localHeaderOffset: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

let crcTable: Uint32Array | undefined;

/** CRC-32 (zip's polynomial). zlib.crc32 exists only from Node 20.15 on. */
export function crc32(bytes: Uint8Array): number {
  const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
  if (typeof native === 'function') return native(bytes) >>> 0;
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function u64(buf: Buffer, at: number, what: string, label: string): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`zip ${label}: ${what} ${v} is out of range`);
  return Number(v);
}

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  private fd: number;
  private readonly fileSize: number;

  private constructor(readonly path: string, fd: number) {
    this.fd = fd;
    this.fileSize = fstatSync(fd).size;
  }

  /** Opens path and reads its central directory; throws "not a zip archive" when there is none. */
  static open(path: string): ZipArchive {
    const fd = openSync(path, 'r');
    const zip = new ZipArchive(path, fd);
    try {
      zip.readDirectory();
    } catch (err) {
      zip.close();
      throw err;
    }
    return zip;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private fail(msg: string): never {
    throw new Error(`zip ${this.path}: ${msg}`);
  }

  private readAt(position: number, length: number): Buffer {
    if (position < 0 || length < 0 || position + length > this.fileSize) {
      this.fail(`record at ${position} (+${length} bytes) lies outside the ${this.fileSize}-byte file (truncated or corrupt)`);
    }
    if (length > bufferConstants.MAX_LENGTH) this.fail(`an entry of ${length} bytes is larger than this Node can hold in one buffer`);
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, done, length - done, position + done);
      if (n === 0) this.fail(`unexpected end of file at ${position + done}`);
      done += n;
    }
    return buf;
  }

  private readDirectory(): void {
    const tailLen = Math.min(this.fileSize, 22 + 0xffff);
    const tail = this.readAt(this.fileSize - tailLen, tailLen);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD && i + 22 + tail.readUInt16LE(i + 20) <= tail.length) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) this.fail('not a zip archive (no end-of-central-directory record)');
    const diskNumber = tail.readUInt16LE(eocd + 4);
    const cdDisk = tail.readUInt16LE(eocd + 6);
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    const eocdPos = this.fileSize - tailLen + eocd;

    // torch writes the zip64 end records even for small files; when present they are authoritative.
    if (eocdPos >= 20) {
      const locator = this.readAt(eocdPos - 20, 20);
      if (locator.readUInt32LE(0) === ZIP64_LOCATOR) {
        if (locator.readUInt32LE(4) !== 0 || locator.readUInt32LE(16) > 1) this.fail('multi-disk (split) archives are not supported');
        const at = u64(locator, 8, 'zip64 end record offset', this.path);
        const rec = this.readAt(at, 56);
        if (rec.readUInt32LE(0) !== ZIP64_EOCD) this.fail('zip64 locator points at no zip64 end record (corrupt)');
        count = u64(rec, 32, 'entry count', this.path);
        cdSize = u64(rec, 40, 'central directory size', this.path);
        cdOffset = u64(rec, 48, 'central directory offset', this.path);
      } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
        this.fail('zip64 end-of-central-directory locator missing (corrupt)');
      }
    }
    if (diskNumber !== 0 || cdDisk !== 0) this.fail('multi-disk (split) archives are not supported');
    if (count * 46 > cdSize) this.fail(`central directory of ${cdSize} bytes cannot hold ${count} entries (corrupt)`);
    const cd = this.readAt(cdOffset, cdSize);

    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL) this.fail(`central directory entry ${i} is corrupt`);
      const flags = cd.readUInt16LE(p + 8);
      const method = cd.readUInt16LE(p + 10);
      const crc = cd.readUInt32LE(p + 16);
      let compressedSize = cd.readUInt32LE(p + 20);
      let size = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      let localHeaderOffset = cd.readUInt32LE(p + 42);
      const end = p + 46 + nameLen + extraLen + commentLen;
      if (end > cd.length) this.fail(`central directory entry ${i} runs past the directory (corrupt)`);
      const rawName = cd.subarray(p + 46, p + 46 + nameLen);
      const name = rawName.toString(flags & 0x800 ? 'utf8' : 'latin1');
      // zip64 extended information: 64-bit values for exactly the fields saturated above, in order.
      if (size === 0xffffffff || compressedSize === 0xffffffff || localHeaderOffset === 0xffffffff) {
        let e = p + 46 + nameLen;
        const extraEnd = e + extraLen;
        let found = false;
        while (e + 4 <= extraEnd) {
          const id = cd.readUInt16LE(e);
          const len = cd.readUInt16LE(e + 2);
          if (id === 0x0001) {
            let q = e + 4;
            const need = (size === 0xffffffff ? 8 : 0) + (compressedSize === 0xffffffff ? 8 : 0) + (localHeaderOffset === 0xffffffff ? 8 : 0);
            if (len < need) this.fail(`entry "${name}": zip64 extra field too short (corrupt)`);
            if (size === 0xffffffff) (size = u64(cd, q, 'entry size', this.path)), (q += 8);
            if (compressedSize === 0xffffffff) (compressedSize = u64(cd, q, 'entry size', this.path)), (q += 8);
            if (localHeaderOffset === 0xffffffff) localHeaderOffset = u64(cd, q, 'entry offset', this.path);
            found = true;
            break;
          }
          e += 4 + len;
        }
        if (!found) this.fail(`entry "${name}": sizes need a zip64 extra field, none found (corrupt)`);
      }
      if (this.entries.has(name)) this.fail(`entry "${name}" appears twice (ambiguous archive refused)`);
      this.entries.set(name, { name, method, flags, compressedSize, size, crc32: crc, localHeaderOffset });
      p = end;
    }
  }

  /** The uncompressed bytes of an entry, CRC-checked. */
  read(name: string): Buffer {
    const entry = this.entries.get(name);
    if (!entry) this.fail(`no entry "${name}"`);
    if (entry.flags & 0x1) this.fail(`entry "${name}" is encrypted`);
    const local = this.readAt(entry.localHeaderOffset, 30);
    if (local.readUInt32LE(0) !== LOCAL) this.fail(`entry "${name}": no local header at ${entry.localHeaderOffset} (corrupt)`);
    const dataStart = entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    const raw = this.readAt(dataStart, entry.compressedSize);
    let data: Buffer;
    if (entry.method === 0) {
      if (entry.compressedSize !== entry.size) this.fail(`stored entry "${name}" has different sizes (${entry.compressedSize} vs ${entry.size})`);
      data = raw;
    } else if (entry.method === 8) {
      try {
        data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
      } catch (err) {
        this.fail(`entry "${name}": deflate data is corrupt (${(err as Error).message})`);
      }
      if (data.length !== entry.size) this.fail(`entry "${name}" inflates to ${data.length} bytes, expected ${entry.size}`);
    } else {
      this.fail(`entry "${name}" uses compression method ${entry.method}; only stored (0) and deflate (8) are supported`);
    }
    const actual = crc32(data);
    if (actual !== entry.crc32) this.fail(`entry "${name}" fails its CRC check (corrupt file)`);
    return data;
  }
}
