// Tensor dtypes (float32, bfloat16, float16): the host conversions against PyTorch's roundings
// (test/fixtures/dtype.json, made by test/fixtures/make_dtype_fixtures.py) bit for bit, through alloc,
// write and the cast kernel, on the cpu and, when selected and available, the cuda backend; the
// tensor API's dtype; cast and its gradient; mixed-dtype gradients; the dtype errors of ops and of the
// addon (TypeErrors, checked by text); WebGPU's refusal of half tensors; memory()'s bytes per dtype;
// the float32 precision switch and the tf32 attribute it gives convolutions and matmuls.
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type DType,
  DTYPES,
  add,
  batchNorm2d,
  cast,
  conv2d,
  full,
  getBackend,
  getFloat32Precision,
  initBackend,
  matmul,
  memory,
  mul,
  ones,
  randomNormal,
  randomUniform,
  relu,
  setFloat32Precision,
  sgdStep,
  softmaxCrossEntropy,
  sum,
  tensor,
  tidy,
  zeros,
} from '../src/index.js';
import type { KernelAttrs, TensorRef } from '../src/backends/backend.js';
import { nativeAddon } from '../src/native.js';
import { backendSelected, backendStatuses, collectGarbage, skipNote } from './helpers.js';

interface Fixture {
  inputs: number[];
  bfloat16: number[];
  float16: number[];
}
const fixture = JSON.parse(readFileSync(new URL('../../test/fixtures/dtype.json', import.meta.url), 'utf8')) as Fixture;
const inputs = new Float32Array(new Uint32Array(fixture.inputs).buffer);
const HALF = ['bfloat16', 'float16'] as const;
const isNaNBits = (b: number): boolean => (b & 0x7fffffff) > 0x7f800000;

/** Asserts the float32 values of `got` are the fixture's rounding to `dtype`, bit for bit (NaN: NaN). */
function assertFixture(got: Float32Array, dtype: (typeof HALF)[number], what: string): void {
  const bits = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const want = fixture[dtype];
  assert.is(bits.length, want.length);
  for (let i = 0; i < want.length; i++) {
    const ok = isNaNBits(want[i]) ? isNaNBits(bits[i]) : bits[i] === want[i];
    if (!ok) {
      assert.unreachable(
        `${what}: input 0x${fixture.inputs[i].toString(16)} rounds to 0x${bits[i].toString(16)}, torch gives 0x${want[i].toString(16)} (index ${i})`,
      );
    }
  }
}

const statuses = await backendStatuses();
const deviceBackends = (['cpu', 'cuda'] as const).filter((n) => backendSelected(n));

// ---- conversions against PyTorch ----

const conv = suite('dtype: conversions match PyTorch 1.13');
conv('the fixture covers ties, subnormals, overflow, NaN and ±0', () => {
  const bits = new Set(fixture.inputs);
  for (const b of [0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x00000001, 0x477ff000]) assert.ok(bits.has(b), `0x${b.toString(16)}`);
  // 1 + 2^-8 ties between 1 and 1 + 2^-7 in bfloat16 and rounds to the even 1.
  const i = fixture.inputs.indexOf(0x3f808000);
  assert.ok(i >= 0);
  assert.is(fixture.bfloat16[i], 0x3f800000);
  assert.ok(fixture.inputs.length > 2000);
});
for (const name of deviceBackends) {
  const status = statuses.find((s) => s.name === name);
  for (const dtype of HALF) {
    const title = `${name}: alloc, write and the cast kernel round float32 to ${dtype} as torch does, bit for bit`;
    if (!status?.available) {
      skipNote(title, status?.reason ?? 'unavailable');
      conv.skip(title, () => {});
      continue;
    }
    conv(title, async () => {
      await initBackend(name);
      const addon = nativeAddon();
      const n = inputs.length;
      const h = addon.alloc(n, inputs, name, dtype);
      assertFixture(await addon.read(h), dtype, `${name} alloc`);
      const w = addon.alloc(n, undefined, name, dtype);
      addon.write(w, inputs);
      assertFixture(await addon.read(w), dtype, `${name} write`);
      const src = addon.alloc(n, inputs, name, 'float32');
      const out = addon.alloc(n, undefined, name, dtype);
      addon.run('cast', [[src, [n]]], [[out, [n]]]);
      assertFixture(await addon.read(out), dtype, `${name} cast kernel`);
      for (const x of [h, w, src, out]) addon.free(x);
    });
  }
  if (!status?.available) continue;
  conv(`${name}: casts between the half dtypes round once, and widening is exact`, async () => {
    await initBackend(name);
    // float16 → bfloat16 equals bfloat16(float32 value of the float16), the single rounding.
    const f16 = tensor(inputs, [inputs.length], { backend: name, dtype: 'float16' });
    const f16Values = await f16.data();
    const direct = tensor(f16Values, [inputs.length], { backend: name, dtype: 'bfloat16' });
    const viaCast = cast(f16, 'bfloat16');
    assert.equal(new Uint32Array((await viaCast.data()).buffer), new Uint32Array((await direct.data()).buffer));
    const wide = cast(direct, 'float32');
    assert.equal(new Uint32Array((await wide.data()).buffer), new Uint32Array((await direct.data()).buffer));
    for (const t of [f16, direct, viaCast, wide]) t.dispose();
  });
}
conv.run();

