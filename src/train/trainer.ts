// The pretraining loop shared by the CLI and the library: data → MoCo v2 / SimCLR step (+ IFA) →
// SGD with the cosine schedule → metrics JSONL, progress, checkpoints (every N steps, at the end, and
// on SIGINT/SIGTERM). A resumed run continues exactly where the checkpoint was taken.
import '../core/autograd.js';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { getDefaultBackend, setBackend } from '../backends/registry.js';
import { Rng } from '../core/random.js';
import { setCpuThreads } from '../core/threads.js';
import type { Tensor } from '../core/tensor.js';
import { CxrLoader } from '../data/loader.js';
import { ImageFolder, SyntheticCxr, type Dataset } from '../data/datasets.js';
import type { Config } from './config.js';
import { ResNet50 } from '../nn/models/resnet50.js';
import { emaUpdate } from '../optim/kernels.js';
import { SGD, learningRate } from '../optim/sgd.js';
import { MoCo, type StepLosses } from '../ssl/moco.js';
import { SimCLR } from '../ssl/simclr.js';
import { STATE_PREFIX, exportModule, exportTensors, importModule, readAnyCheckpoint, writeCheckpoint } from './checkpoint.js';
import type { TensorRecord } from '../io/types.js';
import type { SafetensorsInput } from '../io/safetensors.js';
import { writeInto } from '../nn/module.js';

export interface StepMetrics {
  step: number;
  epoch: number;
  loss: number;
  contrastive: number;
  ifa: Record<string, number>;
  lr: number;
  img_per_s: number;
  time_s: number;
}

export interface TrainerHooks {
  onStep?(m: StepMetrics, totalSteps: number): void;
  onLog?(line: string): void;
  onWarning?(line: string): void;
}

export interface TrainResult {
  steps: number;
  checkpoint: string;
  history: StepMetrics[];
  stopped: boolean;
}

/** One method behind a common face: the encoder that is trained, and what a checkpoint holds. */
interface Method {
  encoder: ResNet50;
  step(x1: Tensor, x2: Tensor, opt: SGD): Promise<StepLosses>;
  exportState(): Promise<Record<string, SafetensorsInput>>;
  importState(records: Record<string, TensorRecord>, meta: Record<string, string>): Promise<void>;
  metadata(): Record<string, unknown>;
  /** After loading encoder weights: MoCo's key encoder starts as a copy again. */
  afterInit(): void;
  /** MoCo: keys of a batch into the queue, without a step (warmQueue). */
  enqueueKeys?(x2: Tensor): void;
  queueBatches?: number;
  dispose(): void;
}

function makeMethod(cfg: Config): Method {
  const model = { inChannels: cfg.inChannels, head: cfg.head, dim: cfg.dim, hidden: cfg.hidden, layers: cfg.layers, width: cfg.width, backend: cfg.backend, seed: cfg.seed };
  if (cfg.method === 'moco') {
    const m = new MoCo({ model, queueSize: cfg.queueSize, momentum: cfg.mocoMomentum, temperature: cfg.temperature, ifa: cfg.ifa, contrastiveWeight: cfg.contrastiveWeight, bnGroups: cfg.bnGroups, seed: cfg.seed });
    return {
      encoder: m.encoderQ,
      step: (a, b, o) => m.step(a, b, o),
      exportState: async () => ({
        ...(await exportModule(m.encoderK, `${STATE_PREFIX}encoder_k.`)),
        ...(await exportTensors([['queue', m.queue]], STATE_PREFIX)),
      }),
      importState: async (rec, meta) => {
        const r = await importModule(m.encoderK, rec, `${STATE_PREFIX}encoder_k.`);
        if (r.missing.length) throw new Error(`checkpoint lacks the key encoder's ${r.missing.slice(0, 3).join(', ')}…`);
        const q = rec[`${STATE_PREFIX}queue`];
        if (!q || q.data.length !== m.queue.size) throw new Error(`checkpoint queue does not match queueSize ${cfg.queueSize} × ${m.queue.shape[1]}`);
        writeInto(m.queue, q.data as Float32Array);
        m.queuePtr = Number(meta.queuePtr ?? 0);
        if (meta.rng) m.rng = Rng.fromState(JSON.parse(meta.rng));
      },
      metadata: () => ({ queuePtr: m.queuePtr, rng: m.rng.state() }),
      afterInit: () => emaUpdate(m.encoderK.parameters(), m.encoderQ.parameters(), 0),
      enqueueKeys: (x2) => m.enqueueKeys(x2),
      queueBatches: Math.ceil(cfg.queueSize / cfg.batch),
      dispose: () => m.dispose(),
    };
  }
  const s = new SimCLR({ model, temperature: cfg.temperature, ifa: cfg.ifa, contrastiveWeight: cfg.contrastiveWeight, seed: cfg.seed });
  return {
    encoder: s.encoder,
    step: (a, b, o) => s.step(a, b, o),
    exportState: async () => ({}),
    importState: async () => {},
    metadata: () => ({}),
    afterInit: () => {},
    dispose: () => s.dispose(),
  };
}

export async function openDataset(cfg: Config): Promise<Dataset> {
  if (cfg.data === 'synthetic') return new SyntheticCxr({ length: cfg.syntheticImages, seed: cfg.seed });
  return ImageFolder.open(cfg.data);
}

