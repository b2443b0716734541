// The pretraining configuration: a zod schema whose defaults are the paper's (MoCo v2: queue 65536,
// m 0.999, T 0.2, MLP head 2048→2048→128, SGD lr 0.03 per 256, momentum 0.9, wd 1e-4, cosine; CXR
// 512×512; IFA on block 3 towards 1). Errors name the field and the allowed range. The enums and the
// defaults that other modules own are read from them: augmentation presets (src/data/augment),
// backends (src/backends), the IFA terms and temperatures (src/ssl). The CLI maps its flags onto
// this schema (src/cli/flags.ts).
import { z } from 'zod';
import { BACKEND_NAMES } from '../backends/backend.js';
import { PRESET_NAMES } from '../data/augment.js';
import { DEFAULT_IFA } from '../ssl/losses.js';
import { MOCO_TEMPERATURE } from '../ssl/moco.js';
import { SIMCLR_TEMPERATURE } from '../ssl/simclr.js';
import { PRECISIONS } from './precision.js';

export const ifaTermSchema = z
  .object({
    block: z.number().int().min(1).max(4).describe('ResNet stage 1–4'),
    target: z.number().min(-1).max(1).default(1),
    weight: z.number().min(0).default(1),
  })
  .strict();

export const configSchema = z
  .object({
    method: z.enum(['moco', 'simclr']).default('moco'),
    data: z.string().min(1).default('synthetic').describe("an image folder, or 'synthetic'"),
    syntheticImages: z.number().int().min(1).default(512).describe('size of the synthetic data set'),
    imageSize: z.number().int().min(32).max(2048).default(512),
    augment: z.enum(PRESET_NAMES).default('default'),
    augmentDevice: z.enum(BACKEND_NAMES).default('cpu').describe("where views are augmented: cpu (the loader's workers) or the run's --backend (cuda, webgpu: the workers only read the 16-bit cache)"),
    inChannels: z.number().int().min(1).max(3).default(1),
    batch: z.number().int().min(2).max(4096).default(256),
    epochs: z.number().int().min(1).optional(),
    steps: z.number().int().min(1).optional(),
    lr: z.number().positive().default(0.03).describe('learning rate per 256 images'),
    momentum: z.number().min(0).max(1).default(0.9),
    weightDecay: z.number().min(0).default(1e-4),
    warmupSteps: z.number().int().min(0).default(0),
    schedule: z.enum(['cosine', 'constant']).default('cosine'),
    queueSize: z.number().int().min(1).max(1 << 20).default(65536),
    mocoMomentum: z.number().min(0).max(1).default(0.999),
    warmQueue: z.boolean().default(false).describe('MoCo: fill the queue with real keys before the first step'),
    temperature: z.number().positive().optional().describe(`MoCo ${MOCO_TEMPERATURE}, SimCLR ${SIMCLR_TEMPERATURE}`),
    dim: z.number().int().min(1).max(65536).default(128),
    hidden: z.number().int().min(1).max(65536).default(2048),
    head: z.enum(['mlp', 'linear']).default('mlp'),
    bnGroups: z.number().int().min(1).default(1),
    contrastiveWeight: z.number().min(0).default(1),
    ifa: z.array(ifaTermSchema).default(() => DEFAULT_IFA.map((t) => ({ ...t }))),
    layers: z.tuple([z.number().int().min(1).max(64), z.number().int().min(1).max(64), z.number().int().min(1).max(64), z.number().int().min(1).max(64)]).default([3, 4, 6, 3]),
    width: z.number().int().min(1).max(1024).default(64),
    init: z.string().optional().describe('a checkpoint to start from (.safetensors or a PyTorch .pth/.pth.tar)'),
    resume: z.string().optional().describe('a checkpoint of this trainer to continue exactly'),
    backend: z.enum(BACKEND_NAMES).default('cpu'),
    precision: z.enum(PRECISIONS).optional().describe('fp32, tf32 (CUDA tensor cores; fp32 on the cpu), bf16 or fp16 (mixed precision; fp16 with dynamic loss scaling); default tf32 on CUDA sm_80+, else fp32'),
    out: z.string().default('runs/pretrain'),
    overwrite: z.boolean().default(false).describe('replace the run already in out (without it, such an out is refused)'),
    checkpointEvery: z.number().int().min(1).default(500),
    keepLast: z.number().int().min(0).default(0).describe('the newest N periodic checkpoints kept as step-N.safetensors besides last.safetensors (0: last only)'),
    logEvery: z.number().int().min(1).default(1).describe('a metrics.jsonl line every N steps (and at the last step)'),
    workers: z.number().int().min(1).optional().describe('loader worker threads (default: all cores)'),
    knnData: z.string().min(1).optional().describe('a small labelled set (CSV or class folders) for the kNN monitor'),
    knnEvery: z.number().int().min(1).default(100).describe('kNN monitor every N steps (and at the last step)'),
    knnK: z.number().int().min(1).default(200),
    knnTemperature: z.number().positive().default(0.1),
    seed: z.number().int().min(0).default(0),
    threads: z.number().int().min(1).optional(),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** Parses a config, turning zod's issues into one message that names each field and its bound. */
export function parseConfig(input: unknown, source = 'config'): Config {
  const r = configSchema.safeParse(input);
  if (r.success) {
    if (r.data.epochs === undefined && r.data.steps === undefined) r.data.epochs = 200;
    if (r.data.augmentDevice !== 'cpu' && r.data.augmentDevice !== r.data.backend) {
      throw new ConfigError(`invalid ${source}:\n  augmentDevice: '${r.data.augmentDevice}' augments on that backend, but the run trains on '${r.data.backend}'; use augmentDevice 'cpu' or backend '${r.data.augmentDevice}'`);
    }
    return r.data;
  }
  const lines = r.error.issues.map((i) => {
    const path = i.path.length ? i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '(top level)';
    return `  ${path}: ${i.message}`;
  });
  throw new ConfigError(`invalid ${source}:\n${lines.join('\n')}`);
}

export class ConfigError extends Error {}
