// The execution model: CPU kernels run on the addon's stream thread, and CUDA launches return at once
// while the GPU works, so the event loop stays responsive while seconds of queued work drain. A
// blocking implementation shows delays of seconds. The CUDA case runs on a GPU (the CUDA emulator
// runs kernels synchronously on the launching thread by design, so it is skipped there).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ResNet50, Trainer, exportModule, getBackend, importModule, initBackend, matmul, parseConfig, preprocessCxrAsync, randomNormal,
  readAnyCheckpointAsync, syntheticRadiograph, writeCheckpoint, type BackendName,
} from '../src/index.js';
import { DeferredInit } from '../src/nn/init.js';
import { nativeAddon } from '../src/native.js';
import { backendSelected, backendStatuses, collectGarbage, skipNote } from './helpers.js';

// At most this many launches are queued at once. A CUDA stream's launch queue holds about a thousand
// pending kernels; past that a launch waits for a slot (back-pressure, as in PyTorch), so ≥ 2 s of work
// in more launches than that could not be enqueued at once on any implementation. Seen on an H200:
// 4807 matmuls 2048×2048 took 3066 ms to enqueue, 0.64 ms each, the time one of them ran.
const MAX_LAUNCHES = 256;

async function drainTest(backend: BackendName, n0: number, maxLaunches = 20000): Promise<void> {
  await initBackend(backend);
  const dev = getBackend(backend);
  let n = n0;
  let a = randomNormal([n, n], { seed: 1, backend });
  let b = randomNormal([n, n], { seed: 2, backend });
  // Calibrate: how long does one matmul take here at best? (The fastest of three rounds, so a busy
  // moment during calibration cannot make the queued work too short.) When ≥ 4 s of work would need
  // more than maxLaunches launches, grow the matrices (work ∝ n³) and calibrate again.
  let perOp = Infinity;
  let t0 = 0;
  for (let attempt = 0; attempt < 4; attempt++) {
    perOp = Infinity;
    for (let round = 0; round < 3; round++) {
      t0 = performance.now();
      for (let i = 0; i < 10; i++) matmul(a, b).dispose();
      await dev.sync();
      perOp = Math.min(perOp, (performance.now() - t0) / 10);
    }
    const wanted = Math.ceil(4000 / perOp);
    if (wanted <= maxLaunches) break;
    n = Math.ceil((n * Math.cbrt(wanted / maxLaunches)) / 64) * 64;
    a.dispose();
    b.dispose();
    a = randomNormal([n, n], { seed: 1, backend });
    b = randomNormal([n, n], { seed: 2, backend });
  }
  const count = Math.min(maxLaunches, Math.ceil(4000 / perOp));

  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  t0 = performance.now();
  for (let i = 0; i < count; i++) matmul(a, b).dispose();
  const enqueueMs = performance.now() - t0;
  // Keep the loop busy with timers while the device works, so delays would be observed.
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  await dev.sync();
  clearInterval(timer);
  const drainMs = performance.now() - t0;
  h.disable();
  const p99 = h.percentile(99) / 1e6;
  console.log(
    `  ${backend}: ${count} matmuls ${n}×${n}: enqueue ${enqueueMs.toFixed(1)} ms, drain ${drainMs.toFixed(0)} ms, loop p99 ${p99.toFixed(1)} ms, ${ticks} timer ticks`,
  );
  assert.ok(drainMs >= 2000, `the queued work took only ${drainMs.toFixed(0)} ms; the test needs ≥ 2 s`);
  assert.ok(enqueueMs < drainMs / 2, `enqueueing took ${enqueueMs.toFixed(0)} of ${drainMs.toFixed(0)} ms: launches do not return at once`);
  assert.ok(p99 < 100, `event loop p99 delay ${p99.toFixed(1)} ms`);
  assert.ok(ticks > drainMs / 50, `only ${ticks} timer ticks in ${drainMs.toFixed(0)} ms`);
  a.dispose();
  b.dispose();
}

if (backendSelected('cpu')) {
  test('cpu: event loop p99 delay < 100 ms while ≥ 2 s of matmuls drain', () => drainTest('cpu', 384));
}

