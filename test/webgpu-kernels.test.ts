// WebGPU kernels on larger shapes than the op-level conformance suite's cases (multi-tile
// convolutions, multi-block batch-norm reductions; the in-place kernels, on every device backend, are
// in device-kernels.test.ts), and argument validation: WebGPU checks a call with the addon's validator
// before it encodes anything (the one validator of every backend), so a bad call throws the CPU
// backend's error class and message (minus the addon's "ifa_native.run: " prefix) and dispatches
// nothing. Skipped, with the reason, when WebGPU is unavailable or IFA_TEST_BACKENDS leaves it out.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { getBackend, initBackend, type Backend } from '../src/index.js';
import type { KernelAttrs } from '../src/backends/backend.js';
import { assertClose, backendSelected, backendStatuses, expectKernelMatch, skipNote, testValues, type Tolerance } from './helpers.js';

const statuses = await backendStatuses();
const webgpu = statuses.find((s) => s.name === 'webgpu');
const s = suite('webgpu kernels vs cpu');

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const expectMatch = (kernel: string, inShapes: number[][], outShapes: number[][], attrs: KernelAttrs, tol?: Tolerance): Promise<void> =>
  expectKernelMatch('webgpu', kernel, inShapes, outShapes, attrs, tol);

/** The error a call throws on a backend, as [class, message without the addon prefix]. */
function errorOf(be: Backend, kernel: string, inShapes: number[][], outShapes: number[][], attrs: KernelAttrs): [string, string] {
  const ins = inShapes.map((sh) => ({ storage: be.alloc(numel(sh)), shape: sh }));
  const outs = outShapes.map((sh) => ({ storage: be.alloc(numel(sh)), shape: sh }));
  try {
    be.run(kernel, ins, outs, attrs);
    return ['none', ''];
  } catch (e) {
    return [(e as Error).constructor.name, (e as Error).message.replace(/^ifa_native\.run: /, '')];
  } finally {
    for (const t of [...ins, ...outs]) be.free(t.storage);
  }
}

/** Runs one call on fresh buffers and rethrows what it throws. */
function errorOrThrow(be: Backend, kernel: string, inShapes: number[][], outShapes: number[][], attrs: KernelAttrs): void {
  const [cls, msg] = errorOf(be, kernel, inShapes, outShapes, attrs);
  if (cls === 'none') return;
  throw cls === 'RangeError' ? new RangeError(msg) : new Error(`${cls}: ${msg}`);
}

