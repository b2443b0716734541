// Prediction files: JSON lines, a header then one line per image.
//   {"format":"ifa-ssl-predictions","version":1,"task":"multilabel","classes":["Atelectasis",...]}
//   {"path":"patient1/view1.png","scores":[0.12,...],"labels":[0,1,null,...]}
// scores are probabilities, one per class (sigmoid outputs for multilabel, softmax for multiclass).
// labels: multilabel 0 / 1 per class, null where the label is masked (ignored); multiclass the true
// class index as a one-element array, [null] for an image without a label.
import { readFileSync, writeFileSync } from 'node:fs';

export const PREDICTIONS_FORMAT = 'ifa-ssl-predictions';
export const PREDICTIONS_VERSION = 1;

export type Task = 'multilabel' | 'multiclass';

export interface PredictionRow {
  path: string;
  scores: number[];
  labels: (number | null)[];
}

export interface Predictions {
  task: Task;
  classes: string[];
  rows: PredictionRow[];
}

/** Throws (naming where) unless the header and every row are well formed for the task. */
function validateRow(row: unknown, task: Task, nClasses: number, where: string): PredictionRow {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new Error(`${where}: a row must be a JSON object with path, scores and labels`);
  const r = row as Record<string, unknown>;
  if (typeof r.path !== 'string' || r.path === '') throw new Error(`${where}: "path" must be a non-empty string`);
  if (!Array.isArray(r.scores) || r.scores.length !== nClasses) {
    throw new Error(`${where}: "scores" must be an array of ${nClasses} numbers (one per class), got ${JSON.stringify(r.scores)?.slice(0, 80)}`);
  }
  r.scores.forEach((s, c) => {
    if (typeof s !== 'number' || !Number.isFinite(s)) throw new Error(`${where}: scores[${c}] is ${JSON.stringify(s)}; scores must be finite numbers`);
  });
  if (!Array.isArray(r.labels)) throw new Error(`${where}: "labels" must be an array`);
  if (task === 'multilabel') {
    if (r.labels.length !== nClasses) throw new Error(`${where}: "labels" must have ${nClasses} entries (0, 1 or null per class), got ${r.labels.length}`);
    r.labels.forEach((y, c) => {
      if (y !== 0 && y !== 1 && y !== null) throw new Error(`${where}: labels[${c}] is ${JSON.stringify(y)}; multilabel labels are 0, 1 or null (masked)`);
    });
  } else {
    const y = r.labels[0];
    if (r.labels.length !== 1 || !(y === null || (Number.isInteger(y) && (y as number) >= 0 && (y as number) < nClasses))) {
      throw new Error(`${where}: multiclass "labels" must be [classIndex] with an integer in 0..${nClasses - 1} (or [null]), got ${JSON.stringify(r.labels)}`);
    }
  }
  return { path: r.path, scores: r.scores as number[], labels: r.labels as (number | null)[] };
}

function validateHeader(h: unknown, where: string): { task: Task; classes: string[] } {
  const r = (typeof h === 'object' && h !== null ? h : {}) as Record<string, unknown>;
  if (r.format !== PREDICTIONS_FORMAT) {
    throw new Error(`${where}: not an ifa-ssl predictions file (the first line must be {"format":"${PREDICTIONS_FORMAT}","version":${PREDICTIONS_VERSION},"task":...,"classes":[...]})`);
  }
  if (r.version !== PREDICTIONS_VERSION) throw new Error(`${where}: predictions format version ${JSON.stringify(r.version)} is not supported (this ifa-ssl reads version ${PREDICTIONS_VERSION})`);
  if (r.task !== 'multilabel' && r.task !== 'multiclass') throw new Error(`${where}: "task" must be "multilabel" or "multiclass", got ${JSON.stringify(r.task)}`);
  if (!Array.isArray(r.classes) || r.classes.length === 0 || !r.classes.every((c) => typeof c === 'string' && c !== '')) {
    throw new Error(`${where}: "classes" must be a non-empty array of class names`);
  }
  if (new Set(r.classes).size !== r.classes.length) throw new Error(`${where}: "classes" names a class twice`);
  if (r.task === 'multiclass' && r.classes.length < 2) throw new Error(`${where}: a multiclass task needs at least two classes`);
  return { task: r.task, classes: r.classes as string[] };
}

