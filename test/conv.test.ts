// The CPU GEMM and convolution kernels against their obvious references: sgemm against the triple
// loop (every transpose, alpha/beta, leading dimensions, sizes across the 6×16 tiles and the cache
// blocks), the three conv kernels against the direct loops on ResNet-50-like and odd shapes, with one
// and with several threads, and with the portable micro-kernel in a child process; then the conv2d
// and linear ops' argument checks.
import { execFileSync } from 'node:child_process';
import * as assert from 'uvu/assert';
import { nativeAddon } from '../src/native.js';
import { Rng } from '../src/core/random.js';
import { tensor } from '../src/core/tensor.js';
import { conv2d, linear } from '../src/ops/conv2d.js';
import { assertClose, cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);

const addon = nativeAddon();
const rng = new Rng(1234);
const randn = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
const defaultThreads = addon.info().threads;

interface GemmCase {
  m: number;
  n: number;
  k: number;
  ta: boolean;
  tb: boolean;
  alpha: number;
  beta: number;
  /** Extra columns beyond the block (leading dimension = block width + pad). */
  pad: number;
}

async function checkGemm(c: GemmCase): Promise<void> {
  const ar = c.ta ? c.k : c.m, ac = (c.ta ? c.m : c.k) + c.pad;
  const br = c.tb ? c.n : c.k, bc = (c.tb ? c.k : c.n) + c.pad;
  const cr = c.m, cc = c.n + c.pad;
  const A = addon.alloc(ar * ac, randn(ar * ac));
  const B = addon.alloc(br * bc, randn(br * bc));
  const c0 = randn(cr * cc);
  const C1 = addon.alloc(cr * cc, c0);
  const C2 = addon.alloc(cr * cc, c0);
  const attrs = { m: c.m, n: c.n, k: c.k, alpha: c.alpha, beta: c.beta, transposeA: c.ta, transposeB: c.tb };
  const ins: [number, number[]][] = [[A, [ar, ac]], [B, [br, bc]]];
  addon.run('sgemm', ins, [[C1, [cr, cc]]], attrs);
  addon.run('sgemmReference', ins, [[C2, [cr, cc]]], attrs);
  const [fast, ref] = await Promise.all([addon.read(C1), addon.read(C2)]);
  const what = `sgemm m=${c.m} n=${c.n} k=${c.k} ta=${c.ta} tb=${c.tb} alpha=${c.alpha} beta=${c.beta} pad=${c.pad}`;
  assertClose(fast, ref, { atol: 1e-5 * Math.sqrt(c.k + 1) * 4, rtol: 1e-4 }, what);
  // Columns past n are outside C's block: untouched.
  for (let i = 0; i < cr; i++) for (let j = c.n; j < cc; j++) assert.is(fast[i * cc + j], c0[i * cc + j], `${what}: column ${j} was written`);
  for (const h of [A, B, C1, C2]) addon.free(h);
}

test('sgemm equals the reference for every transpose, alpha/beta, leading dimensions and odd sizes', async () => {
  const sizes = [1, 7, 17, 255, 257];
  const cases: GemmCase[] = [];
  let i = 0;
  for (const m of sizes)
    for (const n of sizes)
      for (const k of [1, 17, 257]) {
        // Every transpose pair for each size triple; alpha/beta/pad cycle through the variants.
        for (const ta of [false, true])
          for (const tb of [false, true]) {
            const v = i++ % 4;
            cases.push({ m, n, k, ta, tb, alpha: [1, 0.5, -2, 1][v], beta: [0, 1, 0.25, -1][v], pad: [0, 3, 0, 5][v] });
          }
      }
  // Sizes that cross the cache blocks (MC 144, KC 256, NC 2048) and the whole-B limit.
  cases.push({ m: 300, n: 2100, k: 520, ta: false, tb: false, alpha: 1, beta: 0, pad: 0 });
  cases.push({ m: 151, n: 2061, k: 600, ta: true, tb: true, alpha: 1.5, beta: 0.5, pad: 2 });
  cases.push({ m: 2000, n: 40, k: 1100, ta: false, tb: true, alpha: 1, beta: 1, pad: 1 });
  cases.push({ m: 64, n: 600, k: 3000, ta: true, tb: false, alpha: 1, beta: 0, pad: 0 });
  cases.push({ m: 10, n: 10, k: 0, ta: false, tb: false, alpha: 1, beta: 0.5, pad: 1 });
  // A few rows against a wide B (the head on a batch of 8): sgemm runs Cᵀ = op(B)ᵀ·op(A)ᵀ.
  cases.push({ m: 8, n: 2048, k: 2048, ta: false, tb: true, alpha: 1, beta: 0, pad: 3 });
  cases.push({ m: 8, n: 300, k: 128, ta: true, tb: false, alpha: -0.5, beta: 0, pad: 1 });
  cases.push({ m: 24, n: 200, k: 64, ta: true, tb: true, alpha: 2, beta: 0, pad: 0 });
  for (const c of cases) await checkGemm(c);
});

