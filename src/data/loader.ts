// The two-view loader: shuffles (seeded per epoch), splits into batches, and has a pool of worker
// threads load, augment and normalise them while the caller trains on earlier batches. A batch's
// content depends only on (seed, epoch, index), never on the number of workers or timing. A file
// that cannot be read is skipped (one warning per file, counted in stats) and replaced by a
// deterministic substitute so batches keep their size.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { isTracing, traceMark } from '../core/trace.js';
import { BACKEND_NAMES, type BackendName } from '../backends/backend.js';
import { checkDType, type DType } from '../core/dtype.js';
import { keep, tidy } from '../core/engine.js';
import { slice } from '../ops/layout.js';
import { augmentOnDevice, devicePlanCheck } from './augment/device.js';
import { Rng } from '../core/random.js';
import { fromFloat32Array, type Tensor } from '../core/tensor.js';
import { getDefaultBackend, initBackend } from '../backends/registry.js';
import { mixSeed, preset, compileAugmentations, PRESET_NAMES, type AugSpec, type PresetName } from './augment.js';
import { defaultCacheDir } from './cache.js';
import type { Dataset } from './datasets.js';
import { CXR_DEFAULTS } from './preprocess.js';
import type { BatchResult, WorkerConfig, WorkerReply } from './protocol.js';

export interface LoaderOptions {
  batchSize: number;
  /** Side S of the square images. Default 512. */
  imageSize?: number;
  /** Upper clipping percentile. Default 99. */
  clipPercentile?: number;
  /** Normalisation after augmentation. Defaults 0.658 / 0.221. */
  mean?: number;
  std?: number;
  /** A preset name or a list of transforms. Default 'default' (the reference code's pipeline). */
  augmentations?: PresetName | AugSpec[];
  seed?: number;
  /** Default true. */
  shuffle?: boolean;
  /** Drop the last incomplete batch. Default true. */
  dropLast?: boolean;
  /** Worker threads. Default: all cores (os.availableParallelism()). */
  workers?: number;
  /** Batches in flight (each holds 2·B·S²·4 bytes: 64 MiB at B = 32, S = 512). Default 2 per worker. */
  prefetch?: number;
  /** Where the tensors go; default: the default backend when each batch is made. */
  backend?: BackendName;
  /**
   * Where the views are augmented (issue 20): 'cpu' (default) in the workers; or the batches' backend
   * ('cuda', 'webgpu'), where the workers only read each image's 16-bit words and draw the views'
   * plans, and the batched device kernels (src/data/augment/device.ts) make the views there — the
   * same views up to float32 rounding, at a fraction of the CPU time. Tensor output only.
   */
  augmentDevice?: BackendName;
  /**
   * With augmentDevice: the views' dtype (the training step's activation dtype under mixed
   * precision, so the step needs no cast of its own); default float32. The CPU path is float32.
   */
  viewDtype?: DType;
  /** Preprocessed-image cache folder, or false for none. Default defaultCacheDir(). */
  cacheDir?: string | false;
  /** Substitutes tried for an unreadable sample before the batch shrinks. Default 16. */
  maxSubstitutes?: number;
  /**
   * Consecutive failed reads (a file, then its substitutes; known-bad files count again) after which
   * the loader stops with an error instead of looking further. Default 1000.
   */
  maxConsecutiveUnreadable?: number;
  /** Stop with an error once more than this fraction of the data set's files proved unreadable. Default 1 (never). */
  maxUnreadableFraction?: number;
  /**
   * The smallest batch to yield (batch norm in training needs 2): a batch that skips shrank below it
   * is dropped with a warning. Default 1.
   */
  minBatch?: number;
  /** A shrunk batch is cut to a multiple of this (MoCo's bnGroups). Default 1. */
  batchMultiple?: number;
  /** Consecutive dropped batches after which the loader stops with an error. Default 10. */
  maxDroppedBatches?: number;
  /** Receives the one warning per skipped file. Default: console.warn. */
  onWarning?: (message: string) => void;
}

export interface Batch<T = Tensor> {
  /** [B, S, S, 1], normalised. */
  view1: T;
  view2: T;
  /** Dataset index of each row (a substitute's index where a file was skipped). */
  indices: number[];
  /** [B, L] labels for datasets that have them (NaN where blank), else null. */
  labels: T | null;
  epoch: number;
  /** Batch number within the epoch. */
  batch: number;
}

