// The whole-step bench behind `ifa-ssl bench step` (issue 15 item 1): one training step of the
// trainer's own path — makeMethod / makeOptimizer of src/train/trainer.ts, the learning rate from its
// schedule, MoCo v2 or SimCLR (+ IFA) forward, backward, SGD, EMA and queue update, and the read of
// the step's losses that the trainer awaits — timed in steady state. Not timed: data loading (both
// views are fixed seeded N(0,1) tensors made once) and the trainer's per-step finiteness check and
// metrics. We report the median of `steps` timed steps after `warmup` untimed ones, img/s from that
// median, the host time until the step's kernels are enqueued (before awaiting its losses), the peak
// of the backend's live bytes (memory() sampled at every kernel call of the timed steps) and the
// kernel count per step (Backend.run calls, counted by wrapping run for the bench only).
// bench/torch/step.py runs the same step in PyTorch and reports the same fields.
import '../core/autograd.js';
import type { Backend, BackendName } from '../backends/backend.js';
import { getDefaultBackend, initBackend, setBackend } from '../backends/registry.js';
import { randomNormal } from '../core/tensor.js';
import { nowUs, traceMark } from '../core/trace.js';
import { setCpuThreads } from '../core/threads.js';
import { nativeAddon } from '../native.js';
import { learningRate } from '../optim/sgd.js';
import { type Config, parseConfig, type ConfigInput } from '../train/config.js';
import { makeMethod, makeOptimizer } from '../train/trainer.js';
import { PRECISIONS, type Precision, resolvePrecision, withPrecision } from '../train/precision.js';

export const STEP_PRECISIONS = PRECISIONS;
export const STEP_GRAPH_MODES = ['off', 'on'] as const;

export interface StepBenchSpec {
  /** The trainer's config fields (method, imageSize, batch, queueSize, ifa, backend, layers, width, …). */
  config: ConfigInput;
  /** Timed steps (default 20, at least 1). */
  steps?: number;
  /** Untimed steps first (default 3). */
  warmup?: number;
  /** fp32, tf32, bf16 or fp16 (src/train/precision.ts); default as the trainer's. */
  precision?: string;
  /** Only off runs today; CUDA graph capture is issue 15 item 4. */
  graph?: string;
}

export interface StepBenchResult {
  bench: 'step';
  impl: 'ifa-ssl';
  method: 'moco' | 'simclr';
  backend: BackendName;
  image_size: number;
  batch: number;
  queue: number | null;
  ifa: { block: number; target: number; weight: number }[];
  layers: number[];
  width: number;
  precision: Precision;
  graph: 'off';
  threads: number | null;
  warmup: number;
  steps: number;
  median_ms: number;
  min_ms: number;
  img_per_s: number;
  host_ms: number;
  peak_bytes: number;
  /** Live bytes before the first step: parameters, momenta, key encoder, queue, inputs. */
  resident_bytes: number;
  kernels_per_step: number;
  /** The last timed step's loss (finite, or the run is reported as diverged). */
  loss: number;
}

/** Checks --precision / --graph: an unknown precision, and --graph on (issue 15 item 4), are refused. */
export function checkStepModes(precision: string | undefined, graph: string | undefined): void {
  if (precision !== undefined) {
    if (!(STEP_PRECISIONS as readonly string[]).includes(precision)) throw new RangeError(`--precision must be one of ${STEP_PRECISIONS.join(', ')}, got '${precision}'`);
  }
  if (graph !== undefined) {
    if (!(STEP_GRAPH_MODES as readonly string[]).includes(graph)) throw new RangeError(`--graph must be on or off, got '${graph}'`);
    if (graph !== 'off') throw new RangeError('--graph on is not implemented yet: capturing the step as a CUDA graph is issue 15 item 4; only --graph off runs now');
  }
}

function medianOf(v: number[]): number {
  const x = [...v].sort((a, b) => a - b);
  return x.length % 2 ? x[(x.length - 1) / 2] : (x[x.length / 2 - 1] + x[x.length / 2]) / 2;
}

/** Runs the step bench; the configured backend is the default backend while it runs, as in Trainer.run. */
export async function benchStep(spec: StepBenchSpec): Promise<StepBenchResult> {
  checkStepModes(spec.precision, spec.graph);
  const steps = spec.steps ?? 20;
  const warmup = spec.warmup ?? 3;
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  if (!Number.isInteger(warmup) || warmup < 0) throw new RangeError(`warmup must be an integer ≥ 0, got ${warmup}`);
  const cfg = parseConfig({ ...spec.config, ...(spec.precision !== undefined ? { precision: spec.precision } : {}), steps: warmup + steps }, 'bench step config');
  if (cfg.method === 'moco' && cfg.queueSize % cfg.batch !== 0) throw new RangeError(`--queue ${cfg.queueSize} must be a multiple of --batch ${cfg.batch} (MoCo's queue advances by whole batches)`);
  const backend = await initBackend(cfg.backend);
  const precision = resolvePrecision(cfg.precision, cfg.backend);
  return withPrecision(precision, () => timeSteps(cfg, backend, precision, steps, warmup));
}

