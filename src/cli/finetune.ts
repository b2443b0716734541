// `ifa-ssl finetune` and `ifa-ssl evaluate`: downstream training of a classifier on labelled
// radiographs, and its predictions + report (per-class AUC with DeLong CIs, P/R/F1, confusion
// matrix, threshold metrics) + ROC pictures. The splits a run used are written next to its
// checkpoints (train.csv, val.csv, test.csv), so `evaluate --data RUN/test.csv` scores exactly the
// held-out images.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BACKEND_NAMES, type BackendName } from '../backends/backend.js';
import { PRESET_NAMES, type PresetName } from '../data/augment.js';
import { BALANCE_OPTIONS, LabelledDataError, UNCERTAINTY_POLICIES, fractionSubsets, openLabelled, randomSplit, readLabelCsv, writeSyntheticLabelled, type Balance, type ChexpertCsvOptions, type LabelledImages, type Task, type UncertaintyPolicy } from '../data/labelled.js';
import { evaluatePredictions, reportMarkdown } from '../eval/report.js';
import { writePredictions, type Predictions } from '../eval/predictions.js';
import { FINETUNE_DEFAULTS, Finetuner, loadClassifier, predict, type EpochMetrics } from '../train/finetune.js';
import { setBackend } from '../backends/registry.js';
import { rocCurves } from '../eval/report.js';
import { lossCurvesSvg, readMetricsRows, rocSvg, writePlot } from '../report/plot.js';

export const FINETUNE_USAGE = `usage: ifa-ssl finetune [--init CKPT] --data CSV|FOLDER|synthetic [options]
  --init CKPT                encoder weights: ifa-ssl .safetensors or PyTorch .pth/.pth.tar (MoCo /
                             CheSS prefixes); left out: random init (the paper's Scratch baseline)
  --linear                   linear probe: frozen encoder (BN in eval mode), features cached once
  --task multilabel|multiclass   (default: what the data is)
  --data CSV|FOLDER|synthetic    a CheXpert-style CSV, a class-per-folder tree, or a seeded synthetic
                             set with planted findings (written under --out/synthetic)
  --train F --val F [--test F]   given splits instead of --data (CSVs or folders)
  --split 0.7,0.1,0.2        seeded random train,val[,test] split of --data, by patient (default)
  --classes all|competition|A,B,…   CheXpert observations to use (default all 14)
  --uncertainty u-ones|u-zeros|ignore   what a −1 label means (default u-ones; ignore = masked)
  --root DIR                 folder the CSV's paths are relative to (default: the CSV's folder)
  --fraction F --repeats R   train on R seeded subsets of F of the training split (--out/rep-r)
  --balance none|weighted-loss|sampler|undersample   (sampler/undersample: multiclass)
  --image-size S (512)  --batch B (16)  --epochs E (100)  --lr LR (1e-3)  --momentum M (0.9)
  --weight-decay WD (0)  --schedule plateau|cosine (plateau: ReduceLROnPlateau on the validation
  loss, --factor 0.5 --patience 10)  --augment ${PRESET_NAMES.join('|')} (none)
  --width W --layers a,b,c,d  a Scratch model's size (default ResNet-50: 64 and 3,4,6,3)
  --synthetic-images N (400)  --backend ${BACKEND_NAMES.join('|')}  --out DIR (runs/finetune)
  --overwrite  --resume CKPT  --seed N  --workers N  --threads N
  --trace FILE  a Chrome trace-event JSON of every op, kernel, step and checkpoint write (ui.perfetto.dev)
The best checkpoint (best.safetensors) is the epoch with the lowest validation loss; test is never
looked at. Then: ifa-ssl evaluate --init OUT/best.safetensors --data OUT/test.csv --out OUT/eval
`;

export const EVALUATE_USAGE = `usage: ifa-ssl evaluate --init CKPT --data CSV|FOLDER [--out DIR] [options]
  --init CKPT        a checkpoint written by ifa-ssl finetune (best.safetensors)
  --data CSV|FOLDER  labelled images (a run's test.csv; the classes are the model's)
  --root DIR  --uncertainty u-ones|u-zeros|ignore (default: as the model was trained)
  --threshold T      score threshold of sensitivity/specificity/PPV/NPV (multilabel; default 0.5)
  --out DIR          predictions.jsonl, report.json, report.md, roc.svg, roc.png (default: CKPT's folder/eval)
  --batch B  --workers N  --backend ${BACKEND_NAMES.join('|')}
`;

