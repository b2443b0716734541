// How `ifa-ssl pretrain` maps its flags onto the library's config (src/train/config.ts): each flag is
// a config field's name in kebab case, and the schema says whether it takes a number or a string.
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigError, configSchema, ifaTermSchema, type ConfigInput } from '../train/config.js';

/**
 * Every config field has a flag of its own, except ifa (--ifa block:target:weight, repeatable, and
 * --no-ifa, parsed apart). Booleans are bare flags (--warm-queue), layers a comma list (--layers 3,4,6,3).
 */
export const FLAG_FIELDS = (Object.keys(configSchema.shape) as (keyof ConfigInput)[]).filter((f) => f !== 'ifa');

/** imageSize → image-size. */
export function flagName(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The schema's type under .optional() and .default(): 'number', 'string', 'enum', 'boolean', 'tuple'. */
function inner(field: keyof ConfigInput): z.ZodType {
  let t: z.ZodType = configSchema.shape[field];
  while (t.def.type === 'optional' || t.def.type === 'default') t = (t.def as unknown as { innerType: z.ZodType }).innerType;
  return t;
}
function valueType(field: keyof ConfigInput): string {
  return inner(field).def.type;
}

function flagTable(kinds: string[]): Record<string, keyof ConfigInput> {
  return Object.fromEntries(FLAG_FIELDS.filter((f) => kinds.includes(valueType(f))).map((f) => [flagName(f), f]));
}

for (const f of FLAG_FIELDS) {
  if (!['number', 'string', 'enum', 'boolean', 'tuple'].includes(valueType(f))) throw new Error(`--${flagName(f)}: config field ${f} is a ${valueType(f)}, which no flag maps`);
}

/** Flags whose value is the field's string (zod checks enums). */
export const FLAG_TO_FIELD = flagTable(['string', 'enum']);
/** Flags whose value must be a number. */
export const NUMERIC_FLAGS = flagTable(['number']);
/** Bare flags that set a boolean field to true. */
export const BOOLEAN_FLAGS = flagTable(['boolean']);
/** Flags whose value is a comma list of integers (layers). */
export const LIST_FLAGS = flagTable(['tuple']);

/** What a field does, for the help, where the schema has no description of its own. */
const FIELD_HELP: Partial<Record<keyof ConfigInput, string>> = {
  method: 'contrastive method',
  imageSize: 'images are resized to S×S (any S ≥ 32; multiples of 32 waste nothing)',
  augment: 'augmentation preset (paper = default + Cutout)',
  inChannels: 'encoder input channels (3: the gray image is replicated, as for an ImageNet start)',
  batch: 'images per step',
  epochs: 'passes over the data (default 200 unless --steps)',
  steps: 'training steps (instead of --epochs)',
  lr: 'learning rate per 256 images (scaled by batch/256)',
  momentum: 'SGD momentum',
  weightDecay: 'SGD weight decay',
  warmupSteps: 'linear learning-rate warmup steps',
  schedule: 'learning-rate schedule',
  queueSize: 'MoCo queue length K',
  mocoMomentum: "MoCo key encoder's EMA momentum m",
  dim: 'projection output dimension',
  hidden: 'MLP head hidden width',
  head: 'projection head',
  bnGroups: "MoCo shuffling BN: groups the key batch is split into (1: plain BN)",
  contrastiveWeight: 'weight of the contrastive term',
  layers: 'blocks per ResNet stage',
  width: 'ResNet base width',
  backend: 'compute backend',
  out: 'output folder (last.safetensors, step-N.safetensors, metrics.jsonl)',
  checkpointEvery: 'a checkpoint every N steps (and at the end, and on SIGINT/SIGTERM)',
  seed: 'random seed (weights, data order, augmentation)',
  threads: 'CPU kernel threads (default: all cores)',
};

/** One help line per config field: its flag, its value, what it does and its default. */
export function configFlagHelp(): string {
  const lines: string[] = [];
  for (const f of FLAG_FIELDS) {
    const t = inner(f);
    const kind = valueType(f);
    const value = kind === 'boolean' ? '' : kind === 'enum' ? ` ${(t as unknown as { options: string[] }).options.join('|')}` : kind === 'tuple' ? ' A,B,C,D' : kind === 'number' ? ' N' : ' VALUE';
    let description = '';
    let def: unknown;
    for (let s: z.ZodType = configSchema.shape[f]; ; s = (s.def as unknown as { innerType: z.ZodType }).innerType) {
      description ||= s.description ?? '';
      if (s.def.type === 'default') def = (s.def as unknown as { defaultValue: unknown }).defaultValue;
      if (s.def.type !== 'optional' && s.def.type !== 'default') break;
    }
    description ||= FIELD_HELP[f] ?? '';
    const shown = typeof def === 'function' ? undefined : def;
    const tail = [description, shown !== undefined && kind !== 'boolean' ? `default ${Array.isArray(shown) ? shown.join(',') : shown}` : ''].filter(Boolean).join('; ');
    const head = `  --${flagName(f)}${value}`;
    lines.push(head.length < 30 ? `${head.padEnd(30)}${tail}` : `${head}\n${' '.repeat(30)}${tail}`);
  }
  return lines.join('\n');
}

/** --ifa block:target:weight → a term; target and weight, when left out, take the schema's defaults. */
export function parseIfaFlag(v: string): z.input<typeof ifaTermSchema> {
  const parts = v.split(':');
  if (parts.length < 1 || parts.length > 3 || parts.some((p) => p.trim() === '' || !Number.isFinite(Number(p)))) {
    throw new ConfigError(`invalid --ifa '${v}': expected block[:target[:weight]] with numbers, e.g. 3:1:1`);
  }
  const [block, target, weight] = parts.map(Number);
  return { block, ...(target !== undefined ? { target } : {}), ...(weight !== undefined ? { weight } : {}) };
}

export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
}