export interface LoaderStats {
  /** Distinct files skipped as unreadable or corrupt so far. */
  skipped: number;
  skippedFiles: string[];
  batches: number;
  samples: number;
  cacheHits: number;
  /** Samples that were decoded and preprocessed (cache misses, or no cache). */
  decoded: number;
  /** Worker time, summed over workers. */
  loadMs: number;
  augmentMs: number;
  /** Workers restarted after crashing. */
  workerRestarts: number;
}

interface Pending {
  id: number;
  epoch: number;
  items: number[];
  buffers?: ArrayBuffer[];
  attempts: number;
  resolve(r: BatchResult): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  pending: Map<number, Pending>;
}

const workerUrl = new URL('./worker.js', import.meta.url);

export class CxrLoader {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly imageSize: number;
  readonly workers: number;
  readonly prefetch: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly stats: LoaderStats = { skipped: 0, skippedFiles: [], batches: 0, samples: 0, cacheHits: 0, decoded: 0, loadMs: 0, augmentMs: 0, workerRestarts: 0 };
  private readonly config: WorkerConfig;
  private readonly backend?: BackendName;
  readonly augmentDevice: BackendName;
  readonly viewDtype: DType;
  private readonly onWarning: (m: string) => void;
  private slots: Slot[] | null = null;
  private nextId = 1;
  private closed = false;
  private readonly warned = new Set<string>();
  private readonly maxConsecutiveUnreadable: number;
  private readonly maxUnreadableFraction: number;
  private readonly minBatch: number;
  private readonly batchMultiple: number;
  private readonly maxDroppedBatches: number;
  private consecutiveUnreadable = 0;
  private consecutiveDropped = 0;
  private lastSkip = '';
  /** View buffers handed back to the workers once their values are on the backend (CPU backend only). */
  private spare: ArrayBuffer[] = [];

