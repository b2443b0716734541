// `ifa-ssl pretrain`: the paper's pretraining from a JSON config and/or flags (flags win), and
// runTraining, the trainer under a progress line and SIGINT/SIGTERM handling (a checkpoint, then
// exit), which demo.ts runs too.
import { parseArgs } from 'node:util';
import { ConfigError, parseConfig, type Config, type ConfigInput } from '../train/config.js';
import { readSafetensorsMetadata, resumeConfig } from '../train/resume.js';
import { BOOLEAN_FLAGS, FLAG_TO_FIELD, LIST_FLAGS, NUMERIC_FLAGS, configFlagHelp, parseIfaFlag, readConfigFile } from './flags.js';
import { Progress, formatStep } from './progress.js';
import { Trainer, type TrainResult } from '../train/trainer.js';

export const PRETRAIN_USAGE = `usage: ifa-ssl pretrain [--config FILE.json] [options]
  --config FILE.json          settings from a JSON file (the flags below override it)
  --ifa block:target:weight   an IFA term (repeatable; default 3:1:1); --no-ifa for contrastive only
  --override                  with --resume: let the flags change the method too (image size, lr, …)
  --trace FILE                write a Chrome trace-event JSON of every op, kernel, data-loader worker,
                              step and checkpoint write (open in ui.perfetto.dev); see ifa-ssl profile
Every config field (src/train/config.ts; defaults are the paper's) has a flag:
${configFlagHelp()}
--data takes an image folder (PNG/JPEG/DICOM, recursively), a CheXpert-style CSV manifest (.csv,
  a Path column, relative to the CSV's folder) or 'synthetic'.
--init takes ifa-ssl .safetensors or PyTorch .pth/.pth.tar weights; a 3-channel conv1 (ImageNet,
  torchvision) is summed over RGB into a 1-channel model, as timm's adapt_input_conv does.
--resume continues a run with the checkpoint's settings: --data, --out, --backend, --workers,
  --threads, --checkpoint-every, --keep-last and --log-every may change, --steps/--epochs may extend
  it; a flag that changes the method is refused unless --override.
An --out that holds a run is refused unless --resume continues it or --overwrite replaces it.
--knn-data CSV|DIR: a kNN monitor on a small labelled set (k 200, T 0.1, cosine on pooled features,
  two folds): accuracy, or per-class AUC for multilabel, every --knn-every N steps (100), in
  metrics.jsonl and the progress line.
--image-size S: any S ≥ 32; the encoder downsamples by 32 (with PyTorch's rounding), so multiples
  of 32 waste nothing.
`;

/** The config input that flags (and a --config file) give, before defaults; `override` is --override. */
export function configInputFromArgs(argv: string[], base: ConfigInput = {}): { input: ConfigInput; override: boolean; source: string } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { config: { type: 'string' }, ifa: { type: 'string', multiple: true }, 'no-ifa': { type: 'boolean' }, override: { type: 'boolean' } };
  for (const f of [...Object.keys(FLAG_TO_FIELD), ...Object.keys(NUMERIC_FLAGS), ...Object.keys(LIST_FLAGS)]) options[f] = { type: 'string' };
  for (const f of Object.keys(BOOLEAN_FLAGS)) options[f] = { type: 'boolean' };
  // `--batch -4`: a negative number after a numeric flag is its value (parseArgs would call it an
  // ambiguous option), so the range check can name the field.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    if (argv[i].startsWith('--') && argv[i].slice(2) in NUMERIC_FLAGS && next !== undefined && /^-[\d.]/.test(next)) {
      args.push(`${argv[i]}=${next}`);
      i++;
    } else args.push(argv[i]);
  }
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(`${(e as Error).message}\n\n${PRETRAIN_USAGE}`);
  }
  const input: Record<string, unknown> = { ...base };
  if (typeof values.config === 'string') Object.assign(input, readConfigFile(values.config));
  for (const [flag, field] of Object.entries(FLAG_TO_FIELD)) if (typeof values[flag] === 'string') input[field] = values[flag];
  for (const [flag, field] of Object.entries(NUMERIC_FLAGS)) {
    const v = values[flag];
    if (typeof v === 'string') {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`--${flag} must be a number, got '${v}'`);
      input[field] = n;
    }
  }
  for (const [flag, field] of Object.entries(LIST_FLAGS)) {
    const v = values[flag];
    if (typeof v === 'string') {
      const parts = v.split(',').map((p) => Number(p.trim()));
      if (parts.some((n) => !Number.isInteger(n))) throw new ConfigError(`--${flag} must be integers separated by commas, e.g. 3,4,6,3; got '${v}'`);
      input[field] = parts;
    }
  }
  for (const [flag, field] of Object.entries(BOOLEAN_FLAGS)) if (values[flag]) input[field] = true;
  if (values['no-ifa']) input.ifa = [];
  if (Array.isArray(values.ifa)) input.ifa = (values.ifa as string[]).map(parseIfaFlag);
  if (input.steps !== undefined && values.epochs === undefined) delete input.epochs;
  return { input: input as ConfigInput, override: !!values.override, source: typeof values.config === 'string' ? `config (${values.config} + flags)` : 'config' };
}

