// Checkpoint I/O (src/io): safetensors round trips, atomic writes and corrupt-file errors; PyTorch
// .pth import against fixtures from test/fixtures/make_io_fixtures.py (torch 1.13), MoCo prefixes,
// the restricted unpickler's refusals, the zip reader, and the OIHW ↔ OHWI conversion.
// Pure TypeScript: no addon and no Python needed.
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type SafetensorsInput,
  type TensorRecord,
  compareKeys,
  decodeSafetensors,
  extractStateDict,
  extractStateDictReport,
  ohwiToOihw,
  oihwToOhwi,
  readPth,
  readSafetensors,
  readSafetensorsAsync,
  serializeSafetensors,
  writeSafetensors,
  writeSafetensorsAsync,
} from '../src/io/index.js';
import { unpickle } from '../src/io/pickle.js';
import { dtypeOfData } from '../src/io/types.js';
import { ALLOWED_GLOBALS } from '../src/io/pth.js';
import { ZipArchive } from '../src/io/zip.js';
import { cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);

// ---- helpers ---------------------------------------------------------------------------------

/** test/fixtures/io, found above the compiled test (dist/test) or else from the working directory. */
function fixturesDir(): string {
  for (const start of [dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    let dir = start;
    for (let i = 0; i < 6; i++) {
      const candidate = join(dir, 'test', 'fixtures', 'io');
      if (existsSync(join(candidate, 'small_state.pth'))) return candidate;
      dir = dirname(dir);
    }
  }
  throw new Error('cannot find test/fixtures/io (run the tests from the repository root)');
}
const FX = fixturesDir();
const fx = (name: string): string => join(FX, name);
const fxJson = <T>(name: string): T => JSON.parse(readFileSync(fx(name), 'utf8')) as T;
const tempDir = (): string => mkdtempSync(join(tmpdir(), 'ifa-io-'));

/** Fixture JSON stores int64 as decimal strings. */
interface Expected {
  dtype: string;
  shape: number[];
  data: (number | string)[];
}

function values(r: TensorRecord): (number | string)[] {
  return r.data instanceof BigInt64Array ? Array.from(r.data, (v) => v.toString()) : Array.from(r.data as ArrayLike<number>);
}

function assertRecord(actual: unknown, expected: Expected, what: string): void {
  const r = actual as TensorRecord;
  assert.ok(r && typeof r === 'object', `${what}: missing`);
  assert.is(r.dtype, expected.dtype, `${what}: dtype`);
  assert.equal(r.shape, expected.shape, `${what}: shape`);
  assert.equal(values(r), expected.data, `${what}: values`);
}

function assertSame(actual: TensorRecord, expected: TensorRecord, what: string): void {
  assert.is(actual.dtype, expected.dtype, `${what}: dtype`);
  assert.equal(actual.shape, expected.shape, `${what}: shape`);
  assert.is(actual.data.constructor, expected.data.constructor, `${what}: array type`);
  assert.equal(values(actual), values(expected), `${what}: values`);
}

function throwsWith(fn: () => unknown, re: RegExp, what: string): void {
  try {
    fn();
  } catch (err) {
    assert.match((err as Error).message, re, `${what}: wrong message`);
    return;
  }
  assert.unreachable(`${what}: did not throw`);
}

async function rejectsWith(p: Promise<unknown>, re: RegExp, what: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    assert.match((err as Error).message, re, `${what}: wrong message`);
    return;
  }
  assert.unreachable(`${what}: did not reject`);
}

function sampleTensors(): Record<string, SafetensorsInput> {
  return {
    'conv1.weight': { shape: [2, 1, 3, 3], data: Float32Array.from({ length: 18 }, (_, i) => i * 0.25 - 2) },
    'bn1.num_batches_tracked': { shape: [], data: new BigInt64Array([123456789012345n]) },
    'steps': { shape: [3], data: new BigInt64Array([-1n, 0n, 2n ** 62n]) },
    'f64': { shape: [2], data: new Float64Array([0.1, -1e300]) },
    'i32': { shape: [2, 2], data: new Int32Array([1, -2, 2 ** 31 - 1, -(2 ** 31)]) },
    'i16': { shape: [1], data: new Int16Array([-300]) },
    'i8': { shape: [2], data: new Int8Array([-128, 127]) },
    'u8': { shape: [2], data: new Uint8Array([0, 255]) },
    'mask': { shape: [3], data: new Uint8Array([1, 0, 1]), dtype: 'BOOL' },
    'empty': { shape: [0, 4], data: new Float32Array(0) },
    'scalar': { shape: [], data: new Float32Array([Math.PI]) },
    'queue': { shape: [3, 2], data: new Float32Array([NaN, Infinity, -0, 1e-40, -3.5, 7]) },
  };
}