  constructor(dataset: Dataset, opts: LoaderOptions) {
    if (!dataset || typeof dataset.describe !== 'function' || !(dataset.length > 0)) throw new TypeError('CxrLoader: expects a non-empty Dataset (ImageFolder, CsvManifest, SyntheticCxr)');
    if (!opts || !Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new RangeError(`CxrLoader: batchSize must be a positive integer, got ${opts?.batchSize}`);
    const int = (v: number | undefined, d: number, what: string, min: number): number => {
      const x = v ?? d;
      if (!Number.isInteger(x) || x < min) throw new RangeError(`CxrLoader: ${what} must be an integer ≥ ${min}, got ${v}`);
      return x;
    };
    this.dataset = dataset;
    this.batchSize = opts.batchSize;
    this.imageSize = int(opts.imageSize, CXR_DEFAULTS.imageSize, 'imageSize', 1);
    this.workers = int(opts.workers, availableParallelism(), 'workers', 1);
    this.prefetch = int(opts.prefetch, 2 * this.workers, 'prefetch', 1);
    this.seed = opts.seed ?? 0;
    if (!Number.isFinite(this.seed)) throw new RangeError(`CxrLoader: seed must be finite, got ${opts.seed}`);
    this.shuffle = opts.shuffle ?? true;
    this.dropLast = opts.dropLast ?? true;
    this.backend = opts.backend;
    this.augmentDevice = opts.augmentDevice ?? 'cpu';
    this.viewDtype = checkDType(opts.viewDtype ?? 'float32', 'CxrLoader: viewDtype');
    if (this.viewDtype !== 'float32' && this.augmentDevice !== 'cuda') {
      throw new RangeError(`CxrLoader: viewDtype '${this.viewDtype}' needs augmentDevice 'cuda' (${this.augmentDevice === 'cpu' ? 'the CPU path makes float32 views; a half step casts them' : 'WebGPU stores float32 only'}); use viewDtype 'float32'`);
    }
    if (!(BACKEND_NAMES as readonly string[]).includes(this.augmentDevice)) throw new TypeError(`CxrLoader: augmentDevice must be one of ${BACKEND_NAMES.join(', ')}, got ${JSON.stringify(opts.augmentDevice)}`);
    if (this.augmentDevice !== 'cpu' && opts.backend !== undefined && opts.backend !== this.augmentDevice) {
      throw new RangeError(`CxrLoader: augmentDevice '${this.augmentDevice}' makes the views on that backend, but the batches go to '${opts.backend}'; use augmentDevice 'cpu' or backend '${this.augmentDevice}'`);
    }
    this.onWarning = opts.onWarning ?? ((m) => console.warn(m));
    this.maxConsecutiveUnreadable = int(opts.maxConsecutiveUnreadable, 1000, 'maxConsecutiveUnreadable', 1);
    this.maxUnreadableFraction = opts.maxUnreadableFraction ?? 1;
    if (!(this.maxUnreadableFraction >= 0 && this.maxUnreadableFraction <= 1)) throw new RangeError(`CxrLoader: maxUnreadableFraction must be in [0, 1], got ${opts.maxUnreadableFraction}`);
    this.minBatch = int(opts.minBatch, 1, 'minBatch', 1);
    this.batchMultiple = int(opts.batchMultiple, 1, 'batchMultiple', 1);
    this.maxDroppedBatches = int(opts.maxDroppedBatches, 10, 'maxDroppedBatches', 1);
    const aug = opts.augmentations ?? 'default';
    if (typeof aug === 'string' && !PRESET_NAMES.includes(aug)) throw new TypeError(`CxrLoader: unknown augmentation preset ${JSON.stringify(aug)}; expected one of ${PRESET_NAMES.join(', ')}`);
    const spec = typeof aug === 'string' ? preset(aug) : aug;
    compileAugmentations(spec); // validate here, with a message, before any worker sees it
    const q = opts.clipPercentile ?? CXR_DEFAULTS.clipPercentile;
    if (!(q > 0 && q <= 100)) throw new RangeError(`CxrLoader: clipPercentile must be in (0, 100], got ${q}`);
    const std = opts.std ?? CXR_DEFAULTS.std;
    if (!(std > 0)) throw new RangeError(`CxrLoader: std must be positive, got ${std}`);
    this.config = {
      dataset: dataset.describe(),
      imageSize: this.imageSize,
      clipPercentile: q,
      mean: opts.mean ?? CXR_DEFAULTS.mean,
      std,
      cacheDir: opts.cacheDir === false ? null : (opts.cacheDir ?? defaultCacheDir()),
      augmentations: spec,
      seed: this.seed,
      maxSubstitutes: int(opts.maxSubstitutes, 16, 'maxSubstitutes', 0),
      deviceAugment: this.augmentDevice !== 'cpu',
    };
    if (this.augmentDevice !== 'cpu') for (const v of devicePlanCheck(spec)) throw new RangeError(`CxrLoader: augmentDevice '${this.augmentDevice}': ${v}`);
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Dataset indices in epoch e's order (a seeded Fisher–Yates shuffle, or 0..N−1). */
  order(epoch: number): number[] {
    const n = this.dataset.length;
    const idx = Array.from({ length: n }, (_, i) => i);
    if (!this.shuffle) return idx;
    const rng = new Rng(mixSeed(this.seed, epoch, 0x5f3759df));
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rng.uniform() * (i + 1));
      const t = idx[i];
      idx[i] = idx[j];
      idx[j] = t;
    }
    return idx;
  }

  /**
   * The batches of epoch e, prefetched by the workers, as tensors on the backend (or, with 'array',
   * as plain Float32Arrays that the caller owns). Breaking out early is fine.
   */
  epoch(e: number): AsyncGenerator<Batch<Tensor>>;
  epoch(e: number, output: 'array'): AsyncGenerator<Batch<Float32Array>>;
  epoch(e: number, output?: 'array'): AsyncGenerator<Batch<Tensor> | Batch<Float32Array>> {
    return this.run(e, e + 1, output);
  }

  /**
   * Epochs from..to−1 (to = Infinity: forever) as one stream, so prefetching runs on across epoch
   * boundaries; each batch says its epoch.
   */
  epochs(from: number, to?: number, output?: undefined, startBatch?: number): AsyncGenerator<Batch<Tensor>>;
  epochs(from: number, to: number | undefined, output: 'array', startBatch?: number): AsyncGenerator<Batch<Float32Array>>;
  epochs(from: number, to = Infinity, output?: 'array', startBatch = 0): AsyncGenerator<Batch<Tensor> | Batch<Float32Array>> {
    return this.run(from, to, output, startBatch);
  }

