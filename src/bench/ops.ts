// The op benches behind `ifa-ssl bench <ifa|conv|bn>` (src/cli/bench.ts), bench/*.ts and the GPU
// check: time one op's forward (or forward + all gradients) on a backend, one BenchResult per run.
// Each iteration enqueues the work inside tidy() and waits for the backend to finish; we report the
// median and minimum over `iters` iterations after `warmup` untimed ones. Inputs are seeded N(0,1),
// never all zeros (bn and conv inputs past 4 M elements repeat their first 4 M values: see
// benchInput). `layer` picks one of the ResNet-50 convolutions that bench/gpu/check.sh compares with
// cuDNN (batch `batch`, 128); `dtype` bfloat16|float16 runs it on half tensors and `tf32` lets
// float32 use TF32 (the CUDA tensor-core kernels; the JSON names the kernel plan each convolution
// ran, `plans`).
import '../core/autograd.js';
import type { BackendName } from '../backends/backend.js';
import { initBackend } from '../backends/registry.js';
import { nowUs, traceMark } from '../core/trace.js';
import { tidy } from '../core/engine.js';
import { rngFor } from '../core/random.js';
import { type DType, dtypeSize } from '../core/dtype.js';
import { getFloat32Precision, setFloat32Precision } from '../core/precision.js';
import { type Tensor, ones, randomNormal, tensor, zeros } from '../core/tensor.js';
import { nativeAddon } from '../native.js';
import { batchNorm2d } from '../ops/batchnorm.js';
import { conv2d } from '../ops/conv2d.js';
import { ifaLoss } from '../ops/ifa.js';


export interface BenchResult {
  bench: string;
  backend: BackendName;
  shape: number[];
  pass: 'forward' | 'both';
  iters: number;
  median_ms: number;
  min_ms: number;
  /** Bytes the work must move at least (its floor), as defined per bench in the README. */
  bytes: number;
  GBps: number;
  flops: number | null;
  GFLOPs: number | null;
  TFLOPs: number | null;
  /** CUDA: the median host time (JS and the addon) to enqueue one iteration, in ms. */
  host_ms?: number;
  [extra: string]: unknown;
}

export interface BenchSpec {
  bench: 'ifa' | 'conv' | 'bn';
  backend: BackendName;
  shape?: number[];
  pass?: 'forward' | 'both';
  iters?: number;
  warmup?: number;
  kernel?: number;
  stride?: number;
  cout?: number;
  /** A RESNET50_CONV_LAYERS name (conv only): sets shape, kernel, stride and cout. */
  layer?: string;
  /** Called after each warmup and each timed iteration (the CLI's progress lines on long benches). */
  onProgress?: (phase: 'warmup' | 'timed', done: number, total: number) => void;
  /** Batch size with `layer` (default 128). */
  batch?: number;
  /** conv: the dtype of x, w and dy (default float32; the weight gradient is float32 always). */
  dtype?: DType;
  /** conv: float32 convolutions read their operands as TF32 (setFloat32Precision('tf32')). */
  tf32?: boolean;
  /**
   * Iterations enqueued back to back per timed sample (CUDA): default adaptive, enough for ≥ 2 ms of
   * device work per sample, at most 10 (bench/torch/cuda_ops.py uses the same rule).
   */
  reps?: number;
}

/** Samples of at least this much device time: the host's launch gaps then overlap the GPU's work. */
export const SAMPLE_TARGET_MS = 2;
export const MAX_REPS = 10;
/** The reps rule shared with bench/torch/cuda_ops.py: ceil(2 ms / one iteration), within 1..10. */
export function repsFor(iterationMs: number): number {
  if (!(iterationMs > 0)) return MAX_REPS;
  return Math.max(1, Math.min(MAX_REPS, Math.ceil(SAMPLE_TARGET_MS / iterationMs)));
}

/**
 * The ResNet-50 convolutions of ../shared/anchors/README.md, NHWC input [batch, hw, hw, cin], padding
 * kernel/2. bench/torch/cuda_ops.py times the same list (same names) in cuDNN.
 */
