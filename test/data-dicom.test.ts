// Compressed and non-native DICOM: files written by dcmtk, gdcm and OpenJPH from uncompressed originals
// (test/fixtures/dicom/gen.py; pydicom's reading of each original in ref_*.f32). Lossless syntaxes
// must give the original's pixels exactly, lossy ones within the stated tolerance; undecodable syntaxes
// and corrupt streams fail with a DecodeError naming the syntax; the loader skips and counts them.
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import dicomParser from 'dicom-parser';
import { CxrLoader, decodeDicom, decodeFile, DecodeError, DICOM_SYNTAXES, ImageFolder } from '../src/data/index.js';
import { decodeRle } from '../src/data/dicom.js';
import { packageRoot } from '../src/native.js';
import { cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);

function fixtures(): string {
  const local = join(process.cwd(), 'test', 'fixtures', 'dicom');
  return existsSync(local) ? local : join(packageRoot(), 'test', 'fixtures', 'dicom');
}
const fx = (name: string): string => join(fixtures(), name);
interface Entry {
  original: string;
  syntax: string;
  lossless: boolean;
  tool: string;
  note?: string;
}
const manifest = JSON.parse(readFileSync(fx('manifest.json'), 'utf8')) as { originals: Record<string, unknown>; files: Record<string, Entry> };
const reference = (original: string): Float32Array => {
  const b = readFileSync(fx(`ref_${original.replace('.dcm', '.f32')}`));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const decodable = Object.entries(manifest.files).filter(([, e]) => !e.note);

function compare(got: Float32Array, want: Float32Array): { maxErr: number; psnr: number } {
  let maxErr = 0, se = 0, lo = Infinity, hi = -Infinity;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    maxErr = Math.max(maxErr, d);
    se += d * d;
    lo = Math.min(lo, want[i]);
    hi = Math.max(hi, want[i]);
  }
  return { maxErr, psnr: 10 * Math.log10((hi - lo) ** 2 / (se / want.length)) };
}

test('the uncompressed originals decode to pydicom’s values', async () => {
  for (const name of Object.keys(manifest.originals)) {
    const img = await decodeFile(fx(name));
    assert.equal([img.width, img.height], [64, 64], name);
    assert.equal([...img.data], [...reference(name)], name);
  }
});

test('every syntax in the fixtures is one we claim to decode, and every claimed compressed family is covered', () => {
  const covered = new Set(decodable.map(([, e]) => e.syntax));
  for (const uid of Object.keys(DICOM_SYNTAXES)) {
    if (uid === '1.2.840.10008.1.2' || uid === '1.2.840.10008.1.2.1') continue; // the originals; data-decode.test.ts
    assert.ok(covered.has(uid), `no fixture for ${DICOM_SYNTAXES[uid].name} (${uid})`);
  }
});

test('lossless syntaxes give exactly the original pixels (RLE, deflate, big endian, JPEG lossless, JPEG-LS, JPEG 2000, HTJ2K)', async () => {
  let n = 0;
  for (const [name, e] of decodable.filter(([, e]) => e.lossless)) {
    const img = await decodeFile(fx(name));
    const want = reference(e.original);
    assert.equal([img.width, img.height], [64, 64], name);
    const { maxErr } = compare(img.data, want);
    assert.is(maxErr, 0, `${name} (${e.syntax}, ${e.tool}) differs from ${e.original} by up to ${maxErr}`);
    n++;
  }
  assert.ok(n >= 30, `${n} lossless files`);
});

// Tolerances, in the original's units (12-bit: 0..4095 stored; 8-bit: 0..255) and PSNR over its range.
const LOSSY: Record<string, { maxErr: number; psnr: number }> = {
  'g8_jpeg50.dcm': { maxErr: 8, psnr: 40 }, // JPEG baseline, IJG quality 95
  'g8_jpeg51.dcm': { maxErr: 8, psnr: 40 }, // JPEG extended, 8-bit
  'rgb8_jpeg50.dcm': { maxErr: 10, psnr: 37 }, // YBR_FULL_422 → luma
  'u12_jpegls_near.dcm': { maxErr: 3, psnr: 60 }, // NEAR = 3 bounds the error by 3 exactly
  'u12_j2k_lossy.dcm': { maxErr: 64, psnr: 45 }, // irreversible 9/7 at rate 5
  'u12_htj2k_lossy.dcm': { maxErr: 64, psnr: 45 }, // irreversible, quantisation step 0.005
  'rgb8_ybr.dcm': { maxErr: 0.5, psnr: 50 }, // native YBR_FULL: Y is the luma rounded to an integer
  'rgb8_ybr_rle.dcm': { maxErr: 0.5, psnr: 50 }, // the same in RLE
};

