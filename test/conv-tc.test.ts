// The CUDA tensor-core convolutions (kernels/cuda/conv_tc.cuh) against the CPU reference, kernel by
// kernel: forward, input gradient and weight gradient in bfloat16, float16 and float32 read as TF32,
// on every tile a pass can run (attrs.tcTile) and several weight-gradient split counts (tcSplits), on
// the shapes that take their own paths: 16-byte-aligned channels, channels that are not (the scalar
// gather), the 7×7 stride-2 stem with 1 and 3 input channels, stride-2 input gradients (one GEMM per
// phase; a 1×1 stride-2 kernel leaves phases no tap reaches), batch 1; and matmul, which runs on the
// same GEMM core, in every transpose combination. Inputs are the same rounded
// values on both sides; the CPU computes in float32 from them and rounds its half outputs once.
// Tolerances (|ours − cpu| ≤ atol·scale + rtol·|cpu|, scale = the largest |cpu| of the output):
//   half outputs (y, dx): rtol 2^-7, atol 2^-8 — the two float32 sums differ in order by a few fp32
//     ulps, which can move the one rounding to bf16 (2^-8 relative spacing) by one step; fp16's
//     spacing is 8× finer, so the same bound holds with room;
//   fp32 weight gradients from half inputs: rtol 1e-4, atol 1e-5 — products of 16-bit values are
//     exact in fp32, only the summation order differs;
//   TF32: rtol 2e-3, atol 2e-3 — the tensor cores read 10 mantissa bits of each fp32 operand
//     (relative error ≤ 2^-10 per operand), the CPU all 23.
// Runs on a GPU, and in CI on the CUDA emulator; skipped with the reason without a cuda backend.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type DType, getBackend, initBackend, tensor, zeros } from '../src/index.js';
import type { Tensor } from '../src/core/tensor.js';
import { nativeAddon } from '../src/native.js';
import { Rng } from '../src/core/random.js';
import { assertClose, backendSelected, backendStatuses, skipNote } from './helpers.js';

const cuda = (await backendStatuses()).find((s) => s.name === 'cuda');

interface Case {
  label: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  stride: number;
  pad: number;
}
const CASES: Case[] = [
  { label: '3x3, 16→32 channels (vector loads)', x: [2, 9, 9, 16], w: [32, 3, 3, 16], stride: 1, pad: 1 },
  { label: '3x3 stride 2, batch 1, 24→40', x: [1, 11, 11, 24], w: [40, 3, 3, 24], stride: 2, pad: 1 },
  { label: 'stem 7x7 stride 2, 1 channel', x: [2, 15, 15, 1], w: [16, 7, 7, 1], stride: 2, pad: 3 },
  { label: 'stem 7x7 stride 2, 3 channels', x: [1, 13, 13, 3], w: [16, 7, 7, 3], stride: 2, pad: 3 },
  { label: '1x1 stride 2, 20→12 (scalar gather; phases without taps)', x: [2, 8, 8, 20], w: [12, 1, 1, 20], stride: 2, pad: 0 },
  { label: '1x1, 32→48 (plain GEMM)', x: [2, 6, 6, 32], w: [48, 1, 1, 32], stride: 1, pad: 0 },
  { label: '3x3, 5→6 channels, odd size', x: [1, 7, 9, 5], w: [6, 3, 3, 5], stride: 1, pad: 1 },
];

// Tiles each pass can run, as conv_tc_launch.cuh's tilesFor: vector (every channel run in whole
// 16-byte chunks) or not; the sm_70 WMMA kernels (IFA_CUDA_EMU_ARCH=70 on the emulator, or a
// compute_70 build) have fewer.
function tilesFor(kernel: string, vector: boolean, wmma: boolean): number[] {
  if (!vector) return [kernel === 'conv2d' ? 1 : kernel === 'conv2dBackwardInput' ? 4 : 5];
  if (wmma) return kernel === 'conv2d' ? [1] : kernel === 'conv2dBackwardInput' ? [1, 4] : [2];
  if (kernel === 'conv2dBackwardFilter') return [1, 2, 5];
  if (kernel === 'conv2dBackwardInput') return [0, 1, 4];
  return [0, 1];
}
function isVector(kernel: string, c: Case, dtype: DType): boolean {
  const vec = dtype === 'float32' ? 4 : 8;
  const ci = c.x[3] % vec === 0, co = c.w[0] % vec === 0, k = (c.w[1] * c.w[2] * c.w[3]) % vec === 0;
  if (kernel === 'conv2d') return ci && k;
  if (kernel === 'conv2dBackwardInput') return co;
  return co && ci;
}

function values(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}
const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