// Setup and checkpoints (issue 16 item 7, issue 17 item 2): building ResNet-50, saving and loading
// its checkpoint, a Trainer's warm-up to its first step, and preprocessing at 512² run off the JS
// thread or between turns of the event loop. Measured as the issue does: monitorEventLoopDelay's
// p99 over the whole operation, with a timer keeping the loop busy. (Before: new ResNet50() blocked
// it ~1.2–2.9 s, the checkpoint export ~230 ms, reading + loading ~370 ms, preprocessCxr ~77 ms.)
//
// The control: a worker thread with an idle event loop measures the same delay over the same window.
// What it sees is the machine's scheduling (other processes on these shared 2-core machines, the
// stream and loader threads taking both cores), not our JS thread's blocking; the bound applies to
// the main loop's p99 less the control's. On a quiet machine the control's p99 is ~10 ms (its
// timer's own resolution), so the bound is the 50 ms there.
const CONTROL = `
const { parentPort } = require('node:worker_threads');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const h = monitorEventLoopDelay({ resolution: 10 });
h.enable();
const timer = setInterval(() => {}, 5);
parentPort.once('message', () => {
  clearInterval(timer);
  h.disable();
  parentPort.postMessage({ p99: h.percentile(99) / 1e6, max: h.max / 1e6 });
});
parentPort.postMessage('ready');
`;

async function loopDelayDuring<T>(what: string, fn: () => Promise<T>): Promise<T> {
  // Collect what earlier tests left first, so that their garbage's major GC does not land in (and
  // count against) this operation's window; the operation's own collections still count.
  await collectGarbage();
  const control = new Worker(CONTROL, { eval: true });
  await new Promise<void>((resolve, reject) => {
    control.once('message', () => resolve());
    control.once('error', reject);
  });
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const timer = setInterval(() => {}, 5);
  const t0 = performance.now();
  let failed = true;
  try {
    const out = await fn();
    failed = false;
    return out;
  } finally {
    const ms = performance.now() - t0;
    clearInterval(timer);
    h.disable();
    const c = await new Promise<{ p99: number; max: number }>((resolve, reject) => {
      control.once('message', resolve);
      control.once('error', reject);
      control.postMessage('stop');
    });
    await control.terminate();
    const p99 = h.percentile(99) / 1e6;
    console.log(`  ${what}: ${ms.toFixed(0)} ms, loop p99 ${p99.toFixed(1)} ms, max ${(h.max / 1e6).toFixed(0)} ms; idle control thread p99 ${c.p99.toFixed(1)} ms, max ${c.max.toFixed(0)} ms`);
    if (!failed) assert.ok(p99 - c.p99 < 50, `${what}: event loop p99 delay ${p99.toFixed(1)} ms, ${(p99 - c.p99).toFixed(1)} ms above an idle thread's ${c.p99.toFixed(1)} ms`);
  }
}

if (backendSelected('cpu') && process.env.LD_PRELOAD) {
  skipNote('setup event loop', `timing bounds do not hold under the sanitizer LD_PRELOAD=${process.env.LD_PRELOAD}`);
} else if (backendSelected('cpu')) {
  test('cpu: p99 loop delay < 50 ms while ResNet-50 is built, checkpointed, reloaded, and an image preprocessed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ifa-loop-'));
    try {
      const model = await loopDelayDuring('ResNet50.create()', () => ResNet50.create({ seed: 1 }));
      const path = join(dir, 'ck.safetensors');
      await loopDelayDuring('checkpoint save (export + write)', async () => writeCheckpoint(path, await exportModule(model), { step: 1 }));
      await loopDelayDuring('checkpoint load (read + build + import)', async () => {
        const ck = await readAnyCheckpointAsync(path);
        const m = new ResNet50({ seed: 2 }, new DeferredInit()); // what Encoder.load does: no draws to overwrite
        await importModule(m, ck.records);
        m.dispose();
      });
      const img = syntheticRadiograph(7, { width: 1024 });
      await loopDelayDuring('preprocessCxrAsync at 512²', () => preprocessCxrAsync(img, { imageSize: 512 }));
      model.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('cpu: p99 loop delay < 50 ms through Trainer.run\'s warm-up (method build, loader start) and its first steps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ifa-loop-'));
    try {
      const cfg = parseConfig({ data: 'synthetic', syntheticImages: 8, imageSize: 64, batch: 4, steps: 2, queueSize: 4096, hidden: 2048, dim: 128, workers: 1, checkpointEvery: 1, out: join(dir, 'run') });
      const r = await loopDelayDuring('Trainer.run (full-size MoCo, 2 steps, checkpoints)', () => new Trainer(cfg).run({ onLog: () => {} }));
      assert.is(r.steps, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

const cuda = (await backendStatuses()).find((s) => s.name === 'cuda');
if (backendSelected('cuda')) {
  const title = 'cuda: launches return at once and the event loop stays responsive while ≥ 2 s of matmuls drain';
  if (!cuda?.available) {
    skipNote('cuda event loop', cuda?.reason ?? 'unavailable');
    test.skip(title, () => {});
  } else if (nativeAddon().info().cuda.emulator) {
    skipNote('cuda event loop', 'the CUDA emulator runs kernels synchronously on the launching thread');
    test.skip(title, () => {});
  } else {
    test(title, () => drainTest('cuda', 2048, MAX_LAUNCHES));
  }
}

test.run();