async function timeSteps(cfg: Config, backend: Backend, precision: Precision, steps: number, warmup: number): Promise<StepBenchResult> {
  if (cfg.threads) setCpuThreads(cfg.threads);
  const previous = getDefaultBackend();
  await setBackend(cfg.backend);
  const counter = countKernels(backend);
  const method = makeMethod(cfg);
  const opt = makeOptimizer(cfg, method);
  const shape = [cfg.batch, cfg.imageSize, cfg.imageSize, cfg.inChannels];
  const x1 = randomNormal(shape, { seed: cfg.seed + 1, backend: cfg.backend });
  const x2 = randomNormal(shape, { seed: cfg.seed + 2, backend: cfg.backend });
  try {
    await backend.sync();
    const resident = backend.memory().bytes;
    const times: number[] = [];
    const hostTimes: number[] = [];
    const kernelCounts: number[] = [];
    let peak = 0;
    let loss = NaN;
    for (let step = 0; step < warmup + steps; step++) {
      const timed = step >= warmup;
      opt.lr = learningRate(step, { baseLr: cfg.lr, batch: cfg.batch, totalSteps: warmup + steps, warmupSteps: cfg.warmupSteps, kind: cfg.schedule });
      counter.reset(timed);
      const traceBegin = nowUs();
      const t0 = performance.now();
      const pending = method.step(x1, x2, opt);
      const host = performance.now() - t0;
      const losses = await pending;
      await backend.sync();
      const ms = performance.now() - t0;
      traceMark('steps', `${timed ? 'step' : 'warmup step'} ${step + 1}`, traceBegin, nowUs(), { timed, iterations: 1 });
      const kernels = counter.count;
      if (!Number.isFinite(losses.loss)) throw new Error(`bench step: the loss became ${losses.loss} at step ${step + 1}; the timings of a diverged step are not reported`);
      if (!timed) continue;
      times.push(ms);
      hostTimes.push(host);
      kernelCounts.push(kernels);
      peak = Math.max(peak, counter.peak, backend.memory().bytes);
      loss = losses.loss;
    }
    // A step whose kernel count changes would make the count (and a captured graph) meaningless.
    if (kernelCounts.some((k) => k !== kernelCounts[0])) throw new Error(`bench step: the kernel count differs between steps (${[...new Set(kernelCounts)].join(', ')})`);
    const median = medianOf(times);
    const round = (v: number, d = 3) => Number(v.toFixed(d));
    return {
      bench: 'step',
      impl: 'ifa-ssl',
      method: cfg.method,
      backend: cfg.backend,
      image_size: cfg.imageSize,
      batch: cfg.batch,
      queue: cfg.method === 'moco' ? cfg.queueSize : null,
      ifa: cfg.ifa,
      layers: cfg.layers,
      width: cfg.width,
      precision,
      graph: 'off',
      threads: cfg.backend === 'cpu' ? (nativeAddon().info().threads as number) : null,
      warmup,
      steps,
      median_ms: round(median),
      min_ms: round(Math.min(...times)),
      img_per_s: round((cfg.batch * 1000) / median, 2),
      host_ms: round(medianOf(hostTimes)),
      peak_bytes: peak,
      resident_bytes: resident,
      kernels_per_step: kernelCounts[0],
      loss,
    };
  } finally {
    counter.restore();
    x1.dispose();
    x2.dispose();
    opt.dispose();
    method.dispose();
    await setBackend(previous);
  }
}

/**
 * Wraps backend.run to count its calls and, while sampling, to track the peak of memory().bytes at
 * each call (a kernel's outputs are allocated before it is enqueued, so this sees every live set).
 */
function countKernels(backend: Backend): { count: number; peak: number; reset(sample: boolean): void; restore(): void } {
  const own = Object.prototype.hasOwnProperty.call(backend, 'run');
  const original = backend.run;
  let sample = false;
  const c = {
    count: 0,
    peak: 0,
    reset(s: boolean) {
      c.count = 0;
      c.peak = 0;
      sample = s;
    },
    restore() {
      if (own) backend.run = original;
      else delete (backend as { run?: unknown }).run;
    },
  };
  backend.run = function (this: Backend, ...args: Parameters<Backend['run']>) {
    c.count++;
    const id = original.apply(this, args);
    if (sample) c.peak = Math.max(c.peak, backend.memory().bytes);
    return id;
  };
  return c;
}