class UsageError extends Error {}

const num = (v: unknown, flag: string, int = false): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (String(v).trim() === '' || !Number.isFinite(n) || (int && !Number.isInteger(n))) throw new UsageError(`--${flag} must be ${int ? 'an integer' : 'a number'}, got '${v}'`);
  return n;
};

function oneOf<T extends string>(v: unknown, allowed: readonly T[], flag: string): T | undefined {
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}, got '${v}'`);
  return v as T;
}

function csvOptions(values: Record<string, unknown>): ChexpertCsvOptions {
  const c = values.classes as string | undefined;
  return {
    classes: c === undefined || c === 'all' || c === 'competition' ? (c as 'all' | 'competition' | undefined) : c.split(',').map((s) => s.trim()).filter(Boolean),
    uncertainty: oneOf(values.uncertainty, UNCERTAINTY_POLICIES, 'uncertainty'),
    ...(values.root ? { root: resolve(values.root as string) } : {}),
  };
}

function describe(set: LabelledImages): string {
  const { positive } = set.classCounts();
  return `${set.length} images; ${set.classes.map((c, k) => `${c} ${positive[k]}`).join(', ')}`;
}

function parse(argv: string[], options: NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>, usage: string): Record<string, unknown> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${usage}`);
  }
}

export async function finetuneCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(FINETUNE_USAGE);
    return 0;
  }
  const s = { type: 'string' } as const;
  try {
    const v = parse(argv, { init: s, linear: { type: 'boolean' }, task: s, data: s, train: s, val: s, test: s, split: s, classes: s, uncertainty: s, root: s, fraction: s, repeats: s, balance: s, 'image-size': s, batch: s, epochs: s, lr: s, momentum: s, 'weight-decay': s, schedule: s, factor: s, patience: s, augment: s, width: s, layers: s, 'synthetic-images': s, backend: s, out: s, overwrite: { type: 'boolean' }, resume: s, seed: s, workers: s, threads: s }, FINETUNE_USAGE);
    const out = (v.out as string | undefined) ?? 'runs/finetune';
    const seed = num(v.seed, 'seed', true) ?? 0;
    const task = oneOf(v.task, ['multilabel', 'multiclass'] as const, 'task');
    const imageSize = num(v['image-size'], 'image-size', true) ?? FINETUNE_DEFAULTS.imageSize;
    const opts = csvOptions(v);
    const layers = v.layers === undefined ? undefined : (String(v.layers).split(',').map((x) => num(x, 'layers', true)!) as [number, number, number, number]);
    if (layers && layers.length !== 4) throw new UsageError(`--layers needs 4 block counts (e.g. 3,4,6,3), got '${v.layers}'`);

    // Every flag is checked before any data is read or written.
    const base = {
      init: v.init as string | undefined,
      linear: !!v.linear,
      imageSize,
      batch: num(v.batch, 'batch', true),
      epochs: num(v.epochs, 'epochs', true),
      lr: num(v.lr, 'lr'),
      momentum: num(v.momentum, 'momentum'),
      weightDecay: num(v['weight-decay'], 'weight-decay'),
      schedule: oneOf(v.schedule, ['plateau', 'cosine'] as const, 'schedule'),
      plateauFactor: num(v.factor, 'factor'),
      plateauPatience: num(v.patience, 'patience', true),
      balance: oneOf(v.balance, BALANCE_OPTIONS, 'balance') as Balance | undefined,
      augment: oneOf(v.augment, PRESET_NAMES, 'augment') as PresetName | undefined,
      width: num(v.width, 'width', true),
      layers,
      backend: oneOf(v.backend, BACKEND_NAMES, 'backend') as BackendName | undefined,
      overwrite: !!v.overwrite,
      resume: v.resume as string | undefined,
      seed,
      workers: num(v.workers, 'workers', true),
      threads: num(v.threads, 'threads', true),
    };
    const fraction = num(v.fraction, 'fraction');
    const repeats = num(v.repeats, 'repeats', true);

    // The data and its splits.
    let train: LabelledImages, val: LabelledImages, test: LabelledImages | null = null;
    if (v.train || v.val) {
      if (!v.train || !v.val) throw new UsageError('--train and --val go together (and --test optionally)');
      if (v.data) throw new UsageError('give either --data (split here) or --train/--val[/--test], not both');
      train = openLabelled(v.train as string, { ...opts, task });
      val = openLabelled(v.val as string, { ...opts, task, ...(train.task === 'multiclass' ? { classes: [...train.classes] } : {}) });
      if (v.test) test = openLabelled(v.test as string, { ...opts, task, ...(train.task === 'multiclass' ? { classes: [...train.classes] } : {}) });
    } else {
      if (!v.data) throw new UsageError(`--data (or --train/--val) is required\n\n${FINETUNE_USAGE}`);
      let all: LabelledImages;
      if (v.data === 'synthetic') {
        const dir = join(out, 'synthetic');
        const n = num(v['synthetic-images'], 'synthetic-images', true) ?? 400;
        all = await writeSyntheticLabelled(dir, { length: n, seed, size: imageSize, task: task ?? 'multilabel' });
        console.log(`data: ${n} synthetic radiographs with planted findings in ${dir}`);
      } else all = openLabelled(v.data as string, { ...opts, task });
      const ratios = ((v.split as string | undefined) ?? '0.7,0.1,0.2').split(',').map((x) => num(x, 'split')!);
      ({ train, val, test } = randomSplit(all, ratios, seed));
    }
    const theTask = task ?? train.task;
    console.log(`train: ${describe(train)}\nval: ${describe(val)}${test ? `\ntest: ${describe(test)}` : ''}`);
    mkdirSync(out, { recursive: true });
    const dir = resolve(out);
    const writeSplit = (name: string, set: LabelledImages, where = dir): void => writeFileSync(join(where, `${name}.csv`), set.toCsv(where));
    writeSplit('val', val);
    if (test) writeSplit('test', test);

    const trains = fraction !== undefined || repeats !== undefined ? fractionSubsets(train, fraction ?? 1, repeats ?? 1, seed) : [train];
    const clean = { ...(Object.fromEntries(Object.entries(base).filter(([, x]) => x !== undefined)) as typeof base), task: theTask, val, uncertainty: opts.uncertainty ?? (theTask === 'multilabel' ? ('u-ones' as UncertaintyPolicy) : undefined) };
    for (let r = 0; r < trains.length; r++) {
      const runOut = trains.length > 1 ? join(dir, `rep-${r}`) : dir;
      mkdirSync(runOut, { recursive: true });
      writeSplit('train', trains[r], runOut);
      if (trains.length > 1) console.log(`repeat ${r + 1}/${trains.length}: ${trains[r].length} training images (fraction ${fraction ?? 1}) → ${runOut}`);
      const ft = new Finetuner({ ...clean, train: trains[r], out: runOut, seed: seed + r });
      const stop = (): void => {
        process.stderr.write('\nstopping after this epoch (press again to abort)\n');
        ft.requestStop();
        process.once('SIGINT', () => process.exit(130));
      };
      process.once('SIGINT', stop);
      try {
        const res = await ft.run({ onEpoch: (m, total) => console.log(formatEpoch(m, total)), onLog: (l) => console.log(l), onWarning: (w) => process.stderr.write(w + '\n') });
        console.log(`best: ${res.best} (epoch ${res.bestEpoch}); last: ${res.last}`);
        await plotEpochs(runOut);
        if (res.stopped) return 130;
      } finally {
        process.off('SIGINT', stop);
      }
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof LabelledDataError || e instanceof RangeError) {
      process.stderr.write(`ifa-ssl finetune: ${(e as Error).message}\n`);
      return 2;
    }
    process.stderr.write(`ifa-ssl finetune: ${(e as Error).message}\n`);
    return 1;
  }
}

