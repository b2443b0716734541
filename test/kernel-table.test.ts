// The kernel table (src/backends/kernels.ts) against what the backends register and what the one
// validator per kernel (the addon's, which WebGPU calls too) accepts:
// - the kernels the addon registers on the CPU (and on CUDA where compiled) and those the WebGPU
//   backend implements are exactly the table's, besides the reasoned exceptions below;
// - each registered kernel's tensor counts, slot roles, in-place flag and any-dtype flag are the
//   table's;
// - a valid call of every kernel passes validate(); dropping a required attribute fails with
//   "attrs.<name> is required", dropping an optional one is no attribute error; every attribute a valid call
//   passes is in the table. So a kernel holds no attribute defaults the table does not state.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KERNELS, KERNEL_NAMES, type KernelContract, type KernelName, isReferenceTwin, kernelContract } from '../src/backends/kernels.js';
import { KERNEL_NAMES as WEBGPU_KERNELS } from '../src/backends/webgpu/kernels.js';
import { nativeAddon, type NativeDevice } from '../src/native.js';

const addon = nativeAddon();
const devices: NativeDevice[] = addon.info().cuda.compiled ? ['cpu', 'cuda'] : ['cpu'];

/** Table kernels a backend leaves out, and why. */
const NOT_ON: Record<string, Partial<Record<KernelName, string>>> = {
  cpu: {},
  cuda: {},
  webgpu: {
    cast: 'WebGPU stores float32 only, so there is no dtype to cast between',
    sgemm: 'the BLAS-form GEMM is a benchmark kernel of the native backends; models use matmul',
  },
};

function checkSet(backend: string, registered: readonly string[]): void {
  const outside = registered.filter((k) => kernelContract(k) === undefined && !(backend === 'cpu' && isReferenceTwin(k)));
  assert.equal(outside, [], `${backend} registers kernels that are not in src/backends/kernels.ts: ${outside.join(', ')}`);
  const missing = KERNEL_NAMES.filter((k) => !registered.includes(k) && NOT_ON[backend][k] === undefined);
  assert.equal(missing, [], `${backend} lacks table kernels without a stated reason: ${missing.join(', ')}`);
  for (const k of Object.keys(NOT_ON[backend])) assert.not.ok(registered.includes(k), `${backend} has ${k} now: drop it from NOT_ON`);
}

test('the addon registers exactly the table\'s kernels on each device, and WebGPU implements them', () => {
  for (const d of devices) checkSet(d, addon.kernels(d));
  checkSet('webgpu', WEBGPU_KERNELS);
  // A twin is registered only where its kernel is, on the CPU.
  for (const k of addon.kernels('cpu').filter(isReferenceTwin)) assert.ok(kernelContract(k.replace(/Reference$/, '')), k);
});

/** The registry's role for slot i of a role string ("" is all T; a list repeats its last role). */
const roleAt = (roles: string, i: number): string => (roles === '' ? 'T' : roles[Math.min(i, roles.length - 1)]);

test('each registered kernel has the table\'s tensor counts, slot roles and in-place flag', () => {
  for (const d of devices) {
    const contracts = addon.kernelContracts(d);
    for (const [name, got] of Object.entries(contracts)) {
      const want = kernelContract(isReferenceTwin(name) ? name.replace(/Reference$/, '') : name);
      if (!want) continue; // outside the table: the test above names it
      const variadicIn = want.variadic === 'inputs' || want.variadic === 'both';
      const variadicOut = want.variadic === 'outputs' || want.variadic === 'both' || (want.optionalOutputs ?? 0) > 0;
      assert.is(got.inputs, variadicIn ? -1 : want.inputs.length, `${d} ${name}: inputs`);
      assert.is(got.outputs, variadicOut ? -1 : want.outputs.length, `${d} ${name}: outputs`);
      want.inputs.forEach((s, i) => assert.is(roleAt(got.inputRoles, i), s.role, `${d} ${name}: input ${s.name} role`));
      want.outputs.forEach((s, i) => assert.is(roleAt(got.outputRoles, i), s.role, `${d} ${name}: output ${s.name} role`));
      assert.is(got.inPlace, want.inPlace === true, `${d} ${name}: in place`);
      assert.is(got.anyDtype, want.anyDtype === true, `${d} ${name}: any dtype`);
    }
  }
});

