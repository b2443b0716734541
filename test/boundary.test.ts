// Boundary safety: thousands of malformed calls into every addon entry point and the public ops.
// Every call must return or throw a TypeError/RangeError naming the entry point; the process must
// survive (a crash here ends the whole test run).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nativeAddon } from '../src/native.js';
import { Rng } from '../src/core/random.js';
import { add, matmul, mean, mul, relu, sum, tensor, zeros } from '../src/index.js';
import { backendSelected } from './helpers.js';

const addon = nativeAddon();
const kernelNames = addon.kernels();
// With a CUDA device (a GPU or the CUDA emulator) a second pass mixes CUDA buffers in.
const cudaAvailable = addon.info().cuda.available && backendSelected('cuda');
const devices: unknown[] = ['cpu'];
const rng = new Rng(Number(process.env.IFA_FUZZ_SEED ?? 2024));
const pick = <T>(xs: T[]): T => xs[Math.floor(rng.uniform() * xs.length)];

const live: number[] = [];
const dead: number[] = [];
for (let i = 0; i < 8; i++) live.push(addon.alloc(6, new Float32Array(6).fill(i)));
// Half buffers too, so calls mix dtypes a kernel does not take (a TypeError, never a misread).
for (const dtype of ['bfloat16', 'float16', 'bfloat16'] as const) live.push(addon.alloc(6, new Float32Array(6).fill(0.5), 'cpu', dtype));
for (let i = 0; i < 4; i++) {
  const h = addon.alloc(3);
  addon.free(h);
  dead.push(h);
}

function garbage(depth = 0): unknown {
  const scalars: unknown[] = [
    undefined, null, NaN, Infinity, -Infinity, -1, 0, 0.5, 1, 2, 6, 7, 2 ** 31, 2 ** 36, 2 ** 53, 2 ** 64, -0, 1e300,
    '', 'add', 'matmul', 'nope', true, false, Symbol('s'), 10n, {}, () => 1, new Float32Array(6), new Float64Array(6),
    new Int32Array(3), new Float32Array(0), new ArrayBuffer(8), new Date(), pick(live), pick(dead), 999999, -5,
  ];
  if (depth < 2 && rng.uniform() < 0.35) {
    const n = Math.floor(rng.uniform() * 4);
    return Array.from({ length: n }, () => garbage(depth + 1));
  }
  if (depth < 2 && rng.uniform() < 0.1) return { axes: garbage(depth + 1), value: garbage(depth + 1), transposeA: garbage(depth + 1) };
  return pick(scalars);
}

function shapeish(): unknown {
  return pick<unknown>([[6], [2, 3], [3, 2], [1, 6], [6, 1], [2, 2], [-1, 6], [NaN], [2 ** 40, 2 ** 40], [1, 1, 1, 1, 1, 1, 1, 1, 6], [], garbage(), [0], [0.5, 12]]);
}

function tensorArgs(): unknown {
  if (rng.uniform() < 0.3) return garbage();
  const n = Math.floor(rng.uniform() * 3);
  return Array.from({ length: n }, () => (rng.uniform() < 0.8 ? [pick([...live, ...dead, 12345, -1, NaN]), shapeish()] : garbage()));
}

const entryPoints: Record<string, () => unknown[]> = {
  alloc: () =>
    pick([
      [garbage()],
      [garbage(), garbage()],
      [pick([-1, NaN, 2 ** 60, 1.5, 3]), pick([new Float32Array(2), new Float64Array(3), [1, 2, 3], 'x'])],
      [pick([3, 6, -1]), pick([undefined, new Float32Array(6), new Float32Array(2)]), pick([...devices, 'tpu', garbage()])],
      [pick([3, 6]), pick([undefined, new Float32Array(6)]), pick(devices), pick(['bfloat16', 'float16', 'float32', 'half', 'Float16', garbage()])],
      [],
    ]),
  free: () => pick([[garbage()], [], [garbage(), garbage()]]),
  write: () => pick([[garbage(), garbage()], [pick(live), pick([new Float32Array(5), new Float32Array(7), new Float64Array(6), [1, 2], null])], [pick(dead), new Float32Array(6)], []]),
  read: () => pick([[garbage()], [pick(dead)], [], [pick(live), 1]]),
  sync: () => pick([[], [garbage()], [pick(devices)]]),
  run: () => {
    const kernel = pick<unknown>([...kernelNames, 'nope', garbage()]);
    const attrs = pick<unknown>([
      undefined, {}, { axes: [0, 5] }, { axes: [-9] }, { axes: [0, 0] }, { axes: 'x' }, { transposeA: true, transposeB: 1 }, { value: NaN }, garbage(), [],
      { strideH: 0, strideW: 1, padH: 0, padW: 0 }, { strideH: 2, strideW: 2, padH: -1, padW: 9 }, { kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padH: 1, padW: 1 },
      { axis: 7, start: -3 }, { axis: 0, start: 5 }, { index: [0, 9, -1] }, { index: [1, 0] }, { start: 2 }, { eps: -1, relu: true, momentum: 2, count: 0 },
      { lr: NaN, momentum: 0.9, firstStep: true }, { m: 2 }, { target: 1, eps: 0 }, { m: 4, n: 4, k: 4, alpha: 1, beta: 0 },
    ]);
    return pick([[kernel, tensorArgs(), tensorArgs(), attrs], [kernel, tensorArgs(), tensorArgs()], [kernel], [], [kernel, garbage(), garbage(), garbage(), garbage()]]);
  },
  memory: () => pick([[], [garbage()]]),
  emptyCache: () => pick([[], [garbage()]]),
  setThreads: () => pick([[pick([0, -1, NaN, 1.5, 2 ** 40, '2', null, 257])], [], [1, 2]]),
  kernels: () => pick([[], [garbage()]]),
  kernelDtypes: () => pick([[], [garbage()], [pick(devices)], [pick(devices), garbage()]]),
  info: () => pick([[], [garbage()]]),
  quietStderr: () => pick([[], [garbage()], [garbage(), garbage()], [() => 1, 2]]),
};