const sampleMetadata = { format: 'pt', config: JSON.stringify({ method: 'moco', ifa: [{ block: 3 }] }), note: 'ünïcödé "q" \n', __proto__x: 'y' };

function assertRoundTrip(back: { tensors: Record<string, TensorRecord>; metadata: Record<string, string> }): void {
  const src = sampleTensors();
  assert.equal(Object.keys(back.tensors).sort(), Object.keys(src).sort());
  for (const [name, t] of Object.entries(src)) {
    const got = back.tensors[name];
    assert.is(got.dtype, t.dtype ?? dtypeOfData(t.data), `${name}: dtype`);
    assert.equal(got.shape, [...t.shape], `${name}: shape`);
    assert.is(got.data.constructor, t.data.constructor, `${name}: array type`);
    assert.ok(Object.is(got.data.length, t.data.length));
    for (let i = 0; i < t.data.length; i++) assert.ok(Object.is(got.data[i], t.data[i]), `${name}[${i}]: ${got.data[i]} vs ${t.data[i]}`);
  }
  assert.equal(back.metadata, sampleMetadata);
}

/** A safetensors byte string from a header object (or raw header text) and data bytes. */
function stBytes(header: unknown, data: Uint8Array = new Uint8Array(0), rawHeader?: string): Buffer {
  let json = Buffer.from(rawHeader ?? JSON.stringify(header), 'utf8');
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

// ---- safetensors -----------------------------------------------------------------------------

test('safetensors: round trip of values, shapes, dtypes (I64, BOOL…), metadata', () => {
  const dir = tempDir();
  const path = join(dir, 'ckpt.safetensors');
  writeSafetensors(path, sampleTensors(), sampleMetadata);
  assertRoundTrip(readSafetensors(path));
  assert.equal(readdirSync(dir), ['ckpt.safetensors'], 'no temp file left');
  // Header layout: 8-byte LE length, header padded with spaces to 8 bytes, data right after.
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  assert.is(n % 8, 0);
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { data_offsets: number[] }>;
  assert.is(header['conv1.weight'].data_offsets[1] - header['conv1.weight'].data_offsets[0], 18 * 4);
  rmSync(dir, { recursive: true });
});

test('safetensors: async write and read round trip, overwriting an existing file', async () => {
  const dir = tempDir();
  const path = join(dir, 'ckpt.safetensors');
  writeFileSync(path, 'old contents');
  await writeSafetensorsAsync(path, sampleTensors(), sampleMetadata);
  assertRoundTrip(await readSafetensorsAsync(path));
  assert.equal(readdirSync(dir), ['ckpt.safetensors']);
  rmSync(dir, { recursive: true });
});

test('safetensors: our writer produces exactly the bytes the independent Python builder made', () => {
  const golden = fxJson<{ metadata: Record<string, string>; entries: { name: string; dtype: string; shape: number[]; data: (number | string)[] }[] }>('writer_golden.json');
  const tensors: Record<string, SafetensorsInput> = {};
  for (const e of golden.entries) {
    const data =
      e.dtype === 'F32' ? Float32Array.from(e.data as number[])
      : e.dtype === 'F64' ? Float64Array.from(e.data as number[])
      : e.dtype === 'I32' ? Int32Array.from(e.data as number[])
      : e.dtype === 'I64' ? BigInt64Array.from(e.data as string[], (s) => BigInt(s))
      : assert.unreachable(`dtype ${e.dtype}`);
    tensors[e.name] = { shape: e.shape, data: data as Float32Array };
  }
  const expected = readFileSync(fx('writer_golden.safetensors'));
  assert.ok(serializeSafetensors(tensors, golden.metadata).equals(expected), 'in-memory bytes differ from writer_golden.safetensors');
  const dir = tempDir();
  writeSafetensors(join(dir, 'x.safetensors'), tensors, golden.metadata);
  assert.ok(readFileSync(join(dir, 'x.safetensors')).equals(expected), 'file bytes differ from writer_golden.safetensors');
  rmSync(dir, { recursive: true });
});

test('safetensors: reads a file written independently by plain Python (struct/json/numpy)', () => {
  const want = fxJson<{ metadata: Record<string, string>; tensors: Record<string, Expected> }>('python_written.json');
  const got = readSafetensors(fx('python_written.safetensors'));
  assert.equal(got.metadata, want.metadata);
  assert.equal(Object.keys(got.tensors).sort(), Object.keys(want.tensors).sort());
  for (const [name, e] of Object.entries(want.tensors)) assertRecord(got.tensors[name], e, name);
});

test('safetensors: a write that fails validation leaves the target untouched and no temp file', async () => {
  const dir = tempDir();
  const path = join(dir, 'ckpt.safetensors');
  writeFileSync(path, 'previous checkpoint');
  const bad = { ...sampleTensors(), 'layer1.0.conv1.weight': { shape: [2, 3], data: new Float32Array(5) } };
  throwsWith(() => writeSafetensors(path, bad), /ckpt\.safetensors: tensor "layer1\.0\.conv1\.weight": 5 values do not fill shape \[2,3\] \(6\)/, 'sync');
  await rejectsWith(writeSafetensorsAsync(path, bad), /5 values do not fill shape \[2,3\]/, 'async');
  throwsWith(() => writeSafetensors(path, { a: { shape: [1], data: new Float32Array(1) } }, { epoch: 3 as unknown as string }), /metadata "epoch" must be a string/, 'metadata');
  throwsWith(() => writeSafetensors(path, { __metadata__: { shape: [1], data: new Float32Array(1) } }), /"__metadata__" is reserved/, 'reserved name');
  throwsWith(() => writeSafetensors(path, { m: { shape: [1], data: new Uint8Array([2]), dtype: 'BOOL' } }), /tensor "m": BOOL data must hold only 0 and 1/, 'bool');
  throwsWith(() => writeSafetensors(path, { m: { shape: [1], data: new Float32Array(1), dtype: 'I32' } }), /tensor "m": dtype I32 does not match its Float32Array/, 'dtype');
  throwsWith(() => writeSafetensors(path, { m: { shape: [-1], data: new Float32Array(1) } }), /tensor "m": shape must be an array of non-negative integers/, 'shape');
  throwsWith(() => writeSafetensors(path, { m: { shape: [1], data: [1] as unknown as Float32Array } }), /tensor "m": data must be a Float32Array/, 'data');
  assert.is(readFileSync(path, 'utf8'), 'previous checkpoint');
  assert.equal(readdirSync(dir), ['ckpt.safetensors']);
  rmSync(dir, { recursive: true });
});

test('safetensors: a write that fails after the temp file is written (rename onto a directory) cleans up', async () => {
  const dir = tempDir();
  const target = join(dir, 'taken');
  mkdirSync(target);
  writeFileSync(join(target, 'inside'), 'x');
  throwsWith(() => writeSafetensors(target, sampleTensors()), /safetensors .*taken: write failed/, 'sync');
  await rejectsWith(writeSafetensorsAsync(target, sampleTensors()), /safetensors .*taken: write failed/, 'async');
  assert.equal(readdirSync(dir), ['taken'], 'no temp file next to the target');
  assert.equal(readdirSync(target), ['inside'], 'the directory is untouched');
  // A missing directory fails before anything is created.
  throwsWith(() => writeSafetensors(join(dir, 'nope', 'x.safetensors'), sampleTensors()), /nope.x\.safetensors: write failed/, 'missing dir');
  rmSync(dir, { recursive: true });
});

test('safetensors: corrupt files are rejected with messages naming the file and the tensor', () => {
  const good = { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] };
  const data = new Uint8Array(24);
  const cases: [string, Uint8Array, RegExp][] = [
    ['too short', new Uint8Array(5), /5 bytes is too short/],
    ['huge header length', (() => { const b = stBytes({ w: good }, data); b.writeBigUInt64LE(1n << 40n); return b; })(), /header length 1099511627776 is impossible/],
    ['header past the end', (() => { const b = stBytes({ w: good }, data); b.writeBigUInt64LE(BigInt(b.length)); return b; })(), /header length \d+ is impossible for a file of/],
    ['not JSON', stBytes(null, data, '{"w": {'), /header is not valid JSON/],
    ['not an object', stBytes(null, data, '[1,2]'), /does not start with "\{"/],
    ['unknown dtype', stBytes({ w: { ...good, dtype: 'F8' } }, data), /tensor "w": unknown dtype "F8"/],
    ['bad shape', stBytes({ w: { ...good, shape: [2, -3] } }, data), /tensor "w": shape must be an array of non-negative integers/],
    ['size mismatch', stBytes({ w: { ...good, shape: [2, 2] } }, data), /tensor "w": shape \[2,2\] of F32 needs 16 bytes but data_offsets \[0, 24\] hold 24/],
    ['offsets out of range', stBytes({ w: { ...good, data_offsets: [8, 32] } }, data), /tensor "w": data_offsets \[8, 32\] out of range of the 24 data bytes/],
    ['bad offsets', stBytes({ w: { ...good, data_offsets: [0] } }, data), /tensor "w": data_offsets must be \[begin, end\]/],
    ['overlap', stBytes({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, data), /tensor "b": data overlaps tensor "a"/],
    ['gap', stBytes({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [16, 24] } }, data), /tensor "b": 8 unused bytes before its data/],
    ['trailing bytes', stBytes({ w: good }, new Uint8Array(28)), /4 bytes after the last tensor's data/],
    ['truncated data', stBytes({ w: good }, new Uint8Array(20)), /tensor "w": data_offsets \[0, 24\] out of range of the 20 data bytes/],
    ['metadata not strings', stBytes({ __metadata__: { epoch: 3 }, w: good }, data), /metadata "epoch" is a number, not a string/],
    ['entry not an object', stBytes({ w: 3 }, data), /tensor "w": entry must be \{dtype, shape, data_offsets\}/],
  ];
  const dir = tempDir();
  for (const [what, bytes, re] of cases) {
    throwsWith(() => decodeSafetensors(bytes, 'mem.safetensors'), re, what);
    const path = join(dir, 'corrupt.safetensors');
    writeFileSync(path, bytes);
    throwsWith(() => readSafetensors(path), new RegExp(`^safetensors ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `), `${what} (file named)`);
  }
  rmSync(dir, { recursive: true });
  // Valid edge cases: empty file body, F16/BF16 (widened to F32), "__proto__" as a tensor name.
  assert.equal(decodeSafetensors(stBytes({})).tensors, {});
  const half = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3f80, 0xc040]).buffer);
  const st = decodeSafetensors(stBytes(null, half, '{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"__proto__":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}}'));
  assert.equal(values(st.tensors.h), [1, -2]);
  assert.ok(Object.prototype.hasOwnProperty.call(st.tensors, '__proto__'));
  assert.equal(values(Object.getOwnPropertyDescriptor(st.tensors, '__proto__')!.value as TensorRecord), [1, -3]);
});