function outShape(c: Case): [number, number, number, number] {
  const o = (h: number, k: number) => Math.floor((h + 2 * c.pad - k) / c.stride) + 1;
  return [c.x[0], o(c.x[1], c.w[1]), o(c.x[2], c.w[2]), c.w[0]];
}

interface Operands {
  kernel: string;
  inputs: { shape: readonly number[]; values: Float32Array }[];
  out: readonly number[];
  outDtype: (d: DType) => DType;
}
function operands(c: Case, kernel: string): Operands {
  const y = outShape(c);
  const x = { shape: c.x, values: values(numel(c.x), 1) };
  const w = { shape: c.w, values: values(numel(c.w), 2) };
  const dy = { shape: y, values: values(numel(y), 3) };
  if (kernel === 'conv2d') return { kernel, inputs: [x, w], out: y, outDtype: (d) => d };
  if (kernel === 'conv2dBackwardInput') return { kernel, inputs: [dy, w], out: c.x, outDtype: (d) => d };
  return { kernel, inputs: [x, dy], out: c.w, outDtype: () => 'float32' };
}

async function runKernel(backend: 'cpu' | 'cuda', op: Operands, dtype: DType, attrs: Record<string, number | boolean>): Promise<Float32Array> {
  const ins: Tensor[] = op.inputs.map((t) => tensor(t.values, t.shape, { backend, dtype }));
  const out = zeros(op.out, { backend, dtype: op.outDtype(dtype) });
  try {
    getBackend(backend).run(op.kernel, ins.map((t) => t.ref()), [out.ref()], attrs);
    return await out.data();
  } finally {
    for (const t of [...ins, out]) t.dispose();
  }
}

function tolerance(kernel: string, dtype: DType, scale: number): { atol: number; rtol: number } {
  if (dtype === 'float32') return { atol: 2e-3 * scale, rtol: 2e-3 };
  if (kernel === 'conv2dBackwardFilter') return { atol: 1e-5 * scale, rtol: 1e-4 };
  return { atol: 2 ** -8 * scale, rtol: 2 ** -7 };
}

const PRECISIONS: { dtype: DType; tf32: boolean; name: string }[] = [
  { dtype: 'bfloat16', tf32: false, name: 'bfloat16' },
  { dtype: 'float16', tf32: false, name: 'float16' },
  { dtype: 'float32', tf32: true, name: 'tf32' },
];
const KERNELS = ['conv2d', 'conv2dBackwardInput', 'conv2dBackwardFilter'];

