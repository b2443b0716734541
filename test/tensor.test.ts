// Tensor creation, reading, disposal, scopes and memory accounting on the CPU backend.
import * as assert from 'uvu/assert';
import { nativeAddon } from '../src/native.js';
import { collectGarbage, cpuTests, gc } from './helpers.js';
import {
  add,
  fromFloat32Array,
  full,
  getBackend,
  keep,
  matmul,
  memory,
  ones,
  randomNormal,
  randomUniform,
  relu,
  setSeed,
  sum,
  tensor,
  tidy,
  zeros,
} from '../src/index.js';

const test = cpuTests(import.meta.url);

test('fromFloat32Array: one copy into storage; the buffer may be reused on the cpu', async () => {
  const buf = new Float32Array([1, 2, 3, 4, 5, 6]);
  const t = fromFloat32Array(buf, [2, 3]);
  buf.fill(0);
  assert.equal(t.shape, [2, 3]);
  assert.is(t.dtype, 'float32');
  assert.equal(Array.from(await t.data()), [1, 2, 3, 4, 5, 6]);
  t.dispose();
  assert.throws(() => fromFloat32Array(new Float32Array(5), [2, 3]), /5 values do not fill shape \[2,3\]/);
  assert.throws(() => fromFloat32Array([1, 2] as unknown as Float32Array, [2]), /must be a Float32Array/);
});

test('tensor from typed array, nested arrays and scalar', async () => {
  const a = tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
  assert.equal(a.shape, [2, 3]);
  assert.equal([...(await a.data())], [1, 2, 3, 4, 5, 6]);
  const b = tensor([[1, 2], [3, 4], [5, 6]]);
  assert.equal(b.shape, [3, 2]);
  assert.equal(await b.array(), [[1, 2], [3, 4], [5, 6]]);
  const c = tensor(2.5);
  assert.equal(c.shape, []);
  assert.equal([...(await c.data())], [2.5]);
  const d = tensor(new Float64Array([0.1, 0.2]), [2]);
  assert.equal([...(await d.data())], [Math.fround(0.1), Math.fround(0.2)]);
  for (const t of [a, b, c, d]) t.dispose();
});

test('creation errors name the problem', () => {
  assert.throws(() => tensor([[1, 2], [3]]), /ragged/);
  assert.throws(() => tensor(new Float32Array(5), [2, 3]), /5 values do not fill shape \[2,3\]/);
  assert.throws(() => tensor(new Float32Array(5)), /shape is required/);
  assert.throws(() => zeros([2, -1]), /non-negative integers/);
  assert.throws(() => zeros([2, 1.5]), /non-negative integers/);
  assert.throws(() => tensor('abc' as unknown as number), /data must be/);
  assert.throws(() => tensor([1, 2], [2], { backend: 'tpu' as 'cpu' }), /unknown backend "tpu"/);
  if (!nativeAddon().info().cuda.available) {
    assert.throws(() => tensor([1, 2], [2], { backend: 'cuda' }), /backend cuda is unavailable/);
  }
});

test('zeros, ones, full, and seeded random tensors', async () => {
  const z = zeros([2, 2]);
  const o = ones([3]);
  const f = full([2], 7);
  assert.equal([...(await z.data())], [0, 0, 0, 0]);
  assert.equal([...(await o.data())], [1, 1, 1]);
  assert.equal([...(await f.data())], [7, 7]);
  const r1 = randomNormal([1000], { seed: 42 });
  const r2 = randomNormal([1000], { seed: 42 });
  const v1 = await r1.data();
  assert.equal([...v1], [...(await r2.data())]);
  const m = v1.reduce((s, x) => s + x, 0) / v1.length;
  const sd = Math.sqrt(v1.reduce((s, x) => s + (x - m) ** 2, 0) / v1.length);
  assert.ok(Math.abs(m) < 0.1 && Math.abs(sd - 1) < 0.1, `normal moments ${m}, ${sd}`);
  const u = await randomUniform([1000], { seed: 1, low: -2, high: 3 }).data();
  assert.ok(u.every((x) => x >= -2 && x < 3));
  setSeed(5);
  const g1 = await randomUniform([4]).data();
  setSeed(5);
  const g2 = await randomUniform([4]).data();
  assert.equal([...g1], [...g2]);
  for (const t of [z, o, f, r1, r2]) t.dispose();
});