/**
 * The config of a command line. With --resume the settings come from the checkpoint (see
 * src/train/resume.ts); `notes` says what the flags changed.
 */
export function configAndNotesFromArgs(argv: string[], base: ConfigInput = {}): { cfg: Config; notes: string[] } {
  const { input, override, source } = configInputFromArgs(argv, base);
  if (input.resume === undefined) {
    if (override) throw new ConfigError('--override applies to --resume only (it lets flags change a resumed run\'s settings)');
    return { cfg: parseConfig(input, source), notes: [] };
  }
  const meta = readSafetensorsMetadata(input.resume);
  if (meta.config === undefined) throw new ConfigError(`--resume ${input.resume}: the file holds no stored config (metadata field 'config'); it is not a checkpoint of an ifa-ssl run (start from its weights with --init)`);
  let stored: unknown;
  try {
    stored = JSON.parse(meta.config);
  } catch (e) {
    throw new ConfigError(`--resume ${input.resume}: metadata field 'config' is not valid JSON (${(e as Error).message}); the file is damaged or was edited`);
  }
  if (!stored || typeof stored !== 'object' || Array.isArray(stored)) throw new ConfigError(`--resume ${input.resume}: metadata field 'config' must be a JSON object`);
  return resumeConfig(stored as Record<string, unknown>, input, { override, path: input.resume });
}

export function configFromArgs(argv: string[], base: ConfigInput = {}): Config {
  return configAndNotesFromArgs(argv, base).cfg;
}

export async function runTraining(cfg: Config, opts: { quietEvery?: number } = {}): Promise<{ code: number; result: TrainResult }> {
  const trainer = new Trainer(cfg);
  const progress = new Progress(opts.quietEvery ?? 10);
  let signals = 0;
  const onSignal = (sig: string) => {
    signals++;
    if (signals > 1) {
      process.stderr.write(`\n${sig} again: exiting without a checkpoint\n`);
      process.exit(130);
    }
    process.stderr.write(`\n${sig}: finishing this step, writing a checkpoint, then exiting (press again to abort)\n`);
    trainer.requestStop();
  };
  const sigint = () => onSignal('SIGINT');
  const sigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);
  try {
    const r = await trainer.run({
      onStep: (m, total) => progress.update(m, total),
      onLog: (s) => {
        progress.done();
        console.log(s);
      },
      onWarning: (s) => process.stderr.write(`\n${s}\n`),
    });
    progress.done();
    const h = r.history;
    if (h.length) console.log(`last: ${formatStep(h[h.length - 1], cfg.steps ?? h[h.length - 1].step)}`);
    return { code: r.stopped ? 130 : 0, result: r };
  } finally {
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
  }
}

export async function pretrainCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(PRETRAIN_USAGE);
    return 0;
  }
  let cfg: Config;
  let notes: string[];
  try {
    ({ cfg, notes } = configAndNotesFromArgs(argv));
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`ifa-ssl pretrain: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const lr = (cfg.lr * cfg.batch) / 256;
  console.log(
    `pretrain: ${cfg.method}${cfg.ifa.length ? ' + IFA ' + cfg.ifa.map((t) => `block ${t.block}→${t.target} ×${t.weight}`).join(', ') : ''} on ${cfg.data}, ${cfg.imageSize}², batch ${cfg.batch}, ` +
      `lr ${cfg.lr} per 256 → ${Number(lr.toPrecision(6))} at batch ${cfg.batch} (${cfg.schedule}), ${cfg.steps ? cfg.steps + ' steps' : cfg.epochs + ' epochs'}, ${cfg.backend}; output in ${cfg.out}`,
  );
  for (const n of notes) console.log(n);
  return (await runTraining(cfg)).code;
}
