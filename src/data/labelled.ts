// Labelled images for downstream evaluation: a CheXpert-style CSV (Path + observations, 1 / 0 / −1 /
// blank, with a selectable uncertainty policy), a class-per-folder layout for multiclass tasks, and a
// seeded synthetic set with planted findings (written as PNGs + a CSV, so it takes the same path as
// real data). Splits (given or seeded by patient), data-fraction subsets and class balancing work on
// any of them. A LabelledImages is a Dataset, so CxrLoader loads its images.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { Rng } from '../core/random.js';
import { mixSeed } from './augment.js';
import { IMAGE_EXTENSIONS, parseCsv, type Dataset, type DatasetDescriptor } from './datasets.js';
import { SYNTHETIC_FINDINGS, syntheticRadiograph } from './synthetic.js';

/** CheXpert's 14 observations, in the order of its CSV columns. */
export const CHEXPERT_CLASSES = Object.freeze([
  'No Finding',
  'Enlarged Cardiomediastinum',
  'Cardiomegaly',
  'Lung Opacity',
  'Lung Lesion',
  'Edema',
  'Consolidation',
  'Pneumonia',
  'Atelectasis',
  'Pneumothorax',
  'Pleural Effusion',
  'Pleural Other',
  'Fracture',
  'Support Devices',
] as const);

/** The 5 observations of the CheXpert competition. */
export const COMPETITION_CLASSES = Object.freeze(['Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema', 'Pleural Effusion'] as const);

/** −1 (uncertain) → 1 (U-Ones, the authors' downstream code), → 0 (U-Zeros), or masked out of loss and metrics. */
export type UncertaintyPolicy = 'u-ones' | 'u-zeros' | 'ignore';
export const UNCERTAINTY_POLICIES = Object.freeze(['u-ones', 'u-zeros', 'ignore'] as const);
export type Task = 'multilabel' | 'multiclass';

/** A labelled-data problem that names the file, and the row and column where there is one. */
export class LabelledDataError extends Error {}

/**
 * Images with labels. multilabel: targets is N×C of 0/1 and mask N×C (1 = the label counts; 0 = an
 * uncertain label under 'ignore'); multiclass: targets holds N class indices and mask is null.
 */
export class LabelledImages implements Dataset {
  constructor(
    readonly task: Task,
    readonly classes: readonly string[],
    readonly paths: readonly string[],
    readonly targets: Float32Array,
    readonly mask: Uint8Array | null,
    /** A group per image (CheXpert's patient), kept together by randomSplit. */
    readonly groups: readonly string[] = paths,
  ) {
    const C = classes.length, N = paths.length;
    if (targets.length !== (task === 'multilabel' ? N * C : N)) throw new RangeError(`LabelledImages: ${targets.length} targets for ${N} images and ${C} classes (${task})`);
    if (mask && mask.length !== N * C) throw new RangeError(`LabelledImages: mask has ${mask.length} entries, expected ${N * C}`);
  }

  get length(): number {
    return this.paths.length;
  }
  get labelNames(): readonly string[] {
    return this.classes;
  }
  describe(): DatasetDescriptor {
    return { kind: 'files', paths: [...this.paths] };
  }
  /** multilabel: the row of 0/1 with NaN where masked; multiclass: one-hot. */
  labels(i: number): Float32Array {
    const C = this.classes.length;
    if (this.task === 'multiclass') {
      const v = new Float32Array(C);
      v[this.targets[i]] = 1;
      return v;
    }
    const v = this.targets.slice(i * C, (i + 1) * C);
    if (this.mask) for (let c = 0; c < C; c++) if (!this.mask[i * C + c]) v[c] = NaN;
    return v;
  }
  name(i: number): string {
    return this.paths[i];
  }

  /** The images at `indices` (repeats allowed), in that order. */
  subset(indices: readonly number[]): LabelledImages {
    const C = this.classes.length;
    const per = this.task === 'multilabel' ? C : 1;
    const t = new Float32Array(indices.length * per);
    const m = this.mask ? new Uint8Array(indices.length * C) : null;
    indices.forEach((idx, j) => {
      if (!(Number.isInteger(idx) && idx >= 0 && idx < this.length)) throw new RangeError(`LabelledImages.subset: index ${idx} out of range [0, ${this.length})`);
      t.set(this.targets.subarray(idx * per, (idx + 1) * per), j * per);
      if (m) m.set(this.mask!.subarray(idx * C, (idx + 1) * C), j * C);
    });
    return new LabelledImages(this.task, this.classes, indices.map((i) => this.paths[i]), t, m, indices.map((i) => this.groups[i]));
  }