// ---- the tensor API ----

const api = suite('dtype: tensors carry a dtype');
if (backendSelected('cpu')) {
  api('float32 is the default; DTYPES lists the three', () => {
    assert.equal([...DTYPES], ['float32', 'bfloat16', 'float16']);
    const t = tensor([1, 2, 3]);
    assert.is(t.dtype, 'float32');
    assert.is(t.toString(), 'Tensor([3], cpu)');
    t.dispose();
  });

  api('values are rounded on creation and read back as a Float32Array', async () => {
    const v = [1.00390625, 3.14159, 65520, 1e-8];
    const b = tensor(v, [4], { dtype: 'bfloat16' });
    const f = tensor(v, [4], { dtype: 'float16' });
    assert.is(b.dtype, 'bfloat16');
    const bd = await b.data();
    assert.ok(bd instanceof Float32Array);
    assert.equal([...bd], [1, 3.140625, 65536, 1.0011717677116394e-8]);
    assert.equal([...(await f.data())], [1.00390625, 3.140625, Infinity, 0]);
    assert.is(b.toString(), 'Tensor([4], cpu, bfloat16)');
    b.dispose();
    f.dispose();
  });

  api('zeros, ones, full, randomNormal and randomUniform take a dtype', async () => {
    const z = zeros([2, 3], { dtype: 'float16' });
    const o = ones([5], { dtype: 'bfloat16' });
    const p = full([3], Math.PI, { dtype: 'bfloat16', requiresGrad: true });
    const n = randomNormal([64], { seed: 3, dtype: 'float16' });
    const n32 = randomNormal([64], { seed: 3 });
    const u = randomUniform([64], { seed: 4, dtype: 'bfloat16', low: -2, high: 2 });
    assert.equal([z.dtype, o.dtype, p.dtype, n.dtype, u.dtype], ['float16', 'bfloat16', 'bfloat16', 'float16', 'bfloat16']);
    assert.equal([...(await z.data())], [0, 0, 0, 0, 0, 0]);
    assert.equal([...(await o.data())], [1, 1, 1, 1, 1]);
    assert.equal([...(await p.data())], [3.140625, 3.140625, 3.140625]);
    assert.ok(p.requiresGrad);
    // The same draws as float32, rounded: float16 keeps 11 significant bits.
    const a = await n.data();
    const b = await n32.data();
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 2 ** -11 * Math.abs(b[i]), `element ${i}: ${a[i]} vs ${b[i]}`);
    assert.not.equal([...a], [...b]);
    for (const t of [z, o, p, n, n32, u]) t.dispose();
  });

  api('detach, reshape and to(backend) keep the dtype; ops keep their input dtype', async () => {
    const t = tensor([1, -2, 3, -4], [2, 2], { dtype: 'bfloat16', requiresGrad: true });
    const d = t.detach();
    const r = t.reshape([4]);
    const c = await t.to('cpu');
    const y = relu(t);
    assert.equal([d.dtype, r.dtype, c.dtype, y.dtype], ['bfloat16', 'bfloat16', 'bfloat16', 'bfloat16']);
    assert.equal([...(await y.data())], [1, 0, 3, 0]);
    for (const x of [t, d, r, c, y]) x.dispose();
  });

  api('a bad dtype is a TypeError naming the function and the allowed values', () => {
    assert.throws(() => tensor([1], [1], { dtype: 'half' as DType }), (e: Error) => e instanceof TypeError && e.message === "tensor: dtype must be one of 'float32', 'bfloat16', 'float16', got 'half'");
    assert.throws(() => zeros([1], { dtype: 16 as unknown as DType }), (e: Error) => e instanceof TypeError && /^zeros: dtype must be one of/.test(e.message));
    const x = tensor([1]);
    assert.throws(() => cast(x, 'int8' as DType), (e: Error) => e instanceof TypeError && /^cast: dtype must be one of 'float32', 'bfloat16', 'float16', got 'int8'/.test(e.message));
    x.dispose();
    assert.throws(
      () => nativeAddon().alloc(2, undefined, 'cpu', 'half' as DType),
      (e: Error) => e instanceof TypeError && e.message === "ifa_native.alloc: dtype must be 'float32', 'bfloat16' or 'float16', got 'half'",
    );
  });
}
api.run();

