// The CUDA backend's device behaviour (the op math is test/conformance.test.ts's): round trips, the
// caching allocator (reuse, memory() accounting, out-of-memory: cache emptied, one retry, then a
// RangeError with the requested and free bytes), event timing, and that the process survives.
// Runs on a GPU, and here on the CUDA emulator (`npm run test:emu`, kernels/cuda/emu); skipped with
// the reason when the cuda backend is unavailable.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { add, getBackend, initBackend, memory, randomNormal, relu, tensor, tidy, zeros } from '../src/index.js';
import { nativeAddon } from '../src/native.js';
import { backendSelected, backendStatuses, collectGarbage, skipNote } from './helpers.js';

const cuda = (await backendStatuses()).find((s) => s.name === 'cuda');

if (!backendSelected('cuda')) {
  // IFA_TEST_BACKENDS leaves cuda out: nothing to run or report.
} else if (!cuda?.available) {
  skipNote('cuda device tests', cuda?.reason ?? 'the cuda backend is unavailable');
  test.skip('cuda: round trip, allocator, out of memory, timing', () => {});
} else {
  await initBackend('cuda');
  console.log(`  cuda device: ${cuda.device}`);

  test('cuda: a tensor round-trips, including odd sizes and an empty tensor', async () => {
    for (const n of [0, 1, 3, 1000, 65537]) {
      const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 1e3);
      const t = tensor(data, [n], { backend: 'cuda' });
      assert.equal(await t.data(), data, `${n} elements`);
      t.dispose();
    }
  });

  test('cuda: kernels run on device data and read back what the cpu computes', async () => {
    const a = randomNormal([3, 5, 7], { seed: 1 });
    const b = randomNormal([3, 5, 7], { seed: 2 });
    const want = tidy(() => relu(add(a, b)));
    const ga = await a.to('cuda');
    const gb = await b.to('cuda');
    const got = tidy(() => relu(add(ga, gb)));
    assert.is(got.backend, 'cuda');
    assert.equal(await got.data(), await want.data());
    for (const t of [a, b, want, ga, gb, got]) t.dispose();
  });

  test('cuda: freed blocks are cached and reused; memory() counts live and cached bytes', async () => {
    await collectGarbage();
    const m0 = memory().cuda;
    const t = zeros([1 << 18], { backend: 'cuda' }); // 1 MiB
    const m1 = memory().cuda;
    assert.is(m1.buffers, m0.buffers + 1);
    assert.ok(m1.bytes >= m0.bytes + (1 << 20), `live bytes grew by ${m1.bytes - m0.bytes}`);
    t.dispose();
    const m2 = memory().cuda;
    assert.is(m2.buffers, m0.buffers);
    assert.ok((m2.cachedBytes ?? 0) >= (1 << 20), 'the freed block is cached');
    const u = zeros([1 << 18], { backend: 'cuda' });
    const m3 = memory().cuda;
    assert.is(m3.cachedBytes, (m2.cachedBytes ?? 0) - (m1.bytes - m0.bytes), 'the cached block was reused');
    assert.equal((await u.data()).slice(0, 4), new Float32Array(4), 'a reused block is written by fill');
    u.dispose();
    nativeAddon().emptyCache();
    assert.is(memory().cuda.cachedBytes, 0, 'emptyCache returns cached blocks to the device');
  });

  test('cuda: out of memory empties the cache, retries once, then throws a RangeError with the numbers', async () => {
    const cached = zeros([1 << 16], { backend: 'cuda' });
    cached.dispose();
    assert.ok((memory().cuda.cachedBytes ?? 0) > 0);
    await collectGarbage();
    const before = memory().cuda.buffers;
    // 2^36 − 2^20 floats ≈ 256 GiB: more than any current card (and the emulator's default 4 GiB).
    const n = 2 ** 36 - 2 ** 20;
    try {
      zeros([n], { backend: 'cuda' });
      assert.unreachable('a 256 GiB allocation succeeded');
    } catch (e) {
      assert.instance(e, RangeError);
      assert.match((e as Error).message, /out of CUDA memory allocating (\d+) bytes \((\d+) bytes free of (\d+) after emptying the cache\)/);
      const [, req] = /allocating (\d+) bytes/.exec((e as Error).message)!;
      assert.ok(Number(req) >= n * 4, `requested ${req} bytes for ${n} floats`);
    }
    assert.is(memory().cuda.cachedBytes, 0, 'the cache was emptied before the retry');
    assert.is(memory().cuda.buffers, before, 'nothing leaked');
    const ok = tensor([1, 2, 3], [3], { backend: 'cuda' });
    assert.equal(await ok.data(), new Float32Array([1, 2, 3]), 'the device still works');
    ok.dispose();
  });

  test('cuda: timeMs brackets enqueued work with events and resolves to milliseconds', async () => {
    const backend = getBackend('cuda');
    const x = randomNormal([64, 64], { seed: 3, backend: 'cuda' });
    const ms = await (backend as unknown as { timeMs(fn: () => void): Promise<number> }).timeMs(() => tidy(() => relu(add(x, x))));
    assert.ok(Number.isFinite(ms) && ms >= 0, `timeMs gave ${ms}`);
    x.dispose();
  });

  test('cuda: a disposed cuda tensor and a cpu/cuda mix end in clear errors', async () => {
    const a = tensor([1, 2], [2], { backend: 'cuda' });
    const b = tensor([1, 2], [2]);
    assert.throws(() => add(a, b), /cpu|cuda/);
    a.dispose();
    assert.throws(() => relu(a), /disposed/);
    b.dispose();
  });
}

test.run();