// ---- .pth import ------------------------------------------------------------------------------

interface StateFixture {
  keys: string[];
  tensors: Record<string, Expected>;
}

test('pth: torch.save state dict equals the values PyTorch recorded (strides, offsets, dtypes)', () => {
  const want = fxJson<StateFixture>('small_state.json');
  const got = readPth(fx('small_state.pth')) as Record<string, TensorRecord>;
  assert.equal(Object.keys(got), want.keys, 'keys in checkpoint order');
  for (const k of want.keys) assertRecord(got[k], want.tensors[k], k);
  // Independent of the JSON: views of one storage.
  const base = values(got['extra.base']) as number[];
  assert.equal(values(got['extra.view']), base.slice(5, 17));
  assert.equal(values(got['extra.strided']), base.filter((_, i) => i % 3 === 1));
  assert.equal(values(got['extra.expanded']), [1.5, 2.5, 1.5, 2.5, 1.5, 2.5]);
  assert.equal(got['bn1.num_batches_tracked'], { dtype: 'I64', shape: [], data: new BigInt64Array([2n]) });
  assert.equal(got['extra.i64'].data, new BigInt64Array([2n ** 40n + 7n, -3n]));
  assert.is(got['extra.f64'].data.constructor, Float32Array, 'float64 narrowed to float32');
});

