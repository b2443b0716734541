// The execution model: CPU kernels run on the addon's stream thread, so the event loop stays
// responsive while seconds of queued work drain. A blocking implementation shows delays of seconds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getBackend, matmul, randomNormal } from '../src/index.js';

test('event loop p99 delay < 100 ms while ≥ 2 s of matmuls drain', async () => {
  const n = 384;
  const a = randomNormal([n, n], { seed: 1 });
  const b = randomNormal([n, n], { seed: 2 });
  const cpu = getBackend('cpu');
  // Calibrate: how long does one matmul take here at best? (The fastest of three rounds, so a busy
  // moment during calibration cannot make the queued work too short.)
  let perOp = Infinity;
  let t0 = 0;
  for (let round = 0; round < 3; round++) {
    t0 = performance.now();
    for (let i = 0; i < 10; i++) matmul(a, b).dispose();
    await cpu.sync();
    perOp = Math.min(perOp, (performance.now() - t0) / 10);
  }
  const count = Math.ceil(4000 / perOp);

  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  t0 = performance.now();
  for (let i = 0; i < count; i++) matmul(a, b).dispose();
  const enqueueMs = performance.now() - t0;
  // Keep the loop busy with timers while the stream works, so delays would be observed.
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  await cpu.sync();
  clearInterval(timer);
  const drainMs = performance.now() - t0;
  h.disable();
  const p99 = h.percentile(99) / 1e6;
  console.log(`  ${count} matmuls ${n}×${n}: enqueue ${enqueueMs.toFixed(1)} ms, drain ${drainMs.toFixed(0)} ms, loop p99 ${p99.toFixed(1)} ms, ${ticks} timer ticks`);
  assert.ok(drainMs >= 2000, `the queued work took only ${drainMs.toFixed(0)} ms; the test needs ≥ 2 s`);
  assert.ok(p99 < 100, `event loop p99 delay ${p99.toFixed(1)} ms`);
  assert.ok(ticks > drainMs / 50, `only ${ticks} timer ticks in ${drainMs.toFixed(0)} ms`);
  a.dispose();
  b.dispose();
});

test.run();