  /** Images per class: multilabel, the positives (unmasked); multiclass, the class counts. */
  classCounts(): { positive: number[]; negative: number[] } {
    const C = this.classes.length;
    const positive = new Array<number>(C).fill(0), negative = new Array<number>(C).fill(0);
    for (let i = 0; i < this.length; i++) {
      if (this.task === 'multiclass') {
        positive[this.targets[i]]++;
        for (let c = 0; c < C; c++) if (c !== this.targets[i]) negative[c]++;
        continue;
      }
      for (let c = 0; c < C; c++) {
        if (this.mask && !this.mask[i * C + c]) continue;
        if (this.targets[i * C + c] === 1) positive[c]++;
        else negative[c]++;
      }
    }
    return { positive, negative };
  }

  /** The set as a CheXpert-style CSV (multilabel) or Path,Label CSV (multiclass), paths relative to `dir`. */
  toCsv(dir: string): string {
    const C = this.classes.length;
    const q = (s: string): string => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    const lines = [this.task === 'multilabel' ? ['Path', ...this.classes].map(q).join(',') : 'Path,Label'];
    for (let i = 0; i < this.length; i++) {
      const p = q(relative(dir, this.paths[i]));
      if (this.task === 'multiclass') lines.push(`${p},${q(this.classes[this.targets[i]])}`);
      else lines.push([p, ...Array.from({ length: C }, (_, c) => (this.mask && !this.mask[i * C + c] ? '-1' : String(this.targets[i * C + c])))].join(','));
    }
    return lines.join('\n') + '\n';
  }
}

export interface ChexpertCsvOptions {
  /** Default 'u-ones' (the authors' downstream code). */
  uncertainty?: UncertaintyPolicy;
  /**
   * 'all' (the 14), 'competition' (the 5), or a list of column names. Default: the 14 when the CSV
   * has them all, else every column except Path, Sex, Age, Frontal/Lateral and AP/PA.
   */
  classes?: 'all' | 'competition' | readonly string[];
  /** Folder relative paths are resolved against. Default: the CSV's folder. */
  root?: string;
}

export function resolveClasses(classes: ChexpertCsvOptions['classes']): string[] {
  if (classes === undefined || classes === 'all') return [...CHEXPERT_CLASSES];
  if (classes === 'competition') return [...COMPETITION_CLASSES];
  if (!Array.isArray(classes) || classes.length === 0) throw new LabelledDataError(`classes must be 'all', 'competition' or a non-empty list of column names`);
  return [...classes];
}

/**
 * A CheXpert-style CSV: a Path column and one column per observation with 1 (positive), 0
 * (negative), −1 (uncertain) or blank (not mentioned: negative). Other columns (Sex, Age, …) are
 * ignored. A CSV with a Path and a Label column instead is a multiclass list (Label = class name).
 */
export function readLabelCsv(csvPath: string, opts: ChexpertCsvOptions = {}): LabelledImages {
  let text: string;
  try {
    text = readFileSync(csvPath, 'utf8');
  } catch (e) {
    throw new LabelledDataError(`cannot read ${csvPath}: ${(e as Error).message}`);
  }
  return labelsFromCsvText(text, csvPath, { root: dirname(resolve(csvPath)), ...opts });
}