// ---- cast and gradients ----

const grads = suite('dtype: cast and mixed-dtype gradients');
if (backendSelected('cpu')) {
  grads('cast rounds forward; its gradient is gy cast back to the input dtype', async () => {
    const xv = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i + 1) * 3);
    const x = tensor(xv, [3, 4], { requiresGrad: true });
    const r = randomNormal([3, 4], { seed: 9, dtype: 'bfloat16' });
    const y = cast(x, 'bfloat16');
    assert.is(y.dtype, 'bfloat16');
    const direct = tensor(xv, [3, 4], { dtype: 'bfloat16' });
    assert.equal([...(await y.data())], [...(await direct.data())]);
    direct.dispose();
    tidy(() => sum(mul(y, r)).backward());
    // d/dx Σ bf16(x)·r is r (rounding is passed straight through), in x's dtype.
    assert.is(x.grad!.dtype, 'float32');
    assert.equal([...(await x.grad!.data())], [...(await r.data())]);
    for (const t of [x.grad!, x, r, y]) t.dispose();
  });

  grads('a cast to the same dtype is a copy: new storage, the same values, gradient gy', async () => {
    const x = tensor([1.5, -2.25, 3], [3], { dtype: 'float16', requiresGrad: true });
    const y = cast(x, 'float16');
    assert.is(y.dtype, 'float16');
    assert.ok(y.storage !== x.storage);
    getBackend('cpu').write(y.storage, new Float32Array([7, 7, 7]));
    assert.equal([...(await x.data())], [1.5, -2.25, 3], 'writing the copy leaves x alone');
    const z = cast(x, 'float16');
    tidy(() => sum(mul(z, tensor([2, 3, 4], [3], { dtype: 'float16' }))).backward());
    assert.is(x.grad!.dtype, 'float16');
    assert.equal([...(await x.grad!.data())], [2, 3, 4]);
    for (const t of [x.grad!, x, y, z]) t.dispose();
  });

  grads("a half weight made from a float32 master gets conv2d's float32 weight gradient, unrounded", async () => {
    const xv = randomNormal([1, 5, 5, 3], { seed: 1, dtype: 'bfloat16' });
    const master = randomNormal([4, 3, 3, 3], { seed: 2, requiresGrad: true });
    const dyv = randomNormal([1, 5, 5, 4], { seed: 3, dtype: 'bfloat16' });
    tidy(() => {
      const w = cast(master, 'bfloat16');
      const y = conv2d(xv, w, { padding: 1 });
      assert.is(y.dtype, 'bfloat16');
      sum(mul(y, dyv)).backward();
    });
    assert.is(master.grad!.dtype, 'float32');
    // The same weight gradient in float32 from the same (rounded) x and dy, by the fp32 kernel.
    const want = tidy(() => {
      const x32 = cast(xv, 'float32');
      const w32 = master.detach();
      w32.requiresGrad = true;
      const y = conv2d(x32, w32, { padding: 1 });
      sum(mul(y, cast(dyv, 'float32'))).backward();
      return w32.grad!;
    });
    assert.equal([...(await master.grad!.data())], [...(await want.data())], 'bit for bit: dw is float32, never rounded to bfloat16');
    for (const t of [xv, master.grad!, master, dyv, want]) t.dispose();
  });

  grads('gradients of two dtypes for one tensor are summed in float32', async () => {
    // w (bfloat16) gets a float32 gradient from conv2d's filter gradient and a bfloat16 one via cast.
    const w = tensor(Float32Array.from({ length: 8 }, (_, i) => 0.1 * (i + 1)), [2, 1, 1, 4], { dtype: 'bfloat16', requiresGrad: true });
    const x = randomNormal([1, 2, 2, 4], { seed: 5, dtype: 'bfloat16' });
    tidy(() => {
      const a = sum(cast(conv2d(x, w), 'float32'));
      const b = sum(mul(cast(w, 'float32'), full([2, 1, 1, 4], 0.5)));
      add(a, b).backward();
    });
    assert.is(w.grad!.dtype, 'float32');
    // d/dw Σ conv(x, w) = Σ over pixels of x per input channel, the same for both filters; plus 0.5.
    const xd = await x.data();
    const perChannel = [0, 1, 2, 3].map((c) => [0, 1, 2, 3].reduce((s, p) => s + xd[p * 4 + c], 0) + 0.5);
    const got = await w.grad!.data();
    for (let i = 0; i < 8; i++) assert.ok(Math.abs(got[i] - perChannel[i % 4]) < 1e-6, `element ${i}: ${got[i]} vs ${perChannel[i % 4]}`);
    for (const t of [w.grad!, w, x]) t.dispose();
  });

  grads('batch norm keeps float32 statistics and parameters with half activations', async () => {
    const x = randomNormal([2, 3, 3, 4], { seed: 7, dtype: 'float16', requiresGrad: true });
    const gamma = ones([4], { requiresGrad: true });
    const beta = zeros([4], { requiresGrad: true });
    tidy(() => {
      const y = batchNorm2d(x, gamma, beta);
      assert.is(y.dtype, 'float16');
      sum(mul(y, y)).backward();
    });
    assert.equal([x.grad!.dtype, gamma.grad!.dtype, beta.grad!.dtype], ['float16', 'float32', 'float32']);
    for (const t of [x.grad!, gamma.grad!, beta.grad!, x, gamma, beta]) t.dispose();
  });
}
grads.run();