test('pth: deflate-compressed entries read the same as stored ones', () => {
  const a = readPth(fx('small_state.pth')) as Record<string, TensorRecord>;
  const b = readPth(fx('small_state_deflate.pth')) as Record<string, TensorRecord>;
  assert.equal(Object.keys(b), Object.keys(a));
  for (const k of Object.keys(a)) assertSame(b[k], a[k], k);
});

interface MocoFixture extends StateFixture {
  epoch: number;
  arch: string;
  param_groups: Record<string, unknown>[];
  momentum_state: Record<string, Expected>;
}

test('pth: MoCo .pth.tar — wrapper, module.encoder_q. prefix, dropped keys, optimizer state', () => {
  const want = fxJson<MocoFixture>('moco.json');
  const ck = readPth(fx('moco.pth.tar')) as { epoch: number; arch: string; state_dict: Record<string, TensorRecord>; optimizer: { state: Record<string, { momentum_buffer: TensorRecord }>; param_groups: unknown[] } };
  assert.equal(Object.keys(ck), ['epoch', 'arch', 'state_dict', 'optimizer']);
  assert.is(ck.epoch, 200);
  assert.is(ck.arch, 'resnet50');
  assert.equal(Object.keys(ck.state_dict), want.keys);
  for (const k of want.keys) assertRecord(ck.state_dict[k], want.tensors[k], k);
  assert.equal(ck.optimizer.param_groups, want.param_groups);
  assert.equal(Object.keys(ck.optimizer.state), Object.keys(want.momentum_state));
  for (const [i, e] of Object.entries(want.momentum_state)) assertRecord(ck.optimizer.state[i].momentum_buffer, e, `momentum ${i}`);

  const report = extractStateDictReport(ck);
  assert.is(report.wrapper, 'state_dict');
  assert.is(report.prefix, 'module.encoder_q.');
  const qKeys = want.keys.filter((k) => k.startsWith('module.encoder_q.'));
  assert.equal(Object.keys(report.stateDict), qKeys.map((k) => k.slice('module.encoder_q.'.length)));
  assert.equal(report.dropped, want.keys.filter((k) => !k.startsWith('module.encoder_q.')));
  assert.ok(report.dropped.includes('module.queue') && report.dropped.includes('module.queue_ptr'));
  for (const k of qKeys) assertRecord(report.stateDict[k.slice('module.encoder_q.'.length)], want.tensors[k], k);
  assert.equal(Object.keys(extractStateDict(ck)), Object.keys(report.stateDict));

  // The key encoder on request.
  const k = extractStateDictReport(ck, { prefix: 'module.encoder_k.' });
  assert.equal(Object.keys(k.stateDict), Object.keys(report.stateDict));
  assertRecord(k.stateDict['conv1.weight'], want.tensors['module.encoder_k.conv1.weight'], 'encoder_k conv1');

  // Missing / unexpected against a model with a linear head and a layer1 the checkpoint lacks.
  const modelKeys = ['conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked', 'layer1.0.conv1.weight', 'fc.weight', 'fc.bias'];
  assert.equal(compareKeys(modelKeys, Object.keys(report.stateDict)), {
    missing: ['layer1.0.conv1.weight', 'fc.weight', 'fc.bias'],
    unexpected: ['fc.0.weight', 'fc.0.bias', 'fc.2.weight', 'fc.2.bias'],
  });
});