test('lossy syntaxes (and YBR, rounded by its conversion) are within the stated tolerance of the original', async () => {
  const lossy = decodable.filter(([, e]) => !e.lossless);
  assert.equal(lossy.map(([n]) => n).sort(), Object.keys(LOSSY).sort(), 'every lossy fixture has a tolerance');
  for (const [name, e] of lossy) {
    const img = await decodeFile(fx(name));
    const { maxErr, psnr } = compare(img.data, reference(e.original));
    const tol = LOSSY[name];
    assert.ok(maxErr <= tol.maxErr && psnr >= tol.psnr, `${name}: max error ${maxErr} (≤ ${tol.maxErr}), PSNR ${psnr.toFixed(1)} dB (≥ ${tol.psnr})`);
    assert.ok(maxErr > 0, `${name} is lossy, yet exact: is the fixture what it claims?`);
  }
});

test('multi-frame files give their first frame (the second is the first inverted)', async () => {
  const want = reference('mf8.dcm');
  for (const name of ['mf8.dcm', 'mf8_rle.dcm', 'mf8_jpegls.dcm']) {
    const img = await decodeFile(fx(name));
    assert.equal([...img.data], [...want], name);
  }
});

async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => assert.unreachable('should fail') as never,
    (e: Error) => e,
  );
}

test('a 12-bit JPEG Extended file is refused naming the syntax and the reason', async () => {
  const e = await failure(decodeFile(fx('u12_jpeg51_12bit.dcm')));
  assert.instance(e, DecodeError);
  for (const part of ['u12_jpeg51_12bit.dcm', 'JPEG Extended (Process 2 & 4)', '1.2.840.10008.1.2.4.51', '12-bit', 'dcmdjpeg']) assert.ok(e.message.includes(part), `${part} in: ${e.message}`);
});

test('a syntax without a decoder (MPEG2) is refused with its UID and name', async () => {
  const e = await failure(decodeFile(fx('mpeg2.dcm')));
  assert.instance(e, DecodeError);
  for (const part of ['MPEG2 Main Profile / Main Level', '1.2.840.10008.1.2.4.100', 'not supported']) assert.ok(e.message.includes(part), `${part} in: ${e.message}`);
});

/** The file with its first fragment's bytes from `from` (a fraction) onward changed by `f`. */
function corrupt(name: string, from: number, f: (b: Buffer, start: number, end: number) => void): Buffer {
  const bytes = Buffer.from(readFileSync(fx(name)));
  const frag = dicomParser.parseDicom(bytes).elements.x7fe00010.fragments![0];
  const start = frag.position + 8, end = start + frag.length;
  f(bytes, start + Math.floor(frag.length * from), end);
  return bytes;
}

test('corrupt compressed streams fail with a DecodeError naming the syntax, and the codec recovers', async () => {
  const cases = ['u12_jpeg57.dcm', 'g8_jpeg50.dcm', 'u12_jpegls.dcm', 'u12_j2k.dcm', 'u12_htj2k.dcm', 'u12_rle.dcm'];
  for (const name of cases) {
    const e = manifest.files[name];
    const before = [...(await decodeFile(fx(name))).data];
    const damaged = [
      corrupt(name, 0, (b, s, t) => b.fill(0, s, t)), // all zeros: no markers, no header
      corrupt(name, 0.02, (b, s, t) => b.fill(0xff, s, t)), // the header cut by fill bytes
    ];
    let failed = 0;
    for (const bytes of damaged) {
      try {
        await decodeDicom(bytes, name);
      } catch (err) {
        assert.instance(err, DecodeError, `${name}: ${(err as Error).message}`);
        const m = (err as Error).message;
        assert.ok(m.includes(e.syntax) && m.includes(DICOM_SYNTAXES[e.syntax].name), `${name}: names the syntax: ${m}`);
        failed++;
      }
    }
    assert.ok(failed >= 1, `${name}: a damaged stream must not decode silently every time`);
    // The codec instance that failed is replaced: a good file decodes exactly afterwards.
    assert.equal([...(await decodeFile(fx(name))).data], before, `${name} after a failure`);
  }
  const deflated = Buffer.from(readFileSync(fx('u12_deflate.dcm')));
  deflated.fill(0xa5, deflated.length - 3000, deflated.length - 2000);
  const e = await failure(decodeDicom(deflated, 'u12_deflate.dcm'));
  assert.ok(e instanceof DecodeError && /deflated/.test(e.message), e.message);
});