  private batchesOf(e: number): number[][] {
    const order = this.order(e);
    const batches: number[][] = [];
    for (let i = 0; i < order.length; i += this.batchSize) {
      const b = order.slice(i, i + this.batchSize);
      if (b.length < this.batchSize && this.dropLast) break;
      batches.push(b);
    }
    return batches;
  }

  /** startBatch: the first batch of epoch `from` to produce (a resumed run continues mid-epoch). */
  private async *run(from: number, to: number, output?: 'array', startBatch = 0): AsyncGenerator<Batch<Tensor> | Batch<Float32Array>> {
    if (this.closed) throw new Error('CxrLoader: closed');
    if (!Number.isInteger(from) || from < 0) throw new RangeError(`CxrLoader: epoch must be an integer ≥ 0, got ${from}`);
    if (!(to > from) || (to !== Infinity && !Number.isInteger(to))) throw new RangeError(`CxrLoader.epochs: to must be an integer > from (or Infinity), got ${to}`);
    if (this.length === 0) return;
    const out = output === 'array' ? 'array' : 'tensor';
    if (out === 'tensor') await initBackend(this.backend ?? getDefaultBackend());
    if (this.augmentDevice !== 'cpu') {
      if (out === 'array') throw new Error(`CxrLoader: augmentDevice '${this.augmentDevice}' makes tensors on the device; arrays need augmentDevice 'cpu'`);
      const to = this.backend ?? getDefaultBackend();
      if (to !== this.augmentDevice) throw new RangeError(`CxrLoader: augmentDevice '${this.augmentDevice}' but the batches go to the default backend '${to}'; set backend: '${this.augmentDevice}'`);
    }
    // Tasks in order: (epoch, batch number, items), made lazily.
    if (!Number.isInteger(startBatch) || startBatch < 0) throw new RangeError(`CxrLoader.epochs: startBatch must be an integer ≥ 0, got ${startBatch}`);
    let te = from, tb = startBatch, tBatches = this.batchesOf(from);
    const nextTask = (): { epoch: number; batch: number; items: number[] } | null => {
      while (tb >= tBatches.length) {
        if (++te >= to) return null;
        tb = 0;
        tBatches = this.batchesOf(te);
      }
      return { epoch: te, batch: tb, items: tBatches[tb++] };
    };
    const inflight: { epoch: number; batch: number; result: Promise<BatchResult> }[] = [];
    const fill = (): void => {
      while (inflight.length < this.prefetch) {
        const t = nextTask();
        if (!t) return;
        const result = this.submit(t.epoch, t.items, out === 'tensor');
        result.catch(() => {}); // observed below; no unhandled rejection if the caller stops early
        inflight.push({ epoch: t.epoch, batch: t.batch, result });
      }
    };
    try {
      fill();
      while (inflight.length > 0) {
        const head = inflight.shift()!;
        fill();
        const r = this.fit(await head.result);
        this.account(r);
        if (r.indices.length === 0) continue;
        yield this.toBatch(r, head.epoch, head.batch, out);
        fill();
      }
    } finally {
      inflight.length = 0;
    }
  }

  private toBatch(r: BatchResult, epoch: number, batch: number, output: 'tensor' | 'array'): Batch<Tensor> | Batch<Float32Array> {
    const n = r.indices.length, S = this.imageSize;
    const L = this.dataset.labelNames.length;
    let labels: Float32Array | null = null;
    if (L > 0) {
      labels = new Float32Array(n * L);
      r.indices.forEach((idx, i) => labels!.set(this.dataset.labels(idx) ?? new Float32Array(L).fill(NaN), i * L));
    }
    if (output === 'array') return { view1: r.view1, view2: r.view2, indices: r.indices, labels, epoch, batch };
    const name = this.backend ?? getDefaultBackend();
    // Straight into backend storage: one copy, not tensor()'s two.
    const make = (data: Float32Array, shape: number[]): Tensor => fromFloat32Array(data, shape, { backend: name });
    const [view1, view2] = r.words ? this.augmentOnDevice(r, name) : [make(r.view1, [n, S, S, 1]), make(r.view2, [n, S, S, 1])];
    const result = {
      view1,
      view2,
      indices: r.indices,
      labels: labels ? make(labels, [n, L]) : null,
      epoch,
      batch,
    };
    // The CPU addon copies synchronously in alloc, so the buffers can go back to the workers.
    if (name === 'cpu' && this.spare.length < 2 * this.prefetch) this.spare.push(r.view1.buffer as ArrayBuffer, r.view2.buffer as ArrayBuffer);
    return result;
  }