export const RESNET50_CONV_LAYERS: Record<string, { title: string; hw: number; cin: number; cout: number; kernel: number; stride: number }> = {
  conv1_rgb: { title: 'conv1 7×7 s2, 3→64 @224', hw: 224, cin: 3, cout: 64, kernel: 7, stride: 2 },
  conv1_1ch: { title: 'conv1 7×7 s2, 1→64 @224', hw: 224, cin: 1, cout: 64, kernel: 7, stride: 2 },
  '1x1_256_64_56': { title: '1×1 256→64 @56', hw: 56, cin: 256, cout: 64, kernel: 1, stride: 1 },
  '3x3_64_64_56': { title: '3×3 64→64 @56', hw: 56, cin: 64, cout: 64, kernel: 3, stride: 1 },
  '3x3_256_256_14': { title: '3×3 256→256 @14', hw: 14, cin: 256, cout: 256, kernel: 3, stride: 1 },
  '1x1_1024_256_14': { title: '1×1 1024→256 @14', hw: 14, cin: 1024, cout: 256, kernel: 1, stride: 1 },
  '3x3_512_512_7': { title: '3×3 512→512 @7', hw: 7, cin: 512, cout: 512, kernel: 3, stride: 1 },
};

const DEFAULT_SHAPES: Record<BenchSpec['bench'], number[]> = {
  ifa: [16, 8, 8, 1024],
  bn: [8, 56, 56, 256],
  conv: [8, 56, 56, 64],
};

export interface Work {
  run(): void;
  bytes: number;
  flops: number | null;
  extra: Record<string, unknown>;
  dispose(): void;
}

function ifaWork(shape: number[], backend: BackendName, both: boolean): Work {
  const q = benchInput(shape, { seed: 1, backend, requiresGrad: both });
  const p = benchInput(shape, { seed: 2, backend });
  const n = q.size;
  return {
    run: () =>
      tidy(() => {
        // As in training (combineLosses): gradScale = the upstream gradient, so forward + gradient
        // is the one fused pass ifaLossWithGrad (read q and p once, write dq once).
        const loss = ifaLoss(q, p, both ? { gradScale: 1 } : {});
        if (both) {
          loss.backward();
          q.grad!.dispose();
          q.grad = null;
        }
      }),
    // Floor: read q and p once (and write dq once with the gradient).
    bytes: (both ? 3 : 2) * n * 4,
    flops: null,
    extra: { kernels: both ? ['ifaLossWithGrad'] : ['ifaLoss'] },
    dispose: () => [q, p].forEach((t) => t.dispose()),
  };
}

/** Elements of seeded N(0,1) data that benchInput generates; larger inputs repeat this block. */
export const BENCH_BLOCK = 1 << 22;

/**
 * A seeded N(0, std²) bench input. Up to BENCH_BLOCK elements it is randomNormal's; beyond that the
 * first BENCH_BLOCK values repeat (JS makes a few million normals/s; the ResNet-50 layers at batch 128
 * need hundreds of millions; a kernel's speed does not depend on the values).
 */
export function benchInput(shape: number[], opts: { seed: number; backend: BackendName; std?: number; requiresGrad?: boolean; dtype?: DType }): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n <= BENCH_BLOCK) return randomNormal(shape, opts);
  const std = opts.std ?? 1;
  const v = new Float32Array(n);
  const rng = rngFor(opts.seed);
  for (let i = 0; i < BENCH_BLOCK; i++) v[i] = std * rng.normal();
  for (let filled = BENCH_BLOCK; filled < n; filled *= 2) v.copyWithin(filled, 0, Math.min(filled, n - filled));
  return tensor(v, shape, { backend: opts.backend, requiresGrad: opts.requiresGrad, dtype: opts.dtype });
}

function bnWork(shape: number[], backend: BackendName, both: boolean): Work {
  const c = shape[shape.length - 1];
  const x = benchInput(shape, { seed: 1, backend, requiresGrad: both });
  const gamma = ones([c], { backend, requiresGrad: both });
  const beta = zeros([c], { backend, requiresGrad: both });
  const runningMean = zeros([c], { backend });
  const runningVar = ones([c], { backend });
  const up = benchInput(shape, { seed: 3, backend });
  const n = x.size;
  return {
    run: () =>
      tidy(() => {
        const y = batchNorm2d(x, gamma, beta, { training: true, runningMean, runningVar, relu: true });
        if (both) {
          y.backward(up);
          for (const t of [x, gamma, beta]) {
            t.grad!.dispose();
            t.grad = null;
          }
        }
      }),
    // Floor (issue 4): a two-pass forward reads x for the statistics, then reads x and writes y (3N);
    // a two-pass backward reads dy and y for the reductions, then dy and y again and writes dx (5N):
    // 8N with the gradient. anchor_bytes is the count ../shared/anchors/README.md uses for PyTorch's
    // figure (forward 2N: read x, write y; forward+backward 5N).
    bytes: (both ? 8 : 3) * n * 4,
    flops: null,
    extra: { relu: true, anchor_bytes: (both ? 5 : 2) * n * 4 },
    dispose: () => [x, gamma, beta, runningMean, runningVar, up].forEach((t) => t.dispose()),
  };
}