test('sgemm with beta = 0 ignores NaN already in C', async () => {
  const m = 13, n = 19, k = 5;
  const A = addon.alloc(m * k, randn(m * k));
  const B = addon.alloc(k * n, randn(k * n));
  const C = addon.alloc(m * n, new Float32Array(m * n).fill(NaN));
  addon.run('sgemm', [[A, [m, k]], [B, [k, n]]], [[C, [m, n]]], { m, n, k, alpha: 1, beta: 0 });
  const got = await addon.read(C);
  assert.ok(got.every((v) => Number.isFinite(v)), 'NaN leaked from C');
  for (const h of [A, B, C]) addon.free(h);
});

// [N, H, W, Ci, Co, KH, KW, strideH, strideW, padH, padW]
type ConvShape = [number, number, number, number, number, number, number, number, number, number, number];

const convShapes: [string, ConvShape][] = [
  ['ResNet stem 7x7 s2 p3, 1 channel @64', [2, 64, 64, 1, 64, 7, 7, 2, 2, 3, 3]],
  ['ResNet stem 7x7 s2 p3, 3 channels @32', [1, 32, 32, 3, 64, 7, 7, 2, 2, 3, 3]],
  ['stem 7x7 s2 p3, 1 channel, tall image (several bands per image)', [2, 250, 66, 1, 8, 7, 7, 2, 2, 3, 3]],
  ['3x3 s2 p1, odd number of bands', [3, 57, 31, 3, 5, 3, 3, 2, 2, 1, 1]],
  ['3x3 64→64 @56 p1', [1, 56, 56, 64, 64, 3, 3, 1, 1, 1, 1]],
  ['1x1 256→64 @28', [2, 28, 28, 256, 64, 1, 1, 1, 1, 0, 0]],
  ['1x1 64→256 @28', [1, 28, 28, 64, 256, 1, 1, 1, 1, 0, 0]],
  ['3x3 128→128 s2 p1 @28 (downsampling block)', [2, 28, 28, 128, 128, 3, 3, 2, 2, 1, 1]],
  ['1x1 256→512 s2 @28 (projection shortcut)', [2, 28, 28, 256, 512, 1, 1, 2, 2, 0, 0]],
  ['3x3 256→256 @14 p1', [2, 14, 14, 256, 256, 3, 3, 1, 1, 1, 1]],
  ['3x3 512→512 @7 p1', [1, 7, 7, 512, 512, 3, 3, 1, 1, 1, 1]],
  // Fewer output pixels than filters (the late stages at 64², batch 8): the forward runs yᵀ = w·patchesᵀ.
  ['3x3 512→512 @2 p1, batch 8 (32 pixels, 512 filters)', [8, 2, 2, 512, 512, 3, 3, 1, 1, 1, 1]],
  ['3x3 256→512 s2 @4 p1, batch 3 (12 pixels, not a sliver multiple)', [3, 4, 4, 256, 512, 3, 3, 2, 2, 1, 1]],
  ['1x1 512→2048 @2, batch 8 (32 pixels: the swapped sgemm)', [8, 2, 2, 512, 2048, 1, 1, 1, 1, 0, 0]],
  ['1x1 1024→2048 s2 @4, batch 8 (projection shortcut, 32 pixels)', [8, 4, 4, 1024, 2048, 1, 1, 2, 2, 0, 0]],
  ['1x1 256→1024 @4, batch 8 (128 pixels: not swapped)', [8, 4, 4, 256, 1024, 1, 1, 1, 1, 0, 0]],
  ['odd: batch 3, 3→5, 9x11, 3x3 s2 p1', [3, 9, 11, 3, 5, 3, 3, 2, 2, 1, 1]],
  ['odd: 5x5 s3 p2, 7→13', [2, 13, 10, 7, 13, 5, 5, 3, 3, 2, 2]],
  ['odd: 1x7 and stride [1,2], padding [0,3]', [2, 6, 15, 9, 17, 1, 7, 1, 2, 0, 3]],
  ['odd: 7x1, padding [3,0]', [1, 12, 5, 10, 6, 7, 1, 1, 1, 3, 0]],
  ['odd: padding wider than the kernel (3x3 p4)', [1, 5, 6, 4, 3, 3, 3, 1, 1, 4, 4]],
  ['odd: 2x2 s2, 1 channel, 33 filters', [2, 9, 9, 1, 33, 2, 2, 2, 2, 0, 0]],
  ['odd: kernel as large as the padded image', [1, 3, 4, 2, 5, 5, 6, 1, 1, 1, 1]],
  ['odd: 1x1 with padding', [1, 4, 4, 3, 2, 1, 1, 1, 1, 1, 1]],
  ['odd: 1x1 s3 with padding', [2, 7, 8, 5, 9, 1, 1, 3, 3, 1, 2]],
];

