// The data bench behind `ifa-ssl bench data` (src/cli/bench.ts): two-view pairs per second through
// the whole loader (cache read, two augmented views, normalisation, transfer to the main thread,
// tensors on the backend). The source is the synthetic radiograph set, preprocessed into a cache
// first (untimed), which is what every epoch after the first reads on real data.
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackendName } from '../backends/backend.js';
import { getBackend } from '../backends/registry.js';
import { Rng } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import { augmentKernels, compileAugmentations, mixSeed, preset as presetSpec, type PresetName } from '../data/augment.js';
import { augmentOnDevice } from '../data/augment/device.js';
import { loadPreprocessedWords, PreprocessCache } from '../data/cache.js';
import { CXR_DEFAULTS } from '../data/preprocess.js';
import { CsvManifest, ImageFolder, SyntheticCxr, type Dataset } from '../data/datasets.js';
import { CxrLoader } from '../data/loader.js';

export interface DataBenchOptions {
  imageSize?: number;
  preset?: PresetName;
  workers?: number;
  batchSize?: number;
  /** Distinct images in the synthetic set. Default 64. */
  images?: number;
  /** Timed pairs (at least). Default 1024. */
  pairs?: number;
  backend?: BackendName;
  /** 'tensor' (default) or 'array' (stop before the backend). */
  output?: 'tensor' | 'array';
  /** PyTorch's training rate to compare with (images/s, one image = one two-view pair). Default 266. */
  gpuImagesPerSecond?: number;
  /** A real data set instead of the synthetic one: an image folder or a CSV manifest (as pretrain's --data). */
  data?: string;
  /** Where the views are augmented (the loader's augmentDevice): 'cpu' (default), or the backend's device. */
  augmentDevice?: BackendName;
}

export interface DataBenchResult {
  bench: 'data';
  image_size: number;
  preset: PresetName;
  workers: number;
  batch_size: number;
  cores: number;
  source: string;
  output: 'tensor' | 'array';
  pairs: number;
  seconds: number;
  pairs_per_s: number;
  /** pairs_per_s / min(workers, cores). */
  pairs_per_s_per_core: number;
  /** Pairs per second of CPU time consumed by the whole process (all threads). */
  pairs_per_cpu_s: number;
  gpu_images_per_s: number;
  /** Cores needed to feed the GPU rate, at pairs_per_cpu_s. */
  cores_per_gpu: number;
  /** 1-minute load average when the timing started: other processes on the machine skew pairs_per_s. */
  load_avg_1m: number;
  /** The augmentation kernels: the addon's C++ ('native') or the TypeScript references (IFA_AUGMENT_NATIVE=0, no addon). */
  augment_kernels: 'native' | 'typescript';
  /** Where the views were made: 'cpu' (the workers) or the device backend. */
  augment_device: BackendName;
  /** CPU milliseconds per pair (all threads of the process): 1000 / pairs_per_cpu_s. */
  cpu_ms_per_pair: number;
  /**
   * With a device: the median wall time of one batch's device augmentation alone (upload, kernels,
   * until the device is done), over 10 runs of one batch's words and plans; null on the CPU.
   */
  device_ms_per_batch: number | null;
}