if (!backendSelected('webgpu')) {
  // IFA_TEST_BACKENDS leaves webgpu out: nothing to run or report.
  skipNote('webgpu kernels', webgpu?.reason ?? 'left out by IFA_TEST_BACKENDS');
} else if (!webgpu?.available) {
  skipNote('webgpu kernels', webgpu?.reason ?? 'the webgpu backend is unavailable');
  s.skip('webgpu kernels (backend unavailable)', () => {});
} else {
  await initBackend('webgpu');

  s('convolutions with several tiles in every GEMM dimension', async () => {
    const tol = { atol: 1e-4, rtol: 1e-4 };
    const a = { strideH: 1, strideW: 1, padH: 1, padW: 1 };
    const a2 = { strideH: 2, strideW: 2, padH: 1, padW: 1 };
    await expectMatch('conv2d', [[2, 12, 12, 40], [70, 3, 3, 40]], [[2, 12, 12, 70]], a, tol);
    await expectMatch('conv2dBackwardInput', [[2, 12, 12, 70], [70, 3, 3, 40]], [[2, 12, 12, 40]], a, tol);
    await expectMatch('conv2dBackwardInput', [[2, 6, 6, 70], [70, 3, 3, 40]], [[2, 12, 12, 40]], a2, tol);
    await expectMatch('conv2dBackwardFilter', [[2, 12, 12, 40], [2, 12, 12, 70]], [[70, 3, 3, 40]], a, tol);
    await expectMatch('conv2dBackwardFilter', [[2, 32, 32, 1], [2, 16, 16, 64]], [[64, 7, 7, 1]], { strideH: 2, strideW: 2, padH: 3, padW: 3 }, tol);
  });

  s('batch norm with many row blocks and channel tiles', async () => {
    const tol = { atol: 1e-5, rtol: 1e-4 };
    await expectMatch('batchNormTrain', [[2, 20, 20, 70], [70], [70]], [[2, 20, 20, 70], [70], [70]], { eps: 1e-5, relu: true }, tol);
    await expectMatch('batchNormEvalBackward', [[2, 20, 20, 70], [2, 20, 20, 70], [70], [70], [70], [70]], [[2, 20, 20, 70], [70], [70]], { eps: 10, relu: true }, tol);
  });

  s('ifa loss and its gradient on a bench-sized input', async () => {
    const sh = [4, 4, 4, 300];
    await expectMatch('ifaLoss', [sh, sh], [[1]], { target: 1, eps: 1e-6 }, { atol: 1e-6, rtol: 1e-5 });
    await expectMatch('ifaLossBackward', [[1], sh, sh], [sh, sh], { target: 0.3, eps: 1e-6 }, { atol: 1e-7, rtol: 1e-4 });
    await expectMatch('ifaLossWithGrad', [sh, sh], [[1], sh, sh], { target: 0.3, eps: 1e-6, gradScale: 0.7 }, { atol: 1e-7, rtol: 1e-4 });
    await expectMatch('ifaLossWithGrad', [sh, sh], [[1], sh], { target: 1, eps: 1e-6, gradScale: -2 }, { atol: 1e-7, rtol: 1e-4 });
  });

  const bad: [string, number[][], number[][], KernelAttrs][] = [
    ['concat', [], [[2, 3]], { axis: 0 }],
    ['concat', [[2, 3], [2, 4]], [[4, 3]], { axis: 0 }],
    ['concat', [[2, 3], [1, 3]], [[4, 3]], { axis: 0 }],
    ['slice', [[5, 4]], [[3, 4]], { axis: 0, start: 3 }],
    ['slice', [[5, 4]], [[3, 3]], { axis: 0, start: 0 }],
    ['sliceBackward', [[2, 4]], [[5, 4]], { axis: 2, start: 0 }],
    ['gatherRows', [[4, 2]], [[2, 2]], { index: [0, 4] }],
    ['gatherRows', [[4, 2]], [[2, 2]], {}],
    ['copyRows', [[3, 2]], [[4, 2]], { start: 2 }],
    ['copyRows', [[3, 2]], [[4, 3]], { start: 0 }],
    ['l2Normalize', [[3, 4]], [[3, 4]], { eps: -1 }],
    ['l2NormalizeBackward', [[3, 5], [3, 4]], [[3, 4]], {}],
    ['softmaxCrossEntropy', [[3, 4], [2]], [[1]], {}],
    ['softmaxCrossEntropyBackward', [[2], [3, 4], [3]], [[3, 4]], {}],
    ['ifaLoss', [[2, 3], [2, 4]], [[1]], {}],
    ['ifaLoss', [[2, 3], [2, 3]], [[1]], { eps: -1 }],
    ['ifaLossBackward', [[1], [2, 3], [2, 3]], [[2, 3], [2, 3], [2, 3]], {}],
    ['ifaLossWithGrad', [[2, 3], [2, 3]], [[1]], {}],
    ['ifaLossWithGrad', [[2, 3], [2, 3]], [[2], [2, 3]], {}],
    ['ifaLossWithGrad', [[2, 3], [2, 3]], [[1], [2, 3], [3, 2]], {}],
    ['ifaLossWithGrad', [[2, 3], [2, 3]], [[1], [2, 3]], { gradScale: Infinity }],
    ['batchNormTrain', [[2, 3, 3, 4], [3], [4]], [[2, 3, 3, 4], [4], [4]], {}],
    ['batchNormTrain', [[4], [4], [4]], [[4], [4], [4]], {}],
    ['batchNormEval', [[2, 4], [4], [4], [4], [4]], [[2, 4]], { eps: -1 }],
    ['batchNormBackward', [[2, 4], [2, 4], [4], [4], [4], [4]], [[2, 4], [4], [3]], {}],
    ['batchNormUpdateStats', [[4], [4]], [[4], [4]], { momentum: 0.1, count: 1 }],
    ['batchNormUpdateStats', [[4], [4]], [[4], [4]], { momentum: 2, count: 8 }],
    ['maxPool2d', [[1, 4, 4, 2]], [[1, 2, 2, 2]], { kernelH: 2, kernelW: 2, strideH: 2, strideW: 2, padH: 2, padW: 0 }],
    ['maxPool2d', [[1, 4, 4, 2]], [[1, 3, 2, 2]], { kernelH: 2, kernelW: 2, strideH: 2, strideW: 2, padH: 0, padW: 0 }],
    ['maxPool2dBackward', [[1, 2, 2, 2], [1, 4, 4]], [[1, 4, 4, 2]], { kernelH: 2, kernelW: 2, strideH: 2, strideW: 2, padH: 0, padW: 0 }],
    ['conv2d', [[1, 5, 5, 3], [4, 3, 3, 2]], [[1, 3, 3, 4]], {}],
    ['conv2d', [[1, 5, 5, 3], [4, 3, 3, 3]], [[1, 5, 5, 4]], {}],
    ['conv2d', [[1, 5, 5, 3], [4, 3, 3, 3]], [[1, 3, 3, 4]], { strideH: 0 }],
    ['conv2dBackwardInput', [[1, 3, 3, 4], [4, 3, 3, 3]], [[1, 6, 6, 3]], {}],
    ['conv2dBackwardFilter', [[1, 5, 5, 3], [1, 3, 3, 4]], [[4, 9, 9, 3]], {}],
    ['sgd', [[3]], [[3], [3]], { lr: 0.1, momentum: 0, nesterov: true }],
    ['sgd', [[3]], [[3]], { lr: 0.1, momentum: 0.9 }],
    ['sgd', [[3]], [[4], [3]], { lr: 0.1, momentum: 0.9 }],
    ['sgd', [[3]], [[3]], { momentum: 0 }],
    ['ema', [[3]], [[3]], { m: 2 }],
    ['ema', [[3], [2]], [[3]], { m: 0.5 }],
  ];
  // The messages match by construction (one validator); what this checks is that WebGPU asks it
  // first: a bad call throws at run() and encodes nothing, so no GPU error reaches the next sync.
  s('a bad call is refused by the shared validator before anything is encoded', async () => {
    const gpu = getBackend('webgpu');
    for (const [kernel, ins, outs, attrs] of bad) {
      const want = errorOf(getBackend('cpu'), kernel, ins, outs, attrs);
      const got = errorOf(gpu, kernel, ins, outs, attrs);
      assert.is.not(want[0], 'none', `${kernel} ${JSON.stringify([ins, outs, attrs])} should be rejected by the cpu backend`);
      assert.equal(got, want, `${kernel} ${JSON.stringify([ins, outs, attrs])}`);
    }
    await gpu.sync();
  });

  s('timeMs reads device time from timestamp queries: positive, within the wall time, more work takes longer', async () => {
    const be = getBackend('webgpu') as Backend & { hasTimestamps: boolean; timeMs(fn: () => void): Promise<number> };
    if (!be.hasTimestamps) {
      skipNote('webgpu timestamp timing', 'this adapter has no timestamp-query; timeMs falls back to wall time');
      return;
    }
    const n = 192;
    const a = be.alloc(n * n, Float32Array.from({ length: n * n }, (_, i) => Math.sin(i)));
    const c = be.alloc(n * n);
    const matmuls = (k: number) => () => {
      for (let i = 0; i < k; i++) be.run('matmul', [{ storage: a, shape: [n, n] }, { storage: a, shape: [n, n] }], [{ storage: c, shape: [n, n] }], {});
    };
    try {
      await be.timeMs(matmuls(1)); // warm-up: pipelines compiled
      const t0 = performance.now();
      const one = await be.timeMs(matmuls(2));
      const wall = performance.now() - t0;
      const eight = await be.timeMs(matmuls(8));
      assert.ok(one > 0 && one <= wall, `2 matmuls: ${one} ms of device time in ${wall} ms of wall time`);
      assert.ok(eight > 2 * one, `8 matmuls took ${eight} ms, 2 took ${one} ms`);
      let nested: Promise<string> | undefined;
      await be.timeMs(() => {
        nested = be.timeMs(() => {}).then(
          () => 'a nested timeMs ran',
          (e: Error) => e.message,
        );
      });
      assert.match(await nested!, /timeMs: already timing \(calls do not nest\)/);
    } finally {
      be.free(a);
      be.free(c);
    }
  });

  // Past one storage binding (split.ts): a kernel that computes each sample from its own slice runs
  // as calls over views of the batch; one that reduces over the batch is refused, naming the limit.
  const bigCase = async (kernel: string, inShapes: number[][], outShapes: number[][], attrs: KernelAttrs, fill: (i: number) => number): Promise<void> => {
    const be = getBackend('webgpu') as Backend & { limits: GPUSupportedLimits };
    const cpu = getBackend('cpu');
    const biggest = Math.max(...[...inShapes, ...outShapes].map(numel)) * 4;
    assert.ok(biggest > be.limits.maxStorageBufferBindingSize, `${kernel}: the test tensor (${biggest} bytes) must be past the binding limit`);
    // fill's first 2^16 values, then that block repeated (a closure per element over ~10^8 values is slow).
    const data = inShapes.map((sh, k) => {
      const d = new Float32Array(numel(sh));
      const head = Math.min(d.length, 1 << 16);
      for (let i = 0; i < head; i++) d[i] = fill(i + k * 7919);
      for (let i = head; i < d.length; i += head) d.copyWithin(i, 0, Math.min(head, d.length - i));
      return d;
    });
    const run = async (b: Backend): Promise<Float32Array[]> => {
      const ins = inShapes.map((sh, k) => ({ storage: b.alloc(numel(sh), data[k]), shape: sh }));
      const outs = outShapes.map((sh) => ({ storage: b.alloc(numel(sh)), shape: sh }));
      try {
        b.run(kernel, ins, outs, attrs);
        return await Promise.all(outs.map((o) => b.read(o.storage)));
      } finally {
        for (const t of [...ins, ...outs]) b.free(t.storage);
      }
    };
    const got = await run(be);
    const want = await run(cpu);
    want.forEach((w, i) => assertClose(got[i], w, { atol: 1e-6, rtol: 1e-6 }, `${kernel} past the binding limit, output ${i}`));
    (be as unknown as { emptyCache(): void }).emptyCache();
  };
  const wave = (i: number) => Math.sin(i * 0.7316) * ((i % 13) - 6);

  s('past one storage binding, a per-sample kernel runs split along its batch (relu 1-D, maxPool2d, augmentPointwise)', async () => {
    const be = getBackend('webgpu') as Backend & { limits: GPUSupportedLimits };
    const maxBinding = be.limits.maxStorageBufferBindingSize;
    if (maxBinding * 1.3 > be.limits.maxBufferSize || maxBinding > 2 ** 28) {
      skipNote('split past the binding limit', `this device binds ${maxBinding} bytes; the test sizes assume ≤ 256 MiB`);
      return;
    }
    const n = maxBinding / 4 + 64;
    await bigCase('relu', [[n]], [[n]], {}, wave);
    const N = Math.ceil(maxBinding / (4 * 512 * 512)) + 1;
    await bigCase('maxPool2d', [[N, 512, 512, 1]], [[N, 256, 256, 1]], { kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padH: 1, padW: 1 }, wave);
    const rows = Array.from({ length: N }, (_, b) => [1, 1.5, -0.25, 0.9, 0.01 * b]);
    const params = rows.flat();
    await bigCase('augmentPointwise', [[N, 512, 512], [N, 5]], [[N, 512, 512]], {}, (i) => (i >= 7919 && i < 7919 + params.length ? params[i - 7919] : 0.5 + 0.5 * Math.sin(i)));
  });

  s('past a binding limit lowered by IFA_WEBGPU_BINDING_LIMIT, batch norm (train, eval, both backwards) and the weight gradient split and match the CPU', async () => {
    const be = getBackend('webgpu') as Backend;
    const before = process.env.IFA_WEBGPU_BINDING_LIMIT;
    const pos = (n: number, seed: number) => Float32Array.from(testValues(n, seed), (v) => 0.75 + Math.abs(v));
    const tol = { atol: 2e-5, rtol: 2e-4 };
    try {
      // [7, 8, 8, 16]: 4 KiB per sample, so under an 8 KiB limit chunks of 2, 2, 2 and 1 samples;
      // [5, 4, 4, 80]: C not a multiple of 64, 5 KiB per sample, chunks of 2, 2, 1 under 12000 bytes.
      for (const [shape, limit] of [[[7, 8, 8, 16], 8192], [[5, 4, 4, 80], 12000]] as Array<[number[], number]>) {
        process.env.IFA_WEBGPU_BINDING_LIMIT = String(limit);
        const C = shape[3];
        const n = numel(shape);
        // The limit is in force: a kernel that cannot split is refused at this size.
        assert.throws(() => errorOrThrow(be, 'reduceSum', [shape], [[C]], { axes: [0, 1, 2] }), /more than this device's maxStorageBufferBindingSize \(\d+ bytes\), and reduceSum reduces over the batch/);
        for (const relu of [false, true]) {
          await expectMatch('batchNormTrain', [shape, [C], [C]], [shape, [C], [C]], { eps: 1e-5, relu }, tol);
          const init = { inputs: [testValues(n, 1), testValues(n, 2), pos(C, 3), testValues(C, 4), testValues(C, 5), pos(C, 6)] };
          await expectKernelMatch('webgpu', 'batchNormBackward', [shape, shape, [C], [C], [C], [C]], [shape, [C], [C]], { relu }, tol, init);
          await expectKernelMatch('webgpu', 'batchNormEvalBackward', [shape, shape, [C], [C], [C], [C]], [shape, [C], [C]], { eps: 1e-5, relu }, tol, init);
          await expectKernelMatch('webgpu', 'batchNormEval', [shape, [C], [C], [C], [C]], [shape], { eps: 1e-5, relu }, tol, { inputs: [testValues(n, 1), pos(C, 2), testValues(C, 3), testValues(C, 4), pos(C, 5)] });
        }
        const [N, H, W] = shape;
        // dw itself must fit one binding (it is bound whole): 4 filters of 3×3×C.
        await expectMatch('conv2dBackwardFilter', [shape, [N, H, W, 4]], [[4, 3, 3, C]], { strideH: 1, strideW: 1, padH: 1, padW: 1 }, tol);
        await expectMatch('conv2dBackwardFilter', [shape, [N, H / 2, W / 2, 8]], [[8, 1, 1, C]], { strideH: 2, strideW: 2, padH: 0, padW: 0 }, tol);
      }
    } finally {
      if (before === undefined) delete process.env.IFA_WEBGPU_BINDING_LIMIT;
      else process.env.IFA_WEBGPU_BINDING_LIMIT = before;
    }
    await be.sync();
  });

  s('IFA_WEBGPU_BINDING_LIMIT that is not a whole number of bytes ≥ 256 is refused by name', () => {
    const be = getBackend('webgpu') as Backend;
    const before = process.env.IFA_WEBGPU_BINDING_LIMIT;
    try {
      for (const bad of ['12.5', 'lots', '16']) {
        process.env.IFA_WEBGPU_BINDING_LIMIT = bad;
        assert.throws(() => errorOrThrow(be, 'relu', [[4]], [[4]], {}), (e: Error) => e instanceof RangeError && e.message.startsWith('IFA_WEBGPU_BINDING_LIMIT must be an integer number of bytes'));
      }
    } finally {
      if (before === undefined) delete process.env.IFA_WEBGPU_BINDING_LIMIT;
      else process.env.IFA_WEBGPU_BINDING_LIMIT = before;
    }
  });

  s('past one storage binding, a kernel that reduces over the batch is refused naming the limit and the fix', async () => {
    const be = getBackend('webgpu') as Backend & { limits: GPUSupportedLimits };
    const maxBinding = be.limits.maxStorageBufferBindingSize;
    const n = maxBinding / 4 + 64;
    if (n * 4 > be.limits.maxBufferSize) return;
    const x = be.alloc(n);
    const y = be.alloc(1);
    try {
      assert.throws(
        () => be.run('reduceSum', [{ storage: x, shape: [n] }], [{ storage: y, shape: [] }]),
        (e: Error) =>
          e instanceof RangeError &&
          e.message.startsWith('reduceSum: inputs[0] is') &&
          e.message.includes(`more than this device's maxStorageBufferBindingSize (${maxBinding} bytes), and reduceSum reduces over the batch`) &&
          e.message.endsWith('use a smaller batch or image'),
      );
    } finally {
      be.free(x);
      be.free(y);
      (be as unknown as { emptyCache(): void }).emptyCache();
    }
    await be.sync();
  });
}

s.run();
