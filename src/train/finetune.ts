// Downstream training and inference on labelled images: fine-tune the whole network (as the paper
// does) or a linear probe (frozen encoder in eval mode, its pooled features computed once, so a probe
// epoch is one matmul per batch), embed, predict. Defaults are the authors' downstream code: 512×512,
// SGD lr 1e-3, momentum 0.9, weight decay 0, ReduceLROnPlateau(factor 0.5, patience 10) on the
// validation loss; cosine is an option. The best checkpoint is chosen on the validation split (never
// on test). Each epoch writes a metrics line and last.safetensors; resume continues from it.
import { traceSpan } from '../core/trace.js';
import '../core/autograd.js';
import { appendFileSync, copyFileSync, existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendName } from '../backends/backend.js';
import { getDefaultBackend, setBackend } from '../backends/registry.js';
import { backward } from '../core/autograd.js';
import { noGrad, tidyAsync } from '../core/engine.js';
import { Rng } from '../core/random.js';
import { fromFloat32Array, tensor, type Tensor } from '../core/tensor.js';
import { setCpuThreads } from '../core/threads.js';
import { mixSeed, type PresetName } from '../data/augment.js';
import type { Dataset } from '../data/datasets.js';
import { balancedIndices, balanceWeights, type Balance, type LabelledImages, type Task, type UncertaintyPolicy } from '../data/labelled.js';
import { CxrLoader } from '../data/loader.js';
import { embed, type EmbedOptions, type Embedding } from './embed.js';
import { rocAuc } from '../eval/metrics.js';
import type { TensorRecord } from '../io/types.js';
import { ResNet50 } from '../nn/models/resnet50.js';
import { writeInto } from '../nn/module.js';
import { SGD } from '../optim/sgd.js';
import { bceWithLogits, crossEntropy, ReduceLROnPlateau, sigmoid, type LossAndGrad } from './classification-loss.js';
import { CheckpointMetadataError, STATE_PREFIX, exportModule, exportTensors, firstNonFinite, importModule, metadataInt, metadataJson, readAnyCheckpoint, writeCheckpoint } from './checkpoint.js';
import { makeOutputFolder } from './trainer.js';
import { modelOptionsFor } from '../cli/embed.js';

export interface FinetuneOptions {
  task: Task;
  train: LabelledImages;
  val: LabelledImages;
  /** Encoder weights: ifa-ssl .safetensors or PyTorch .pth/.pth.tar; none = random init (the paper's Scratch). */
  init?: string;
  /** Recorded in the checkpoint, so evaluation reads labels the same way. */
  uncertainty?: UncertaintyPolicy;
  /** Linear probe: frozen encoder, only the classifier trains. Default false (the whole network). */
  linear?: boolean;
  imageSize?: number;
  batch?: number;
  epochs?: number;
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  /** 'plateau' (ReduceLROnPlateau on the validation loss, default) or 'cosine' (per epoch, to 0). */
  schedule?: 'plateau' | 'cosine';
  plateauFactor?: number;
  plateauPatience?: number;
  balance?: Balance;
  /** Augmentation while fine-tuning the whole network. Default 'none'. */
  augment?: PresetName;
  /** For a Scratch model (no --init): ResNet-50 by default. */
  layers?: [number, number, number, number];
  width?: number;
  backend?: BackendName;
  out: string;
  overwrite?: boolean;
  resume?: string;
  seed?: number;
  workers?: number;
  threads?: number;
}

export interface EpochMetrics {
  epoch: number;
  train_loss: number;
  val_loss: number;
  /** Mean validation AUC over classes where it is defined (multilabel), or validation accuracy (multiclass). */
  val_auc?: number;
  val_accuracy?: number;
  lr: number;
  best: boolean;
  time_s: number;
}

export interface FinetuneHooks {
  onEpoch?(m: EpochMetrics, total: number): void;
  onLog?(line: string): void;
  onWarning?(line: string): void;
}

export interface FinetuneResult {
  epochs: number;
  best: string;
  last: string;
  bestEpoch: number;
  history: EpochMetrics[];
  stopped: boolean;
}

export const FINETUNE_DEFAULTS = Object.freeze({ imageSize: 512, batch: 16, epochs: 100, lr: 1e-3, momentum: 0.9, weightDecay: 0, schedule: 'plateau' as const, plateauFactor: 0.5, plateauPatience: 10 });

