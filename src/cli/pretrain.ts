// `ifa-ssl pretrain`: the paper's pretraining from a JSON config and/or flags (flags win), and
// runTraining, the trainer under a progress line and SIGINT/SIGTERM handling (a checkpoint, then
// exit), which demo.ts runs too.
import { parseArgs } from 'node:util';
import { ConfigError, parseConfig, type ConfigInput } from '../train/config.js';
import { FLAG_TO_FIELD, NUMERIC_FLAGS, parseIfaFlag, readConfigFile } from './flags.js';
import { Progress, formatStep } from './progress.js';
import { Trainer, type TrainResult } from '../train/trainer.js';

export const PRETRAIN_USAGE = `usage: ifa-ssl pretrain [--config FILE.json] [options]
  --method moco|simclr        contrastive method (default moco)
  --ifa block:target:weight   an IFA term (repeatable; default 3:1:1); --no-ifa for contrastive only
  --init CKPT                 start from weights (.safetensors of ifa-ssl, or PyTorch .pth/.pth.tar)
  --resume CKPT               continue a run exactly from its checkpoint
  --data DIR|synthetic        an image folder (PNG/JPEG/DICOM) or synthetic radiographs (default)
  --image-size S  --batch B  --epochs E | --steps N  --lr LR (per 256)  --queue-size K
  --backend cpu|cuda|webgpu   --out DIR  --checkpoint-every N  --workers N  --seed N  --threads N
  --knn-data CSV|DIR          kNN monitor on a small labelled set (k 200, T 0.1, cosine on pooled features,
                              two folds): accuracy, or per-class AUC for multilabel, every --knn-every N
                              steps (100) in metrics.jsonl and the progress line
  --overwrite                 replace the run already in --out (otherwise such an --out is refused;
                              use --resume to continue it)
--image-size S: any S ≥ 32; the encoder downsamples by 32 (with PyTorch's rounding), so multiples
of 32 waste nothing.
Every config field (see src/train/config.ts) can be set in the JSON file; defaults are the paper's.
`;

export function configFromArgs(argv: string[], base: ConfigInput = {}): ReturnType<typeof parseConfig> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { config: { type: 'string' }, ifa: { type: 'string', multiple: true }, 'no-ifa': { type: 'boolean' }, overwrite: { type: 'boolean' } };
  for (const f of [...Object.keys(FLAG_TO_FIELD), ...Object.keys(NUMERIC_FLAGS)]) options[f] = { type: 'string' };
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
  if (values['no-ifa']) input.ifa = [];
  if (values.overwrite) input.overwrite = true;
  if (Array.isArray(values.ifa)) input.ifa = (values.ifa as string[]).map(parseIfaFlag);
  if (input.steps !== undefined && values.epochs === undefined) delete input.epochs;
  return parseConfig(input, typeof values.config === 'string' ? `config (${values.config} + flags)` : 'config');
}

export async function runTraining(cfg: ReturnType<typeof parseConfig>, opts: { quietEvery?: number } = {}): Promise<{ code: number; result: TrainResult }> {
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
  let cfg;
  try {
    cfg = configFromArgs(argv);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`ifa-ssl pretrain: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  console.log(`pretrain: ${cfg.method}${cfg.ifa.length ? ' + IFA ' + cfg.ifa.map((t) => `block ${t.block}→${t.target} ×${t.weight}`).join(', ') : ''} on ${cfg.data}, ${cfg.imageSize}², batch ${cfg.batch}, ${cfg.steps ? cfg.steps + ' steps' : cfg.epochs + ' epochs'}, ${cfg.backend}; output in ${cfg.out}`);
  return (await runTraining(cfg)).code;
}
