// Hostile checkpoints (issue 16): a 1 KB .pth whose stride-0 views describe 2³⁰ elements each is
// refused by tensor name before anything is allocated, and a fuzz run of mutated safetensors, .pth and
// .pth.tar files (byte flips, truncations, size fields) only ever returns or throws an Error.
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, readPth, readSafetensors, serializeSafetensors } from '../src/index.js';
import { PTH_MAX_BYTES } from '../src/io/pth.js';
import { crc32 } from '../src/io/zip.js';
import { packageRoot } from '../src/native.js';
import { cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);

const root = mkdtempSync(join(tmpdir(), 'ifa-hostile-'));
const io = join(packageRoot(), 'test', 'fixtures', 'io');

/** A stored (uncompressed) zip of the given entries, as torch.save writes one. */
function zip(entries: [string, Uint8Array][]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const n = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(20, 4);
    h.writeUInt32LE(crc, 14);
    h.writeUInt32LE(data.length, 18);
    h.writeUInt32LE(data.length, 22);
    h.writeUInt16LE(n.length, 26);
    locals.push(h, n, Buffer.from(data));
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(data.length, 20);
    c.writeUInt32LE(data.length, 24);
    c.writeUInt16LE(n.length, 28);
    c.writeUInt32LE(offset, 42);
    central.push(c, n);
    offset += 30 + n.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** Pickle (protocol 2) of {name: _rebuild_tensor_v2(storage 0, 0, (2³⁰,), (0,), False, {})} for each name. */
function strideZeroPickle(names: string[], n: number | Buffer = 2 ** 30): Buffer {
  const u = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return Buffer.concat([Buffer.from('X'), len, b]);
  };
  const int = (v: number) => {
    const b = Buffer.alloc(5);
    b.write('J');
    b.writeInt32LE(v, 1);
    return b;
  };
  const parts: Buffer[] = [Buffer.from([0x80, 2]), Buffer.from('}(')];
  for (const name of names) {
    parts.push(u(name), Buffer.from('ctorch._utils\n_rebuild_tensor_v2\n('));
    parts.push(Buffer.from('('), u('storage'), Buffer.from('ctorch\nFloatStorage\n'), u('0'), u('cpu'), int(1), Buffer.from('tQ'));
    parts.push(int(0), Buffer.from('('), typeof n === 'number' ? int(n) : n, Buffer.from('t('), int(0), Buffer.from('t'), Buffer.from([0x89]), Buffer.from('}tR'));
  }
  parts.push(Buffer.from('u.'));
  return Buffer.concat(parts);
}