test('RLE: PackBits literal, replicate and no-op runs, two-byte samples most significant first; bad headers', () => {
  const header = (offsets: number[]): number[] => {
    const h = new Uint8Array(64);
    const dv = new DataView(h.buffer);
    dv.setUint32(0, offsets.length, true);
    offsets.forEach((o, i) => dv.setUint32(4 + 4 * i, o, true));
    return [...h];
  };
  // 5 pixels, 16-bit: high bytes [1, 1, 1, 2, 3] (replicate 3, no-op, literal 2); low bytes [9, 8, 7, 6, 5]
  const hi = [254, 1, 128, 1, 2, 3], lo = [4, 9, 8, 7, 6, 5];
  const frame = Uint8Array.from([...header([64, 64 + hi.length]), ...hi, ...lo]);
  const out = decodeRle(frame, 5, 1, 2);
  assert.equal([...new Uint16Array(out.buffer)], [0x109, 0x108, 0x107, 0x206, 0x305]);
  assert.throws(() => decodeRle(frame, 5, 1, 1), /lists 2 segments/);
  assert.throws(() => decodeRle(frame, 6, 1, 2), /decodes to 5 of 6/);
  assert.throws(() => decodeRle(Uint8Array.from([...header([64]), 5, 1]), 6, 1, 1), /literal run of 6 bytes overruns/);
  assert.throws(() => decodeRle(Uint8Array.from(header([64, 9999])), 1, 1, 2), /outside the 64-byte frame/);
  assert.throws(() => decodeRle(new Uint8Array(10), 1, 1, 1), /no 64-byte header/);
});

test('the loader decodes compressed DICOM in its workers and skips, counts and names the undecodable', async () => {
  const root = join(mkdtempSync(join(tmpdir(), 'ifa-dicom-test-')), 'folder');
  mkdirSync(root);
  const good = ['u12_jpegls.dcm', 'u12_j2k.dcm', 'u12_htj2k.dcm', 'u12_jpeg70.dcm', 'g8_jpeg50.dcm', 'rgb8_rle.dcm', 's16_deflate.dcm', 'u12_be.dcm'];
  const bad = ['u12_jpeg51_12bit.dcm', 'mpeg2.dcm'];
  for (const f of [...good, ...bad]) copyFileSync(fx(f), join(root, f));
  const ds = await ImageFolder.open(root);
  assert.is(ds.length, 10);
  const warnings: string[] = [];
  const loader = new CxrLoader(ds, { batchSize: 2, imageSize: 16, workers: 2, seed: 1, cacheDir: join(dirname(root), 'cache'), onWarning: (m) => warnings.push(m) });
  try {
    const seen = new Set<number>();
    for await (const b of loader.epoch(0, 'array')) {
      b.indices.forEach((i) => seen.add(i));
      assert.ok(b.view1.every(Number.isFinite));
    }
    assert.is(loader.stats.skipped, 2);
    assert.equal(loader.stats.skippedFiles.map((p) => p.slice(root.length + 1)).sort(), [...bad].sort());
    assert.ok(warnings.some((w) => w.includes('mpeg2.dcm') && w.includes('1.2.840.10008.1.2.4.100')), warnings.join('\n'));
    assert.ok(warnings.some((w) => w.includes('u12_jpeg51_12bit.dcm') && w.includes('JPEG Extended')), warnings.join('\n'));
    const decodedNames = [...seen].map((i) => ds.paths[i].slice(root.length + 1));
    assert.not.ok(decodedNames.some((n) => bad.includes(n)));
    assert.ok(decodedNames.length >= 6, `decoded in workers: ${decodedNames.join(', ')}`);
  } finally {
    await loader.close();
  }
});

test('the codecs are dependencies, loaded by package name, their .wasm inside the installed package', () => {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const require = createRequire(join(packageRoot(), 'dist', 'src', 'data', 'dicom-codecs.js'));
  const specs: [string, string, string][] = [
    ['@cornerstonejs/codec-libjpeg-turbo-8bit', 'decodewasmjs', 'libjpegturbowasm_decode.wasm'],
    ['@cornerstonejs/codec-charls', 'decodewasmjs', 'charlswasm_decode.wasm'],
    ['@cornerstonejs/codec-openjpeg', 'decodewasmjs', 'openjpegwasm_decode.wasm'],
    ['@cornerstonejs/codec-openjph', 'wasmjs', 'openjphjs.wasm'],
  ];
  const source = readFileSync(join(packageRoot(), 'dist', 'src', 'data', 'dicom-codecs.js'), 'utf8');
  for (const [name, sub, wasm] of specs) {
    assert.ok(pkg.dependencies[name], `${name} is a dependency`);
    assert.ok(source.includes(`import('${name}/${sub}')`), `${name}/${sub} is imported by package name`);
    const js = require.resolve(`${name}/${sub}`);
    assert.ok(existsSync(join(dirname(js), wasm)), `${wasm} beside ${js}`);
    const files = (JSON.parse(readFileSync(join(dirname(js), '..', 'package.json'), 'utf8')) as { files?: string[] }).files;
    assert.ok(!files || files.includes('dist'), `${name} publishes dist/`);
  }
  assert.ok(pkg.dependencies['jpeg-lossless-decoder-js']);
  assert.ok(source.includes(`import('jpeg-lossless-decoder-js')`));
  assert.ok(!/node_modules|\.\.\/\.\.\//.test(source), 'no path into the repository');
});

test.run();