export async function benchData(o: DataBenchOptions = {}): Promise<DataBenchResult> {
  const imageSize = o.imageSize ?? 512;
  const preset = o.preset ?? 'default';
  const cores = availableParallelism();
  const workers = o.workers ?? cores;
  const batchSize = o.batchSize ?? 32;
  const images = o.images ?? 64;
  const target = o.pairs ?? 1024;
  const output = o.output ?? 'tensor';
  const gpu = o.gpuImagesPerSecond ?? 266;
  const cacheDir = await mkdtemp(join(tmpdir(), 'ifa-bench-data-'));
  const dataset: Dataset = o.data === undefined ? new SyntheticCxr({ length: images, seed: 1, width: imageSize, height: imageSize }) : /\.csv$/i.test(o.data) ? await CsvManifest.open(o.data) : await ImageFolder.open(o.data);
  const n = dataset.length;
  const augmentDevice = o.augmentDevice ?? 'cpu';
  const backend = o.backend ?? (augmentDevice !== 'cpu' ? augmentDevice : undefined);
  if (augmentDevice !== 'cpu' && output === 'array') throw new RangeError(`bench data: --augment-device ${augmentDevice} makes tensors on the device; --output array needs --augment-device cpu`);
  const loader = new CxrLoader(dataset, { batchSize: Math.min(batchSize, n), imageSize, augmentations: preset, augmentDevice, workers, cacheDir, backend, shuffle: true, dropLast: true, onWarning: () => {} });
  const stream = (from: number, to?: number): AsyncGenerator<{ indices: number[]; view1: unknown; view2: unknown; labels: unknown }> =>
    output === 'array' ? loader.epochs(from, to, 'array') : loader.epochs(from, to);
  try {
    // Untimed: fill the preprocessing cache and warm the workers' JIT.
    for await (const b of stream(0, 1)) disposeBatch(b);
    let pairs = 0;
    const load = loadavg()[0];
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for await (const b of stream(1)) {
      pairs += b.indices.length;
      // On a device the views are enqueued work: count a batch once the device has made it.
      if (augmentDevice !== 'cpu') await (b.view2 as Tensor).data();
      disposeBatch(b);
      if (pairs >= target) break;
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const deviceMs = augmentDevice === 'cpu' ? null : await deviceBatchMs(dataset, loader, imageSize, preset, augmentDevice, cacheDir);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const rate = pairs / seconds;
    const perCpu = pairs / cpuSeconds;
    const r3 = (x: number): number => Math.round(x * 1000) / 1000;
    return {
      bench: 'data',
      image_size: imageSize,
      preset,
      workers,
      batch_size: Math.min(batchSize, n),
      cores,
      source: o.data === undefined ? `synthetic radiographs (${images} images), read from the preprocessed cache` : `${o.data} (${n} images), read from the preprocessed cache (filled from the files first, untimed)`,
      output,
      pairs,
      seconds: r3(seconds),
      pairs_per_s: r3(rate),
      pairs_per_s_per_core: r3(rate / Math.min(workers, cores)),
      pairs_per_cpu_s: r3(perCpu),
      gpu_images_per_s: gpu,
      cores_per_gpu: r3(gpu / perCpu),
      load_avg_1m: r3(load),
      augment_kernels: augmentKernels(),
      augment_device: augmentDevice,
      cpu_ms_per_pair: r3(1000 / perCpu),
      device_ms_per_batch: deviceMs === null ? null : r3(deviceMs),
    };
  } finally {
    await loader.close();
    await rm(cacheDir, { recursive: true, force: true });
  }
}

/** One batch's device augmentation alone: the words and plans a worker would send, run 10 times (after 2 untimed). */
async function deviceBatchMs(dataset: Dataset, loader: CxrLoader, S: number, preset: PresetName, backend: BackendName, cacheDir: string): Promise<number> {
  const B = loader.batchSize, px = S * S;
  const words = new Uint16Array(B * px);
  const opts = { imageSize: S, clipPercentile: CXR_DEFAULTS.clipPercentile, cache: new PreprocessCache(cacheDir) };
  for (let i = 0; i < B; i++) await loadPreprocessedWords(dataset.describe(), i % dataset.length, opts, words.subarray(i * px, (i + 1) * px));
  const aug = compileAugmentations(presetSpec(preset));
  const plans = Array.from({ length: 2 * B }, (_, v) => ({ steps: aug.plan(S, S, new Rng(mixSeed(7, v))), mean: CXR_DEFAULTS.mean, std: CXR_DEFAULTS.std }));
  const sources = Array.from({ length: 2 * B }, (_, v) => v % B);
  const times: number[] = [];
  for (let r = 0; r < 12; r++) {
    const t0 = performance.now();
    const t = augmentOnDevice({ backend, width: S, height: S, pixels: words, sources, plans });
    await getBackend(backend).sync();
    if (r >= 2) times.push(performance.now() - t0);
    t.dispose();
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

function disposeBatch(b: { view1: unknown; view2: unknown; labels: unknown }): void {
  for (const t of [b.view1, b.view2, b.labels]) if (t && typeof (t as { dispose?: unknown }).dispose === 'function') (t as { dispose(): void }).dispose();
}