test('a 1 KB .pth of four stride-0 views of 2³⁰ elements is refused by name, without allocating', () => {
  const file = join(root, 'stride0.pth');
  const one = new Uint8Array(new Float32Array([1.5]).buffer);
  writeFileSync(file, zip([['archive/data.pkl', strideZeroPickle(['a.weight', 'b.weight', 'c.weight', 'd.weight'])], ['archive/data/0', one], ['archive/version', Buffer.from('3\n')]]));
  assert.ok(readFileSync(file).length < 1500);
  const rss0 = process.memoryUsage().rss;
  const t0 = Date.now();
  let msg = '';
  try {
    readPth(file);
  } catch (e) {
    msg = (e as Error).message;
  }
  assert.match(msg, /tensor a\.weight \(shape \[1073741824\], stride \[0\]\) would expand to 4294967296 bytes, past what the file's 4 bytes of storage allow/);
  assert.ok(Date.now() - t0 < 2000, 'refused at once');
  assert.ok(process.memoryUsage().rss - rss0 < 256 * 2 ** 20, 'nothing large was allocated');
  // A small stride-0 view (a legitimate expand) still loads.
  const small = join(root, 'small-expand.pth');
  writeFileSync(small, zip([['archive/data.pkl', strideZeroPickle(['x'], 5)], ['archive/data/0', one]]));
  const got = readPth(small) as Record<string, { shape: number[]; data: Float32Array }>;
  assert.equal(got.x.shape, [5]);
  assert.equal([...got.x.data], [1.5, 1.5, 1.5, 1.5, 1.5]);
});

test('a size that is a huge pickle int (BigInt) gives a message, not "Do not know how to serialize a BigInt"', () => {
  const file = join(root, 'bigint.pth');
  const long = Buffer.from([0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1]); // LONG1: 2⁶⁴
  writeFileSync(file, zip([['archive/data.pkl', strideZeroPickle(['w'], long)], ['archive/data/0', new Uint8Array(4)]]));
  let msg = '';
  try {
    readPth(file);
  } catch (e) {
    msg = (e as Error).message;
  }
  assert.match(msg, /size must be a tuple of non-negative integers, got \["18446744073709551616n"\]/);
  assert.match(msg, /bigint\.pth/);
  console.log(`  ${msg}`);
});

/** Deterministic mutations of a file: byte flips, truncations, and 8-byte size fields set to extremes. */
function* mutations(bytes: Buffer, count: number, seed: number): Generator<[string, Buffer]> {
  let s = seed >>> 0;
  const rand = (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
  for (let i = 0; i < count; i++) {
    const b = Buffer.from(bytes);
    const kind = i % 4;
    if (kind === 0) {
      const flips = 1 + rand(4);
      for (let f = 0; f < flips; f++) b[rand(b.length)] ^= 1 << rand(8);
      yield [`flip ${i}`, b];
    } else if (kind === 1) {
      yield [`truncate ${i}`, b.subarray(0, rand(b.length))];
    } else if (kind === 2) {
      // Little-endian size fields: safetensors' header length, zip's sizes and offsets, pickle lengths.
      const at = rand(Math.max(1, b.length - 8));
      const extremes = [0xffffffff, 0x7fffffff, 0x80000000, 0, 1, b.length, 2 ** 30];
      b.writeUInt32LE(extremes[rand(extremes.length)], at);
      yield [`size field ${i} at ${at}`, b];
    } else {
      // Digits in a JSON header or pickle text: shapes and offsets made huge or negative.
      const text = b.toString('latin1');
      const digits = [...text.matchAll(/\d+/g)];
      if (digits.length === 0) {
        yield [`noop ${i}`, b];
        continue;
      }
      const d = digits[rand(digits.length)];
      const repl = ['99999999999', '-1', '4294967296', '1e9', '0'][rand(5)];
      yield [`number ${i}`, Buffer.from(text.slice(0, d.index) + repl + text.slice(d.index! + d[0].length), 'latin1')];
    }
  }
}

test('fuzz: 1,200 mutated safetensors, .pth and .pth.tar files each return or throw an Error, quickly', () => {
  const st = serializeSafetensors(
    { 'conv1.weight': { shape: [4, 1, 3, 3], data: new Float32Array(36).map((_, i) => i / 7) }, 'bn1.num_batches_tracked': { shape: [], data: new BigInt64Array([3n]) } },
    { format: 'ifa-ssl-checkpoint-1', step: '3' },
  );
  const sources: [string, Buffer, (b: Buffer, f: string) => unknown][] = [
    ['safetensors', st, (b) => decodeSafetensors(b, 'fuzz')],
    ['small_state.pth', readFileSync(join(io, 'small_state.pth')), (b, f) => (writeFileSync(f, b), readPth(f))],
    ['moco.pth.tar', readFileSync(join(io, 'moco.pth.tar')), (b, f) => (writeFileSync(f, b), readPth(f))],
  ];
  assert.ok(existsSync(join(io, 'small_state.pth')));
  // The source files themselves load.
  readSafetensors(join(io, 'writer_golden.safetensors'));
  let returned = 0, threw = 0, slowest = 0;
  const rss0 = process.memoryUsage().rss;
  for (const [label, bytes, load] of sources) {
    const file = join(root, `fuzz-${label}`);
    for (const [what, b] of mutations(bytes, 400, label.length * 7919)) {
      const t0 = performance.now();
      try {
        load(b, file);
        returned++;
      } catch (e) {
        assert.ok(e instanceof Error, `${label} ${what}: threw a non-Error ${String(e)}`);
        assert.ok(e.message.length > 0, `${label} ${what}: an empty message`);
        assert.not.match(e.message, /serialize a BigInt|Invalid typed array length|Array buffer allocation failed/, `${label} ${what}: ${e.message}`);
        threw++;
      }
      const ms = performance.now() - t0;
      slowest = Math.max(slowest, ms);
      assert.ok(ms < 2000, `${label} ${what} took ${ms.toFixed(0)} ms`);
    }
  }
  assert.is(returned + threw, 1200);
  assert.ok(threw > 600, `most mutations are refused (${threw} threw, ${returned} returned)`);
  assert.ok(process.memoryUsage().rss - rss0 < 1024 * 2 ** 20, 'no mutation allocated past the cap');
  assert.ok(PTH_MAX_BYTES >= 2 ** 30);
  console.log(`  fuzz: ${threw} refused, ${returned} loaded, slowest ${slowest.toFixed(0)} ms`);
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