type Call = [inputs: number[][], outputs: number[][], attrs: Record<string, number | boolean | number[]>];
const conv = { strideH: 1, strideW: 1, padH: 1, padW: 1 };
const pool = { kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padH: 1, padW: 1 };
const x4 = [2, 5, 5, 3];
const bn = [[2, 3, 3, 4], [4], [4]];

/** One valid call of every kernel, with every attribute the table lists for it. */
const VALID: Record<KernelName, Call> = {
  add: [[[2, 3], [3]], [[2, 3]], {}],
  mul: [[[2, 1], [1, 3]], [[2, 3]], {}],
  broadcastTo: [[[3]], [[2, 3]], { scale: 0.5 }],
  relu: [[[4]], [[4]], {}],
  reluBackward: [[[4], [4]], [[4]], {}],
  addRelu: [[[2, 3], [2, 3]], [[2, 3]], {}],
  fill: [[], [[5]], { value: 2 }],
  cast: [[[3]], [[3]], {}],
  reduceSum: [[[2, 3, 4]], [[2, 4]], { axes: [1], scale: 2 }],
  matmul: [[[3, 2], [4, 3]], [[2, 4]], { transposeA: true, transposeB: true, tf32: false }],
  sgemm: [[[2, 3], [3, 4]], [[2, 4]], { m: 2, n: 4, k: 3, alpha: 1, beta: 0, transposeA: false, transposeB: false }],
  conv2d: [[x4, [6, 3, 3, 3]], [[2, 5, 5, 6]], { ...conv, tf32: false }],
  conv2dBackwardInput: [[[2, 5, 5, 6], [6, 3, 3, 3]], [x4], { ...conv, tf32: false }],
  conv2dBackwardFilter: [[x4, [2, 5, 5, 6]], [[6, 3, 3, 3]], { ...conv, tf32: false }],
  batchNormTrain: [bn, bn, { eps: 1e-5, relu: true }],
  batchNormEval: [[...bn, [4], [4]], [bn[0]], { eps: 1e-5, relu: true }],
  batchNormBackward: [[bn[0], ...bn, [4], [4]], bn, { relu: true }],
  batchNormEvalBackward: [[bn[0], ...bn, [4], [4]], bn, { eps: 1e-5, relu: true }],
  batchNormUpdateStats: [[[4], [4]], [[4], [4]], { momentum: 0.1, eps: 1e-5, count: 18 }],
  maxPool2d: [[[1, 6, 6, 2]], [[1, 3, 3, 2]], pool],
  maxPool2dBackward: [[[1, 3, 3, 2], [1, 6, 6, 2]], [[1, 6, 6, 2]], pool],
  l2Normalize: [[[3, 4]], [[3, 4]], { eps: 1e-12 }],
  l2NormalizeBackward: [[[3, 4], [3, 4]], [[3, 4]], { eps: 1e-12 }],
  concat: [[[2, 3], [2, 1]], [[2, 4]], { axis: 1 }],
  slice: [[[5, 4]], [[2, 4]], { axis: 0, start: 1 }],
  sliceBackward: [[[2, 4]], [[5, 4]], { axis: 0, start: 3 }],
  softmaxCrossEntropy: [[[3, 5], [3]], [[1]], {}],
  softmaxCrossEntropyBackward: [[[1], [3, 5], [3]], [[3, 5]], {}],
  ifaLoss: [[[2, 3, 3, 4], [2, 3, 3, 4]], [[1]], { target: 1, eps: 1e-6 }],
  ifaLossBackward: [[[1], [2, 4], [2, 4]], [[2, 4], [2, 4]], { target: 1, eps: 1e-6 }],
  ifaLossWithGrad: [[[2, 4], [2, 4]], [[1], [2, 4], [2, 4]], { target: 1, eps: 1e-6, gradScale: 0.5 }],
  gatherRows: [[[4, 3]], [[2, 3]], { index: [3, 0] }],
  copyRows: [[[2, 3]], [[6, 3]], { start: 4 }],
  sgd: [[[3], [2, 2]], [[3], [2, 2], [3], [2, 2]], { lr: 0.1, momentum: 0.9, weightDecay: 1e-4, dampening: 0, nesterov: true, firstStep: false }],
  ema: [[[3], [2]], [[3], [2]], { m: 0.99 }],
  augmentUnpack16: [[[6]], [[2, 2, 3]], {}],
  augmentPointwise: [[[2, 4, 5], [2, 5]], [[2, 4, 5]], {}],
  augmentWarpAffine: [[[2, 4, 5], [2, 7]], [[2, 4, 5]], {}],
  augmentOptical: [[[2, 4, 5], [2, 4]], [[2, 4, 5]], {}],
  augmentMedian3: [[[2, 4, 5], [2, 1]], [[2, 4, 5]], {}],
  augmentTaps: [[[2, 4, 5], [2, 8]], [[2, 4, 5]], {}],
  augmentSharpen: [[[2, 4, 5], [2, 3]], [[2, 4, 5]], {}],
  augmentCutout: [[[2, 4, 5], [2, 6]], [[2, 4, 5]], {}],
  augmentGaussNoise: [[[2, 4, 5], [2, 4], [4097]], [[2, 4, 5]], {}],
  augmentMulNoise: [[[2, 4, 5], [2, 5]], [[2, 4, 5]], {}],
};