/** What a fine-tuned checkpoint says about itself (metadata 'classifier'). */
export interface ClassifierInfo {
  task: Task;
  classes: string[];
  imageSize: number;
  linear: boolean;
  uncertainty?: UncertaintyPolicy;
}

/** A ResNet-50 with a linear classifier (torchvision's fc) for `classes` outputs. */
export function buildClassifier(opts: { classes: number; layers?: [number, number, number, number]; width?: number; seed?: number; backend?: BackendName }): ResNet50 {
  return new ResNet50({ inChannels: 1, head: 'linear', dim: opts.classes, layers: opts.layers, width: opts.width, seed: opts.seed, backend: opts.backend });
}

function encoderRecords(records: Record<string, TensorRecord>): Record<string, TensorRecord> {
  return Object.fromEntries(Object.entries(records).filter(([k]) => !k.startsWith(STATE_PREFIX) && !k.startsWith('fc.')));
}

/** A classifier whose encoder comes from a pretraining checkpoint (its projection head is dropped). */
export async function classifierFromEncoder(path: string, classes: number, opts: { seed?: number; backend?: BackendName; log?: (s: string) => void } = {}): Promise<ResNet50> {
  const ck = readAnyCheckpoint(path);
  const enc = encoderRecords(ck.records);
  const bad = firstNonFinite(enc);
  if (bad) throw new Error(`--init ${path}: the weights hold a non-finite value (${bad}); the checkpoint comes from a diverged run — use an earlier one`);
  const o = modelOptionsFor(enc, ck.kind === 'ifa-ssl' ? ck.metadata : {}, path);
  if ((o.inChannels ?? 1) !== 1) throw new Error(`--init ${path}: conv1 takes ${o.inChannels} channels; downstream training here is on one-channel radiographs (a 1-channel ResNet-50, as the authors' code)`);
  const model = buildClassifier({ classes, layers: o.layers, width: o.width, seed: opts.seed, backend: opts.backend });
  const { missing } = await importModule(model, enc);
  const missingEncoder = missing.filter((k) => !k.startsWith('fc.'));
  if (missingEncoder.length) {
    model.dispose();
    throw new Error(`--init ${path}: the checkpoint lacks encoder weights (${missingEncoder.slice(0, 3).join(', ')}${missingEncoder.length > 3 ? ', …' : ''}); is it a ResNet-50 checkpoint?`);
  }
  opts.log?.(`init: encoder from ${path} (${ck.kind}${ck.dropped.length ? `; ignored ${ck.dropped.length} keys outside the encoder` : ''}); a new ${classes}-output classifier`);
  return model;
}

/** Loads a checkpoint written by finetune: the model and what it classifies. */
export async function loadClassifier(path: string, backend?: BackendName): Promise<{ model: ResNet50; info: ClassifierInfo }> {
  const ck = readAnyCheckpoint(path);
  const info = metadataJson(path, ck.metadata, 'classifier') as ClassifierInfo | undefined;
  if (!info || typeof info !== 'object' || !Array.isArray(info.classes) || (info.task !== 'multilabel' && info.task !== 'multiclass')) {
    throw new Error(`${path} is not a fine-tuned classifier (no 'classifier' metadata); make one with ifa-ssl finetune --init ${path} …`);
  }
  const own = Object.fromEntries(Object.entries(ck.records).filter(([k]) => !k.startsWith(STATE_PREFIX)));
  const bad = firstNonFinite(own);
  if (bad) throw new Error(`${path}: holds a non-finite weight (${bad}); it comes from a diverged run`);
  const o = modelOptionsFor(own, ck.metadata, path);
  if (o.head !== 'linear' || o.dim !== info.classes.length) throw new CheckpointMetadataError(`${path}: the classifier (fc) has ${o.dim} outputs, the metadata names ${info.classes.length} classes; the file is damaged`);
  const model = buildClassifier({ classes: info.classes.length, layers: o.layers, width: o.width, backend });
  const { missing } = await importModule(model, own);
  if (missing.length) {
    model.dispose();
    throw new Error(`${path}: lacks ${missing.slice(0, 3).join(', ')}; the file is damaged`);
  }
  return { model, info };
}