test('pth: extractStateDict accepts a plain state dict and strips a DataParallel "module." prefix', () => {
  const plain = readPth(fx('small_state.pth')) as Record<string, TensorRecord>;
  const r = extractStateDictReport(plain);
  assert.is(r.wrapper, '');
  assert.is(r.prefix, '');
  assert.equal(r.dropped, []);
  assert.equal(Object.keys(r.stateDict), Object.keys(plain));
  const w = plain['conv1.weight'];
  const dp = extractStateDictReport({ state_dict: { 'module.conv1.weight': w, 'module.fc.bias': plain['fc.bias'] }, epoch: 3 });
  assert.is(dp.prefix, 'module.');
  assert.equal(Object.keys(dp.stateDict), ['conv1.weight', 'fc.bias']);
  assert.is(dp.stateDict['conv1.weight'], w);
  // Non-tensor entries are reported, not returned.
  const mixed = extractStateDictReport({ 'a.weight': w, note: 'x' });
  assert.equal(Object.keys(mixed.stateDict), ['a.weight']);
  assert.equal(mixed.dropped, ['note']);
  throwsWith(() => extractStateDict({ epoch: 1, arch: 'resnet50' }), /no tensors found.*keys: epoch, arch/, 'no tensors');
  throwsWith(() => extractStateDict([1, 2]), /expected a state dict/, 'array');
  throwsWith(() => extractStateDict({ 'a.weight': w }, { prefix: 'module.' }), /no tensors under prefix "module\."/, 'wrong prefix');
  assert.equal(compareKeys(['a', 'b'], ['b', 'a']), { missing: [], unexpected: [] });
});