export function labelsFromCsvText(text: string, what: string, opts: ChexpertCsvOptions = {}): LabelledImages {
  const rows = parseCsv(text);
  if (rows.length === 0 || (rows.length === 1 && rows[0].every((c) => c.trim() === ''))) throw new LabelledDataError(`${what}: the file is empty; expected a header row with a Path column`);
  const header = rows[0].map((h) => h.trim());
  const col = (name: string): number => header.indexOf(name);
  const pathIdx = col('Path');
  if (pathIdx < 0) throw new LabelledDataError(`${what}: row 1 (the header) has no 'Path' column (columns: ${header.join(', ')}); the image path column must be named Path`);
  const root = opts.root ?? process.cwd();
  const resolvePath = (p: string): string => (isAbsolute(p) ? p : join(root, p));
  const body: { row: string[]; line: number }[] = [];
  for (let r = 1; r < rows.length; r++) {
    const row = rows[r];
    if (row.every((c) => c.trim() === '')) continue;
    if (row.length !== header.length) throw new LabelledDataError(`${what}: row ${r + 1} has ${row.length} fields, the header has ${header.length}`);
    if (row[pathIdx].trim() === '') throw new LabelledDataError(`${what}: row ${r + 1}, column 'Path': the path is empty`);
    body.push({ row, line: r + 1 });
  }
  if (body.length === 0) throw new LabelledDataError(`${what}: no rows after the header`);
  const paths = body.map(({ row }) => resolvePath(row[pathIdx].trim()));
  const groups = paths.map(patientGroup);

  const labelIdx = col('Label');
  if (labelIdx >= 0 && header.length === 2) {
    // Path,Label: multiclass. The classes are the given list (a model's), else the labels seen, sorted.
    const names = Array.isArray(opts.classes) ? [...opts.classes] : [...new Set(body.map(({ row }) => row[labelIdx].trim()).filter((v) => v !== ''))].sort();
    const targets = Float32Array.from(body, ({ row, line }) => {
      const v = row[labelIdx].trim();
      const k = names.indexOf(v);
      if (k < 0) throw new LabelledDataError(`${what}: row ${line}, column 'Label': ${v === '' ? 'the class name is blank' : `'${v}' is not one of the classes (${names.join(', ')})`}`);
      return k;
    });
    return new LabelledImages('multiclass', names, paths, targets, null, groups);
  }

  // Unspecified classes: CheXpert's 14 when all are there, else every column but Path and CheXpert's metadata.
  const meta = new Set(['Path', 'Sex', 'Age', 'Frontal/Lateral', 'AP/PA']);
  const classes = opts.classes === undefined && !CHEXPERT_CLASSES.every((c) => header.includes(c)) ? header.filter((h) => !meta.has(h)) : resolveClasses(opts.classes);
  if (classes.length === 0) throw new LabelledDataError(`${what}: row 1 (the header) has no label columns besides Path`);
  const policy = opts.uncertainty ?? 'u-ones';
  if (!UNCERTAINTY_POLICIES.includes(policy)) throw new LabelledDataError(`uncertainty policy must be one of ${UNCERTAINTY_POLICIES.join(', ')}, got '${policy}'`);
  const idx = classes.map((c) => {
    const i = col(c);
    if (i < 0) throw new LabelledDataError(`${what}: row 1 (the header) has no column '${c}' (columns: ${header.join(', ')}); choose the classes with --classes (all, competition, or names separated by commas)`);
    return i;
  });
  const C = classes.length;
  const targets = new Float32Array(body.length * C);
  const mask = new Uint8Array(body.length * C).fill(1);
  body.forEach(({ row, line }, n) => {
    idx.forEach((i, c) => {
      const cell = row[i].trim();
      if (cell === '') return; // not mentioned: negative
      const v = Number(cell);
      if (v === 1) targets[n * C + c] = 1;
      else if (v === -1) {
        if (policy === 'u-ones') targets[n * C + c] = 1;
        else if (policy === 'ignore') mask[n * C + c] = 0;
      } else if (v !== 0) throw new LabelledDataError(`${what}: row ${line}, column '${header[i]}': '${cell}' is not a label (expected 1, 0, -1 or blank)`);
    });
  });
  return new LabelledImages('multilabel', classes, paths, targets, policy === 'ignore' ? mask : null, groups);
}

/** CheXpert's patient (…/patient00042/…) when the path has one, else the path itself. */
function patientGroup(path: string): string {
  return /(?:^|[\\/])(patient\d+)(?:[\\/]|$)/.exec(path)?.[1] ?? path;
}

/** A class-per-folder layout (root/normal/…, root/viral/…): multiclass, classes in sorted folder order. */
export function readClassFolders(root: string): LabelledImages {
  const abs = resolve(root);
  let entries;
  try {
    entries = readdirSync(abs, { withFileTypes: true });
  } catch (e) {
    throw new LabelledDataError(`cannot read the folder ${root}: ${(e as Error).message}`);
  }
  const classes = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  if (classes.length < 2) throw new LabelledDataError(`${root}: a class-per-folder layout needs at least 2 class folders, found ${classes.length}${classes.length ? ` (${classes.join(', ')})` : ''}`);
  const paths: string[] = [];
  const targets: number[] = [];
  classes.forEach((name, c) => {
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase())) files.push(p);
      }
    };
    walk(join(abs, name));
    if (files.length === 0) throw new LabelledDataError(`${join(root, name)}: the class folder '${name}' holds no images (${IMAGE_EXTENSIONS.join(' ')})`);
    files.sort();
    for (const f of files) {
      paths.push(f);
      targets.push(c);
    }
  });
  return new LabelledImages('multiclass', classes, paths, Float32Array.from(targets), null);
}