async function fuzz(): Promise<void> {
  const names = Object.keys(entryPoints);
  let calls = 0;
  let threw = 0;
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < 3000; i++) {
    const name = names[i % names.length];
    const args = entryPoints[name]();
    calls++;
    try {
      const r = (addon as unknown as Record<string, (...a: unknown[]) => unknown>)[name](...args);
      if (r instanceof Promise) pending.push(r.catch(() => undefined));
      if (name === 'alloc' && typeof r === 'number') addon.free(r);
    } catch (e) {
      threw++;
      assert.ok(e instanceof TypeError || e instanceof RangeError, `${name}: threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
      assert.match((e as Error).message, new RegExp(`ifa_native\\.${name}`), `${name}: message does not name the entry point: ${(e as Error).message}`);
    }
  }
  await Promise.all(pending);
  addon.setThreads(2);
  for (const d of devices) await (addon.sync as (d: unknown) => Promise<void>)(d).catch(() => undefined);
  assert.ok(calls >= 2000, `made ${calls} calls`);
  assert.ok(threw > calls / 2, `only ${threw} of ${calls} calls were rejected; the fuzzer is too tame`);
  // The addon still works afterwards, on every device.
  const alloc = addon.alloc as (n: number, data?: Float32Array, device?: unknown) => number;
  for (const d of devices) {
    const a = alloc(4, new Float32Array([1, 2, 3, 4]), d);
    const c = alloc(4, undefined, d);
    addon.run('add', [[a, [4]], [a, [4]]], [[c, [4]]]);
    assert.equal([...(await addon.read(c))], [2, 4, 6, 8], `add on ${String(d)} after the fuzz`);
    addon.free(a);
    addon.free(c);
  }
}

test('2,000+ malformed addon calls all return or throw TypeError/RangeError', fuzz);

if (cudaAvailable) {
  test('the same with cuda buffers mixed in (kernels on cuda, mixed devices, cuda allocs)', async () => {
    const alloc = addon.alloc as (n: number, data: Float32Array | undefined, device: string) => number;
    devices.push('cuda');
    for (let i = 0; i < 8; i++) live.push(alloc(6, new Float32Array(6).fill(-i), 'cuda'));
    for (let i = 0; i < 4; i++) {
      const h = alloc(3, undefined, 'cuda');
      addon.free(h);
      dead.push(h);
    }
    await fuzz();
  });
}

test('the public ops reject malformed arguments with errors naming the op', () => {
  const x = zeros([2, 3]);
  const cases: [string, () => unknown, RegExp][] = [
    ['add shapes', () => add(x, zeros([4])), /add: shapes \[2,3\] and \[4\] do not broadcast/],
    ['add non-tensor', () => add(x, 3 as never), /add: b must be a Tensor/],
    ['mul null', () => mul(null as never, x), /mul: a must be a Tensor/],
    ['matmul rank', () => matmul(x, zeros([3])), /matmul: expects 2-D/],
    ['matmul inner', () => matmul(x, zeros([2, 3])), /matmul: inner dimensions differ/],
    ['sum axis', () => sum(x, { axes: 5 }), /sum: axis 5 is out of range/],
    ['mean axis repeat', () => mean(x, { axes: [0, -2] }), /axis -2 is listed twice/],
    ['relu undefined', () => relu(undefined as never), /relu: x must be a Tensor/],
    ['tensor huge', () => tensor([1], [2 ** 20, 2 ** 20]), /more than 2\^36|do not fill/],
  ];
  for (const [what, f, re] of cases) assert.throws(f, re, what);
  x.dispose();
});

test.run();