test('pth: malicious pickles are refused, naming the global, and run nothing', () => {
  const marker = '/tmp/ifa-ssl-pwned';
  rmSync(marker, { force: true });
  throwsWith(() => readPth(fx('malicious_os_system.pth')), /malicious_os_system\.pth: refusing to unpickle global os\.system: only state dicts of tensors are supported/, 'os.system');
  throwsWith(() => readPth(fx('malicious_nested.pth')), /malicious_nested\.pth: refusing to unpickle global __builtin__\.exec/, 'nested exec');
  assert.not.ok(existsSync(marker), 'nothing was executed');
});

test('pth: zip-level errors — not a checkpoint, legacy format, corrupt data (CRC)', () => {
  const dir = tempDir();
  const junk = join(dir, 'junk.pth');
  writeFileSync(junk, Buffer.from('this is not a zip file at all, just text'));
  throwsWith(() => readPth(junk), /junk\.pth: not a PyTorch checkpoint/, 'junk');
  const legacy = join(dir, 'legacy.pth');
  writeFileSync(legacy, Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]));
  throwsWith(() => readPth(legacy), /legacy torch\.save format .* re-save it with torch >= 1\.6/, 'legacy');
  const truncated = join(dir, 'truncated.pth');
  const whole = readFileSync(fx('small_state.pth'));
  writeFileSync(truncated, whole.subarray(0, whole.length - 30));
  throwsWith(() => readPth(truncated), /truncated\.pth/, 'truncated');

  const corrupt = join(dir, 'corrupt.pth');
  copyFileSync(fx('small_state.pth'), corrupt);
  const zip = ZipArchive.open(corrupt);
  const entry = zip.entries.get('small_state/data/0')!;
  zip.close();
  const bytes = readFileSync(corrupt);
  const dataAt = entry.localHeaderOffset + 30 + bytes.readUInt16LE(entry.localHeaderOffset + 26) + bytes.readUInt16LE(entry.localHeaderOffset + 28);
  bytes[dataAt] ^= 0xff;
  writeFileSync(corrupt, bytes);
  throwsWith(() => readPth(corrupt), /entry "small_state\/data\/0" fails its CRC check/, 'crc');
  rmSync(dir, { recursive: true });
});

// ---- the unpickler on hand-assembled pickles ----------------------------------------------------

function pk(...parts: (number | string | number[] | Uint8Array)[]): Uint8Array {
  const bytes: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') bytes.push(p);
    else if (typeof p === 'string') bytes.push(...Buffer.from(p, 'latin1'));
    else bytes.push(...p);
  }
  return new Uint8Array(bytes);
}
const le32 = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
const str = (s: string): number[] => { const b = [...Buffer.from(s, 'utf8')]; return [0x58, ...le32(b.length), ...b]; };
const short = (s: string): number[] => { const b = [...Buffer.from(s, 'utf8')]; return [0x8c, b.length, ...b]; };
const run = (bytes: Uint8Array): unknown => unpickle(bytes, { label: 'test.pkl', globals: ALLOWED_GLOBALS });