  /** A device batch: the words go up once, both views' plans run there (src/data/augment/device.ts). */
  private augmentOnDevice(r: BatchResult, backend: BackendName): [Tensor, Tensor] {
    const n = r.indices.length, S = this.imageSize;
    const { mean, std } = this.config;
    const plans = [...r.plans![0], ...r.plans![1]].map((steps) => ({ steps, mean, std }));
    const both = augmentOnDevice({ backend, width: S, height: S, pixels: r.words!, sources: [...r.indices.keys(), ...r.indices.keys()], plans, dtype: this.viewDtype });
    const views = tidy(() => [keep(slice(both, 0, 0, n)), keep(slice(both, 0, n, 2 * n))] as [Tensor, Tensor]);
    both.dispose();
    return views;
  }

  /** Cuts a shrunk batch to a multiple of batchMultiple, and empties one below minBatch. */
  private fit(r: BatchResult): BatchResult {
    const n0 = r.indices.length;
    let n = n0 - (n0 % this.batchMultiple);
    if (n < this.minBatch) n = 0;
    if (n === n0) return r;
    const px = this.imageSize * this.imageSize;
    if (n > 0) this.onWarning(`ifa-ssl data: a batch shrank to ${n0} readable images by skips; using ${n} (a multiple of ${this.batchMultiple})`);
    else if (n0 > 0) this.onWarning(`ifa-ssl data: a batch shrank to ${n0} readable image${n0 === 1 ? '' : 's'} by skips, fewer than the ${this.minBatch} training needs; dropped`);
    const device: Pick<BatchResult, 'words' | 'plans'> = r.words && r.plans ? { words: r.words.slice(0, n * px), plans: [r.plans[0].slice(0, n), r.plans[1].slice(0, n)] } : {};
    return { ...r, indices: r.indices.slice(0, n), view1: r.view1.slice(0, n * px), view2: r.view2.slice(0, n * px), ...device };
  }

  private account(r: BatchResult): void {
    for (const s of r.skipped) {
      this.lastSkip = `${s.name}: ${s.message.replace(`${s.name}: `, '')}`;
      if (this.warned.has(s.name)) continue;
      this.warned.add(s.name);
      this.stats.skipped++;
      this.stats.skippedFiles.push(s.name);
      this.onWarning(`ifa-ssl data: skipping ${s.name}: ${s.message.replace(`${s.name}: `, '')}`);
    }
    this.stats.batches++;
    this.stats.samples += r.indices.length;
    this.stats.cacheHits += r.stats.cacheHits;
    this.stats.decoded += r.stats.cacheMisses;
    this.stats.loadMs += r.stats.loadMs;
    this.stats.augmentMs += r.stats.augmentMs;
    const last = this.lastSkip ? `; the last: ${this.lastSkip}` : '';
    const fix = 'check the data folder (PNG, JPEG or DICOM files)';
    if (r.indices.length > 0) {
      this.consecutiveUnreadable = r.failedAfterLast ?? 0;
      this.consecutiveDropped = 0;
    } else {
      this.consecutiveUnreadable += r.failed ?? 0;
      this.consecutiveDropped++;
      if (r.skipped.length || r.failed) this.onWarning(`ifa-ssl data: a batch had no readable images and was dropped`);
    }
    const n = this.dataset.length;
    if (this.stats.skipped > this.maxUnreadableFraction * n) {
      throw new Error(`CxrLoader: ${this.stats.skipped} of the ${n} files in the data set are unreadable (more than ${Math.round(this.maxUnreadableFraction * 100)} %)${last}; ${fix}`);
    }
    if (this.consecutiveUnreadable >= this.maxConsecutiveUnreadable) {
      throw new Error(`CxrLoader: ${this.consecutiveUnreadable} reads in a row failed (${this.stats.skipped} distinct unreadable files of ${n} tried)${last}; ${fix}`);
    }
    if (this.consecutiveDropped >= this.maxDroppedBatches) {
      throw new Error(`CxrLoader: ${this.consecutiveDropped} batches in a row were dropped for too few readable images (${this.stats.skipped} unreadable files of ${n})${last}; ${fix}`);
    }
  }