export { embed, type EmbedOptions, type Embedding } from './embed.js';

export interface ClassScores {
  task: Task;
  classes: string[];
  /** Paths of the scored images (unreadable ones skipped). */
  paths: string[];
  /** [n, C]: sigmoid per class (multilabel) or softmax (multiclass). */
  scores: Float32Array;
  /** [n, C] logits. */
  logits: Float32Array;
  /** Dataset index of each row. */
  indices: number[];
  skipped: string[];
}

/** Class scores of a classifier over a dataset. */
export async function predict(model: ResNet50, info: Pick<ClassifierInfo, 'task' | 'classes' | 'imageSize'>, set: Dataset, opts: Omit<EmbedOptions, 'layer' | 'imageSize'> = {}): Promise<ClassScores> {
  const e = await embed(model, set, { ...opts, imageSize: info.imageSize, layer: 'out' });
  return { task: info.task, classes: [...info.classes], paths: e.indices.map((i) => set.name(i)), scores: toScores(e.features, info.classes.length, info.task), logits: e.features, indices: e.indices, skipped: e.skipped };
}

export function toScores(logits: Float32Array, C: number, task: Task): Float32Array {
  const s = new Float32Array(logits.length);
  if (task === 'multilabel') {
    for (let i = 0; i < s.length; i++) s[i] = sigmoid(logits[i]);
    return s;
  }
  for (let i = 0; i < logits.length / C; i++) {
    let max = -Infinity, z = 0;
    for (let c = 0; c < C; c++) max = Math.max(max, logits[i * C + c]);
    for (let c = 0; c < C; c++) z += Math.exp(logits[i * C + c] - max);
    for (let c = 0; c < C; c++) s[i * C + c] = Math.exp(logits[i * C + c] - max) / z;
  }
  return s;
}

/** The loss of logits for the images `indices` of a set. */
export function lossFor(set: LabelledImages, indices: readonly number[], logits: Float32Array, weights: Float32Array | null): LossAndGrad {
  const C = set.classes.length;
  if (set.task === 'multiclass') return crossEntropy(logits, indices.map((i) => set.targets[i]), C, weights);
  const t = new Float32Array(indices.length * C);
  const m = set.mask ? new Uint8Array(indices.length * C) : null;
  indices.forEach((idx, j) => {
    t.set(set.targets.subarray(idx * C, (idx + 1) * C), j * C);
    if (m) m.set(set.mask!.subarray(idx * C, (idx + 1) * C), j * C);
  });
  return bceWithLogits(logits, t, C, m, weights);
}

/** Validation summary: mean AUC over the classes where it is defined (multilabel), accuracy (multiclass). */
function validationScore(set: LabelledImages, indices: number[], logits: Float32Array): { auc?: number; accuracy?: number } {
  const C = set.classes.length;
  if (set.task === 'multiclass') {
    let right = 0;
    indices.forEach((idx, j) => {
      let best = 0;
      for (let c = 1; c < C; c++) if (logits[j * C + c] > logits[j * C + best]) best = c;
      if (best === set.targets[idx]) right++;
    });
    return { accuracy: indices.length ? right / indices.length : NaN };
  }
  const aucs: number[] = [];
  for (let c = 0; c < C; c++) {
    const s: number[] = [], y: number[] = [];
    indices.forEach((idx, j) => {
      if (set.mask && !set.mask[idx * C + c]) return;
      s.push(logits[j * C + c]);
      y.push(set.targets[idx * C + c]);
    });
    const a = rocAuc(s, y);
    if (Number.isFinite(a)) aucs.push(a);
  }
  return { auc: aucs.length ? aucs.reduce((a, b) => a + b, 0) / aucs.length : NaN };
}

/** Fine-tunes (or linear-probes) a classifier; see the file comment. */
export class Finetuner {
  private stopRequested = false;
  readonly opts: Required<Omit<FinetuneOptions, 'init' | 'resume' | 'layers' | 'width' | 'workers' | 'threads'>> & FinetuneOptions;

