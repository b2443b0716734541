// The pretraining loop shared by the CLI and the library: data → MoCo v2 / SimCLR step (+ IFA) →
// SGD with the cosine schedule → metrics JSONL, progress, checkpoints (every N steps, at the end, and
// on SIGINT/SIGTERM). A resumed run continues exactly where the checkpoint was taken.
import '../core/autograd.js';
import { appendFileSync, copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { getDefaultBackend, setBackend } from '../backends/registry.js';
import { Rng } from '../core/random.js';
import { setCpuThreads } from '../core/threads.js';
import { type Precision, activationDtype, resolvePrecision, withPrecision } from './precision.js';
import { GradScaler, type GradScalerState } from '../optim/grad-scaler.js';
import type { Tensor } from '../core/tensor.js';
import { CxrLoader } from '../data/loader.js';
import { CsvManifest, IMAGE_EXTENSIONS, ImageFolder, SyntheticCxr, type Dataset } from '../data/datasets.js';
import { concat } from '../ops/layout.js';
import type { Config } from './config.js';
import { openLabelled } from '../data/labelled.js';
import { knnMonitor, type KnnResult } from '../eval/knn.js';
import { ResNet50 } from '../nn/models/resnet50.js';
import { emaUpdate } from '../optim/kernels.js';
import { SGD, learningRate } from '../optim/sgd.js';
import { MoCo, type StepLosses } from '../ssl/moco.js';
import { SimCLR } from '../ssl/simclr.js';
import { CheckpointMetadataError, STATE_PREFIX, exportModule, exportTensors, importModule, metadataInt, metadataJson, readAnyCheckpointAsync, writeCheckpoint } from './checkpoint.js';
import { add } from '../ops/add.js';
import { sum } from '../ops/reduce.js';
import { noGrad, tidy } from '../core/engine.js';
import { traceSpan } from '../core/trace.js';
import type { TensorRecord } from '../io/types.js';
import type { SafetensorsInput } from '../io/safetensors.js';
import { writeInto } from '../nn/module.js';
import { plotRunCurves } from '../report/plot.js';

export interface StepMetrics {
  step: number;
  epoch: number;
  loss: number;
  contrastive: number;
  ifa: Record<string, number>;
  lr: number;
  img_per_s: number;
  time_s: number;
  /** The kNN monitor's result at this step (with --knn-data, every knnEvery steps). */
  knn?: KnnResult;
  /** fp16: the loss scale this step ran with, and whether its update was skipped (an inf/NaN gradient; the scale then halves). */
  loss_scale?: number;
  skipped?: boolean;
}

export interface TrainerHooks {
  onStep?(m: StepMetrics, totalSteps: number): void;
  onLog?(line: string): void;
  onWarning?(line: string): void;
  /** Aborting it is requestStop(): the run stops after the current step and writes its checkpoint. */
  signal?: AbortSignal;
}

export interface TrainResult {
  steps: number;
  checkpoint: string;
  history: StepMetrics[];
  stopped: boolean;
}

/** One method behind a common face: the encoder that is trained, and what a checkpoint holds. */
export interface Method {
  encoder: ResNet50;
  step(x1: Tensor, x2: Tensor, opt: SGD): Promise<StepLosses>;
  exportState(): Promise<Record<string, SafetensorsInput>>;
  importState(records: Record<string, TensorRecord>, meta: Record<string, string>, path: string): Promise<void>;
  metadata(): Record<string, unknown>;
  /** After loading encoder weights: MoCo's key encoder starts as a copy again. */
  afterInit(): void;
  /** MoCo: keys of a batch into the queue, without a step (warmQueue). */
  enqueueKeys?(x2: Tensor): void;
  queueBatches?: number;
  dispose(): void;
}

/** The method of a config (MoCo v2 or SimCLR, + IFA), as the trainer builds it; `ifa-ssl bench step` times its step. */
export function makeMethod(cfg: Config): Method {
  return cfg.method === 'moco' ? methodOf(cfg, new MoCo(mocoOptions(cfg))) : methodOf(cfg, new SimCLR(simclrOptions(cfg)));
}

/** makeMethod with the models' random initialisation drawn on a helper thread (the same values): the event loop stays free. */
export async function createMethod(cfg: Config): Promise<Method> {
  return cfg.method === 'moco' ? methodOf(cfg, await MoCo.create(mocoOptions(cfg))) : methodOf(cfg, await SimCLR.create(simclrOptions(cfg)));
}

function modelOptions(cfg: Config) {
  const dtype = activationDtype(cfg.precision ?? 'fp32');
  return { inChannels: cfg.inChannels, head: cfg.head, dim: cfg.dim, hidden: cfg.hidden, layers: cfg.layers, width: cfg.width, backend: cfg.backend, seed: cfg.seed, dtype };
}
function mocoOptions(cfg: Config) {
  return { model: modelOptions(cfg), queueSize: cfg.queueSize, momentum: cfg.mocoMomentum, temperature: cfg.temperature, ifa: cfg.ifa, contrastiveWeight: cfg.contrastiveWeight, bnGroups: cfg.bnGroups, seed: cfg.seed };
}
function simclrOptions(cfg: Config) {
  return { model: modelOptions(cfg), temperature: cfg.temperature, ifa: cfg.ifa, contrastiveWeight: cfg.contrastiveWeight, seed: cfg.seed };
}

/** fp16's loss scaler as the checkpoint metadata holds it (field 'gradScaler'), restored on resume. */
function scalerOf(cfg: Config): GradScaler | undefined {
  return cfg.precision === 'fp16' ? new GradScaler() : undefined;
}
function loadScaler(scaler: GradScaler | undefined, path: string, meta: Record<string, string>): void {
  if (!scaler || meta.gradScaler === undefined) return;
  try {
    scaler.load(metadataJson(path, meta, 'gradScaler') as GradScalerState);
  } catch (e) {
    if (e instanceof CheckpointMetadataError) throw e;
    throw new CheckpointMetadataError(`${path}: metadata field 'gradScaler' is not a loss scaler's state (${(e as Error).message}); the file is damaged or was edited`);
  }
}
const scalerMeta = (scaler: GradScaler | undefined) => (scaler ? { gradScaler: scaler.state() } : {});

function methodOf(cfg: Config, m: MoCo | SimCLR): Method {
  const scaler = scalerOf(cfg);
  if (m instanceof MoCo) {
    return {
      encoder: m.encoderQ,
      step: (a, b, o) => m.step(a, b, o, scaler),
      exportState: async () => ({
        ...(await exportModule(m.encoderK, `${STATE_PREFIX}encoder_k.`)),
        ...(await exportTensors([['queue', m.queue]], STATE_PREFIX)),
      }),
      importState: async (rec, meta, path) => {
        const queuePtr = metadataInt(path, meta, 'queuePtr', 0, cfg.queueSize - 1, 0);
        if (queuePtr % cfg.batch !== 0) throw new CheckpointMetadataError(`${path}: metadata field 'queuePtr' is ${queuePtr}, not a multiple of the batch ${cfg.batch} (the queue advances by whole batches); the file is damaged, or the run used another --batch`);
        let rng: Rng | undefined;
        if (meta.rng !== undefined) {
          try {
            rng = Rng.fromState(metadataJson(path, meta, 'rng') as number[]);
          } catch (e) {
            if (e instanceof CheckpointMetadataError) throw e;
            throw new CheckpointMetadataError(`${path}: metadata field 'rng' must be four unsigned 32-bit integers, got ${meta.rng.slice(0, 80)}; the file is damaged or was edited`);
          }
        }
        const r = await importModule(m.encoderK, rec, `${STATE_PREFIX}encoder_k.`);
        if (r.missing.length) throw new Error(`checkpoint lacks the key encoder's ${r.missing.slice(0, 3).join(', ')}…`);
        const q = rec[`${STATE_PREFIX}queue`];
        if (!q || q.data.length !== m.queue.size) throw new Error(`checkpoint queue does not match queueSize ${cfg.queueSize} × ${m.queue.shape[1]}`);
        writeInto(m.queue, q.data as Float32Array);
        m.queuePtr = queuePtr;
        if (rng) m.rng = rng;
        loadScaler(scaler, path, meta);
      },
      metadata: () => ({ queuePtr: m.queuePtr, rng: m.rng.state(), ...scalerMeta(scaler) }),
      afterInit: () => emaUpdate(m.encoderK.parameters(), m.encoderQ.parameters(), 0),
      enqueueKeys: (x2) => m.enqueueKeys(x2),
      queueBatches: Math.ceil(cfg.queueSize / cfg.batch),
      dispose: () => m.dispose(),
    };
  }
  const s = m;
  return {
    encoder: s.encoder,
    step: (a, b, o) => s.step(a, b, o, scaler),
    exportState: async () => ({}),
    importState: async (_rec, meta, path) => loadScaler(scaler, path, meta),
    metadata: () => scalerMeta(scaler),
    afterInit: () => {},
    dispose: () => s.dispose(),
  };
}

/** SGD over the method's trained encoder, as the trainer steps it (lr is set per step from the schedule). */
export function makeOptimizer(cfg: Config, method: Method): SGD {
  return new SGD(method.encoder.parameters(), { lr: 0, momentum: cfg.momentum, weightDecay: cfg.weightDecay });
}

export async function openDataset(cfg: Config): Promise<Dataset> {
  if (cfg.data === 'synthetic') return new SyntheticCxr({ length: cfg.syntheticImages, seed: cfg.seed });
  let isFile = false;
  try {
    isFile = statSync(cfg.data).isFile();
  } catch (e) {
    throw new Error(`--data ${cfg.data}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : (e as Error).message}; give an image folder, a CSV manifest (.csv) or 'synthetic'`);
  }
  if (!isFile) return ImageFolder.open(cfg.data);
  if (!/\.csv$/i.test(cfg.data)) throw new Error(`--data ${cfg.data}: a file, but not a .csv manifest; give an image folder (${IMAGE_EXTENSIONS.join(' ')}), a CheXpert-style CSV manifest or 'synthetic'`);
  return CsvManifest.open(cfg.data);
}

/** "found N images (M skipped …)" for the log: what the data set holds and what it left out. */
export function describeDataset(cfg: Config, dataset: Dataset): string {
  if (dataset instanceof SyntheticCxr) return `data: ${dataset.length} synthetic radiographs`;
  if (dataset instanceof ImageFolder) return `data: found ${dataset.length} images in ${cfg.data} (${dataset.skipped} skipped: not ${IMAGE_EXTENSIONS.join(' ')})`;
  if (dataset instanceof CsvManifest) return `data: found ${dataset.length} images in ${cfg.data} (${dataset.skipped} skipped: blank path)`;
  return `data: ${dataset.length} images`;
}

/** 1-channel loader images for a model with more input channels: the gray channel replicated (x itself when they match). */
function toChannels(x: Tensor, channels: number): Tensor {
  if (channels === x.shape[3]) return x;
  if (x.shape[3] !== 1) throw new Error(`the model takes ${channels} input channels, the data has ${x.shape[3]}`);
  return concat(Array.from({ length: channels }, () => x), 3);
}

/**
 * conv1.weight (O,I,H,W as in the file) for a model with `want` input channels: a 3-channel
 * (ImageNet) kernel is summed over RGB into 1 channel, as timm's adapt_input_conv does; a 1-channel one
 * is replicated over 3 and divided by 3 (so a gray image replicated to RGB gives the same response).
 * Null when the channels already match or no rule applies.
 */
export function adaptConv1(rec: TensorRecord, want: number): { shape: number[]; data: Float32Array; note: string } | null {
  if (rec.shape.length !== 4 || rec.shape[1] === want || !(rec.data instanceof Float32Array)) return null;
  const [o, i, h, w] = rec.shape;
  const hw = h * w;
  const src = rec.data;
  if (i === 3 && want === 1) {
    const data = new Float32Array(o * hw);
    for (let a = 0; a < o; a++) for (let c = 0; c < 3; c++) for (let k = 0; k < hw; k++) data[a * hw + k] += src[(a * 3 + c) * hw + k];
    return { shape: [o, 1, h, w], data, note: `conv1.weight [${o},3,${h},${w}] summed over its RGB input channels into [${o},1,${h},${w}] for 1-channel images (as timm's adapt_input_conv)` };
  }
  if (i === 1 && want === 3) {
    const data = new Float32Array(o * 3 * hw);
    for (let a = 0; a < o; a++) for (let c = 0; c < 3; c++) for (let k = 0; k < hw; k++) data[(a * 3 + c) * hw + k] = src[a * hw + k] / 3;
    return { shape: [o, 3, h, w], data, note: `conv1.weight [${o},1,${h},${w}] replicated over 3 input channels and divided by 3, into [${o},3,${h},${w}]` };
  }
  return null;
}

/** Loads encoder weights (ifa-ssl .safetensors or a PyTorch .pth/.pth.tar) into `encoder`. */
export async function loadEncoderWeights(encoder: ResNet50, path: string, log: (s: string) => void): Promise<void> {
  const ck = await readAnyCheckpointAsync(path);
  const own = Object.fromEntries(Object.entries(ck.records).filter(([k]) => !k.startsWith(STATE_PREFIX)));
  const conv1 = own['conv1.weight'] && adaptConv1(own['conv1.weight'], encoder.options.inChannels);
  if (conv1) {
    own['conv1.weight'] = { dtype: 'F32', shape: conv1.shape, data: conv1.data };
    log(`init: ${conv1.note}`);
  }
  const bad = ck.nonFinite.encoder; // scanned on the helper thread; the RGB sum of finite weights stays finite
  if (bad) throw new Error(`--init ${path}: the weights hold a non-finite value (${bad}); the checkpoint comes from a diverged run — use an earlier one`);
  const { missing, unexpected } = await importModule(encoder, own);
  log(`init: loaded ${path} (${ck.kind}); missing keys: ${missing.length ? missing.join(', ') : 'none'}; unexpected keys: ${unexpected.length ? unexpected.join(', ') : 'none'}`);
  if (ck.dropped.length) log(`init: ignored ${ck.dropped.length} keys outside the encoder (e.g. ${ck.dropped.slice(0, 3).join(', ')})`);
}

/**
 * mkdir -p with a message. (Node 20's recursive mkdirSync loops forever where a parent exists but
 * refuses children with ENOENT, as /proc does.)
 */
export function makeOutputFolder(out: string): void {
  const missing: string[] = [];
  let p = resolve(out);
  while (!existsSync(p)) {
    missing.push(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  if (existsSync(p) && !statSync(p).isDirectory()) throw new Error(`--out ${out}: ${p} exists and is not a folder; choose another --out`);
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw new Error(`--out ${out}: cannot create ${dir} (${(e as Error).message}); choose a writable --out`);
    }
  }
}

/** Temp files of checkpoint writers that died mid-write (`.NAME.PID.HEX.tmp`, PID no longer running). */
function removeStaleTempFiles(out: string, log: (s: string) => void): void {
  for (const name of readdirSync(out)) {
    const m = /^\..+\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = pid !== process.pid;
    if (alive) {
      try {
        process.kill(pid, 0);
      } catch (e) {
        alive = (e as NodeJS.ErrnoException).code === 'EPERM';
      }
    }
    if (alive) continue;
    rmSync(join(out, name), { force: true });
    log(`removed ${join(out, name)}, the temp file of a checkpoint write that did not finish (process ${pid} is gone)`);
  }
}

/** A resumed run's metrics continue the checkpoint's: lines of steps after it (a killed run's) go. */
function keepMetricsUpTo(metricsPath: string, step: number): void {
  if (!existsSync(metricsPath)) return;
  const lines = readFileSync(metricsPath, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const keep = lines.filter((l) => {
    try {
      return (JSON.parse(l) as { step?: number }).step! <= step;
    } catch {
      return false; // a line cut short by a kill
    }
  });
  if (keep.length !== lines.length) writeFileSync(metricsPath, keep.map((l) => l + '\n').join(''));
}

/** The model config a checkpoint was made with must be this run's: a field that differs is named. */
function checkResumeConfig(cfg: Config, path: string, metadata: Record<string, string>): void {
  const stored = metadataJson(path, metadata, 'config');
  if (stored === undefined) return;
  if (!stored || typeof stored !== 'object') throw new CheckpointMetadataError(`${path}: metadata field 'config' must be a JSON object`);
  const c = stored as Record<string, unknown>;
  for (const field of ['method', 'inChannels', 'layers', 'width', 'hidden', 'dim', 'head', 'queueSize'] as const) {
    if (c[field] === undefined) continue;
    if (JSON.stringify(c[field]) !== JSON.stringify(cfg[field])) {
      throw new CheckpointMetadataError(`--resume ${path}: the checkpoint was made with ${field} ${JSON.stringify(c[field])}, this run has ${JSON.stringify(cfg[field])}; resume with the same model config (or use --init to start a new run from its weights)`);
    }
  }
}

/**
 * Null when every parameter is finite, else which one is not. One sum per parameter and one scalar
 * read per step; the host scan that names the tensor runs only on failure.
 */
async function nonFiniteParameter(named: [string, Tensor][]): Promise<string | null> {
  const total = noGrad(() => tidy(() => named.map(([, p]) => sum(p)).reduce((a, b) => add(a, b))));
  const v = (await total.data())[0];
  total.dispose();
  if (Number.isFinite(v)) return null;
  for (const [n, p] of named) {
    const d = await p.data();
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return `parameter ${n}[${i}] became ${d[i]}`;
  }
  return `the parameters' sum overflowed to ${v}`;
}

export class Trainer {
  readonly cfg: Config;
  private stopRequested = false;

  constructor(cfg: Config) {
    this.cfg = cfg;
  }

  /** Asks the loop to stop after the current step; it then writes a checkpoint. */
  requestStop(): void {
    this.stopRequested = true;
  }

  /**
   * Trains to the configured step count (or until requestStop). The configured backend is the
   * default backend while it runs; the caller's default is restored afterwards, so a trainer
   * embedded in a service leaves the rest of the process on the backend it chose.
   */
  async run(hooks: TrainerHooks = {}): Promise<TrainResult> {
    const previous = getDefaultBackend();
    const stop = () => this.requestStop();
    if (hooks.signal?.aborted) stop();
    hooks.signal?.addEventListener('abort', stop, { once: true });
    try {
      await setBackend(this.cfg.backend);
      const precision = resolvePrecision(this.cfg.precision, this.cfg.backend);
      return await withPrecision(precision, () => this.loop(hooks, precision));
    } finally {
      hooks.signal?.removeEventListener('abort', stop);
      await setBackend(previous);
    }
  }

  private async loop(hooks: TrainerHooks, precision: Precision): Promise<TrainResult> {
    const cfg = this.cfg;
    const log = hooks.onLog ?? ((s: string) => console.log(s));
    if (precision !== 'fp32') log(`precision: ${precision}${cfg.precision === undefined ? ' (the default on this device)' : ''}${precision === 'tf32' && cfg.backend !== 'cuda' ? ' (the cpu and webgpu kernels compute it as fp32)' : ''}`);
    if (cfg.threads) setCpuThreads(cfg.threads);
    makeOutputFolder(cfg.out);
    const ckptPath = join(cfg.out, 'last.safetensors');
    const stepPath = (n: number) => join(cfg.out, `step-${n}.safetensors`);
    const stepFiles = (): number[] =>
      readdirSync(cfg.out)
        .map((n) => /^step-(\d+)\.safetensors$/.exec(n))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => Number(m[1]))
        .sort((a, b) => a - b);
    const metricsPath = join(cfg.out, 'metrics.jsonl');
    removeStaleTempFiles(cfg.out, log);
    if (!cfg.resume && (existsSync(ckptPath) || (existsSync(metricsPath) && statSync(metricsPath).size > 0))) {
      if (!cfg.overwrite) {
        throw new Error(`${cfg.out} already holds a run (${existsSync(ckptPath) ? 'last.safetensors' : 'metrics.jsonl'}); continue it with --resume ${ckptPath}, replace it with --overwrite, or choose another --out`);
      }
      rmSync(metricsPath, { force: true }); // a fresh run's metrics, not two runs mixed
      for (const n of stepFiles()) rmSync(stepPath(n), { force: true });
    }
    const dataset = await openDataset(cfg);
    log(describeDataset(cfg, dataset));
    const loader = new CxrLoader(dataset, {
      batchSize: cfg.batch,
      imageSize: cfg.imageSize,
      augmentations: cfg.augment,
      augmentDevice: cfg.augmentDevice,
      // Device views come in the step's activation dtype (mixed precision), so the encoder casts nothing.
      viewDtype: cfg.augmentDevice === 'cpu' ? 'float32' : activationDtype(precision),
      seed: cfg.seed,
      workers: cfg.workers,
      backend: cfg.backend,
      onWarning: hooks.onWarning,
      // A batch that skips shrank: SimCLR takes it while batch norm can (2 samples); MoCo's queue
      // advances by whole batches (and its shuffled BN splits them into bnGroups), so it takes full
      // batches only. A run on a data set that is mostly unreadable is a failed run.
      minBatch: cfg.method === 'moco' ? cfg.batch : 2,
      maxUnreadableFraction: 0.5,
    });
    if (loader.length === 0) throw new Error(`the data set has ${dataset.length} images, fewer than one batch of ${cfg.batch}`);
    const totalSteps = cfg.steps ?? (cfg.epochs ?? 1) * loader.length;
    const knnSet = cfg.knnData ? openLabelled(cfg.knnData) : null;
    const method = await createMethod(cfg);
    const opt = makeOptimizer(cfg, method);
    const named = method.encoder.namedParameters();
    let step = 0;
    let timeS = 0; // training seconds before this process (a resumed run's time_s continues)
    try {
      if (cfg.resume) {
        const ck = await readAnyCheckpointAsync(cfg.resume);
        if (ck.kind !== 'ifa-ssl') throw new Error(`--resume needs an ifa-ssl checkpoint; ${cfg.resume} is ${ck.kind} (use --init to start from its weights)`);
        checkResumeConfig(cfg, cfg.resume, ck.metadata);
        const resumeStep = metadataInt(cfg.resume, ck.metadata, 'step', 0, Number.MAX_SAFE_INTEGER);
        const resumeSgd = metadataInt(cfg.resume, ck.metadata, 'sgdSteps', 0, Number.MAX_SAFE_INTEGER, resumeStep);
        metadataInt(cfg.resume, ck.metadata, 'epoch', 0, Number.MAX_SAFE_INTEGER, 0);
        const bad = ck.nonFinite.encoder ?? ck.nonFinite.state;
        if (bad) throw new Error(`--resume ${cfg.resume}: the checkpoint holds a non-finite value (${bad}); it comes from a diverged run — resume from an earlier one`);
        const r = await importModule(method.encoder, Object.fromEntries(Object.entries(ck.records).filter(([k]) => !k.startsWith(STATE_PREFIX))));
        if (r.missing.length) throw new Error(`--resume: the checkpoint lacks ${r.missing.slice(0, 3).join(', ')}…; was it made with another model config?`);
        await method.importState(ck.records, ck.metadata, cfg.resume);
        named.forEach(([n], i) => {
          const m = ck.records[`${STATE_PREFIX}momentum.${n}`];
          if (m) writeInto(opt.momenta[i], m.data as Float32Array);
        });
        step = resumeStep;
        const storedTime = Number(ck.metadata.timeS ?? 0);
        timeS = Number.isFinite(storedTime) && storedTime >= 0 ? storedTime : 0;
        opt.stepCount = resumeSgd;
        keepMetricsUpTo(metricsPath, step);
        log(`resume: continuing from step ${step} of ${totalSteps} (${cfg.resume}; ${timeS} s trained so far)`);
      } else if (cfg.init) {
        await loadEncoderWeights(method.encoder, cfg.init, log);
        method.afterInit();
      }
      const save = async (reason: string, periodic = false): Promise<void> => {
        const tensors = {
          ...(await exportModule(method.encoder)),
          ...(await method.exportState()),
          ...(await exportTensors(named.map(([n], i) => [n, opt.momenta[i]]), `${STATE_PREFIX}momentum.`)),
        };
        const epoch = Math.floor(step / loader.length);
        const elapsed = Number((timeS + (performance.now() - t0) / 1000).toFixed(2));
        await traceSpan('checkpoint writes', `checkpoint step ${step}`, () => writeCheckpoint(ckptPath, tensors, { method: cfg.method, config: cfg, step, epoch, sgdSteps: opt.stepCount, timeS: elapsed, ...method.metadata() }));
        log(`checkpoint (${reason}): ${ckptPath} at step ${step}`);
        // Periodic checkpoints are also kept as step-N.safetensors (a hard link to last's file where the
        // file system allows, else a copy), the newest keepLast of them.
        if (periodic && cfg.keepLast > 0) {
          const keep = stepPath(step);
          rmSync(keep, { force: true });
          try {
            linkSync(ckptPath, keep);
          } catch {
            copyFileSync(ckptPath, keep);
          }
          const all = stepFiles();
          for (const n of all.slice(0, Math.max(0, all.length - cfg.keepLast))) rmSync(stepPath(n), { force: true });
        }
        await plotRunCurves(cfg.out, hooks.onWarning ?? log); // loss.svg / loss.png; a failure only warns
      };

      if (cfg.warmQueue && step === 0 && method.enqueueKeys && method.queueBatches) {
        let filled = 0;
        for await (const b of loader.epochs(0)) {
          const x2 = toChannels(b.view2, cfg.inChannels);
          method.enqueueKeys(x2);
          if (x2 !== b.view2) x2.dispose();
          b.view1.dispose();
          b.view2.dispose();
          b.labels?.dispose();
          if (++filled >= method.queueBatches || this.stopRequested) break;
        }
        log(`warmQueue: filled the queue with keys of ${filled} batches`);
      }
      const history: StepMetrics[] = [];
      const t0 = performance.now();
      let last = performance.now();
      const epoch0 = Math.floor(step / loader.length);
      const batch0 = step % loader.length;
      if (step < totalSteps && !this.stopRequested) {
        for await (const b of loader.epochs(epoch0, Infinity, undefined, batch0)) {
          const lr = learningRate(step, { baseLr: cfg.lr, batch: cfg.batch, totalSteps, warmupSteps: cfg.warmupSteps, kind: cfg.schedule });
          opt.lr = lr;
          let losses: StepLosses;
          const x1 = toChannels(b.view1, cfg.inChannels);
          const x2 = toChannels(b.view2, cfg.inChannels);
          try {
            losses = await traceSpan('steps', `step ${step + 1}`, () => method.step(x1, x2, opt));
          } finally {
            for (const t of new Set([x1, x2, b.view1, b.view2])) t.dispose();
            b.labels?.dispose();
          }
          step++;
          const now = performance.now();
          const m: StepMetrics = {
            step,
            epoch: b.epoch,
            loss: losses.loss,
            contrastive: losses.contrastive,
            ifa: Object.fromEntries(cfg.ifa.map((t, i) => [`block${t.block}${cfg.ifa.filter((u) => u.block === t.block).length > 1 ? `_t${t.target}` : ''}`, losses.ifa[i]])),
            lr,
            img_per_s: Number(((cfg.batch * 1000) / (now - last)).toFixed(2)),
            time_s: Number((timeS + (now - t0) / 1000).toFixed(2)),
            ...(losses.lossScale !== undefined ? { loss_scale: losses.lossScale, skipped: losses.skipped ?? false } : {}),
          };
          last = now;
          if (knnSet && (step % cfg.knnEvery === 0 || step >= totalSteps) && Number.isFinite(m.loss)) {
            m.knn = await knnMonitor(method.encoder, knnSet, { imageSize: cfg.imageSize, batch: cfg.batch, workers: cfg.workers, backend: cfg.backend, onWarning: hooks.onWarning, k: cfg.knnK, temperature: cfg.knnTemperature });
          }
          history.push(m);
          // Every logEvery steps, the last step, and a step whose loss is about to stop the run.
          if (step % cfg.logEvery === 0 || m.knn || step >= totalSteps || this.stopRequested || !Number.isFinite(m.loss)) appendFileSync(metricsPath, JSON.stringify(m) + '\n');
          hooks.onStep?.(m, totalSteps);
          // A diverged step never reaches a checkpoint: the last good one stays as it is.
          const terms: [string, number][] = [['contrastive', m.contrastive], ...Object.entries(m.ifa).map(([k, v]) => [`ifa ${k}`, v] as [string, number]), ['loss', m.loss]];
          const badTerm = terms.find(([, v]) => !Number.isFinite(v));
          const diverged = badTerm ? `the ${badTerm[0]} term became ${badTerm[1]}` : await nonFiniteParameter(named);
          if (diverged) throw new Error(`training diverged at step ${step}: ${diverged}; nothing was written (the last checkpoint, if any, is from an earlier step); lower the learning rate (lr ${cfg.lr} per 256)`);
          if (step >= totalSteps || this.stopRequested) break;
          if (step % cfg.checkpointEvery === 0) await save('every ' + cfg.checkpointEvery, true);
        }
      }
      await save(this.stopRequested ? 'stopped' : 'end');
      return { steps: step, checkpoint: ckptPath, history, stopped: this.stopRequested };
    } finally {
      await loader.close();
      opt.dispose();
      method.dispose();
    }
  }
}