const attrsOf = (name: KernelName): KernelContract['attrs'] => (KERNELS as Record<string, KernelContract>)[name].attrs;

test('a valid call of every kernel passes the one validator on every device', () => {
  assert.equal(Object.keys(VALID).sort(), [...KERNEL_NAMES].sort());
  for (const d of devices) {
    const registered = addon.kernels(d);
    for (const name of KERNEL_NAMES) {
      if (!registered.includes(name)) continue;
      const [ins, outs, attrs] = VALID[name];
      addon.validate(name, ins, outs, attrs, d);
    }
  }
});

test('the validators require exactly the table\'s required attributes, and the calls use no others', () => {
  for (const name of KERNEL_NAMES) {
    const [ins, outs, attrs] = VALID[name];
    const table = attrsOf(name);
    const usesTesting = (a: string) => a === 'tcTile' || a === 'tcSplits';
    assert.equal(
      Object.keys(attrs).sort(),
      Object.keys(table).filter((a) => !usesTesting(a)).sort(),
      `${name}: the valid call sets every attribute the table lists (tcTile/tcSplits are CUDA test hooks)`,
    );
    for (const [attr, spec] of Object.entries(table)) {
      if (!(attr in attrs)) continue;
      const without = { ...attrs };
      delete without[attr];
      if (spec.required) {
        assert.throws(() => addon.validate(name, ins, outs, without), new RegExp(`^${name}: attrs\\.${attr}( \\([^)]*\\))? is required$`), `${name} without ${attr}`);
      } else {
        // Absent is allowed (it may change the meaning: reduceSum without axes sums everything).
        try {
          addon.validate(name, ins, outs, without);
        } catch (e) {
          assert.not.match((e as Error).message, `attrs.${attr}`, `${name}: optional ${attr} absent`);
        }
      }
    }
  }
});

test('validate() says what run() says: counts, shapes and attrs, naming the kernel, without the run prefix', () => {
  assert.throws(() => addon.validate('relu', [[2]], []), /^relu: expects 1 output\(s\), got 0$/);
  assert.throws(() => addon.validate('conv2d', [[1, 5, 5, 3], [4, 3, 3, 2]], [[1, 3, 3, 4]], conv), (e: Error) => e instanceof RangeError && /^conv2d: x \[1,5,5,3\] has 3 channels but w/.test(e.message));
  assert.throws(() => addon.validate('ema', [[3]], [[3]], { m: 2 }), /^ema: attrs\.m must be in \[0, 1\], got 2\.000000$/);
  assert.throws(() => addon.validate('noSuchKernel', [], []), /unknown kernel 'noSuchKernel'/);
  // The same bad calls through run() (on real buffers) and validate() (shapes only) say the same.
  const x = addon.alloc(4);
  const y = addon.alloc(4);
  try {
    const cases: Array<[string, number[], number[], Record<string, number>]> = [
      ['ema', [4], [4], { m: -1 }],
      ['relu', [4], [2, 2], {}],
      ['l2Normalize', [2, 2], [2, 2], {}],
    ];
    for (const [k, xs, ys, attrs] of cases) {
      const message = (f: () => void): string => {
        try {
          f();
          return 'no error';
        } catch (e) {
          return (e as Error).message.replace(/^ifa_native\.run: /, '');
        }
      };
      const viaRun = message(() => addon.run(k, [[x, xs]], [[y, ys]], attrs));
      const viaValidate = message(() => addon.validate(k, [xs], [ys], attrs));
      assert.ok(viaValidate.startsWith(`${k}: `), viaValidate);
      assert.is(viaValidate, viaRun, k);
    }
  } finally {
    addon.free(x);
    addon.free(y);
  }
});

test.run();
