// The data bench behind `ifa-ssl bench data` (src/cli/bench.ts): two-view pairs per second through
// the whole loader (cache read, two augmented views, normalisation, transfer to the main thread,
// tensors on the backend). The source is the synthetic radiograph set, preprocessed into a cache
// first (untimed), which is what every epoch after the first reads on real data.
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackendName } from '../backends/backend.js';
import { augmentKernels, type PresetName } from '../data/augment.js';
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
  const loader = new CxrLoader(dataset, { batchSize: Math.min(batchSize, n), imageSize, augmentations: preset, workers, cacheDir, backend: o.backend, shuffle: true, dropLast: true, onWarning: () => {} });
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
      disposeBatch(b);
      if (pairs >= target) break;
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
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
    };
  } finally {
    await loader.close();
    await rm(cacheDir, { recursive: true, force: true });
  }
}

function disposeBatch(b: { view1: unknown; view2: unknown; labels: unknown }): void {
  for (const t of [b.view1, b.view2, b.labels]) if (t && typeof (t as { dispose?: unknown }).dispose === 'function') (t as { dispose(): void }).dispose();
}