  // ---- worker pool

  private pool(): Slot[] {
    if (!this.slots) this.slots = Array.from({ length: this.workers }, () => this.spawn());
    return this.slots;
  }

  private spawn(): Slot {
    const worker = new Worker(workerUrl);
    const pending = new Map<number, Pending>();
    let readyResolve!: () => void, readyReject!: (e: Error) => void;
    const ready = new Promise<void>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    ready.catch(() => {});
    const slot: Slot = { worker, ready, pending };
    worker.on('message', (m: WorkerReply) => {
      if (m.type === 'ready') readyResolve();
      else if (m.type === 'fatal') readyReject(new Error(`CxrLoader worker: ${m.message}`));
      else if (m.type === 'batch' || m.type === 'error') {
        const p = pending.get(m.id);
        if (!p) return;
        pending.delete(m.id);
        this.refresh(slot);
        if (m.type === 'batch') {
          for (const s of m.trace ?? []) traceMark(`data worker ${worker.threadId}`, s.name, s.beginUs, s.endUs, { index: s.index, ...(s.cacheHit !== undefined ? { cacheHit: s.cacheHit } : {}) });
          p.resolve(m);
        }
        else p.reject(new Error(`CxrLoader worker failed on a batch: ${m.message}`));
      }
    });
    const crashed = (why: string): void => {
      if (this.closed || !this.slots) return;
      const i = this.slots.indexOf(slot);
      if (i < 0) return;
      readyReject(new Error(why));
      // Replace the worker and give its tasks to the pool again (twice at most per task).
      this.stats.workerRestarts++;
      this.slots[i] = this.spawn();
      for (const p of pending.values()) {
        if (++p.attempts > 2) p.reject(new Error(`CxrLoader: a worker died three times on one batch (${why})`));
        else this.dispatch(p);
      }
      pending.clear();
    };
    worker.on('error', (err) => crashed(`worker error: ${err.message}`));
    worker.on('exit', (code) => crashed(`worker exited with code ${code}`));
    worker.postMessage({ type: 'init', config: this.config });
    worker.unref();
    return slot;
  }

  /** A worker keeps the process alive only while it has work. */
  private refresh(slot: Slot): void {
    if (slot.pending.size > 0) slot.worker.ref();
    else slot.worker.unref();
  }

  private submit(epoch: number, items: number[], recycle: boolean): Promise<BatchResult> {
    if (this.closed) return Promise.reject(new Error('CxrLoader: closed'));
    let buffers: ArrayBuffer[] | undefined;
    const bytes = items.length * this.imageSize * this.imageSize * 4;
    if (recycle) {
      const fit = this.spare.filter((x) => x.byteLength === bytes).slice(0, 2);
      if (fit.length === 2) {
        buffers = fit;
        this.spare = this.spare.filter((x) => !fit.includes(x));
      }
    }
    return new Promise<BatchResult>((resolve, reject) => this.dispatch({ id: this.nextId++, epoch, items, buffers, attempts: 0, resolve, reject }));
  }

  private dispatch(p: Pending): void {
    const slots = this.pool();
    let best = slots[0];
    for (const s of slots) if (s.pending.size < best.pending.size) best = s;
    best.pending.set(p.id, p);
    this.refresh(best);
    best.ready.then(
      () => {
        const buffers = p.buffers;
        p.buffers = undefined; // transferred: a retry after a crash allocates afresh
        best.worker.postMessage({ type: 'batch', id: p.id, epoch: p.epoch, items: p.items, buffers, trace: isTracing() }, buffers ?? []);
      },
      (e: Error) => {
        if (best.pending.delete(p.id)) p.reject(e);
      },
    );
  }

  /** Stops the workers; pending batches are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const slots = this.slots ?? [];
    this.slots = null;
    for (const s of slots) for (const p of s.pending.values()) p.reject(new Error('CxrLoader: closed'));
    // A terminating worker does not keep Node's event loop alive (not even after ref()): without
    // the timer, a caller awaiting close() could see the process exit 0 in the middle of its work.
    const keepAlive = setInterval(() => {}, 1 << 30);
    try {
      await Promise.all(slots.map((s) => s.worker.terminate()));
    } finally {
      clearInterval(keepAlive);
    }
  }

  dispose(): Promise<void> {
    return this.close();
  }
}