if (!backendSelected('cuda')) {
  // IFA_TEST_BACKENDS leaves cuda out.
} else if (!cuda?.available) {
  skipNote('cuda tensor-core convolutions', cuda?.reason ?? 'the cuda backend is unavailable');
  test.skip('conv-tc: tensor-core convolutions vs the cpu', () => {});
} else {
  await initBackend('cuda');
  // Below sm_80 (or on a build of compute_70 code) only float16 runs on tensor cores, on the WMMA
  // kernels: the CUDA convolutions then list float32 and float16 only, and bfloat16 and TF32 calls
  // are refused with a TypeError naming the kernel and the dtype.
  const dtypes = getBackend('cuda').kernelDtypes('conv2d');
  const wmma = !dtypes.includes('bfloat16');
  if (wmma) console.log(`  tensor cores: sm_70 WMMA kernels (conv2d takes ${dtypes.join(', ')} on this device)`);

  if (wmma) test('conv-tc: below sm_80, bfloat16 and TF32 convolutions are a TypeError naming kernel and dtype', async () => {
    assert.equal(dtypes, ['float32', 'float16']);
    for (const kernel of KERNELS) {
      const attrs = { strideH: 1, strideW: 1, padH: 1, padW: 1 };
      const bf = await runKernel('cuda', operands(CASES[0], kernel), 'bfloat16', attrs).then(() => null, (e: Error) => e);
      assert.instance(bf, TypeError, `${kernel} bfloat16`);
      assert.match(bf!.message, new RegExp(`input 0 is bfloat16, but the cuda ${kernel} kernel takes float32, float16`));
      const tf = await runKernel('cuda', operands(CASES[0], kernel), 'float32', { ...attrs, tf32: true }).then(() => null, (e: Error) => e);
      assert.instance(tf, TypeError, `${kernel} tf32`);
      assert.match(tf!.message, new RegExp(`${kernel}: TF32 convolutions need the tensor cores of sm_80`));
    }
  });

  for (const p of wmma ? PRECISIONS.filter((q) => q.dtype === 'float16') : PRECISIONS) {
    for (const c of CASES) {
      for (const kernel of KERNELS) {
        test(`conv-tc ${p.name} ${kernel}: ${c.label}, every tile${kernel === 'conv2dBackwardFilter' ? ' and split' : ''}`, async () => {
          const op = operands(c, kernel);
          const attrs = { strideH: c.stride, strideW: c.stride, padH: c.pad, padW: c.pad };
          const want = await runKernel('cpu', op, p.dtype, attrs);
          const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          const tol = tolerance(kernel, p.dtype, scale);
          const splits = kernel === 'conv2dBackwardFilter' ? [1, 2, 3] : [1];
          for (const tile of tilesFor(kernel, isVector(kernel, c, p.dtype), wmma)) {
            for (const s of splits) {
              const got = await runKernel('cuda', op, p.dtype, { ...attrs, tf32: p.tf32, tcTile: tile, tcSplits: s });
              assertClose(got, want, tol, `${kernel} ${p.name} tile ${tile} splits ${s}`);
            }
          }
          // The plan the rule picks (no override) too.
          assertClose(await runKernel('cuda', op, p.dtype, { ...attrs, tf32: p.tf32 }), want, tol, `${kernel} ${p.name} chosen plan`);
        });
      }
    }
  }

  // matmul on the same core: every transpose combination, 16-byte-aligned sizes and odd ones.
  for (const p of wmma ? PRECISIONS.filter((q) => q.dtype === 'float16') : PRECISIONS) {
    test(`conv-tc ${p.name} matmul: the tensor-core GEMM, every transpose, aligned and odd sizes`, async () => {
      for (const [m, n, k] of [
        [40, 48, 64],
        [5, 7, 3],
        [130, 9, 24],
      ]) {
        for (const ta of [false, true]) {
          for (const tb of [false, true]) {
            const op: Operands = {
              kernel: 'matmul',
              inputs: [
                { shape: ta ? [k, m] : [m, k], values: values(m * k, 4) },
                { shape: tb ? [n, k] : [k, n], values: values(k * n, 5) },
              ],
              out: [m, n],
              outDtype: (d) => d,
            };
            const attrs = { transposeA: ta, transposeB: tb };
            const want = await runKernel('cpu', op, p.dtype, attrs);
            const scale = want.reduce((mx, v) => Math.max(mx, Math.abs(v)), 0);
            const got = await runKernel('cuda', op, p.dtype, { ...attrs, tf32: p.tf32 });
            assertClose(got, want, tolerance('matmul', p.dtype, scale), `matmul ${p.name} ${m}x${n}x${k} ta ${ta} tb ${tb}`);
          }
        }
      }
    });
  }

  test('conv-tc: the weight gradient is deterministic (same plan, same bits), split or not', async () => {
    const c = CASES[0];
    const op = operands(c, 'conv2dBackwardFilter');
    for (const p of wmma ? PRECISIONS.filter((q) => q.dtype === 'float16') : PRECISIONS) {
      for (const s of [1, 3]) {
        const attrs = { strideH: 1, strideW: 1, padH: 1, padW: 1, tf32: p.tf32, tcSplits: s };
        const a = await runKernel('cuda', op, p.dtype, attrs);
        const b = await runKernel('cuda', op, p.dtype, attrs);
        assert.equal(Buffer.from(a.buffer), Buffer.from(b.buffer), `${p.name} splits ${s}: two runs differ`);
      }
    }
  });

  test('conv-tc: the plan each convolution ran is visible (convPlans)', async () => {
    const plans = nativeAddon().convPlans!();
    assert.ok(plans.length > 0, 'no plans recorded');
    const tc = plans.find((s) => s.startsWith('conv2dBackwardFilter') && s.includes(wmma ? 'float16 wmma' : 'bfloat16 tc'));
    assert.ok(tc, `no weight-gradient plan in ${JSON.stringify(plans.slice(0, 5))}`);
    assert.match(tc!, /(tc|wmma) \d+x\d+ warps \dx\d stages \d/);
  });

  test('conv-tc: a bad plan override is a RangeError naming the kernel, and the process goes on', async () => {
    const c = CASES[0];
    const op = operands(c, 'conv2d');
    let err: unknown;
    try {
      await runKernel('cuda', op, 'float16', { strideH: 1, strideW: 1, padH: 1, padW: 1, tcTile: 99 });
    } catch (e) {
      err = e;
    }
    assert.instance(err, RangeError);
    assert.match((err as Error).message, /conv2d: tcTile 99/);
    const ok = await runKernel('cuda', op, 'float16', { strideH: 1, strideW: 1, padH: 1, padW: 1 });
    assert.ok(ok.every(Number.isFinite));
  });
}

test.run();