/** Loads encoder weights (ifa-ssl .safetensors or a PyTorch .pth/.pth.tar) into `encoder`. */
export async function loadEncoderWeights(encoder: ResNet50, path: string, log: (s: string) => void): Promise<void> {
  const ck = readAnyCheckpoint(path);
  const own = Object.fromEntries(Object.entries(ck.records).filter(([k]) => !k.startsWith(STATE_PREFIX)));
  const { missing, unexpected } = await importModule(encoder, own);
  log(`init: loaded ${path} (${ck.kind}); missing keys: ${missing.length ? missing.join(', ') : 'none'}; unexpected keys: ${unexpected.length ? unexpected.join(', ') : 'none'}`);
  if (ck.dropped.length) log(`init: ignored ${ck.dropped.length} keys outside the encoder (e.g. ${ck.dropped.slice(0, 3).join(', ')})`);
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
    await setBackend(this.cfg.backend);
    try {
      return await this.loop(hooks);
    } finally {
      await setBackend(previous);
    }
  }

  private async loop(hooks: TrainerHooks): Promise<TrainResult> {
    const cfg = this.cfg;
    const log = hooks.onLog ?? ((s: string) => console.log(s));
    if (cfg.threads) setCpuThreads(cfg.threads);
    mkdirSync(cfg.out, { recursive: true });
    const ckptPath = join(cfg.out, 'last.safetensors');
    const metricsPath = join(cfg.out, 'metrics.jsonl');
    const dataset = await openDataset(cfg);
    const loader = new CxrLoader(dataset, {
      batchSize: cfg.batch,
      imageSize: cfg.imageSize,
      augmentations: cfg.augment,
      seed: cfg.seed,
      workers: cfg.workers,
      backend: cfg.backend,
      onWarning: hooks.onWarning,
    });
    if (loader.length === 0) throw new Error(`the data set has ${dataset.length} images, fewer than one batch of ${cfg.batch}`);
    const totalSteps = cfg.steps ?? (cfg.epochs ?? 1) * loader.length;
    const method = makeMethod(cfg);
    const opt = new SGD(method.encoder.parameters(), { lr: 0, momentum: cfg.momentum, weightDecay: cfg.weightDecay });
    const named = method.encoder.namedParameters();
    let step = 0;
    try {
      if (cfg.resume) {
        const ck = readAnyCheckpoint(cfg.resume);
        if (ck.kind !== 'ifa-ssl') throw new Error(`--resume needs an ifa-ssl checkpoint; ${cfg.resume} is ${ck.kind} (use --init to start from its weights)`);
        const r = await importModule(method.encoder, Object.fromEntries(Object.entries(ck.records).filter(([k]) => !k.startsWith(STATE_PREFIX))));
        if (r.missing.length) throw new Error(`--resume: the checkpoint lacks ${r.missing.slice(0, 3).join(', ')}…; was it made with another model config?`);
        await method.importState(ck.records, ck.metadata);
        named.forEach(([n], i) => {
          const m = ck.records[`${STATE_PREFIX}momentum.${n}`];
          if (m) writeInto(opt.momenta[i], m.data as Float32Array);
        });
        step = Number(ck.metadata.step ?? 0);
        opt.stepCount = Number(ck.metadata.sgdSteps ?? step);
        log(`resume: continuing from step ${step} of ${cfg.resume}`);
      } else if (cfg.init) {
        await loadEncoderWeights(method.encoder, cfg.init, log);
        method.afterInit();
      }
      const save = async (reason: string): Promise<void> => {
        const tensors = {
          ...(await exportModule(method.encoder)),
          ...(await method.exportState()),
          ...(await exportTensors(named.map(([n], i) => [n, opt.momenta[i]]), `${STATE_PREFIX}momentum.`)),
        };
        const epoch = Math.floor(step / loader.length);
        await writeCheckpoint(ckptPath, tensors, { method: cfg.method, config: cfg, step, epoch, sgdSteps: opt.stepCount, ...method.metadata() });
        log(`checkpoint (${reason}): ${ckptPath} at step ${step}`);
      };

      if (cfg.warmQueue && step === 0 && method.enqueueKeys && method.queueBatches) {
        let filled = 0;
        for await (const b of loader.epochs(0)) {
          method.enqueueKeys(b.view2);
          b.view1.dispose();
          b.view2.dispose();
          b.labels?.dispose();
          if (++filled >= method.queueBatches) break;
        }
        log(`warmQueue: filled the queue with keys of ${filled} batches`);
      }
      const history: StepMetrics[] = [];
      const t0 = performance.now();
      let last = performance.now();
      const epoch0 = Math.floor(step / loader.length);
      const batch0 = step % loader.length;
      if (step < totalSteps) {
        for await (const b of loader.epochs(epoch0, Infinity, undefined, batch0)) {
          const lr = learningRate(step, { baseLr: cfg.lr, batch: cfg.batch, totalSteps, warmupSteps: cfg.warmupSteps, kind: cfg.schedule });
          opt.lr = lr;
          let losses: StepLosses;
          try {
            losses = await method.step(b.view1, b.view2, opt);
          } finally {
            b.view1.dispose();
            b.view2.dispose();
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
            time_s: Number(((now - t0) / 1000).toFixed(2)),
          };
          last = now;
          history.push(m);
          // Every logEvery steps, the last step, and a step whose loss is about to stop the run.
          if (step % cfg.logEvery === 0 || step >= totalSteps || this.stopRequested || !Number.isFinite(m.loss)) appendFileSync(metricsPath, JSON.stringify(m) + '\n');
          hooks.onStep?.(m, totalSteps);
          if (!Number.isFinite(m.loss)) throw new Error(`the loss became ${m.loss} at step ${step}; lower the learning rate (lr ${cfg.lr} per 256)`);
          if (step >= totalSteps || this.stopRequested) break;
          if (step % cfg.checkpointEvery === 0) await save('every ' + cfg.checkpointEvery);
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