async function checkConv(label: string, s: ConvShape): Promise<void> {
  const [n, h, w, ci, co, kh, kw, sh, sw, ph, pw] = s;
  const ho = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const wo = Math.floor((w + 2 * pw - kw) / sw) + 1;
  const attrs = { strideH: sh, strideW: sw, padH: ph, padW: pw };
  const xs = [n, h, w, ci], ws = [co, kh, kw, ci], ys = [n, ho, wo, co];
  const size = (sh: number[]) => sh.reduce((a, b) => a * b, 1);
  const X = addon.alloc(size(xs), randn(size(xs)));
  const Wt = addon.alloc(size(ws), randn(size(ws)));
  const DY = addon.alloc(size(ys), randn(size(ys)));
  const pairs: [string, [number, number[]][], number[]][] = [
    ['conv2d', [[X, xs], [Wt, ws]], ys],
    ['conv2dBackwardInput', [[DY, ys], [Wt, ws]], xs],
    ['conv2dBackwardFilter', [[X, xs], [DY, ys]], ws],
  ];
  const depth = { conv2d: kh * kw * ci, conv2dBackwardInput: kh * kw * co, conv2dBackwardFilter: n * ho * wo } as Record<string, number>;
  for (const [kernel, ins, outShape] of pairs) {
    const O1 = addon.alloc(size(outShape), new Float32Array(size(outShape)).fill(NaN));
    const O2 = addon.alloc(size(outShape));
    addon.run(kernel, ins, [[O1, outShape]], attrs);
    addon.run(`${kernel}Reference`, ins, [[O2, outShape]], attrs);
    const [fast, ref] = await Promise.all([addon.read(O1), addon.read(O2)]);
    // Sums of `depth` N(0,1) products: float32 rounding grows like √depth.
    assertClose(fast, ref, { atol: 2e-5 * Math.sqrt(depth[kernel]) + 1e-6, rtol: 1e-4 }, `${kernel} ${label}`);
    addon.free(O1);
    addon.free(O2);
  }
  for (const hdl of [X, Wt, DY]) addon.free(hdl);
}

test('conv2d, conv2dBackwardInput, conv2dBackwardFilter equal the direct references', async () => {
  for (const [label, s] of convShapes) await checkConv(label, s);
});

test('conv kernels on random small geometries, empty ones included', async () => {
  const r = new Rng(99);
  const pick = (lo: number, hi: number) => lo + Math.floor(r.uniform() * (hi - lo + 1));
  for (let i = 0; i < 60; i++) {
    const kh = pick(1, 5), kw = pick(1, 5), sh = pick(1, 3), sw = pick(1, 3), ph = pick(0, 3), pw = pick(0, 3);
    const h = Math.max(0, kh - 2 * ph) + pick(0, 9), w = Math.max(0, kw - 2 * pw) + pick(0, 9);
    const n = i % 10 === 0 ? 0 : pick(1, 3);
    const ci = i % 15 === 7 ? 0 : pick(1, 20), co = i % 20 === 3 ? 0 : pick(1, 20);
    await checkConv(`random #${i}`, [n, h, w, ci, co, kh, kw, sh, sw, ph, pw]);
  }
});

