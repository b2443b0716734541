// Decoding: DICOM (MONOCHROME1 inversion, rescale, bits stored, implicit/explicit VR, a broken JPEG
// fragment; compressed syntaxes are tested in data-dicom.test.ts) from files written byte by byte by test/fixtures/make_data_fixtures.py and
// cross-checked with pydicom; 16-bit and colour PNG; JPEG; a corrupt PNG.
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeDicom, decodeFile, decodeImage, DecodeError, sniffFormat } from '../src/data/index.js';
import { packageRoot } from '../src/native.js';
import { assertClose, cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);

function fixtures(): string {
  const local = join(process.cwd(), 'test', 'fixtures', 'data');
  return existsSync(local) ? local : join(packageRoot(), 'test', 'fixtures', 'data');
}
const fx = (name: string): string => join(fixtures(), name);
interface Expected {
  width: number;
  height: number;
  bits: number;
  values: number[];
}
const expected = JSON.parse(readFileSync(fx('decode.json'), 'utf8')) as Record<string, Expected & { refused?: string; uid?: string }>;

test('DICOM MONOCHROME1, explicit VR LE: BitsStored masked, slope/intercept applied, then inverted', async () => {
  const e = expected['mono1_explicit.dcm'];
  const img = await decodeFile(fx('mono1_explicit.dcm'));
  assert.is(img.format, 'dicom');
  assert.equal([img.width, img.height, img.bits], [e.width, e.height, e.bits]);
  assertClose(img.data, e.values, { atol: 0, rtol: 0 }, 'MONOCHROME1 pixels');
  // Inversion: the brightest stored value (0xFFF at pixel 0) is now the darkest.
  assert.is(img.data[0], Math.min(...img.data));
  assert.is(img.data[1], Math.max(...img.data));
});

test('DICOM MONOCHROME2, implicit VR LE: signed 12-bit values sign-extended, rescaled', async () => {
  const e = expected['mono2_implicit.dcm'];
  const img = await decodeDicom(readFileSync(fx('mono2_implicit.dcm')));
  assert.equal([img.width, img.height, img.bits], [e.width, e.height, e.bits]);
  assertClose(img.data, e.values, { atol: 0, rtol: 0 }, 'MONOCHROME2 pixels');
});

test('a JPEG Baseline DICOM whose fragment is an empty JPEG fails with the syntax named', async () => {
  const e = expected['jpeg_baseline.dcm'];
  try {
    await decodeFile(fx('jpeg_baseline.dcm'));
    assert.unreachable('should fail');
  } catch (err) {
    assert.instance(err, DecodeError);
    const m = (err as Error).message;
    assert.ok(m.includes(e.refused!), m);
    assert.ok(m.includes(e.uid!), m);
    assert.ok(m.includes('jpeg_baseline.dcm'), 'names the file');
  }
});

test('truncated and non-image DICOM data fail with a DecodeError, not a crash', async () => {
  const bytes = readFileSync(fx('mono1_explicit.dcm'));
  await decodeDicom(bytes.subarray(0, bytes.length - 10), 'cut.dcm').then(
    () => assert.unreachable('should fail'),
    (e: Error) => assert.ok(e instanceof DecodeError && /truncated|invalid DICOM/.test(e.message), e.message),
  );
  await decodeDicom(new Uint8Array(200), 'zeros.dcm').then(
    () => assert.unreachable('should fail'),
    (e: Error) => assert.ok(e instanceof DecodeError, e.message),
  );
});

test('16-bit grayscale PNG keeps its 16-bit values', async () => {
  const e = expected['gray16.png'];
  const img = await decodeFile(fx('gray16.png'));
  assert.equal([img.format, img.width, img.height, img.bits], ['png', e.width, e.height, 16]);
  assertClose(img.data, e.values, { atol: 0, rtol: 0 }, '16-bit pixels');
  assert.is(Math.max(...img.data), 65535);
});

test('colour PNG is converted to gray with Rec. 601 luma', async () => {
  const e = expected['rgb8.png'];
  const img = await decodeFile(fx('rgb8.png'));
  assert.equal([img.width, img.height, img.bits], [e.width, e.height, 8]);
  assertClose(img.data, e.values, { atol: 1e-3, rtol: 0 }, 'luma');
});

test('JPEG (gray and colour) decodes close to what was encoded', async () => {
  const w = 32, h = 24;
  const gray = Uint8Array.from({ length: w * h }, (_, i) => (i % w) * 6 + Math.floor(i / w));
  const jpg = await sharp(Buffer.from(gray), { raw: { width: w, height: h, channels: 1 } }).jpeg({ quality: 100 }).toBuffer();
  assert.is(sniffFormat(jpg), 'jpeg');
  const img = await decodeImage(jpg);
  assert.equal([img.format, img.width, img.height, img.bits], ['jpeg', w, h, 8]);
  assertClose(img.data, gray, { atol: 4, rtol: 0 }, 'gray JPEG');
  const rgb = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 100, b: 50 } } }).jpeg({ quality: 100 }).toBuffer();
  const c = await decodeImage(rgb);
  const luma = 0.299 * 200 + 0.587 * 100 + 0.114 * 50;
  for (const v of c.data) assert.ok(Math.abs(v - luma) < 3, `colour JPEG luma ${v} vs ${luma}`);
});

test('a corrupt PNG and a non-image fail with a DecodeError naming the file', async () => {
  try {
    await decodeFile(fx('corrupt.png'));
    assert.unreachable('should fail');
  } catch (err) {
    assert.instance(err, DecodeError);
    assert.ok((err as Error).message.includes('corrupt.png'));
  }
  await decodeImage(new TextEncoder().encode('hello'), 'notes.txt').then(
    () => assert.unreachable('should fail'),
    (err: Error) => assert.ok(err instanceof DecodeError && /not a PNG, JPEG or DICOM/.test(err.message)),
  );
  await decodeFile(fx('missing.png')).then(
    () => assert.unreachable('should fail'),
    (err: Error) => assert.ok(err instanceof DecodeError && /cannot read/.test(err.message)),
  );
});

test.run();