/** The convolution plans the CUDA addon chose since `from` (convPlans() entries), for the JSON. */
function plansSince(from: number): string[] {
  const all = nativeAddon().convPlans?.() ?? [];
  return all.slice(from);
}

function convWork(shape: number[], backend: BackendName, both: boolean, k: number, stride: number, cout: number, dtype: DType, tf32: boolean): Work {
  const [n, h, w, cin] = shape;
  const pad = Math.floor(k / 2);
  const ho = Math.floor((h + 2 * pad - k) / stride) + 1;
  const wo = Math.floor((w + 2 * pad - k) / stride) + 1;
  const x = benchInput(shape, { seed: 1, backend, requiresGrad: both, dtype });
  const wt = benchInput([cout, k, k, cin], { seed: 2, backend, std: 1 / Math.sqrt(cin * k * k), requiresGrad: both, dtype });
  const up = both ? benchInput([n, ho, wo, cout], { seed: 3, backend, dtype }) : null;
  const plansFrom = backend === 'cuda' ? (nativeAddon().convPlans?.() ?? []).length : 0;
  // One multiply-add per output element per tap: 2·N·Ho·Wo·Cout·Cin·K² for the forward; the input
  // gradient and the weight gradient are each a GEMM of the same size, so forward+backward is 3×.
  const flopsFwd = 2 * n * cout * ho * wo * cin * k * k;
  const elems = x.size + wt.size + n * ho * wo * cout;
  const extra: Record<string, unknown> = { kernel: k, stride, padding: pad, cout, out: [n, ho, wo, cout], dtype, tf32 };
  return {
    run: () => {
      const before = getFloat32Precision();
      if (tf32) setFloat32Precision('tf32');
      try {
        tidy(() => {
          const y = conv2d(x, wt, { stride, padding: pad });
          if (up) {
            y.backward(up);
            for (const t of [x, wt]) {
              t.grad!.dispose();
              t.grad = null;
            }
          }
        });
      } finally {
        setFloat32Precision(before);
      }
      if (backend === 'cuda' && extra.plans === undefined) extra.plans = plansSince(plansFrom);
    },
    bytes: (both ? 3 : 1) * elems * dtypeSize(dtype),
    flops: both ? 3 * flopsFwd : flopsFwd,
    extra,
    dispose: () => [x, wt, up].forEach((t) => t?.dispose()),
  };
}

/** Fills in a spec's defaults and expands `layer` into shape, kernel, stride and cout. */
export function resolveSpec(spec: BenchSpec): BenchSpec & { shape: number[] } {
  if (spec.layer === undefined) {
    if (spec.batch !== undefined) throw new RangeError('--batch goes with --layer (use --shape N,H,W,C otherwise)');
    return { ...spec, shape: spec.shape ?? DEFAULT_SHAPES[spec.bench] };
  }
  const l = RESNET50_CONV_LAYERS[spec.layer];
  if (spec.bench !== 'conv') throw new RangeError(`--layer applies to bench conv only, not ${spec.bench}`);
  if (!l) throw new RangeError(`unknown --layer '${spec.layer}' (one of ${Object.keys(RESNET50_CONV_LAYERS).join(', ')})`);
  if (spec.shape || spec.kernel || spec.stride || spec.cout) throw new RangeError('--layer sets the shape, kernel, stride and cout: give --batch, not --shape/--kernel/--stride/--cout');
  return { ...spec, shape: [spec.batch ?? 128, l.hw, l.hw, l.cin], kernel: l.kernel, stride: l.stride, cout: l.cout };
}

