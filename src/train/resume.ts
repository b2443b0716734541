// What a resumed run is: the settings stored in its checkpoint, with the flags given on resume that
// only steer the run (data, output, backend, workers, checkpoint cadence, steps/epochs to extend it).
// A flag that changes the method (image size, batch, lr, IFA terms, schedule, …) is refused by name
// unless the caller overrides; the model's shape (layers, width, head, …) the trainer checks against
// the tensors themselves.
import { closeSync, openSync, readSync } from 'node:fs';
import { ConfigError, parseConfig, type Config, type ConfigInput } from './config.js';

/** Fields a resumed run may change freely: where the data and output are, how the run is executed. */
export const RUN_FIELDS: readonly (keyof ConfigInput)[] = ['data', 'syntheticImages', 'backend', 'out', 'overwrite', 'checkpointEvery', 'keepLast', 'logEvery', 'workers', 'threads', 'resume', 'init', 'steps', 'epochs'];
/** Fields the trainer compares with the checkpoint's tensors (checkResumeConfig): a mismatch is refused there. */
export const MODEL_FIELDS: readonly (keyof ConfigInput)[] = ['method', 'inChannels', 'layers', 'width', 'hidden', 'dim', 'head', 'queueSize'];

/** The `__metadata__` of a safetensors file, reading only its header. Errors name the file. */
export function readSafetensorsMetadata(path: string): Record<string, string> {
  if (/\.(pth|pt|tar|ckpt)$/i.test(path)) throw new ConfigError(`--resume needs an ifa-ssl checkpoint (.safetensors); ${path} is a PyTorch file (start from its weights with --init)`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new ConfigError(`--resume ${path}: cannot open it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give the path of a checkpoint, e.g. runs/pre/last.safetensors`);
  }
  try {
    const len = Buffer.alloc(8);
    if (readSync(fd, len, 0, 8, 0) !== 8) throw new ConfigError(`--resume ${path}: too short for a safetensors file`);
    const n = Number(len.readBigUInt64LE(0));
    if (!(n > 1 && n < 100 * 2 ** 20)) throw new ConfigError(`--resume ${path}: not a safetensors file (header length ${n})`);
    const header = Buffer.alloc(n);
    if (readSync(fd, header, 0, n, 8) !== n) throw new ConfigError(`--resume ${path}: the header is cut short; the file is truncated`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(header.toString('utf8'));
    } catch {
      throw new ConfigError(`--resume ${path}: the header is not valid JSON; the file is damaged`);
    }
    const meta = (parsed as { __metadata__?: unknown }).__metadata__;
    return meta && typeof meta === 'object' ? (meta as Record<string, string>) : {};
  } finally {
    closeSync(fd);
  }
}

/** camelCase → --kebab-case, as the CLI spells a field. */
const flagOf = (f: string): string => `--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
const show = (v: unknown): string => (v === undefined ? 'unset' : Array.isArray(v) && typeof v[0] !== 'object' ? v.join(',') : JSON.stringify(v));

/**
 * The config of a run resumed from a checkpoint whose stored config is `stored`, given the fields set
 * on resume (`given`, from flags and a config file). Returns the config and notes for the log.
 */
export function resumeConfig(stored: Record<string, unknown>, given: ConfigInput, opts: { override?: boolean; path: string }): { cfg: Config; notes: string[] } {
  const base: Record<string, unknown> = { ...stored };
  delete base.init; // the checkpoint's weights replace any start the stored run had
  delete base.overwrite;
  const g = given as Record<string, unknown>;
  if (g.steps !== undefined && g.epochs === undefined) delete base.epochs;
  if (g.epochs !== undefined && g.steps === undefined) delete base.steps;
  let was: Record<string, unknown>;
  try {
    was = parseConfig({ ...base, resume: g.resume }, 'config');
  } catch (e) {
    // Not a usage error: the checkpoint's own metadata is damaged (or from another version).
    throw new Error(`--resume ${opts.path}: metadata field 'config' is not a valid config; the file is damaged or was edited (${(e as Error).message.replace(/\n\s*/g, ' ')})`);
  }
  const cfg = parseConfig({ ...base, ...g }, `config (${opts.path}'s, with the flags given on resume)`);
  const now = cfg as Record<string, unknown>;
  const changed = (Object.keys(g) as (keyof ConfigInput)[]).filter((f) => !RUN_FIELDS.includes(f) && !MODEL_FIELDS.includes(f) && JSON.stringify(now[f]) !== JSON.stringify(was[f]));
  const notes: string[] = [];
  if (changed.length && !opts.override) {
    throw new ConfigError(
      `--resume ${opts.path}: a resumed run keeps the checkpoint's settings, and these flags change them: ` +
        changed.map((f) => `${flagOf(f)} ${show(now[f])} (the checkpoint's: ${show(was[f])})`).join(', ') +
        '; drop them, or add --override to change the method mid-run',
    );
  }
  for (const f of changed) notes.push(`resume: --override: ${f} ${show(was[f])} → ${show(now[f])}`);
  const length = (c: Record<string, unknown>) => (c.steps !== undefined ? `${c.steps} steps` : `${c.epochs} epochs`);
  if (length(now) !== length(was)) {
    const a = (was.steps ?? was.epochs) as number;
    const b = (now.steps ?? now.epochs) as number;
    const verb = (was.steps === undefined) === (now.steps === undefined) ? (b > a ? 'extending' : 'shortening') : 'changing';
    notes.push(`resume: ${verb} the run from ${length(was)} to ${length(now)} (the learning-rate schedule follows the new length)`);
  }
  return { cfg, notes };
}