// ---- dtype errors ----

const errors = suite('dtype: a dtype a kernel does not take is a TypeError, never a crash');
if (backendSelected('cpu')) {
  errors('ops name themselves, both dtypes and the fix', () =>
    tidy(() => {
    const a = tensor([1, 2], [2], { dtype: 'bfloat16' });
    const b = tensor([1, 2], [2]);
    const g = ones([2], { dtype: 'bfloat16' });
    const x = zeros([2, 2, 2, 2], { dtype: 'bfloat16' });
    const check = (fn: () => unknown, text: string): void => assert.throws(fn, (e: Error) => e instanceof TypeError && e.message === text, text);
    check(() => add(a, b), "add: a is bfloat16 but b is float32; cast one, e.g. cast(b, 'bfloat16')");
    check(() => matmul(a.reshape([1, 2]), b.reshape([2, 1])), "matmul: a is bfloat16 but b is float32; cast one, e.g. cast(b, 'bfloat16')");
    check(() => batchNorm2d(x, g, zeros([2])), "batchNorm2d: gamma must be float32, got bfloat16; convert it with cast(gamma, 'float32')");
    check(() => softmaxCrossEntropy(a.reshape([1, 2]), tensor([0])), "softmaxCrossEntropy: logits must be float32, got bfloat16; convert it with cast(logits, 'float32')");
    check(() => sgdStep([a], [a], [a], { lr: 0.1, firstStep: true }), "sgdStep: params[0] must be float32, got bfloat16; convert it with cast(params[0], 'float32')");
  }));

  errors('the addon checks every call against the kernel contract, naming kernel, slot and dtypes', () => {
    const addon = nativeAddon();
    const bf = addon.alloc(8, undefined, 'cpu', 'bfloat16');
    const bf2 = addon.alloc(8, undefined, 'cpu', 'bfloat16');
    const f32 = addon.alloc(8, undefined, 'cpu', 'float32');
    const f32b = addon.alloc(4, undefined, 'cpu', 'float32');
    const bf4 = addon.alloc(4, undefined, 'cpu', 'bfloat16');
    const [m, v] = [addon.alloc(4), addon.alloc(4)];
    const check = (fn: () => unknown, text: string): void => assert.throws(fn, (e: Error) => e instanceof TypeError && e.message === text, text);
    check(() => addon.run('relu', [[bf, [8]]], [[f32, [8]]]), 'ifa_native.run(relu): output 0 (bfloat16 expected, the dtype of input 0) is float32');
    check(() => addon.run('add', [[f32, [8]], [bf, [8]]], [[bf2, [8]]]), 'ifa_native.run(add): input 1 (float32 expected, the dtype of input 0) is bfloat16');
    check(() => addon.run('sgd', [[bf, [8]]], [[bf2, [8]]], { lr: 1 }), 'ifa_native.run(sgd): input 0 is bfloat16, but the cpu sgd kernel takes float32');
    // F slots: batch norm's gamma and its statistics are float32 whatever x is.
    check(() => addon.run('batchNormTrain', [[bf, [2, 4]], [bf4, [4]], [f32b, [4]]], [[bf2, [2, 4]], [m, [4]], [v, [4]]]), 'ifa_native.run(batchNormTrain): input 1 (float32 expected) is bfloat16');
    check(() => addon.run('conv2dBackwardFilter', [[bf, [1, 2, 2, 2]], [bf2, [1, 2, 2, 2]]], [[bf4, [1, 1, 2, 2]]]), 'ifa_native.run(conv2dBackwardFilter): output 0 (float32 expected) is bfloat16');
    for (const h of [bf, bf2, f32, f32b, bf4, m, v]) addon.free(h);
    const dt = addon.kernelDtypes('cpu');
    assert.equal(dt.relu, ['float32', 'bfloat16', 'float16']);
    assert.equal(dt.cast, ['float32', 'bfloat16', 'float16']);
    for (const k of ['sgd', 'ema', 'softmaxCrossEntropy', 'softmaxCrossEntropyBackward']) assert.equal(dt[k], ['float32'], k);
    assert.equal(Object.keys(dt).sort(), addon.kernels('cpu').sort());
  });
}
const cudaStatus = statuses.find((s) => s.name === 'cuda');
if (backendSelected('cuda') && cudaStatus?.available) {
  errors('cuda: a kernel without half support refuses a half tensor by name', async () => {
    await initBackend('cuda');
    const addon = nativeAddon();
    // The contrastive logits' loss stays float32 (its kernel takes nothing else).
    const x = addon.alloc(8, undefined, 'cuda', 'bfloat16');
    const w = addon.alloc(2, undefined, 'cuda', 'bfloat16');
    const y = addon.alloc(1, undefined, 'cuda', 'bfloat16');
    assert.throws(
      () => addon.run('softmaxCrossEntropy', [[x, [2, 4]], [w, [2]]], [[y, [1]]], {}),
      (e: Error) => e instanceof TypeError && e.message === 'ifa_native.run(softmaxCrossEntropy): input 0 is bfloat16, but the cuda softmaxCrossEntropy kernel takes float32',
    );
    const h16 = addon.alloc(8, undefined, 'cuda', 'float16');
    assert.throws(
      () => addon.run('relu', [[x, [8]]], [[h16, [8]]]),
      (e: Error) => e instanceof TypeError && e.message === 'ifa_native.run(relu): output 0 (bfloat16 expected, the dtype of input 0) is float16',
    );
    for (const h of [x, w, y, h16]) addon.free(h);
    const dt = addon.kernelDtypes('cuda');
    assert.equal(dt.relu, ['float32', 'bfloat16', 'float16']);
    assert.equal(dt.softmaxCrossEntropy, ['float32']);
    // The tensor-core kernels' lists depend on the device (bfloat16 from sm_80, float16 from sm_70).
    for (const k of ['conv2d', 'matmul']) assert.ok(dt[k].includes('float16'), `${k} takes ${dt[k]}`);
  });
}
errors.run();

