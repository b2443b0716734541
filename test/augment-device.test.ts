// The batched augmentation kernels (src/backends/kernels.ts, "augmentation on the device") and the
// device path built on them (src/data/augment/device.ts), issue 20:
// - the CPU backend's kernels equal pixels.ts's reference kernels image by image, bit for bit (the
//   parameters rounded to float32, as the params tensor holds them);
// - every selected device backend (CUDA: a GPU or the emulator; WebGPU: lavapipe) gives the CPU's
//   values within the tolerances below, per kernel for fixed parameters with an inactive row, and
//   exactly where a step is the identity (rotation by 0, zero strength);
// - a whole pipeline (every transform at p = 1, and the default preset for a seed) gives on each
//   backend the views the CPU loader path (Augmenter.runInto) makes from the same seeds.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { BackendName } from '../src/backends/backend.js';
import type { KernelName } from '../src/backends/kernels.js';
import { Rng } from '../src/core/random.js';
import { fromFloat32Array, type Tensor } from '../src/core/tensor.js';
import { compileAugmentations, mixSeed } from '../src/data/augment/compose.js';
import type { AugSpec } from '../src/data/augment/transforms.js';
import { augmentOnDevice, packWords } from '../src/data/augment/device.js';
import * as ref from '../src/data/augment/pixels.js';
import { gaussFromU32, lowbias32, noiseU32Keyed, normalTable } from '../src/data/augment/plan.js';
import { preset } from '../src/data/augment/presets.js';
import { SyntheticCxr } from '../src/data/datasets.js';
import { CxrLoader } from '../src/data/loader.js';
import { initBackend } from '../src/index.js';
import { launch } from '../src/ops/op.js';
import { assertClose, backendSelected, backendStatuses, deviceBackends, skipNote, type Tolerance } from './helpers.js';

/** A w×h×B stack of values in [0, 1] with structure (a gradient) and noise, from a seed. */
function stack(b: number, h: number, w: number, seed: number): Float32Array {
  const out = new Float32Array(b * h * w);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const x = i % w, y = Math.floor(i / w) % h;
    out[i] = Math.fround(0.5 * (x / w + y / h) * 0.8 + 0.2 * (s / 2 ** 32));
  }
  return out;
}

async function run(backend: BackendName, kernel: KernelName, inputs: [Float32Array, number[]][], outShape: number[]): Promise<Float32Array> {
  const ts: Tensor[] = inputs.map(([d, s]) => fromFloat32Array(d, s, { backend }));
  const y = launch({ op: 'test', kernel, inputs: ts, outShape });
  try {
    return await y.data();
  } finally {
    y.dispose();
    for (const t of ts) t.dispose();
  }
}

const key = (seed: number): [number, number] => {
  const k = lowbias32(seed);
  return [k & 0xffff, k >>> 16];
};
const padRows = (rows: number[][]): [Float32Array, number[]] => {
  const P = Math.max(...rows.map((r) => r.length));
  const d = new Float32Array(rows.length * P);
  rows.forEach((r, i) => d.set(r, i * P));
  return [d, [rows.length, P]];
};
const f = Math.fround;

interface Case {
  name: string;
  kernel: KernelName;
  h: number;
  w: number;
  rows: number[][];
  /** pixels.ts on one image for a (float32-rounded) row; null: the row copies. */
  reference: (src: Float32Array, dst: Float32Array, w: number, h: number, row: number[]) => void;
  tol: Tolerance;
  /** Rows whose image must come back exactly as it went in on every backend (identity steps). */
  identityRows?: number[];
}

