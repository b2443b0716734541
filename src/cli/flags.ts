// How `ifa-ssl pretrain` maps its flags onto the library's config (src/train/config.ts): each flag is
// a config field's name in kebab case, and the schema says whether it takes a number or a string.
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigError, configSchema, ifaTermSchema, type ConfigInput } from '../train/config.js';

/** The config fields that have a flag of their own (--ifa, --no-ifa and --config are parsed apart). */
const FLAG_FIELDS = [
  'method',
  'init',
  'resume',
  'data',
  'backend',
  'out',
  'augment',
  'imageSize',
  'batch',
  'epochs',
  'steps',
  'lr',
  'queueSize',
  'checkpointEvery',
  'workers',
  'seed',
  'threads',
  'bnGroups',
  'warmupSteps',
  'syntheticImages',
  'temperature',
  'knnData',
  'knnEvery',
] as const satisfies readonly (keyof ConfigInput)[];

/** imageSize → image-size. */
export function flagName(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The schema's type under .optional() and .default(): 'number', 'string', 'enum', … */
function valueType(field: keyof ConfigInput): string {
  let t: z.ZodType = configSchema.shape[field];
  while (t.def.type === 'optional' || t.def.type === 'default') t = (t.def as unknown as { innerType: z.ZodType }).innerType;
  return t.def.type;
}

function flagTable(kinds: string[]): Record<string, keyof ConfigInput> {
  return Object.fromEntries(FLAG_FIELDS.filter((f) => kinds.includes(valueType(f))).map((f) => [flagName(f), f]));
}

for (const f of FLAG_FIELDS) {
  if (!['number', 'string', 'enum'].includes(valueType(f))) throw new Error(`--${flagName(f)}: config field ${f} is a ${valueType(f)}, which no flag maps`);
}

/** Flags whose value is the field's string (zod checks enums). */
export const FLAG_TO_FIELD = flagTable(['string', 'enum']);
/** Flags whose value must be a number. */
export const NUMERIC_FLAGS = flagTable(['number']);

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