/** loss.svg / loss.png: training and validation loss and the learning rate by epoch; a failure only warns. */
async function plotEpochs(dir: string): Promise<void> {
  try {
    const rows = readMetricsRows(join(dir, 'metrics.jsonl')).map((m) => ({ ...m, step: m.epoch }));
    if (!rows.length) return;
    await writePlot(dir, 'loss', await lossCurvesSvg(rows, ['train_loss', 'val_loss', 'lr'], 'fine-tuning (x: epoch)'));
  } catch (e) {
    process.stderr.write(`warning: could not draw ${join(dir, 'loss')}.svg/.png (${(e as Error).message})\n`);
  }
}

export function formatEpoch(m: EpochMetrics, total: number): string {
  const score = m.val_auc !== undefined ? `val AUC ${m.val_auc.toFixed(4)}` : `val acc ${(m.val_accuracy ?? NaN).toFixed(4)}`;
  return `epoch ${String(m.epoch).padStart(String(total).length)}/${total}  train loss ${m.train_loss.toFixed(4)}  val loss ${m.val_loss.toFixed(4)}  ${score}  lr ${m.lr.toExponential(2)}${m.best ? '  best' : ''}  ${m.time_s.toFixed(1)} s`;
}

export async function evaluateCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(EVALUATE_USAGE);
    return 0;
  }
  const s = { type: 'string' } as const;
  try {
    const v = parse(argv, { init: s, data: s, root: s, uncertainty: s, threshold: s, out: s, batch: s, workers: s, backend: s, classes: s }, EVALUATE_USAGE);
    if (!v.init || !v.data) throw new UsageError(`--init and --data are required\n\n${EVALUATE_USAGE}`);
    if (!existsSync(v.init as string)) throw new UsageError(`--init ${v.init}: no such file`);
    const backend = (oneOf(v.backend, BACKEND_NAMES, 'backend') ?? 'cpu') as BackendName;
    await setBackend(backend);
    const { model, info } = await loadClassifier(v.init as string, backend);
    try {
      const opts = csvOptions(v);
      const set = /\.csv$/i.test(v.data as string)
        ? readLabelCsv(v.data as string, { ...opts, classes: info.classes, uncertainty: opts.uncertainty ?? info.uncertainty })
        : openLabelled(v.data as string, { task: info.task });
      if (set.task !== info.task) throw new UsageError(`--data ${v.data} is ${set.task} data; the model is ${info.task}`);
      if (set.classes.join('\n') !== info.classes.join('\n')) throw new UsageError(`--data ${v.data} has the classes ${set.classes.join(', ')}; the model's are ${info.classes.join(', ')}`);
      const out = (v.out as string | undefined) ?? join(resolve(v.init as string, '..'), 'eval');
      mkdirSync(out, { recursive: true });
      console.log(`evaluate: ${v.init} (${info.task}, ${info.classes.length} classes, ${info.imageSize}²) on ${v.data}: ${set.length} images`);
      const p = await predict(model, info, set, { batch: num(v.batch, 'batch', true), workers: num(v.workers, 'workers', true), backend, onWarning: (w) => process.stderr.write(w + '\n') });
      if (p.skipped.length) process.stderr.write(`evaluate: skipped ${p.skipped.length} unreadable image${p.skipped.length === 1 ? '' : 's'} (named above); scored ${p.indices.length}\n`);
      const C = info.classes.length;
      const preds: Predictions = {
        task: info.task,
        classes: [...info.classes],
        rows: p.indices.map((idx, j) => ({
          path: p.paths[j],
          scores: Array.from(p.scores.subarray(j * C, (j + 1) * C)),
          labels: info.task === 'multiclass' ? [set.targets[idx]] : Array.from({ length: C }, (_, c) => (set.mask && !set.mask[idx * C + c] ? null : set.targets[idx * C + c])),
        })),
      };
      writePredictions(join(out, 'predictions.jsonl'), preds);
      const report = evaluatePredictions(preds, num(v.threshold, 'threshold'));
      writeFileSync(join(out, 'report.json'), JSON.stringify({ model: v.init, data: v.data, skipped: p.skipped, ...report }, null, 2) + '\n');
      const md = reportMarkdown(report, `${v.init} on ${v.data}`);
      writeFileSync(join(out, 'report.md'), md + '\n');
      const curves = rocCurves(preds);
      let drawn = false;
      if (curves.length) {
        await writePlot(out, 'roc', await rocSvg(curves, `ROC — ${info.task}, ${preds.rows.length} images`));
        drawn = true;
      }
      process.stdout.write(md + '\n');
      for (const w of report.warnings) process.stderr.write(`evaluate: warning: ${w}\n`);
      console.log(`wrote ${join(out, 'predictions.jsonl')}, report.json, report.md${drawn ? ', roc.svg, roc.png' : ''}`);
      return 0;
    } finally {
      model.dispose();
    }
  } catch (e) {
    const usage = e instanceof UsageError || e instanceof LabelledDataError;
    process.stderr.write(`ifa-ssl evaluate: ${(e as Error).message}\n`);
    return usage ? 2 : 1;
  }
}

