// CXR preprocessing: numpy-golden percentile clipping (test/fixtures/make_data_fixtures.py),
// OpenCV-style bilinear resize, normalisation, and the synthetic radiograph's marker being clipped.
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clipAndScaleInPlace, normalize, percentile, preprocessCxr, resizeBilinear, syntheticRadiograph, grayImage, CXR_DEFAULTS } from '../src/data/index.js';
import { packageRoot } from '../src/native.js';
import { assertClose, cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);

function fixtures(): string {
  const local = join(process.cwd(), 'test', 'fixtures', 'data');
  return existsSync(local) ? local : join(packageRoot(), 'test', 'fixtures', 'data');
}
const f32 = (name: string): Float32Array => {
  const b = readFileSync(join(fixtures(), name));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const golden = JSON.parse(readFileSync(join(fixtures(), 'percentile.json'), 'utf8')) as { width: number; height: number; q: number[]; values: number[]; clip99: number; min: number };

test('percentile matches numpy (linear interpolation) on an image with a marker', () => {
  const input = f32('percentile_input.f32');
  golden.q.forEach((q, i) => {
    const v = percentile(input, q);
    assert.ok(Math.abs(v - golden.values[i]) <= 1e-12 * Math.max(1, Math.abs(golden.values[i])), `q=${q}: ${v} vs numpy ${golden.values[i]}`);
  });
  assert.ok(golden.clip99 < 1, 'the 99th percentile lies below the marker (4.0)');
  // quickselect on sorted, reversed and constant input
  const sorted = Float32Array.from({ length: 1001 }, (_, i) => i);
  assert.is(percentile(sorted, 99), 990);
  assert.is(percentile(sorted.slice().reverse(), 25), 250);
  assert.is(percentile(new Float32Array(17).fill(3), 99), 3);
  assert.is(percentile([1, 2], 50), 1.5);
  assert.throws(() => percentile([1], 101), /q must be in \[0, 100\]/);
});

test('clip at the 99th percentile then min-max matches numpy', () => {
  const data = f32('percentile_input.f32');
  const r = clipAndScaleInPlace(data, 99);
  assert.ok(Math.abs(r.clip - golden.clip99) < 1e-12);
  assertClose(data, f32('percentile_scaled.f32'), { atol: 2e-7, rtol: 0 }, 'clipped and scaled');
  // The marker (rows 3–8, columns 4–7) is flattened to 1.
  for (let y = 3; y < 9; y++) for (let x = 4; x < 8; x++) assert.is(data[y * golden.width + x], 1);
});

test('preprocessCxr resizes to S×S, leaves its input alone and lands on the 16-bit grid', () => {
  const before = f32('percentile_input.f32');
  const img = grayImage(golden.width, golden.height, new Float32Array(before));
  const out = preprocessCxr(img, { imageSize: 32 });
  assert.equal([...img.data], [...before], 'input untouched');
  assert.is(out.width, 32);
  assert.is(out.height, 32);
  let max = -Infinity, min = Infinity;
  for (const v of out.data) {
    max = Math.max(max, v);
    min = Math.min(min, v);
  }
  assert.is(min, 0);
  assert.is(max, 1);
  for (const v of out.data) assert.is(Math.fround(Math.round(v * 65535) * (1 / 65535)), v, '16-bit grid');
});

test('preprocessCxr without resizing reproduces numpy to 16-bit precision', () => {
  // A square image so that no resize happens: take the top-left 47×47 of the fixture and compute
  // the expected result with the (numpy-checked) percentile.
  const full = f32('percentile_input.f32');
  const S = 47;
  const sq = new Float32Array(S * S);
  for (let y = 0; y < S; y++) sq.set(full.subarray(y * golden.width, y * golden.width + S), y * S);
  const expect = new Float32Array(sq);
  clipAndScaleInPlace(expect, 99);
  const out = preprocessCxr(grayImage(S, S, sq), { imageSize: S });
  assertClose(out.data, expect, { atol: 0.5 / 65535 + 1e-7, rtol: 0 }, 'preprocessed');
});

test('resizeBilinear follows cv2.INTER_LINEAR (half-pixel centres, edges replicated)', () => {
  const src = grayImage(2, 2, Float32Array.from([0, 1, 2, 3]));
  const up = resizeBilinear(src, 4, 4);
  assert.equal([...up.data], [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3]);
  const four = grayImage(4, 4, Float32Array.from({ length: 16 }, (_, i) => i));
  const down = resizeBilinear(four, 2, 2);
  // source x = (d + 0.5)·2 − 0.5 = 0.5, 2.5: means of neighbouring pairs
  assert.equal([...down.data], [2.5, 4.5, 10.5, 12.5]);
  const same = resizeBilinear(four, 4, 4);
  assert.equal([...same.data], [...four.data]);
  const flat = resizeBilinear(grayImage(7, 5, new Float32Array(35).fill(0.3)), 13, 9);
  for (const v of flat.data) assert.is(v, Math.fround(0.3));
  const wide = resizeBilinear(grayImage(3, 1, Float32Array.from([0, 3, 6])), 5, 2);
  assert.is(wide.width, 5);
  assert.is(wide.height, 2);
  assertClose(wide.data.subarray(0, 5), [0, 1.2, 3, 4.8, 6], { atol: 1e-6, rtol: 0 }, 'non-square');
});

test('normalize uses mean 0.658 and std 0.221 by default', () => {
  assert.is(CXR_DEFAULTS.mean, 0.658);
  assert.is(CXR_DEFAULTS.std, 0.221);
  const n = normalize(grayImage(2, 1, Float32Array.from([0.658, 0.879])));
  assertClose(n.data, [0, 1], { atol: 1e-6, rtol: 0 }, 'normalised');
  const m = normalize(grayImage(1, 1, Float32Array.from([1])), { mean: 0.5, std: 0.25 });
  assert.is(m.data[0], 2);
  assert.throws(() => normalize(grayImage(1, 1), { std: 0 }), /std must be positive/);
});

test('the synthetic radiograph has anatomy and a marker that the clip removes', () => {
  const a = syntheticRadiograph(7, { width: 128 });
  const b = syntheticRadiograph(7, { width: 128 });
  const c = syntheticRadiograph(8, { width: 128 });
  assert.equal([...a.data], [...b.data], 'seeded');
  assert.not.equal([...a.data], [...c.data]);
  let marker = 0;
  for (const v of a.data) if (v === 1) marker++;
  assert.ok(marker > 10 && marker < 0.01 * a.data.length, `marker pixels: ${marker}`);
  const mean = (x0: number, x1: number, y0: number, y1: number): number => {
    let s = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) s += a.data[y * 128 + x];
    return s / ((x1 - x0) * (y1 - y0));
  };
  const lung = mean(30, 40, 50, 60), spine = mean(60, 68, 50, 60), air = mean(0, 4, 120, 128);
  assert.ok(lung < spine, `lungs (${lung}) darker than the spine (${spine})`);
  assert.ok(air < lung, `air (${air}) darker than lungs (${lung})`);
  const pre = preprocessCxr(a, { imageSize: 128 });
  let ones = 0;
  for (const v of pre.data) if (v === 1) ones++;
  assert.ok(ones >= marker, 'marker and the top 1% saturate at 1 after clipping');
  assert.ok(ones <= 0.011 * pre.data.length + 2, `no more than ~1% at the clip (${ones})`);
});

test('preprocessCxr rejects bad options and non-finite pixels', () => {
  assert.throws(() => preprocessCxr(grayImage(2, 2), { imageSize: 0 }), /imageSize/);
  assert.throws(() => preprocessCxr(grayImage(2, 2), { clipPercentile: 0 }), /clipPercentile/);
  assert.throws(() => preprocessCxr(grayImage(1, 1, Float32Array.from([NaN]))), /non-finite/);
  assert.throws(() => preprocessCxr({ width: 2, height: 2, data: new Float32Array(3) }), /do not fill/);
});

test.run();