  constructor(opts: FinetuneOptions) {
    this.opts = { ...FINETUNE_DEFAULTS, linear: false, balance: 'none', augment: 'none', backend: 'cpu', overwrite: false, seed: 0, ...opts } as Finetuner['opts'];
    const o = this.opts;
    if (o.train.task !== o.task || o.val.task !== o.task) throw new RangeError(`finetune: the data is ${o.train.task}, the task ${o.task}`);
    if (o.train.classes.join('\n') !== o.val.classes.join('\n')) throw new RangeError(`finetune: the train and validation splits have different classes (${o.train.classes.join(', ')} vs ${o.val.classes.join(', ')})`);
    for (const [k, v, min] of [['imageSize', o.imageSize, 32], ['batch', o.batch, 2], ['epochs', o.epochs, 1], ['plateauPatience', o.plateauPatience, 0]] as const) {
      if (!(Number.isInteger(v) && v >= min)) throw new RangeError(`finetune: ${k} must be an integer ≥ ${min}, got ${v}`);
    }
    if (!(o.lr > 0)) throw new RangeError(`finetune: lr must be positive, got ${o.lr}`);
    if (!(o.plateauFactor > 0 && o.plateauFactor < 1)) throw new RangeError(`finetune: plateauFactor must be in (0, 1), got ${o.plateauFactor}`);
  }

  requestStop(): void {
    this.stopRequested = true;
  }

  async run(hooks: FinetuneHooks = {}): Promise<FinetuneResult> {
    const previous = getDefaultBackend();
    await setBackend(this.opts.backend);
    try {
      return await this.loop(hooks);
    } finally {
      await setBackend(previous);
    }
  }