test('conv kernels with one thread and with three (other splits of the work)', async () => {
  try {
    for (const threads of [1, 3]) {
      addon.setThreads(threads);
      for (const [label, s] of convShapes.filter((_, i) => i % 3 === 0)) await checkConv(`${label}, ${threads} threads`, s);
      await checkGemm({ m: 257, n: 255, k: 300, ta: true, tb: false, alpha: 1, beta: 0.5, pad: 1 });
    }
  } finally {
    addon.setThreads(defaultThreads);
  }
});

test('the portable micro-kernel (no AVX2) gives the same results', () => {
  const nativeUrl = new URL('../src/native.js', import.meta.url).href;
  const script = `
    import { nativeAddon } from ${JSON.stringify(nativeUrl)};
    const addon = nativeAddon();
    let seed = 7;
    const rnd = (n) => Float32Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5);
    let worst = 0;
    const cmp = async (kernel, ins, shape, attrs) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const o1 = addon.alloc(n), o2 = addon.alloc(n);
      addon.run(kernel, ins, [[o1, shape]], attrs);
      addon.run(kernel + 'Reference', ins, [[o2, shape]], attrs);
      const [a, b] = await Promise.all([addon.read(o1), addon.read(o2)]);
      for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1e-3 + Math.abs(b[i])));
    };
    const A = addon.alloc(37 * 41, rnd(37 * 41)), B = addon.alloc(41 * 23, rnd(41 * 23));
    await cmp('matmul', [[A, [37, 41]], [B, [41, 23]]], [37, 23], {});
    const X = addon.alloc(2 * 9 * 9 * 5, rnd(810)), W = addon.alloc(7 * 3 * 3 * 5, rnd(315)), DY = addon.alloc(2 * 5 * 5 * 7, rnd(350));
    const at = { strideH: 2, strideW: 2, padH: 1, padW: 1 };
    await cmp('conv2d', [[X, [2, 9, 9, 5]], [W, [7, 3, 3, 5]]], [2, 5, 5, 7], at);
    await cmp('conv2dBackwardInput', [[DY, [2, 5, 5, 7]], [W, [7, 3, 3, 5]]], [2, 9, 9, 5], at);
    await cmp('conv2dBackwardFilter', [[X, [2, 9, 9, 5]], [DY, [2, 5, 5, 7]]], [7, 3, 3, 5], at);
    console.log(JSON.stringify({ worst }));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, IFA_GEMM_PORTABLE: '1' },
    encoding: 'utf8',
  });
  const { worst } = JSON.parse(out.trim().split('\n').pop()!);
  assert.ok(worst < 1e-4, `portable kernel: worst relative error ${worst}`);
});

test('conv kernels reject mismatched shapes and attributes, naming the kernel and shapes', () => {
  const X = addon.alloc(2 * 9 * 9 * 3);
  const W = addon.alloc(8 * 3 * 3 * 4);
  const W3 = addon.alloc(8 * 3 * 3 * 3);
  const Y = addon.alloc(2 * 7 * 7 * 8);
  const Ybad = addon.alloc(2 * 8 * 7 * 8);
  try {
    assert.throws(
      () => addon.run('conv2d', [[X, [2, 9, 9, 3]], [W, [8, 3, 3, 4]]], [[Y, [2, 7, 7, 8]]], {}),
      /conv2d: x \[2,9,9,3\] has 3 channels but w \[8,3,3,4\] expects 4/,
    );
    assert.throws(
      () => addon.run('conv2d', [[X, [2, 9, 9, 3]], [W3, [8, 3, 3, 3]]], [[Ybad, [2, 8, 7, 8]]], { strideH: 1, strideW: 1, padH: 0, padW: 0 }),
      /conv2d: y shape \[2,8,7,8\] should be \[2,7,7,8\]/,
    );
    assert.throws(
      () => addon.run('conv2d', [[X, [2, 9, 9, 3]], [W3, [8, 3, 3, 3]]], [[Y, [2, 7, 7, 8]]], { strideH: 0 }),
      /conv2d: attrs.strideH must be an integer/,
    );
    assert.throws(
      () => addon.run('conv2d', [[X, [2, 9, 9, 3]], [W3, [8, 3, 3, 3]]], [[Y, [2, 7, 7, 8]]], { strideH: 1, strideW: 1, padH: 0, padW: -1 }),
      /conv2d: attrs.padW/,
    );
    assert.throws(
      () => addon.run('conv2dBackwardInput', [[Ybad, [2, 8, 7, 8]], [W3, [8, 3, 3, 3]]], [[X, [2, 9, 9, 3]]], { strideH: 1, strideW: 1, padH: 0, padW: 0 }),
      /conv2dBackwardInput: dy shape \[2,8,7,8\] should be \[2,7,7,8\]/,
    );
    assert.throws(
      () => addon.run('conv2dBackwardFilter', [[X, [2, 9, 9, 3]], [Y, [2, 7, 7, 8]]], [[W, [8, 3, 3, 4]]], {}),
      /conv2dBackwardFilter: x \[2,9,9,3\] has 3 channels but dw \[8,3,3,4\] expects 4/,
    );
    assert.throws(
      () => addon.run('conv2d', [[X, [2, 9, 9, 3]], [W3, [8, 3, 3, 3]]], [[Y, [2, 7, 7, 8]]], { padH: 0, strideH: 1.5 }),
      /strideH/,
    );
  } finally {
    for (const h of [X, W, W3, Y, Ybad]) addon.free(h);
  }
});

test('conv2d and linear ops: results, bias, and clear errors', async () => {
  const x = tensor(randn(2 * 5 * 5 * 3), [2, 5, 5, 3]);
  const w = tensor(randn(4 * 3 * 3 * 3), [4, 3, 3, 3]);
  const b = tensor([1, 2, 3, 4], [4]);
  const y = conv2d(x, w, { stride: 2, padding: [1, 1], bias: b });
  assert.equal(y.shape, [2, 3, 3, 4]);
  const y0 = conv2d(x, w, { stride: [2, 2], padding: 1 });
  const [yv, y0v] = await Promise.all([y.data(), y0.data()]);
  assertClose(yv, Array.from(y0v, (v, i) => v + [1, 2, 3, 4][i % 4]), { atol: 1e-5, rtol: 1e-6 }, 'bias');
  assert.throws(() => conv2d(x, tensor(randn(4 * 3 * 3 * 2), [4, 3, 3, 2])), /conv2d: x \[2,5,5,3\] has 3 channels but w \[4,3,3,2\] expects 2/);
  assert.throws(() => conv2d(x, w, { stride: 0 }), /conv2d: stride must be an integer ≥ 1/);
  assert.throws(() => conv2d(x, w, { padding: [1, -1] as [number, number] }), /conv2d: padding/);
  assert.throws(() => conv2d(x, tensor(randn(4 * 7 * 7 * 3), [4, 7, 7, 3])), /does not fit x \[2,5,5,3\]/);
  assert.throws(() => conv2d(x, w, { bias: tensor([1, 2], [2]) }), /conv2d: bias \[2\] should be \[4\]/);
  assert.throws(() => conv2d(tensor(randn(6), [2, 3]), w), /conv2d: x must be 4-D/);

  const xl = tensor(randn(3 * 5), [3, 5]);
  const wl = tensor(randn(2 * 5), [2, 5]);
  const lin = linear(xl, wl, tensor([0.5, -1], [2]));
  const [xv, wv, lv] = await Promise.all([xl.data(), wl.data(), lin.data()]);
  const want: number[] = [];
  for (let i = 0; i < 3; i++)
    for (let o = 0; o < 2; o++) {
      let s = [0.5, -1][o];
      for (let j = 0; j < 5; j++) s += xv[i * 5 + j] * wv[o * 5 + j];
      want.push(s);
    }
  assertClose(lv, want, { atol: 1e-5, rtol: 1e-5 }, 'linear');
  assert.throws(() => linear(xl, tensor(randn(8), [2, 4])), /linear: x \[3,5\] has 5 features but w \[2,4\] expects 4/);
  for (const t of [x, w, b, y, y0, xl, wl, lin]) t.dispose();
});

test.run();
