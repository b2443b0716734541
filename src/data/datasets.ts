// Datasets: what the samples are, as plain data that the loader's workers can rebuild. A dataset
// never decodes; the workers do (decode → preprocess → cache → augment).
import { readdir, readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import type { GrayImage } from './image.js';
import { syntheticRadiograph } from './synthetic.js';

/** Serializable description of every sample (sent once to each worker). */
export type DatasetDescriptor =
  | { kind: 'files'; paths: string[] }
  | { kind: 'synthetic'; seed: number; length: number; width: number; height: number; noise: number };

export interface Dataset {
  readonly length: number;
  /** Label names when the dataset has labels. */
  readonly labelNames: readonly string[];
  describe(): DatasetDescriptor;
  /** Labels of sample i (NaN where blank), or null when the dataset has none. */
  labels(i: number): Float32Array | null;
  /** A short name of sample i for messages (its path). */
  name(i: number): string;
}

export const IMAGE_EXTENSIONS = Object.freeze(['.png', '.jpg', '.jpeg', '.dcm', '.dicom']);

export interface ImageFolderOptions {
  /** File extensions to take (lower case, with the dot). Default .png .jpg .jpeg .dcm .dicom. */
  extensions?: readonly string[];
}

/** Every image file under a folder, recursively, in sorted path order (so indices are stable). */
export class ImageFolder implements Dataset {
  readonly labelNames: readonly string[] = [];
  /** Files under the folder that were left out: not an image by their extension. */
  skipped = 0;
  private constructor(readonly root: string, readonly paths: readonly string[]) {}

  static async open(root: string, opts: ImageFolderOptions = {}): Promise<ImageFolder> {
    const exts = new Set((opts.extensions ?? IMAGE_EXTENSIONS).map((e) => e.toLowerCase()));
    const abs = resolve(root);
    const out: string[] = [];
    let skipped = 0;
    const walk = async (dir: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true });
      for (const e of entries) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if ((e.isFile() || e.isSymbolicLink()) && exts.has(extname(e.name).toLowerCase())) out.push(p);
        else skipped++;
      }
    };
    await walk(abs);
    out.sort();
    if (out.length === 0) throw new RangeError(`ImageFolder: no ${[...exts].join('/')} files under ${abs}`);
    const folder = new ImageFolder(abs, out);
    folder.skipped = skipped;
    return folder;
  }

  get length(): number {
    return this.paths.length;
  }
  describe(): DatasetDescriptor {
    return { kind: 'files', paths: [...this.paths] };
  }
  labels(): null {
    return null;
  }
  name(i: number): string {
    return this.paths[i];
  }
}

export interface CsvManifestOptions {
  /** Column holding the image path. Default 'Path' if present, else the first column. */
  pathColumn?: string;
  /** Folder that relative paths are resolved against. Default: the CSV's folder. */
  root?: string;
  /** Label columns. Default: every column except the path and CheXpert's Sex, Age, Frontal/Lateral, AP/PA. */
  labelColumns?: readonly string[];
  /** CheXpert's uncertain label (−1): keep −1, map to 1 (U-Ones) or to 0 (U-Zeros). Default 'keep'. */
  uncertain?: 'keep' | 'ones' | 'zeros';
  /** Value for a blank label cell. Default NaN. */
  blank?: number;
  /** Keep only rows for which this returns true (e.g. frontal views). */
  filter?: (row: Readonly<Record<string, string>>) => boolean;
}

const CHEXPERT_META = new Set(['Sex', 'Age', 'Frontal/Lateral', 'AP/PA']);

/** A CSV manifest of image paths and label columns (CheXpert's train.csv / valid.csv layout). */
export class CsvManifest implements Dataset {
  /** Rows left out: a blank path cell. */
  skipped = 0;
  private constructor(
    readonly paths: readonly string[],
    readonly labelNames: readonly string[],
    private readonly labelData: Float32Array,
  ) {}

  static async open(csvPath: string, opts: CsvManifestOptions = {}): Promise<CsvManifest> {
    return CsvManifest.fromText(await readFile(csvPath, 'utf8'), { root: dirname(resolve(csvPath)), ...opts }, csvPath);
  }