export interface LabelledSourceOptions extends ChexpertCsvOptions {
  task?: Task;
}

/** A CSV file or a class-per-folder folder. */
export function openLabelled(path: string, opts: LabelledSourceOptions = {}): LabelledImages {
  let set: LabelledImages;
  if (/\.csv$/i.test(path)) set = readLabelCsv(path, opts);
  else set = readClassFolders(path);
  if (opts.task && opts.task !== set.task) {
    throw new LabelledDataError(`${path} is ${set.task} data (${set.task === 'multiclass' ? 'one class per image' : 'several 0/1 labels per image'}), but --task is ${opts.task}`);
  }
  return set;
}

export interface SyntheticLabelledOptions {
  length: number;
  seed?: number;
  /** Side of the written PNGs. Default 64. */
  size?: number;
  /** multilabel: each finding present with probability `prevalence`; multiclass: 'No Finding' or one finding, uniformly. */
  task?: Task;
  prevalence?: number;
  /** Default all of SYNTHETIC_FINDINGS. */
  findings?: readonly string[];
}

/**
 * Writes a seeded synthetic labelled set into `dir`: PNG radiographs with planted findings and
 * labels.csv (multilabel, CheXpert-style columns) or class folders (multiclass). Returns the set.
 */
export async function writeSyntheticLabelled(dir: string, opts: SyntheticLabelledOptions): Promise<LabelledImages> {
  const { default: sharp } = await import('sharp');
  const n = opts.length, seed = opts.seed ?? 0, size = opts.size ?? 64, task = opts.task ?? 'multilabel';
  const findings = [...(opts.findings ?? SYNTHETIC_FINDINGS)];
  const prevalence = opts.prevalence ?? 0.5;
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`writeSyntheticLabelled: length must be a positive integer, got ${n}`);
  if (!(prevalence > 0 && prevalence < 1)) throw new RangeError(`writeSyntheticLabelled: prevalence must be in (0, 1), got ${prevalence}`);
  const classes = task === 'multilabel' ? findings : ['No Finding', ...findings];
  const paths: string[] = [];
  const targets: number[] = [];
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) {
    const rng = new Rng(mixSeed(seed, i, 0x1abe1));
    let present: string[];
    if (task === 'multilabel') {
      const y = findings.map(() => (rng.uniform() < prevalence ? 1 : 0));
      targets.push(...y);
      present = findings.filter((_, c) => y[c]);
    } else {
      const c = Math.min(classes.length - 1, Math.floor(rng.uniform() * classes.length));
      targets.push(c);
      present = c === 0 ? [] : [classes[c]];
    }
    const img = syntheticRadiograph(mixSeed(seed, i, 0x5a11), { width: size, findings: present });
    const px = Buffer.alloc(size * size);
    for (let k = 0; k < px.length; k++) px[k] = Math.round(Math.min(1, Math.max(0, img.data[k])) * 255);
    const sub = task === 'multilabel' ? 'images' : classes[targets[i]].replace(/\s+/g, '_');
    mkdirSync(join(dir, sub), { recursive: true });
    const file = join(dir, sub, `img${String(i).padStart(5, '0')}.png`);
    await sharp(px, { raw: { width: size, height: size, channels: 1 } }).png().toFile(file);
    paths.push(resolve(file));
  }
  const set = new LabelledImages(task, task === 'multilabel' ? classes : classes.map((c) => c.replace(/\s+/g, '_')).sort(), paths, Float32Array.from(targets), null);
  if (task === 'multilabel') {
    writeFileSync(join(dir, 'labels.csv'), set.toCsv(resolve(dir)));
    return set;
  }
  return readClassFolders(dir); // the folder layout is the multiclass source of truth
}

/** A seeded permutation of 0..n−1. */
function permutation(n: number, seed: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  const rng = new Rng(seed >>> 0);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx;
}

export interface Splits {
  train: LabelledImages;
  val: LabelledImages;
  test: LabelledImages | null;
}

/**
 * Seeded random train/val/test split with the given ratios (summing to 1; test may be 0), by
 * group: all images of a patient land in one split. Split sizes are counted in groups.
 */