test('unpickler: containers and scalars of protocol 2', () => {
  const f = Buffer.alloc(8);
  f.writeDoubleBE(2.5);
  const big = [0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x40]; // LONG1: 2^70
  const neg = [0x8a, 2, 0x00, 0xff]; // LONG1: -256
  const obj = run(pk(0x80, 2, '}', 'q', 0, '(',
    str('a'), ']', '(', 'K', 1, 'G', [...f], 0x88, 0x89, 'N', str('ü'), big, neg, 'e',
    str('t'), 'J', le32(-5), 'M', 0x2c, 0x01, 'K', 7, 0x87,
    str('n'), '}', 'K', 3, str('three'), 's', 'J', le32(0), 'N', 's',
    str('memo'), 'h', 0,
    'u', '.'));
  const o = obj as Record<string, unknown>;
  assert.equal(o.a, [1, 2.5, true, false, null, 'ü', 2n ** 70n, -256]);
  assert.equal(o.t, [-5, 300, 7]);
  assert.ok(Object.isFrozen(o.t), 'tuples are frozen');
  assert.equal(o.n, { 3: 'three', 0: null });
  assert.is(o.memo, obj, 'BINGET returns the memoised object');
});

test('unpickler: protocol 4 framing, STACK_GLOBAL and MEMOIZE for an allow-listed OrderedDict', () => {
  const obj = run(pk(0x80, 4, 0x95, [40, 0, 0, 0, 0, 0, 0, 0], short('collections'), 0x94, short('OrderedDict'), 0x94, 0x93, 0x94,
    ')', 'R', 0x94, short('k'), 'K', 3, 's', '}', 'b', '.'));
  assert.equal(obj, { k: 3 });
});

test('unpickler: "__proto__" keys become own properties, not prototypes', () => {
  const obj = run(pk(0x80, 2, '}', str('__proto__'), '}', str('polluted'), 0x88, 's', 's', '.')) as Record<string, unknown>;
  assert.is(Object.getPrototypeOf(obj), Object.prototype);
  assert.ok(Object.prototype.hasOwnProperty.call(obj, '__proto__'));
  assert.is(({} as Record<string, unknown>).polluted, undefined);
});