/** The tensors and closure for one bench; run() enqueues one iteration (await backend.sync() after). */
export function prepareBench(spec: BenchSpec): Work {
  const r = resolveSpec(spec);
  const shape = r.shape;
  const both = (r.pass ?? 'both') === 'both';
  if (r.bench !== 'conv' && (r.dtype !== undefined || r.tf32 !== undefined)) throw new RangeError(`--dtype and --tf32 apply to bench conv only, not ${r.bench}`);
  if (r.bench === 'ifa') return ifaWork(shape, r.backend, both);
  if (r.bench === 'bn') return bnWork(shape, r.backend, both);
  const dtype = r.dtype ?? 'float32';
  if (r.tf32 && dtype !== 'float32') throw new RangeError(`--tf32 applies to float32 convolutions, not ${dtype}`);
  const work = convWork(shape, r.backend, both, r.kernel ?? 3, r.stride ?? 1, r.cout ?? shape[3], dtype, r.tf32 ?? false);
  if (r.layer !== undefined) work.extra = { layer: r.layer, title: RESNET50_CONV_LAYERS[r.layer].title, ...work.extra };
  return work;
}

export async function runBench(spec: BenchSpec): Promise<BenchResult> {
  const backend = await initBackend(spec.backend);
  const shape = resolveSpec(spec).shape;
  const pass = spec.pass ?? 'both';
  const iters = spec.iters ?? 20;
  const warmup = spec.warmup ?? 3;
  const work = prepareBench(spec);
  try {
    for (let i = 0; i < warmup; i++) {
      work.run();
      await backend.sync();
      spec.onProgress?.('warmup', i + 1, warmup);
    }
    // CUDA: device time between events recorded around `reps` iterations enqueued back to back, per
    // iteration. One iteration between two events would count the host's time to enqueue it (tens of
    // microseconds of JS, the size of the IFA kernels) as GPU time; with ≥ 2 ms per sample the
    // launches run ahead of the GPU, as in training. Other backends: wall time to a sync.
    // WebGPU: its timestamp queries, where the adapter has them (else wall time to a sync, as below).
    const timer = spec.backend === 'webgpu' && !(backend as { hasTimestamps?: boolean }).hasTimestamps ? undefined : (backend as { timeMs?: (fn: () => void) => Promise<number> }).timeMs;
    let reps = 1;
    if (timer) {
      const one = await timer.call(backend, () => work.run());
      reps = spec.reps ?? repsFor(one);
    }
    const times: number[] = [];
    // CUDA: also the host's time to enqueue an iteration (JS and the addon, per iteration), which
    // one-iteration timing (--reps 1) counts in part.
    const hostTimes: number[] = [];
    for (let i = 0; i < iters; i++) {
      if (timer) {
        let host = 0;
        const traceBegin = nowUs();
        const ms = await timer.call(backend, () => {
          const t0 = performance.now();
          for (let r = 0; r < reps; r++) work.run();
          host = performance.now() - t0;
        });
        traceMark('steps', `sample ${i + 1}`, traceBegin, nowUs(), { timed: true, iterations: reps });
        times.push(ms / reps);
        hostTimes.push(host / reps);
        spec.onProgress?.('timed', i + 1, iters);
        continue;
      }
      const traceBegin = nowUs();
      const t0 = performance.now();
      work.run();
      await backend.sync();
      times.push(performance.now() - t0);
      traceMark('steps', `sample ${i + 1}`, traceBegin, nowUs(), { timed: true, iterations: 1 });
      spec.onProgress?.('timed', i + 1, iters);
    }
    const medianOf = (v: number[]): number => {
      const x = [...v].sort((a, b) => a - b);
      return x.length % 2 ? x[(x.length - 1) / 2] : (x[x.length / 2 - 1] + x[x.length / 2]) / 2;
    };
    const median = medianOf(times);
    const round = (v: number, d = 3) => Number(v.toFixed(d));
    return {
      bench: spec.bench,
      backend: spec.backend,
      shape,
      pass,
      iters,
      ...(timer ? { reps, ...(spec.reps !== undefined ? { reps_fixed: true } : {}) } : {}),
      median_ms: round(median),
      ...(timer ? { host_ms: round(medianOf(hostTimes)) } : {}),
      min_ms: round(Math.min(...times)),
      bytes: work.bytes,
      GBps: round(work.bytes / median / 1e6, 2),
      flops: work.flops,
      GFLOPs: work.flops === null ? null : round(work.flops / median / 1e6, 1),
      TFLOPs: work.flops === null ? null : round(work.flops / median / 1e9, 3),
      ...work.extra,
      timing: !timer ? 'sync' : spec.backend === 'cuda' ? 'cuda-events' : 'timestamp-query',
    };
  } finally {
    work.dispose();
  }
}