test('using a disposed tensor throws; dispose is idempotent', async () => {
  const a = ones([2]);
  a.dispose();
  a.dispose();
  assert.ok(a.isDisposed);
  await assert.not.throws(() => a.toString());
  assert.throws(() => add(a, a), /disposed/);
  try {
    await a.data();
    assert.unreachable('data() on a disposed tensor resolved');
  } catch (e) {
    assert.match((e as Error).message, /disposed/);
  }
  assert.throws(() => a.reshape([1, 2]), /disposed/);
});

test('tidy disposes intermediates, keeps results and keep()', async () => {
  await collectGarbage();
  await getBackend('cpu').sync(); // buffers of disposed tensors are released once their kernels ran
  const before = memory().cpu.buffers;
  let kept!: ReturnType<typeof ones>;
  const result = tidy(() => {
    const a = ones([4]);
    const b = add(a, a);
    kept = keep(add(b, a));
    return { out: relu(b), list: [sum(b)] };
  });
  assert.ok(!result.out.isDisposed && !result.list[0].isDisposed && !kept.isDisposed);
  assert.equal([...(await result.out.data())], [2, 2, 2, 2]);
  assert.equal([...(await kept.data())], [3, 3, 3, 3]);
  for (const t of [result.out, result.list[0], kept]) t.dispose();
  await ones([1]).data(); // drain the stream so queued kernels release their buffers
  assert.is(memory().cpu.buffers, before + 1);
  assert.throws(() => tidy((async () => ones([1])) as unknown as () => void), /Promise/);
});

test('memory returns to its starting count after 100 forward+backward steps in tidy', async () => {
  const w = randomNormal([16, 8], { seed: 3, requiresGrad: true });
  const x = randomNormal([4, 16], { seed: 4 });
  await w.data();
  await collectGarbage();
  const start = memory().cpu.buffers;
  // Live + leaked: a tensor an earlier test leaked moves from one to the other when it is collected.
  const startTensors = memory().tensors + memory().leaked;
  for (let i = 0; i < 100; i++) {
    tidy(() => {
      const loss = sum(relu(matmul(x, w)));
      loss.backward();
      w.grad!.dispose();
      w.grad = null;
    });
  }
  await x.data();
  assert.is(memory().cpu.buffers, start, 'live cpu buffers');
  assert.is(memory().tensors + memory().leaked, startTensors, 'live tensors');
  w.dispose();
  x.dispose();
});

test('reshape shares storage; detach drops the graph', async () => {
  const a = tensor([1, 2, 3, 4, 5, 6], [6], { requiresGrad: true });
  const before = memory().cpu.buffers;
  const b = a.reshape([2, 3]);
  assert.is(memory().cpu.buffers, before);
  assert.equal(await b.array(), [[1, 2, 3], [4, 5, 6]]);
  assert.throws(() => a.reshape([4, 2]), /cannot view \[6\]/);
  const d = a.detach();
  assert.not.ok(d.requiresGrad);
  a.dispose();
  assert.equal([...(await d.data())], [1, 2, 3, 4, 5, 6]);
  b.dispose();
  d.dispose();
});

test('to() copies across backends and errors for unavailable ones', async () => {
  const a = tensor([1, 2, 3], [3]);
  const b = await a.to('cpu');
  assert.equal([...(await b.data())], [1, 2, 3]);
  if (nativeAddon().info().cuda.available) {
    // With a CUDA device (or the emulator) the copy goes there and back.
    const g = await a.to('cuda');
    assert.is(g.backend, 'cuda');
    const back = await g.to('cpu');
    assert.equal([...(await back.data())], [1, 2, 3]);
    g.dispose();
    back.dispose();
  } else {
    try {
      await a.to('cuda');
      assert.unreachable('to(cuda) resolved without a GPU');
    } catch (e) {
      assert.match((e as Error).message, /cuda is unavailable/);
    }
  }
  a.dispose();
  b.dispose();
});

test('the FinalizationRegistry frees and counts tensors that were never disposed', async () => {
  // Collect earlier tests' garbage first, so the counts below are ours alone.
  await collectGarbage();
  await getBackend('cpu').sync();
  const before = memory();
  (() => {
    for (let i = 0; i < 10; i++) ones([64]);
  })();
  await getBackend('cpu').sync();
  assert.is(memory().cpu.buffers, before.cpu.buffers + 10);
  for (let i = 0; i < 20 && memory().leaked < before.leaked + 10; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  const after = memory();
  assert.is(after.leaked, before.leaked + 10, 'leak count');
  assert.is(after.cpu.buffers, before.cpu.buffers, 'buffers freed by the safety net');
});

test.run();