test('unpickler: refuses everything outside state dicts, naming the opcode or global', () => {
  const refusals: [string, Uint8Array, RegExp][] = [
    ['GLOBAL builtins.eval', pk(0x80, 2, 'c', 'builtins\neval\n', str('1'), 0x85, 'R', '.'), /refusing to unpickle global builtins\.eval: only state dicts of tensors are supported/],
    ['a full nn.Module', pk(0x80, 2, 'c', 'torch.nn.modules.conv\nConv2d\n', '.'), /refusing to unpickle global torch\.nn\.modules\.conv\.Conv2d/],
    ['STACK_GLOBAL os.system', pk(0x80, 4, short('os'), short('system'), 0x93, '.'), /refusing to unpickle global os\.system/],
    ['INST', pk(0x80, 2, '(', 'i', 'os\nsystem\n', '.'), /refusing to unpickle opcode INST \(0x69\)/],
    ['OBJ', pk(0x80, 2, '(', 'o', '.'), /refusing to unpickle opcode OBJ \(0x6f\)/],
    ['NEWOBJ', pk(0x80, 2, 0x81, '.'), /refusing to unpickle opcode NEWOBJ \(0x81\)/],
    ['EXT1', pk(0x80, 2, 0x82, 1, '.'), /refusing to unpickle opcode EXT1/],
    ['BINBYTES', pk(0x80, 3, 'B', le32(1), 'x', '.'), /refusing to unpickle opcode BINBYTES/],
    ['protocol 0 INT', pk('I1\n.'), /refusing to unpickle opcode INT/],
    ['unknown opcode', pk(0x80, 2, 0xff), /refusing to unpickle opcode unknown \(0xff\)/],
    ['calling a storage class', pk(0x80, 2, 'c', 'torch\nFloatStorage\n', ')', 'R', '.'), /refusing to unpickle a call to torch\.FloatStorage/],
    ['calling a string', pk(0x80, 2, str('os.system'), ')', 'R', '.'), /refusing to unpickle a call to string/],
    ['BUILD on a dict', pk(0x80, 2, '}', '}', 'b', '.'), /refusing to unpickle BUILD on dict/],
    ['persistent id outside an archive', pk(0x80, 2, str('x'), 'Q', '.'), /refusing to unpickle a persistent id/],
  ];
  for (const [what, bytes, re] of refusals) throwsWith(() => run(bytes), re, what);
  const corrupt: [string, Uint8Array, RegExp][] = [
    ['truncated string', pk(0x80, 2, 'X', le32(100), 'ab'), /test\.pkl: pickle ends unexpectedly/],
    ['no STOP', pk(0x80, 2, '}'), /pickle ends unexpectedly/],
    ['empty stack', pk(0x80, 2, '.'), /stack underflow/],
    ['missing memo', pk(0x80, 2, 'h', 9, '.'), /memo entry 9 is missing/],
    ['SETITEM on a list', pk(0x80, 2, ']', 'K', 1, 'K', 2, 's', '.'), /SETITEM on a list, not a dict/],
    ['APPEND to a tuple', pk(0x80, 2, ')', 'K', 1, 'a', '.'), /APPEND on a tuple, not a list/],
    ['tuple as a dict key', pk(0x80, 2, '}', ')', 'K', 1, 's', '.'), /dict key of type tuple is not supported/],
    ['bad tensor rebuild', pk(0x80, 2, 'c', 'torch._utils\n_rebuild_tensor_v2\n', '(', 'K', 1, 't', 'R', '.'), /torch\._utils\._rebuild_tensor_v2: the first argument must be a storage reference/],
  ];
  for (const [what, bytes, re] of corrupt) throwsWith(() => run(bytes), re, what);
});

// ---- layout and cross-format --------------------------------------------------------------------

test('layout: OIHW ↔ OHWI for 4-D conv weights; other ranks pass through', () => {
  // [O=2, I=3, H=1, W=2]: value = o*100 + i*10 + h*5 + w
  const oihw = { dtype: 'F32' as const, shape: [2, 3, 1, 2], data: new Float32Array(12) };
  for (let o = 0; o < 2; o++) for (let i = 0; i < 3; i++) for (let w = 0; w < 2; w++) oihw.data[((o * 3 + i) * 1 + 0) * 2 + w] = o * 100 + i * 10 + w;
  const ohwi = oihwToOhwi(oihw);
  assert.equal(ohwi.shape, [2, 1, 2, 3]);
  assert.is(ohwi.dtype, 'F32');
  assert.equal(Array.from(ohwi.data as Float32Array), [0, 10, 20, 1, 11, 21, 100, 110, 120, 101, 111, 121]);
  assert.equal(ohwiToOihw(ohwi), oihw);
  assert.equal(Array.from(oihw.data).slice(0, 2), [0, 1], 'input untouched');
  const vec = { dtype: 'F32' as const, shape: [4], data: new Float32Array(4) };
  assert.is(oihwToOhwi(vec), vec);
  const ints = oihwToOhwi({ shape: [1, 2, 1, 1], data: new BigInt64Array([5n, 6n]) });
  assert.equal(ints.data, new BigInt64Array([5n, 6n]));
  throwsWith(() => oihwToOhwi({ shape: [1, 2, 2, 2], data: new Float32Array(7) }), /oihwToOhwi: 7 values do not fill shape \[1,2,2,2\]/, 'size');
});

test('a .pth state dict survives export to safetensors and back', () => {
  const sd = extractStateDict(readPth(fx('small_state.pth')));
  const dir = tempDir();
  const path = join(dir, 'from-pth.safetensors');
  writeSafetensors(path, sd, { source: 'small_state.pth' });
  const back = readSafetensors(path);
  assert.equal(Object.keys(back.tensors).sort(), Object.keys(sd).sort());
  for (const k of Object.keys(sd)) assertSame(back.tensors[k], sd[k], k);
  assert.equal(back.metadata, { source: 'small_state.pth' });
  rmSync(dir, { recursive: true });
});

test.run();