const W = 23, H = 17;
const T = normalTable();
const CASES: Case[] = [
  {
    name: 'pointwise: copy row, one stage with the normalisation, three stages',
    kernel: 'augmentPointwise', h: H, w: W,
    rows: [[0, 1, 0], [1, 4, -2, 1.1, 0.05], [3, 1, 0, 0.9, 0.1, 1.2, -0.05, 1, 0.02]],
    reference: (s, d, w, h, r) => ref.pointwiseChain(s, d, 0, w * h, r.slice(3), r[0], r[1], r[2]),
    tol: { atol: 2e-6, rtol: 1e-6 }, identityRows: [0],
  },
  {
    name: 'warpAffine: inactive, rotation by 0 (the identity), shift-scale-rotate, a map 1e10 px away',
    kernel: 'augmentWarpAffine', h: H, w: W,
    rows: [[0], [1, 1, 0, 0, 0, 1, 0], [1, ...ref.shiftScaleRotateMatrix(W, H, 7, 1.1, 0.03, -0.02)], [1, 1, 0, 1e10, 0, 1, 0]],
    reference: (s, d, w, h, r) => ref.warpAffineInverse(s, d, w, h, r.slice(1)),
    tol: { atol: 5e-5, rtol: 0 }, identityRows: [0, 1],
  },
  {
    name: 'optical distortion: inactive, k = 0 (the identity), barrel with a shifted centre, pincushion',
    kernel: 'augmentOptical', h: H, w: W,
    rows: [[0], [1, 0, 0, 0], [1, 0.05, 1.5, -2], [1, -0.3, -1, 0.5]],
    reference: (s, d, w, h, r) => ref.opticalDistortionKernel(s, d, w, h, r[1], r[2], r[3]),
    tol: { atol: 5e-5, rtol: 0 }, identityRows: [0, 1],
  },
  {
    name: 'median 3×3 with replicated borders',
    kernel: 'augmentMedian3', h: H, w: W,
    rows: [[0], [1], [1]],
    reference: (s, d, w, h) => ref.medianBlurKernel(s, d, w, h, 3),
    tol: { atol: 0, rtol: 0 }, identityRows: [0],
  },
  {
    name: 'taps: a 7-px motion-blur line, a single tap 30 px away (reflected twice)',
    kernel: 'augmentTaps', h: H, w: W,
    rows: [[0], [1, 0], [1, ...(() => { const t = ref.motionBlurTaps(7, 0, 0, 6, 4); return [t.length, ...t.flat()]; })()], [1, 1, 30, -29, 1]],
    reference: (s, d, w, h, r) => ref.filterTaps(s, d, w, h, Array.from({ length: r[1] }, (_, t) => [r[2 + 3 * t], r[3 + 3 * t], r[4 + 3 * t]] as [number, number, number])),
    tol: { atol: 1e-5, rtol: 0 }, identityRows: [0],
  },
  {
    name: 'taps on an image smaller than the motion-blur kernel (3×2, taps reaching ±3)',
    kernel: 'augmentTaps', h: 2, w: 3,
    rows: [[1, ...(() => { const t = ref.motionBlurTaps(7, 0, 6, 6, 0); return [t.length, ...t.flat()]; })()], [0]],
    reference: (s, d, w, h, r) => ref.filterTaps(s, d, w, h, Array.from({ length: r[1] }, (_, t) => [r[2 + 3 * t], r[3 + 3 * t], r[4 + 3 * t]] as [number, number, number])),
    tol: { atol: 1e-5, rtol: 0 }, identityRows: [1],
  },
  {
    name: 'sharpen: inactive, alpha 0 (the identity), alpha 0.2',
    kernel: 'augmentSharpen', h: H, w: W,
    rows: [[0], [1, 0, 0.7], [1, 0.2, 0.8]],
    reference: (s, d, w, h, r) => ref.sharpenKernel(s, d, w, h, r[1], r[2]),
    tol: { atol: 1e-5, rtol: 0 }, identityRows: [0, 1],
  },
  {
    name: 'cutout: no holes, two holes, a hole past the corner (clamped)',
    kernel: 'augmentCutout', h: H, w: W,
    rows: [[0, 0], [2, 0, 1, 2, 5, 6, 10, 10, 13, 12], [1, 0.5, 20, 10, 40, 30]],
    reference: (s, d, w, h, r) => {
      d.set(s.subarray(0, w * h));
      for (let k = 0; k < r[0]; k++) {
        const [x1, y1, x2, y2] = r.slice(2 + 4 * k, 6 + 4 * k).map((v, i) => Math.min(i % 2 ? h : w, v));
        for (let y = y1; y < y2; y++) d.fill(r[1], y * w + x1, y * w + x2);
      }
    },
    tol: { atol: 0, rtol: 0 }, identityRows: [0],
  },
  {
    name: 'Gaussian noise: inactive, sigma 0 (the identity), sigma 0.07, another seed',
    kernel: 'augmentGaussNoise', h: H, w: W,
    rows: [[0], [1, 0, ...key(5)], [1, 0.07, ...key(12345)], [1, 0.2, ...key(0xffffffff)]],
    // The row holds the key (lowbias32 of the seed): plan.ts's keyed words, as gaussNoiseKernel uses them.
    reference: (s, d, w, h, r) => {
      const k = r[2] + 65536 * r[3];
      for (let i = 0; i < w * h; i++) {
        const v = s[i] + r[1] * gaussFromU32(noiseU32Keyed(k, i), T);
        d[i] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    },
    tol: { atol: 2e-5, rtol: 0 }, identityRows: [0, 1],
  },
  {
    name: 'multiplicative noise: inactive, lo = hi = 1 (the identity), [0.9, 1.1]',
    kernel: 'augmentMulNoise', h: H, w: W,
    rows: [[0], [1, 1, 1, ...key(3)], [1, 0.9, 1.1, ...key(77)]],
    reference: (s, d, w, h, r) => {
      const k = r[3] + 65536 * r[4];
      const span = (r[2] - r[1]) / 4294967296;
      for (let i = 0; i < w * h; i++) {
        const v = s[i] * (r[1] + noiseU32Keyed(k, i) * span);
        d[i] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    },
    tol: { atol: 2e-6, rtol: 0 }, identityRows: [0, 1],
  },
  {
    name: 'warps, median and sharpen on 1×1 images (reflect101 of one pixel)',
    kernel: 'augmentWarpAffine', h: 1, w: 1,
    rows: [[1, 0.5, 0.1, 0.3, -0.2, 1, 0.7], [1, 1, 0, 0, 0, 1, 0]],
    reference: (s, d, w, h, r) => ref.warpAffineInverse(s, d, w, h, r.slice(1)),
    tol: { atol: 1e-6, rtol: 0 }, identityRows: [1],
  },
  { name: 'median of a 1×1 image', kernel: 'augmentMedian3', h: 1, w: 1, rows: [[1]], reference: (s, d) => ref.medianBlurKernel(s, d, 1, 1, 3), tol: { atol: 0, rtol: 0 } },
  { name: 'sharpen of a 1×2 image', kernel: 'augmentSharpen', h: 1, w: 2, rows: [[1, 0.5, 1]], reference: (s, d, w, h, r) => ref.sharpenKernel(s, d, w, h, r[1], r[2]), tol: { atol: 1e-5, rtol: 0 } },
];

function inputsOf(c: Case): [Float32Array, number[]][] {
  const B = c.rows.length;
  const x: [Float32Array, number[]] = [stack(B, c.h, c.w, 7 + c.rows.length), [B, c.h, c.w]];
  const ins: [Float32Array, number[]][] = [x, padRows(c.rows)];
  if (c.kernel === 'augmentGaussNoise') ins.push([T.slice(), [T.length]]);
  return ins;
}

/** pixels.ts image by image, the rows rounded to float32 as the params tensor holds them. */
function referenceOf(c: Case): Float32Array {
  const [[x]] = inputsOf(c);
  const n = c.h * c.w;
  const out = new Float32Array(x.length);
  c.rows.forEach((r, b) => {
    const src = x.subarray(b * n, (b + 1) * n), dst = out.subarray(b * n, (b + 1) * n);
    const copies = c.kernel !== 'augmentPointwise' && c.kernel !== 'augmentCutout' && r[0] === 0;
    if (copies) dst.set(src);
    else c.reference(src, dst, c.w, c.h, r.map(f));
  });
  return out;
}

function unpackInput(): { packed: Float32Array; words: Uint16Array } {
  // Every corner of the 16-bit range, words whose float32 carrier is a NaN (0xFFFF 0xFFFF, 0x7FC0…)
  // or a denormal, and an odd count (the last float32 carries one pixel and padding).
  const words = new Uint16Array([0, 1, 65535, 65535, 65535, 0x7fc0, 0x0001, 0x0000, 32768, 12345, 54321, 0xffff, 0x7f80, 0x8000, 7]);
  return { packed: packWords(words), words };
}

const statuses = await backendStatuses();
const all: BackendName[] = [...(backendSelected('cpu') ? (['cpu'] as const) : []), ...deviceBackends];
for (const backend of all) {
  const status = statuses.find((s) => s.name === backend);
  const s = suite(`${backend}: batched augmentation kernels${backend === 'cpu' ? ' vs pixels.ts' : ' vs cpu'}`);
  if (!status?.available) {
    skipNote(`${backend} augmentation kernels`, status?.reason ?? 'unavailable');
    s.skip(`${backend} augmentation kernels (backend unavailable)`, () => {});
    s.run();
    continue;
  }
  const dev = await initBackend(backend);
  if (backend !== 'cpu') await initBackend('cpu');
  if (!dev.hasKernel('augmentUnpack16')) {
    // The kernel table's test holds every backend to the table, naming any kernel it still lacks.
    skipNote(`${backend} augmentation kernels`, 'not implemented on this backend yet (test/kernel-table.test.ts lists them as pending)');
    s.skip(`${backend} augmentation kernels (not implemented yet)`, () => {});
    s.run();
    continue;
  }

  s('augmentUnpack16: every 16-bit word k to k/65535, NaN-pattern carriers and an odd count included', async () => {
    const { packed, words } = unpackInput();
    const got = await run(backend, 'augmentUnpack16', [[packed, [packed.length]]], [1, 3, 5]);
    const want = Float32Array.from(words, (k) => k * (1 / 65535));
    assertClose(got, want, { atol: 0, rtol: 1.2e-7 }, `${backend} unpack`);
    assert.is(got[2], 1);
    assert.is(got[0], 0);
  });

  s('augmentUnpack16: all 65536 words exactly as the cpu makes them (float(k · (1/65535.0)))', async () => {
    const words = Uint16Array.from({ length: 65536 }, (_, k) => k);
    const packed = packWords(words);
    const got = await run(backend, 'augmentUnpack16', [[packed, [packed.length]]], [1, 256, 256]);
    const bad = Array.from(words).filter((k) => got[k] !== Math.fround(k * (1 / 65535)));
    assert.equal(bad.slice(0, 8), [], `${backend} unpack: ${bad.length} words differ from the cpu's`);
  });

  s('warps at 512²: the source point keeps its fraction (white noise, within 1e-6 of the cpu)', async () => {
    // Every pixel independent, so a source point off by δ px moves a sample by up to δ: a plain
    // float32 point (δ ≈ ulp(512) = 6e-5) fails this; the device's exact products and sums pass.
    const w = 512, h = 512;
    const x = Float32Array.from({ length: w * h }, (_, i) => Math.fround((Math.imul(i + 1, 0x9e3779b9) >>> 0) / 2 ** 32));
    const m = ref.shiftScaleRotateMatrix(w, h, 7.3, 1.13, 0.031, -0.027);
    const ins: [Float32Array, number[]][] = [[x, [1, h, w]], [Float32Array.from([1, ...m]), [1, 7]]];
    const got = await run(backend, 'augmentWarpAffine', ins, [1, h, w]);
    const want = new Float32Array(w * h);
    if (backend === 'cpu') ref.warpAffineInverse(x, want, w, h, m.map(f));
    else want.set(await run('cpu', 'augmentWarpAffine', ins, [1, h, w]));
    assertClose(got, want, { atol: 1e-6, rtol: 0 }, `${backend} warpAffine 512²`);
  });

  for (const c of CASES) {
    s(c.name, async () => {
      const ins = inputsOf(c);
      const got = await run(backend, c.kernel, ins, [c.rows.length, c.h, c.w]);
      const want = backend === 'cpu' ? referenceOf(c) : await run('cpu', c.kernel, ins, [c.rows.length, c.h, c.w]);
      // The CPU kernels are pixels.ts's arithmetic on the float32 row: bit-identical.
      assertClose(got, want, backend === 'cpu' ? { atol: 0, rtol: 0 } : c.tol, `${backend} ${c.name}`);
      const n = c.h * c.w;
      for (const b of c.identityRows ?? []) {
        assert.equal(Array.from(got.subarray(b * n, (b + 1) * n)), Array.from(ins[0][0].subarray(b * n, (b + 1) * n)), `${backend} ${c.kernel} row ${b} is the identity`);
      }
    });
  }

  s('bad calls name the kernel and the fix', () => {
    const x = fromFloat32Array(new Float32Array(12), [2, 2, 3], { backend });
    const p = fromFloat32Array(new Float32Array(6), [2, 3], { backend });
    const flat = fromFloat32Array(new Float32Array(12), [12], { backend });
    try {
      assert.throws(() => launch({ op: 't', kernel: 'augmentWarpAffine', inputs: [x, p], outShape: [2, 2, 3] }), /augmentWarpAffine: params must be \[B, P\] with B = 2 and P ≥ 7/);
      assert.throws(() => launch({ op: 't', kernel: 'augmentMedian3', inputs: [flat, p], outShape: [12] }), /augmentMedian3: x must be a stack \[B, H, W\]/);
      assert.throws(() => launch({ op: 't', kernel: 'augmentUnpack16', inputs: [p], outShape: [2, 2, 4] }), /augmentUnpack16: packed \[2,3\] holds 12 16-bit words, y \[2,2,4\] needs 16/);
      assert.throws(() => launch({ op: 't', kernel: 'augmentGaussNoise', inputs: [x, fromFloat32Array(new Float32Array(8), [2, 4], { backend }), p], outShape: [2, 2, 3] }), /augmentGaussNoise: table must hold the 4097 quantiles/);
    } finally {
      x.dispose();
      p.dispose();
      flat.dispose();
    }
  });

  // The whole path: host plans, device kernels, against the CPU loader's views from the same seeds.
  const everything: AugSpec[] = [
    { type: 'medianBlur', ksize: 3 },
    { type: 'brightnessContrast', brightnessLimit: [-0.1, 0.1], contrastLimit: [-0.2, 0.1] },
    { type: 'motionBlur', blurLimit: [3, 7] },
    { type: 'gaussNoise', varLimit: [0.001, 0.005] },
    { type: 'sharpen', alpha: [0.1, 0.3], lightness: [0.5, 1] },
    { type: 'multiplicativeNoise', multiplier: [0.9, 1.1], elementwise: true },
    { type: 'brightness', limit: [-0.1, 0.1] },
    { type: 'shiftScaleRotate', shiftLimit: 0.0625, scaleLimit: 0.2, rotateLimit: 10 },
    { type: 'cutout', numHoles: 3, size: 0.2, fill: 0 },
    { type: 'opticalDistortion', distortLimit: 0.3, shiftLimit: 0.05 },
    { type: 'multiplicativeNoise', multiplier: [0.9, 1.1] },
  ];
  for (const [name, spec, seed] of [['every transform at p = 1', everything, 11], ['the default preset', preset('default'), 3], ['the paper preset', preset('paper'), 4]] as const) {
    s(`${name}: views from the device path equal the CPU loader's for the same seeds`, async () => {
      const w = 40, h = 32, B = 4, V = 12;
      const words = new Uint16Array(B * w * h);
      const img = stack(B, h, w, seed);
      for (let i = 0; i < words.length; i++) words[i] = Math.round(img[i] * 65535);
      const aug = compileAugmentations(spec);
      const sources = Array.from({ length: V }, (_, v) => v % B);
      const mean = 0.5, std = 0.25;
      const plans = sources.map((_, v) => ({ steps: aug.plan(w, h, new Rng(mixSeed(seed, v))), mean, std }));
      const t = augmentOnDevice({ backend, width: w, height: h, pixels: words, sources, plans });
      assert.equal(t.shape, [V, h, w, 1]);
      const got = await t.data();
      t.dispose();
      const want = new Float32Array(V * w * h);
      const unit = Float32Array.from(words, (k) => k * (1 / 65535));
      for (let v = 0; v < V; v++) aug.runInto(unit.subarray(sources[v] * w * h, (sources[v] + 1) * w * h), w, h, new Rng(mixSeed(seed, v)), want, v * w * h, mean, std);
      // Normalised by std 0.25: float32 parameters and device arithmetic within 4·(5e-5) of the CPU's.
      assertClose(got, want, { atol: 5e-4, rtol: 0 }, `${backend} ${name}`);
      if (name === 'every transform at p = 1') assert.ok(plans.every((p) => p.steps.length >= 9), 'every view took every kind of step');
    });
  }

  if (backend !== 'cpu') {
    s('the loader with augmentDevice: the same batches as its workers make on the cpu', async () => {
      const dataset = new SyntheticCxr({ length: 8, seed: 5, width: 64, height: 64 });
      const make = (augmentDevice: BackendName, to: BackendName): CxrLoader =>
        new CxrLoader(dataset, { batchSize: 4, imageSize: 48, augmentations: 'paper', augmentDevice, backend: to, workers: 1, cacheDir: false, seed: 9, onWarning: () => {} });
      const onCpu = make('cpu', 'cpu'), onDevice = make(backend, backend);
      const want: Float32Array[] = [];
      try {
        const got: Float32Array[] = [];
        for await (const b of onCpu.epoch(0, 'array')) want.push(b.view1, b.view2);
        for await (const b of onDevice.epoch(0)) {
          assert.equal(b.view1.shape, [4, 48, 48, 1]);
          assert.is(b.view1.backend, backend);
          got.push(await b.view1.data(), await b.view2.data());
          b.view1.dispose();
          b.view2.dispose();
        }
        assert.is(got.length, 4);
        got.forEach((g, i) => assertClose(g, want[i], { atol: 5e-4, rtol: 0 }, `${backend} loader view ${i}`));
      } finally {
        await onCpu.close();
        await onDevice.close();
      }
      assert.throws(() => make(backend, 'cpu'), new RegExp(`augmentDevice '${backend}' makes the views on that backend, but the batches go to 'cpu'`));
      if (backend === 'cuda') {
        // Mixed precision: the views in the step's dtype, the float32 views rounded once.
        const half = new CxrLoader(dataset, { batchSize: 4, imageSize: 48, augmentations: 'paper', augmentDevice: backend, backend, viewDtype: 'bfloat16', workers: 1, cacheDir: false, seed: 9, onWarning: () => {} });
        try {
          let i = 0;
          for await (const b of half.epoch(0)) {
            assert.is(b.view1.dtype, 'bfloat16');
            assertClose(await b.view1.data(), want[i], { atol: 5e-4, rtol: 2 ** -8 }, `${backend} bf16 loader view ${i}`);
            b.view1.dispose();
            b.view2.dispose();
            i += 2;
          }
        } finally {
          await half.close();
        }
      } else {
        assert.throws(() => new CxrLoader(dataset, { batchSize: 4, imageSize: 48, augmentDevice: backend, backend, viewDtype: 'bfloat16' }), /viewDtype 'bfloat16' needs augmentDevice 'cuda' \(WebGPU stores float32 only\)/);
      }
      assert.throws(() => new CxrLoader(dataset, { batchSize: 4, imageSize: 48, viewDtype: 'float16' }), /viewDtype 'float16' needs augmentDevice 'cuda' \(the CPU path makes float32 views/);
      assert.throws(() => new CxrLoader(dataset, { batchSize: 4, imageSize: 48, augmentations: [{ type: 'medianBlur', ksize: 5 }], augmentDevice: backend, backend }), /medianBlur ksize 5 has no device kernel/);
    });
  }

  s('the device path refuses what it cannot run, before it enqueues anything', () => {
    const words = new Uint16Array(16);
    assert.throws(
      () => augmentOnDevice({ backend, width: 4, height: 4, pixels: words, sources: [0], plans: [{ steps: [{ op: 'median', ksize: 5 }], mean: 0, std: 1 }] }),
      /medianBlur ksize 5 has no device kernel \(3×3 only\)/,
    );
    assert.throws(() => augmentOnDevice({ backend, width: 4, height: 3, pixels: words, sources: [0], plans: [{ steps: [], mean: 0, std: 1 }] }), /16 pixel words are not a whole number of 4×3 images/);
    assert.throws(() => augmentOnDevice({ backend, width: 4, height: 4, pixels: words, sources: [1], plans: [{ steps: [], mean: 0, std: 1 }] }), /source 1 is not one of the 1 images/);
  });

  s.run();
}