  private async loop(hooks: FinetuneHooks): Promise<FinetuneResult> {
    const o = this.opts;
    const log = hooks.onLog ?? ((s: string) => console.log(s));
    const warn = hooks.onWarning ?? ((s: string) => console.warn(s));
    if (o.threads) setCpuThreads(o.threads);
    makeOutputFolder(o.out);
    const lastPath = join(o.out, 'last.safetensors'), bestPath = join(o.out, 'best.safetensors'), metricsPath = join(o.out, 'metrics.jsonl');
    if (!o.resume && (existsSync(lastPath) || (existsSync(metricsPath) && statSync(metricsPath).size > 0))) {
      if (!o.overwrite) throw new Error(`${o.out} already holds a run; continue it with --resume ${lastPath}, replace it with --overwrite, or choose another --out`);
      for (const p of [metricsPath, lastPath, bestPath]) rmSync(p, { force: true });
    }
    const C = o.train.classes.length;
    const info: ClassifierInfo = { task: o.task, classes: [...o.train.classes], imageSize: o.imageSize, linear: o.linear, ...(o.uncertainty ? { uncertainty: o.uncertainty } : {}) };
    let model: ResNet50;
    let startEpoch = 0;
    let resumeState: { ck: ReturnType<typeof readAnyCheckpoint>; scheduler: ReturnType<ReduceLROnPlateau['state']>; bestLoss: number; bestEpoch: number } | null = null;
    if (o.resume) {
      const ck = readAnyCheckpoint(o.resume);
      const loaded = await loadClassifier(o.resume, o.backend);
      model = loaded.model;
      if (loaded.info.classes.join('\n') !== info.classes.join('\n') || loaded.info.task !== info.task || loaded.info.linear !== info.linear) {
        model.dispose();
        throw new CheckpointMetadataError(`--resume ${o.resume}: made for ${loaded.info.task} ${loaded.info.linear ? 'linear probe' : 'fine-tuning'} of ${loaded.info.classes.join(', ')}; this run is ${info.task} ${info.linear ? 'linear probe' : 'fine-tuning'} of ${info.classes.join(', ')}`);
      }
      startEpoch = metadataInt(o.resume, ck.metadata, 'epoch', 0, Number.MAX_SAFE_INTEGER);
      const sched = metadataJson(o.resume, ck.metadata, 'scheduler') as ReturnType<ReduceLROnPlateau['state']>;
      const best = metadataJson(o.resume, ck.metadata, 'best') as { loss: number; epoch: number };
      if (!sched || typeof sched.lr !== 'number' || !best || typeof best.epoch !== 'number') throw new CheckpointMetadataError(`--resume ${o.resume}: metadata 'scheduler' / 'best' missing or damaged`);
      resumeState = { ck, scheduler: sched, bestLoss: best.loss ?? Infinity, bestEpoch: best.epoch };
      log(`resume: continuing after epoch ${startEpoch} of ${o.resume}`);
    } else if (o.init) {
      model = await classifierFromEncoder(o.init, C, { seed: o.seed, backend: o.backend, log });
    } else {
      model = buildClassifier({ classes: C, layers: o.layers, width: o.width, seed: o.seed, backend: o.backend });
      log('init: random weights (the Scratch baseline)');
    }
    const params = o.linear ? model.fc.parameters() : model.parameters();
    const namedTrained = o.linear ? model.fc.namedParameters('fc.') : model.namedParameters();
    const opt = new SGD(params, { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay });
    let plateau = new ReduceLROnPlateau(o.lr, o.plateauFactor, o.plateauPatience);
    let bestLoss = Infinity, bestEpoch = 0;
    if (resumeState) {
      plateau = ReduceLROnPlateau.fromState(resumeState.scheduler, o.plateauFactor, o.plateauPatience);
      bestLoss = resumeState.bestLoss;
      bestEpoch = resumeState.bestEpoch;
      namedTrained.forEach(([n], i) => {
        const m = resumeState!.ck.records[`${STATE_PREFIX}momentum.${n}`];
        if (m) writeInto(opt.momenta[i], m.data as Float32Array);
      });
      opt.stepCount = metadataInt(o.resume!, resumeState.ck.metadata, 'sgdSteps', 0, Number.MAX_SAFE_INTEGER, 0);
    }
    const weights = o.balance === 'weighted-loss' ? balanceWeights(o.train) : null;
    if (weights) log(`balance: ${o.task === 'multilabel' ? 'pos_weight' : 'class weights'} ${Array.from(weights, (w) => w.toFixed(3)).join(', ')}`);
    const embedOpts: EmbedOptions = { imageSize: o.imageSize, batch: o.batch, workers: o.workers, backend: o.backend, onWarning: warn };

    const save = async (path: string, epoch: number, withState: boolean): Promise<void> => {
      const tensors = { ...(await exportModule(model)), ...(withState ? await exportTensors(namedTrained.map(([n], i) => [n, opt.momenta[i]]), `${STATE_PREFIX}momentum.`) : {}) };
      const config = { inChannels: 1, width: model.options.width, layers: model.options.layers, imageSize: o.imageSize };
      await traceSpan('checkpoint writes', `checkpoint epoch ${epoch}`, () => writeCheckpoint(path, tensors, { kind: 'finetune', classifier: info, config, epoch, sgdSteps: opt.stepCount, scheduler: plateau.state(), best: { loss: Number.isFinite(bestLoss) ? bestLoss : null, epoch: bestEpoch } }));
    };

    // Linear probe: the frozen encoder's features, once.
    let trainFeat: Embedding | null = null, valFeat: Embedding | null = null;
    if (o.linear) {
      const t0 = performance.now();
      trainFeat = await embed(model, o.train, embedOpts);
      valFeat = await embed(model, o.val, embedOpts);
      log(`linear probe: cached ${trainFeat.indices.length} + ${valFeat.indices.length} feature rows of ${trainFeat.dim} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      if (trainFeat.indices.length < 1 || valFeat.indices.length < 1) throw new Error('linear probe: no readable training or validation images');
    }
    const history: EpochMetrics[] = [];
    const t0 = performance.now();
    let epoch = startEpoch;
    try {
      while (epoch < o.epochs && !this.stopRequested) {
        const lr = o.schedule === 'cosine' ? 0.5 * o.lr * (1 + Math.cos((Math.PI * epoch) / o.epochs)) : plateau.lr;
        opt.lr = lr;
        let lossSum = 0, lossCount = 0;
        const order = balancedIndices(o.train, o.balance, o.seed, epoch);
        if (o.linear) {
          // Rows of the cached features in this epoch's seeded order.
          const rowOf = new Map(trainFeat!.indices.map((d, r) => [d, r]));
          const rows = shuffled(order.filter((d) => rowOf.has(d)), mixSeed(o.seed, epoch, 0x11e));
          const D = trainFeat!.dim;
          for (let s = 0; s < rows.length; s += o.batch) {
            const idx = rows.slice(s, s + o.batch);
            const x = new Float32Array(idx.length * D);
            idx.forEach((d, j) => x.set(trainFeat!.features.subarray(rowOf.get(d)! * D, (rowOf.get(d)! + 1) * D), j * D));
            const xt = fromFloat32Array(x, [idx.length, D], { backend: o.backend });
            lossSum += (await this.step(() => model.fc.forward(xt), o.train, idx, weights, opt)) * idx.length;
            lossCount += idx.length;
            xt.dispose();
          }
        } else {
          const loader = new CxrLoader(o.train.subset(order), { batchSize: o.batch, imageSize: o.imageSize, augmentations: o.augment, seed: mixSeed(o.seed, epoch), workers: o.workers, backend: o.backend, onWarning: warn, minBatch: 2, maxUnreadableFraction: 0.5 });
          if (loader.length === 0) throw new Error(`finetune: the training split has ${order.length} images, fewer than one batch of ${o.batch}`);
          model.train();
          try {
            for await (const b of loader.epoch(0)) {
              b.view2.dispose();
              b.labels?.dispose();
              const idx = b.indices.map((i) => order[i]);
              try {
                lossSum += (await this.step(() => model.forward(b.view1), o.train, idx, weights, opt)) * idx.length;
              } finally {
                b.view1.dispose();
              }
              lossCount += idx.length;
              if (this.stopRequested) break;
            }
          } finally {
            await loader.close();
          }
        }
        if (this.stopRequested && !o.linear) break; // a half epoch is not an epoch: the last checkpoint stays
        epoch++;
        // Validation: loss (unweighted) and mean AUC / accuracy.
        let vIdx: number[], vLogits: Float32Array;
        if (o.linear) {
          const xt = fromFloat32Array(valFeat!.features, [valFeat!.indices.length, valFeat!.dim], { backend: o.backend });
          const lt = noGrad(() => model.fc.forward(xt));
          vLogits = await lt.data();
          xt.dispose();
          lt.dispose();
          vIdx = valFeat!.indices;
        } else {
          const e = await embed(model, o.val, { ...embedOpts, layer: 'out' });
          vLogits = e.features;
          vIdx = e.indices;
        }
        const valLoss = lossFor(o.val, vIdx, vLogits, null).loss;
        const score = validationScore(o.val, vIdx, vLogits);
        if (o.schedule === 'plateau') plateau.step(valLoss);
        const improved = valLoss < bestLoss;
        if (improved) {
          bestLoss = valLoss;
          bestEpoch = epoch;
        }
        const m: EpochMetrics = { epoch, train_loss: lossCount ? lossSum / lossCount : NaN, val_loss: valLoss, ...(score.auc !== undefined ? { val_auc: score.auc } : { val_accuracy: score.accuracy }), lr, best: improved, time_s: Number(((performance.now() - t0) / 1000).toFixed(2)) };
        if (!Number.isFinite(m.train_loss) || !Number.isFinite(valLoss)) throw new Error(`fine-tuning diverged in epoch ${epoch}: training loss ${m.train_loss}, validation loss ${valLoss}; nothing was written for it; lower --lr (${o.lr})`);
        history.push(m);
        appendFileSync(metricsPath, JSON.stringify(m) + '\n');
        await save(lastPath, epoch, true);
        if (improved) copyFileSync(lastPath, bestPath);
        hooks.onEpoch?.(m, o.epochs);
      }
      if (!existsSync(lastPath)) await save(lastPath, epoch, true);
      if (!existsSync(bestPath)) copyFileSync(lastPath, bestPath);
      return { epochs: epoch, best: bestPath, last: lastPath, bestEpoch, history, stopped: this.stopRequested };
    } finally {
      opt.dispose();
      model.dispose();
    }
  }

  /** One SGD step: forward (by `forward`), the loss on the host, backward, update; returns the batch loss. */
  private step(forward: () => Tensor, set: LabelledImages, idx: number[], weights: Float32Array | null, opt: SGD): Promise<number> {
    // Every activation the step makes dies with it (the graph is needed until backward).
    return traceSpan('steps', `step ${opt.stepCount + 1}`, () => tidyAsync(async () => {
      const logits = forward();
      const { loss, grad } = lossFor(set, idx, await logits.data(), weights);
      backward(logits, tensor(grad, logits.shape, { backend: logits.backend }));
      opt.step();
      return loss;
    }));
  }
}

function shuffled(a: number[], seed: number): number[] {
  const out = [...a];
  const rng = new Rng(seed >>> 0);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