// ---- WebGPU ----

const gpu = suite('dtype: webgpu stores float32 only');
const webgpu = statuses.find((s) => s.name === 'webgpu');
if (!backendSelected('webgpu')) {
  // not selected: nothing to report
} else if (!webgpu?.available) {
  skipNote('webgpu half-dtype refusal', webgpu?.reason ?? 'no WebGPU adapter');
  gpu.skip('webgpu: a half tensor is refused with an error naming the dtype (no adapter)', () => {});
} else {
  gpu('webgpu: a half tensor is refused with an error naming the dtype and the fix', async () => {
    await initBackend('webgpu');
    for (const dtype of HALF) {
      assert.throws(
        () => tensor([1, 2], [2], { backend: 'webgpu', dtype }),
        (e: Error) => e.message === `alloc: the webgpu backend stores float32 only, not ${dtype}; use dtype 'float32' on webgpu, or the cpu or cuda backend for ${dtype} tensors`,
      );
    }
    assert.equal(getBackend('webgpu').kernelDtypes('relu'), ['float32']);
    const t = tensor([1, 2], [2], { backend: 'webgpu' });
    assert.is(t.dtype, 'float32');
    t.dispose();
  });
}
gpu.run();

// ---- memory ----

const mem = suite('dtype: memory() counts bytes by dtype');
for (const name of deviceBackends) {
  const status = statuses.find((s) => s.name === name);
  if (!status?.available) continue;
  mem(`${name}: a bfloat16 tensor of 1000 elements is 2000 bytes, float16 2000, float32 4000`, async () => {
    await initBackend(name);
    await collectGarbage();
    const b = getBackend(name);
    const before = memory()[name];
    const t = { bfloat16: zeros([1000], { backend: name, dtype: 'bfloat16' }), float16: zeros([10, 100], { backend: name, dtype: 'float16' }), float32: zeros([1000], { backend: name }) };
    const during = memory()[name];
    for (const d of DTYPES) assert.is(during.dtypeBytes![d] - before.dtypeBytes![d], d === 'float32' ? 4000 : 2000, d);
    // cpu counts bytes as asked; cuda counts whole 512-byte blocks.
    if (name === 'cpu') assert.is(during.bytes - before.bytes, 8000);
    else assert.ok(during.bytes - before.bytes >= 8000);
    assert.equal(b.memory().dtypeBytes, during.dtypeBytes);
    for (const x of Object.values(t)) x.dispose();
    await b.sync(); // the queued fills hold their buffers until they have run
    const after = memory()[name];
    for (const d of DTYPES) assert.is(after.dtypeBytes![d], before.dtypeBytes![d], `${d} after dispose`);
  });
}
mem.run();

