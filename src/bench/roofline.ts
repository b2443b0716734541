// The roofline the profiler divides by: a card's datasheet figures where the device is a known card
// (src/core/profile.ts's KNOWN_CARDS), else measured on the backend itself — memory bandwidth as the
// best of four streaming kernels on large vectors (MoCo's in-place ema: reads 2, writes 1; add: the
// same into a new tensor; sum: reads 1; relu: reads 1, writes 1; each the best of 5), float32 FLOP/s
// from a square matmul (the best of 3). On the CPU that is the machine's bandwidth and GEMM peak at
// the current thread count, as our own kernels reach them; the profiler reports the source beside it.
import '../core/autograd.js';
import type { BackendName } from '../backends/backend.js';
import { initBackend } from '../backends/registry.js';
import { knownRoofline, type Roofline } from '../core/profile.js';
import { randomNormal, type Tensor } from '../core/tensor.js';
import { nativeAddon } from '../native.js';
import { add } from '../ops/add.js';
import { emaUpdate } from '../optim/kernels.js';
import { sum } from '../ops/reduce.js';
import { relu } from '../ops/relu.js';
import { matmul } from '../ops/matmul.js';

/** Vector length and matmul size per backend: ~100 ms of work each, large enough to leave the caches. */
const SIZES: Record<BackendName, { vector: number; gemm: number }> = {
  cpu: { vector: 1 << 24, gemm: 1024 },
  cuda: { vector: 1 << 26, gemm: 4096 },
  webgpu: { vector: 1 << 22, gemm: 512 },
};
/** The CUDA emulator runs CUDA kernels as serial C++: a GPU's sizes would take minutes there. */
const EMULATOR_SIZES = { vector: 1 << 20, gemm: 128 };

async function bestMs(backendName: BackendName, fn: () => Tensor | void, rounds: number): Promise<number> {
  const backend = await initBackend(backendName);
  let best = Infinity;
  for (let i = 0; i <= rounds; i++) {
    const t0 = performance.now();
    const out = fn();
    await backend.sync();
    const ms = performance.now() - t0;
    out?.dispose();
    if (i > 0) best = Math.min(best, ms); // the first round warms up
  }
  return best;
}

/** Measures bandwidth (GB/s) and float32 GEMM TFLOP/s on a backend. */
export async function measureRoofline(backendName: BackendName): Promise<Roofline> {
  const emulator = backendName === 'cuda' && nativeAddon().info().cuda.emulator === true;
  const { vector: n, gemm: m } = emulator ? EMULATOR_SIZES : SIZES[backendName];
  const a = randomNormal([n], { backend: backendName, seed: 1 });
  const b = randomNormal([n], { backend: backendName, seed: 2 });
  let gbps = 0, gemmMs: number;
  try {
    // bytes moved per call of each streaming kernel on n floats
    const streams: [() => Tensor | void, number][] = [
      [() => emaUpdate([a], [b], 0.5), 3 * n * 4], // in place: no fresh output pages
      [() => add(a, b), 3 * n * 4],
      [() => sum(a), n * 4],
      [() => relu(a), 2 * n * 4],
    ];
    for (const [fn, bytes] of streams) gbps = Math.max(gbps, bytes / (await bestMs(backendName, fn, 5)) / 1e6);
  } finally {
    a.dispose();
    b.dispose();
  }
  const x = randomNormal([m, m], { backend: backendName, seed: 3 });
  const y = randomNormal([m, m], { backend: backendName, seed: 4 });
  try {
    gemmMs = await bestMs(backendName, () => matmul(x, y), 3);
  } finally {
    x.dispose();
    y.dispose();
  }
  const bandwidthGBps = Number(gbps.toFixed(1));
  const float32 = Number(((2 * m ** 3) / gemmMs / 1e9).toFixed(3));
  const threads = backendName === 'cpu' ? `, ${nativeAddon().info().threads} threads` : emulator ? ', the CUDA emulator (CPU)' : '';
  return { bandwidthGBps, tflops: { float32 }, source: `measured: best of ema, add, sum, relu on ${n / (1 << 20)} Mi floats, matmul ${m}³ best of 3${threads}` };
}

/** The device's roofline: datasheet figures for a known card, else measured. */
export async function deviceRoofline(backendName: BackendName): Promise<Roofline> {
  const backend = await initBackend(backendName);
  const known = backendName === 'cuda' ? knownRoofline(backend.status().device) : null;
  return known ?? measureRoofline(backendName);
}