export function randomSplit(set: LabelledImages, ratios: readonly number[], seed: number): Splits {
  if (ratios.length < 2 || ratios.length > 3 || ratios.some((r) => !(r >= 0)) || Math.abs(ratios.reduce((a, b) => a + b, 0) - 1) > 1e-6) {
    throw new LabelledDataError(`split ratios must be 2 or 3 non-negative numbers summing to 1 (train,val[,test]), got ${ratios.join(',')}`);
  }
  const groups = [...new Set(set.groups)];
  const order = permutation(groups.length, mixSeed(seed, 0x5b11));
  const nTrain = Math.round(ratios[0] * groups.length);
  const nVal = Math.round(ratios[1] * groups.length);
  const which = new Map<string, number>();
  order.forEach((g, k) => which.set(groups[g], k < nTrain ? 0 : k < nTrain + nVal ? 1 : 2));
  const parts: number[][] = [[], [], []];
  set.groups.forEach((g, i) => parts[which.get(g)!].push(i));
  if (parts[0].length === 0 || parts[1].length === 0) throw new LabelledDataError(`a split of ${set.length} images (${groups.length} patients) by ${ratios.join(',')} leaves the ${parts[0].length === 0 ? 'train' : 'validation'} split empty; use more data or other ratios`);
  return { train: set.subset(parts[0]), val: set.subset(parts[1]), test: parts[2].length ? set.subset(parts[2]) : null };
}

/** R seeded subsets of `fraction` of the training split (the data-fraction stress test); repeat r uses seed+r. */
export function fractionSubsets(train: LabelledImages, fraction: number, repeats: number, seed: number): LabelledImages[] {
  if (!(fraction > 0 && fraction <= 1)) throw new LabelledDataError(`--fraction must be in (0, 1], got ${fraction}`);
  if (!(Number.isInteger(repeats) && repeats >= 1)) throw new LabelledDataError(`--repeats must be a positive integer, got ${repeats}`);
  const k = Math.max(1, Math.round(fraction * train.length));
  return Array.from({ length: repeats }, (_, r) => train.subset(permutation(train.length, mixSeed(seed + r, 0xf4ac)).slice(0, k).sort((a, b) => a - b)));
}

export type Balance = 'none' | 'weighted-loss' | 'sampler' | 'undersample';
export const BALANCE_OPTIONS = Object.freeze(['none', 'weighted-loss', 'sampler', 'undersample'] as const);

/**
 * Loss weights for 'weighted-loss': multilabel, BCE's pos_weight per class = negatives / positives
 * (1 where a class has no positives); multiclass, sklearn's 'balanced' class weights N / (K·n_k).
 */
export function balanceWeights(set: LabelledImages): Float32Array {
  const { positive, negative } = set.classCounts();
  const K = set.classes.length;
  if (set.task === 'multilabel') return Float32Array.from(positive, (p, c) => (p > 0 ? negative[c] / p : 1));
  return Float32Array.from(positive, (n) => (n > 0 ? set.length / (K * n) : 0));
}

/**
 * Epoch e's training images (dataset indices) under a balance option ('sampler' and 'undersample'
 * need a multiclass task): 'sampler' draws N images with replacement, each class equally likely;
 * 'undersample' keeps as many images of each class as the rarest class has, redrawn each epoch.
 */
export function balancedIndices(set: LabelledImages, balance: Balance, seed: number, epoch: number): number[] {
  if (!BALANCE_OPTIONS.includes(balance)) throw new LabelledDataError(`--balance must be one of ${BALANCE_OPTIONS.join(', ')}, got '${balance}'`);
  const all = Array.from({ length: set.length }, (_, i) => i);
  if (balance === 'none' || balance === 'weighted-loss') return all;
  if (set.task !== 'multiclass') throw new LabelledDataError(`--balance ${balance} needs a multiclass task (a multilabel image belongs to several classes); use --balance weighted-loss`);
  const byClass: number[][] = set.classes.map(() => []);
  for (let i = 0; i < set.length; i++) byClass[set.targets[i]].push(i);
  const present = byClass.filter((l) => l.length > 0);
  const rng = new Rng(mixSeed(seed, epoch, 0xba1a));
  if (balance === 'sampler') {
    return all.map(() => {
      const l = present[Math.floor(rng.uniform() * present.length)];
      return l[Math.floor(rng.uniform() * l.length)];
    });
  }
  const m = Math.min(...present.map((l) => l.length));
  const keep: number[] = [];
  for (const l of present) {
    const p = permutation(l.length, Math.floor(rng.uniform() * 2 ** 32));
    for (let k = 0; k < m; k++) keep.push(l[p[k]]);
  }
  return keep.sort((a, b) => a - b);
}