/** The file's text: the header line and one line per row. Throws on a malformed row, naming it. */
export function formatPredictions(p: Predictions): string {
  const { task, classes } = validateHeader({ format: PREDICTIONS_FORMAT, version: PREDICTIONS_VERSION, task: p.task, classes: p.classes }, 'predictions');
  const lines = [JSON.stringify({ format: PREDICTIONS_FORMAT, version: PREDICTIONS_VERSION, task, classes })];
  p.rows.forEach((row, i) => {
    const r = validateRow(row, task, classes.length, `predictions row ${i} (${row?.path})`);
    lines.push(JSON.stringify({ path: r.path, scores: Array.from(r.scores), labels: Array.from(r.labels) }));
  });
  return lines.join('\n') + '\n';
}

/** Writes a predictions file (JSON lines). Synchronous. */
export function writePredictions(file: string, p: Predictions): void {
  writeFileSync(file, formatPredictions(p));
}

/** Parses a predictions file's text; errors name the file and the line. */
export function parsePredictions(text: string, file = 'predictions'): Predictions {
  const lines = text.split('\n');
  let header: { task: Task; classes: string[] } | null = null;
  const rows: PredictionRow[] = [];
  const seen = new Map<string, number>();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const where = `${file}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new Error(`${where}: not valid JSON (${(e as Error).message})`);
    }
    if (!header) {
      header = validateHeader(value, where);
      continue;
    }
    const row = validateRow(value, header.task, header.classes.length, where);
    const first = seen.get(row.path);
    if (first !== undefined) throw new Error(`${where}: image ${row.path} is listed twice (first on line ${first})`);
    seen.set(row.path, i + 1);
    rows.push(row);
  }
  if (!header) throw new Error(`${file}: empty; a predictions file starts with a {"format":"${PREDICTIONS_FORMAT}",...} header line`);
  return { ...header, rows };
}

/** Reads a predictions file; errors name the file and the line. */
export function readPredictions(file: string): Predictions {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read predictions file ${file}: ${(e as Error).message}`);
  }
  return parsePredictions(text, file);
}

/** Multilabel predictions as the N×C arrays evaluateMultilabel takes; mask 0 where a label is null. */
export function multilabelArrays(p: Predictions): { scores: Float32Array; labels: Float32Array; mask: Uint8Array } {
  if (p.task !== 'multilabel') throw new Error(`expected multilabel predictions, these are ${p.task}`);
  const c = p.classes.length;
  const n = p.rows.length;
  const scores = new Float32Array(n * c);
  const labels = new Float32Array(n * c);
  const mask = new Uint8Array(n * c);
  p.rows.forEach((r, i) => {
    for (let k = 0; k < c; k++) {
      scores[i * c + k] = r.scores[k];
      const y = r.labels[k];
      if (y !== null) {
        labels[i * c + k] = y;
        mask[i * c + k] = 1;
      }
    }
  });
  return { scores, labels, mask };
}

/** Multiclass predictions as arrays for evaluateMulticlass; rows without a label are left out (counted). */
export function multiclassArrays(p: Predictions): { scores: Float32Array; labels: Int32Array; paths: string[]; unlabelled: number } {
  if (p.task !== 'multiclass') throw new Error(`expected multiclass predictions, these are ${p.task}`);
  const c = p.classes.length;
  const kept = p.rows.filter((r) => r.labels[0] !== null);
  const scores = new Float32Array(kept.length * c);
  const labels = new Int32Array(kept.length);
  kept.forEach((r, i) => {
    scores.set(r.scores, i * c);
    labels[i] = r.labels[0] as number;
  });
  return { scores, labels, paths: kept.map((r) => r.path), unlabelled: p.rows.length - kept.length };
}