  static fromText(text: string, opts: CsvManifestOptions = {}, what = 'CSV'): CsvManifest {
    const rows = parseCsv(text);
    if (rows.length < 1) throw new RangeError(`CsvManifest: ${what} is empty`);
    const header = rows[0].map((h) => h.trim());
    const pathColumn = opts.pathColumn ?? (header.includes('Path') ? 'Path' : header[0]);
    const pathIdx = header.indexOf(pathColumn);
    if (pathIdx < 0) throw new RangeError(`CsvManifest: ${what} has no column '${pathColumn}' (columns: ${header.join(', ')})`);
    const labelNames = opts.labelColumns ? [...opts.labelColumns] : header.filter((h, i) => i !== pathIdx && !CHEXPERT_META.has(h));
    const labelIdx = labelNames.map((n) => {
      const i = header.indexOf(n);
      if (i < 0) throw new RangeError(`CsvManifest: ${what} has no label column '${n}'`);
      return i;
    });
    const root = opts.root ?? process.cwd();
    const blank = opts.blank ?? NaN;
    const uncertain = opts.uncertain ?? 'keep';
    const paths: string[] = [];
    const labels: number[] = [];
    let skipped = 0;
    for (let r = 1; r < rows.length; r++) {
      const row = rows[r];
      if (row.length === 1 && row[0].trim() === '') continue;
      if (row.length !== header.length) throw new RangeError(`CsvManifest: ${what} row ${r + 1} has ${row.length} fields, the header has ${header.length}`);
      if (opts.filter) {
        const rec: Record<string, string> = {};
        header.forEach((h, i) => (rec[h] = row[i]));
        if (!opts.filter(rec)) continue;
      }
      const p = row[pathIdx].trim();
      if (p === '') {
        skipped++;
        continue;
      }
      paths.push(isAbsolute(p) ? p : join(root, p));
      for (const i of labelIdx) {
        const cell = row[i].trim();
        let v = cell === '' ? blank : Number(cell);
        if (Number.isNaN(v) && cell !== '') throw new RangeError(`CsvManifest: ${what} row ${r + 1}, column '${header[i]}': '${cell}' is not a number`);
        if (v === -1 && uncertain !== 'keep') v = uncertain === 'ones' ? 1 : 0;
        labels.push(v);
      }
    }
    if (paths.length === 0) throw new RangeError(`CsvManifest: ${what} has no rows`);
    const manifest = new CsvManifest(paths, labelNames, Float32Array.from(labels));
    manifest.skipped = skipped;
    return manifest;
  }

  get length(): number {
    return this.paths.length;
  }
  describe(): DatasetDescriptor {
    return { kind: 'files', paths: [...this.paths] };
  }
  labels(i: number): Float32Array {
    if (!(i >= 0 && i < this.paths.length)) throw new RangeError(`CsvManifest.labels: index ${i} out of range [0, ${this.paths.length})`);
    const L = this.labelNames.length;
    return this.labelData.slice(i * L, (i + 1) * L);
  }
  /** All labels, [N, L] row-major. */
  labelMatrix(): Float32Array {
    return new Float32Array(this.labelData);
  }
  name(i: number): string {
    return this.paths[i];
  }
}

/** RFC 4180 CSV: quoted fields with "" escapes and embedded newlines; CRLF or LF; a BOM is dropped. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let quoted = false;
  for (; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

export interface SyntheticCxrOptions {
  length: number;
  seed?: number;
  /** Size of the generated (source) image; the loader resizes to its imageSize. Default 512. */
  width?: number;
  height?: number;
  noise?: number;
}

/** N seeded synthetic radiographs (image i is syntheticRadiograph(mix(seed, i))). */
export class SyntheticCxr implements Dataset {
  readonly length: number;
  readonly seed: number;
  readonly width: number;
  readonly height: number;
  readonly noise: number;
  readonly labelNames: readonly string[] = [];
  constructor(opts: SyntheticCxrOptions) {
    if (!Number.isInteger(opts?.length) || opts.length < 1) throw new RangeError(`SyntheticCxr: length must be a positive integer, got ${opts?.length}`);
    this.length = opts.length;
    this.seed = opts.seed ?? 0;
    this.width = opts.width ?? 512;
    this.height = opts.height ?? this.width;
    this.noise = opts.noise ?? 0.015;
  }
  describe(): DatasetDescriptor {
    return { kind: 'synthetic', seed: this.seed, length: this.length, width: this.width, height: this.height, noise: this.noise };
  }
  labels(): null {
    return null;
  }
  name(i: number): string {
    return `synthetic:${this.seed}:${i}`;
  }
  /** The raw (unpreprocessed) image i. */
  image(i: number): GrayImage {
    return syntheticImage(this.describe() as Extract<DatasetDescriptor, { kind: 'synthetic' }>, i);
  }
}

/** @internal */
export function syntheticImage(d: Extract<DatasetDescriptor, { kind: 'synthetic' }>, i: number): GrayImage {
  // Seed per image independent of the dataset length.
  const s = (Math.imul(d.seed ^ 0x5bd1e995, 0x27d4eb2d) + Math.imul(i + 1, 0x165667b1)) >>> 0;
  return syntheticRadiograph(s, { width: d.width, height: d.height, noise: d.noise });
}