// ---- float32 precision ----

const prec = suite('dtype: the float32 precision switch');
if (backendSelected('cpu')) {
  prec("defaults to 'highest'; 'tf32' reaches conv2d's three kernels and matmul as attrs.tf32, for float32 only", () => {
    assert.is(getFloat32Precision(), 'highest');
    assert.throws(() => setFloat32Precision('medium' as 'tf32'), (e: Error) => e instanceof TypeError && e.message === "setFloat32Precision: expects 'highest' or 'tf32', got 'medium'");
    const cpu = getBackend('cpu');
    const seen: [string, unknown][] = [];
    const run = cpu.run.bind(cpu);
    cpu.run = (kernel: string, ins: TensorRef[], outs: TensorRef[], attrs?: KernelAttrs) => {
      if (kernel.startsWith('conv2d') || kernel === 'matmul') seen.push([kernel, attrs?.tf32]);
      run(kernel, ins, outs, attrs);
    };
    const step = (dtype: DType): void =>
      tidy(() => {
        const x = randomNormal([1, 4, 4, 2], { seed: 1, dtype, requiresGrad: true });
        const w = randomNormal([3, 3, 3, 2], { seed: 2, dtype, requiresGrad: true });
        const a = randomNormal([2, 3], { seed: 3, dtype, requiresGrad: true });
        sum(conv2d(x, w, { padding: 1 })).backward();
        sum(matmul(a, a, { transposeB: true })).backward();
        x.grad?.dispose();
        w.grad?.dispose();
        a.grad?.dispose();
      });
    try {
      step('float32');
      setFloat32Precision('tf32');
      assert.is(getFloat32Precision(), 'tf32');
      step('float32');
      step('bfloat16');
    } finally {
      setFloat32Precision('highest');
      cpu.run = run;
    }
    const kernels = ['conv2d', 'conv2dBackwardInput', 'conv2dBackwardFilter', 'matmul', 'matmul', 'matmul'];
    assert.equal(seen.map(([k]) => k), [...kernels, ...kernels, ...kernels]);
    assert.equal(seen.map(([, t]) => t), [...kernels.map(() => false), ...kernels.map(() => true), ...kernels.map(() => false)]);
  });
}
prec.run();
