// Evaluation reports (JSON and Markdown) and model comparisons, from score and label arrays or from
// prediction files. Undefined values (an AUC of a class with no positives or no negatives, a ratio
// with a zero denominator) are null in the JSON and "—" in the Markdown; a class whose AUC is
// undefined is named in the warnings and left out of the mean AUC — labels are never shifted.
import { atThreshold, classificationReport, delong, delongPaired, meanSd, multilabelClassificationReport, pairedTTest, rocCurve, stuartMaxwell, type Prf } from './metrics.js';
import { multiclassArrays, multilabelArrays, type Predictions } from './predictions.js';

const num = (v: number): number | null => (Number.isFinite(v) ? v : null);

export interface ClassResult {
  name: string;
  /** cases with a label for this class (multilabel: not masked) */
  n: number;
  positives: number;
  negatives: number;
  /** null when the class has no positives or no negatives in the split */
  auc: number | null;
  aucCi95: [number, number] | null;
  aucVariance: number | null;
  precision: number;
  recall: number;
  f1: number;
  support: number;
  /** at the report's threshold (multilabel) or for the argmax prediction, one-vs-rest (multiclass) */
  sensitivity: number | null;
  specificity: number | null;
  ppv: number | null;
  npv: number | null;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export interface EvaluationReport {
  task: 'multilabel' | 'multiclass';
  classes: string[];
  /** images evaluated */
  n: number;
  /** multilabel: a class is called positive at score ≥ threshold; multiclass: null (argmax) */
  threshold: number | null;
  perClass: ClassResult[];
  /** mean of the defined per-class AUCs (multiclass: one-vs-rest), null when none is defined */
  meanAuc: number | null;
  /** the classes whose AUC enters the mean */
  meanAucOver: string[];
  /** the classes with an undefined AUC, by name */
  undefinedAuc: string[];
  macro: Prf;
  micro: Prf;
  weighted: Prf;
  /** multiclass: fraction of images whose argmax is the true class; multilabel: fraction of labelled cells right */
  accuracy: number | null;
  /** multiclass: C×C, rows true class, columns predicted; multilabel: per class [[tn, fp], [fn, tp]] */
  confusion: number[][] | number[][][];
  warnings: string[];
}

function aucPart(scores: Float64Array, labels: Float64Array): Pick<ClassResult, 'auc' | 'aucCi95' | 'aucVariance' | 'positives' | 'negatives' | 'n'> {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) positives += labels[i];
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) return { auc: null, aucCi95: null, aucVariance: null, positives, negatives, n: labels.length };
  const d = delong(scores, labels);
  const ci: [number, number] | null = Number.isFinite(d.ci95[0]) ? d.ci95 : null;
  return { auc: d.auc, aucCi95: ci, aucVariance: num(d.variance), positives, negatives, n: labels.length };
}

function meanAucOf(perClass: ClassResult[], warnings: string[]): Pick<EvaluationReport, 'meanAuc' | 'meanAucOver' | 'undefinedAuc'> {
  const defined = perClass.filter((c) => c.auc !== null);
  const undefinedAuc = perClass.filter((c) => c.auc === null).map((c) => c.name);
  for (const c of perClass) {
    if (c.auc === null) {
      warnings.push(`class ${c.name}: AUC undefined (${c.positives} positives, ${c.negatives} negatives in this split); left out of the mean AUC`);
    }
  }
  const meanAuc = defined.length ? defined.reduce((s, c) => s + (c.auc as number), 0) / defined.length : null;
  return { meanAuc, meanAucOver: defined.map((c) => c.name), undefinedAuc };
}

export interface MultilabelInput {
  /** N×C probabilities, row-major */
  scores: Float32Array | Float64Array;
  /** N×C 0/1 labels */
  labels: Float32Array | Float64Array | Uint8Array;
  /** N×C, 1 where the label counts, 0 where it is masked (ignored) */
  mask?: Uint8Array;
  classes: string[];
  /** positive at score ≥ threshold; default 0.5 */
  threshold?: number;
}

/** Column k of an N×C array, only the rows the mask keeps. */
function column(a: ArrayLike<number>, c: number, k: number, mask?: Uint8Array): Float64Array {
  const n = a.length / c;
  let count = n;
  if (mask) {
    count = 0;
    for (let i = 0; i < n; i++) count += mask[i * c + k] ? 1 : 0;
  }
  const out = new Float64Array(count);
  let j = 0;
  for (let i = 0; i < n; i++) if (!mask || mask[i * c + k]) out[j++] = a[i * c + k];
  return out;
}

/** The multilabel report: per-class AUC with DeLong CI, P/R/F1, sensitivity/specificity/PPV/NPV at the threshold. */
export function evaluateMultilabel(input: MultilabelInput): EvaluationReport {
  const { scores, labels, mask, classes } = input;
  const threshold = input.threshold ?? 0.5;
  const c = classes.length;
  if (c === 0) throw new Error('evaluateMultilabel: no classes');
  if (scores.length !== labels.length || scores.length % c !== 0) {
    throw new Error(`evaluateMultilabel: scores (${scores.length}) and labels (${labels.length}) must both be N×${c} (${c} classes)`);
  }
  if (mask && mask.length !== labels.length) throw new Error(`evaluateMultilabel: the mask has ${mask.length} entries, the labels ${labels.length}`);
  const n = scores.length / c;
  const warnings: string[] = [];
  const yPred = new Uint8Array(scores.length);
  for (let i = 0; i < scores.length; i++) yPred[i] = scores[i] >= threshold ? 1 : 0;
  const cls = multilabelClassificationReport(labels, yPred, c, mask);
  const perClass: ClassResult[] = classes.map((name, k) => {
    const s = column(scores, c, k, mask);
    const y = column(labels, c, k, mask);
    const t = atThreshold(s, y, threshold);
    return {
      name,
      ...aucPart(s, y),
      ...cls.perClass[k],
      sensitivity: num(t.sensitivity),
      specificity: num(t.specificity),
      ppv: num(t.ppv),
      npv: num(t.npv),
      tp: t.tp,
      fp: t.fp,
      tn: t.tn,
      fn: t.fn,
    };
  });
  for (const r of perClass) if (r.n < n) warnings.push(`class ${r.name}: ${n - r.n} of ${n} labels masked (ignored)`);
  return {
    task: 'multilabel',
    classes: [...classes],
    n,
    threshold,
    perClass,
    ...meanAucOf(perClass, warnings),
    macro: cls.macro,
    micro: cls.micro,
    weighted: cls.weighted,
    accuracy: num(cls.accuracy),
    confusion: perClass.map((r) => [
      [r.tn, r.fp],
      [r.fn, r.tp],
    ]),
    warnings,
  };
}

export interface MulticlassInput {
  /** N×C probabilities, row-major */
  scores: Float32Array | Float64Array;
  /** N true class indices */
  labels: Int32Array | ArrayLike<number>;
  classes: string[];
}

/** The row-wise argmax of an N×C array (the first of tied maxima). */
export function argmaxRows(scores: ArrayLike<number>, c: number): Int32Array {
  const n = scores.length / c;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 1; k < c; k++) if (scores[i * c + k] > scores[i * c + best]) best = k;
    out[i] = best;
  }
  return out;
}

/** The multiclass report: argmax predictions, confusion matrix, P/R/F1, one-vs-rest AUCs with DeLong CIs. */
export function evaluateMulticlass(input: MulticlassInput): EvaluationReport {
  const { scores, labels, classes } = input;
  const c = classes.length;
  if (c < 2) throw new Error('evaluateMulticlass: needs at least two classes');
  if (scores.length !== labels.length * c) throw new Error(`evaluateMulticlass: scores (${scores.length}) must be N×${c} for ${labels.length} labels`);
  const n = labels.length;
  const yPred = argmaxRows(scores, c);
  const cls = classificationReport(labels, yPred, c);
  const cm = (() => {
    const m = Array.from({ length: c }, () => new Array<number>(c).fill(0));
    for (let i = 0; i < n; i++) m[labels[i]][yPred[i]]++;
    return m;
  })();
  const warnings: string[] = [];
  const perClass: ClassResult[] = classes.map((name, k) => {
    const s = column(scores, c, k);
    const y = Float64Array.from(labels, (v) => (v === k ? 1 : 0));
    const tp = cm[k][k];
    const fn = cm[k].reduce((a, v) => a + v, 0) - tp;
    const fp = cm.reduce((a, row) => a + row[k], 0) - tp;
    const tn = n - tp - fn - fp;
    const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);
    return {
      name,
      ...aucPart(s, y),
      ...cls.perClass[k],
      sensitivity: ratio(tp, tp + fn),
      specificity: ratio(tn, tn + fp),
      ppv: ratio(tp, tp + fp),
      npv: ratio(tn, tn + fn),
      tp,
      fp,
      tn,
      fn,
    };
  });
  return {
    task: 'multiclass',
    classes: [...classes],
    n,
    threshold: null,
    perClass,
    ...meanAucOf(perClass, warnings),
    macro: cls.macro,
    micro: cls.micro,
    weighted: cls.weighted,
    accuracy: num(cls.accuracy),
    confusion: cm,
    warnings,
  };
}

/** The report of a predictions file (multiclass rows without a label are left out, with a warning). */
export function evaluatePredictions(p: Predictions, threshold?: number): EvaluationReport {
  if (p.task === 'multilabel') return evaluateMultilabel({ ...multilabelArrays(p), classes: p.classes, threshold });
  const a = multiclassArrays(p);
  const r = evaluateMulticlass({ scores: a.scores, labels: a.labels, classes: p.classes });
  if (a.unlabelled) r.warnings.push(`${a.unlabelled} images without a label left out`);
  return r;
}

/** Per-class ROC curves (for plots); classes with an undefined AUC are left out. */
export function rocCurves(p: Predictions): { name: string; fpr: number[]; tpr: number[]; auc: number }[] {
  const out: { name: string; fpr: number[]; tpr: number[]; auc: number }[] = [];
  const c = p.classes.length;
  const a = p.task === 'multilabel' ? multilabelArrays(p) : null;
  const m = p.task === 'multiclass' ? multiclassArrays(p) : null;
  p.classes.forEach((name, k) => {
    const s = a ? column(a.scores, c, k, a.mask) : column(m!.scores, c, k);
    const y = a ? column(a.labels, c, k, a.mask) : Float64Array.from(m!.labels, (v) => (v === k ? 1 : 0));
    const r = rocCurve(s, y);
    if (r.fpr.length) out.push({ name, fpr: r.fpr, tpr: r.tpr, auc: delong(s, y).auc });
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Markdown

const f3 = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(3));
const ci = (v: [number, number] | null): string => (v ? `${v[0].toFixed(3)}–${v[1].toFixed(3)}` : '—');

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** The report as Markdown: the per-class table, the averages, the confusion matrix and the warnings. */
export function reportMarkdown(r: EvaluationReport, title = 'Evaluation'): string {
  const at = r.task === 'multilabel' ? `at score ≥ ${r.threshold}` : 'argmax, one-vs-rest';
  const out: string[] = [`## ${title}`, '', `${r.task}, ${r.n} images, ${r.classes.length} classes; sensitivity/specificity/PPV/NPV ${at}.`, ''];
  out.push(
    table(
      ['class', 'n', 'pos', 'AUC', '95 % CI (DeLong)', 'precision', 'recall', 'F1', 'sens', 'spec', 'PPV', 'NPV'],
      r.perClass.map((c) => [c.name, String(c.n), String(c.positives), f3(c.auc), ci(c.aucCi95), f3(c.precision), f3(c.recall), f3(c.f1), f3(c.sensitivity), f3(c.specificity), f3(c.ppv), f3(c.npv)]),
    ),
  );
  out.push('');
  const meanNote = r.undefinedAuc.length ? ` (over ${r.meanAucOver.length} classes; undefined: ${r.undefinedAuc.join(', ')})` : '';
  out.push(`Mean AUC: ${f3(r.meanAuc)}${meanNote}. Accuracy: ${f3(r.accuracy)}.`, '');
  const avgRows = [
    ['macro', f3(r.macro.precision), f3(r.macro.recall), f3(r.macro.f1)],
    ['micro', f3(r.micro.precision), f3(r.micro.recall), f3(r.micro.f1)],
    ['weighted', f3(r.weighted.precision), f3(r.weighted.recall), f3(r.weighted.f1)],
  ];
  out.push(table(['average', 'precision', 'recall', 'F1'], avgRows), '');
  if (r.task === 'multiclass') {
    const cm = r.confusion as number[][];
    out.push('Confusion matrix (rows: true class, columns: predicted):', '');
    out.push(table(['true \\ predicted', ...r.classes], cm.map((row, i) => [r.classes[i], ...row.map(String)])), '');
  } else {
    out.push(table(['class', 'TP', 'FP', 'TN', 'FN'], r.perClass.map((c) => [c.name, String(c.tp), String(c.fp), String(c.tn), String(c.fn)])), '');
  }
  if (r.warnings.length) out.push('Warnings:', '', ...r.warnings.map((w) => `- ${w}`), '');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Comparisons

/** Pairs two prediction files' rows by image path; both must hold the same images, labels and classes. */
function align(a: Predictions, b: Predictions, names: [string, string]): { rowsB: Predictions['rows'] } {
  if (a.task !== b.task) throw new Error(`cannot compare ${names[0]} (${a.task}) with ${names[1]} (${b.task}): the tasks differ`);
  if (a.classes.join('\n') !== b.classes.join('\n')) {
    throw new Error(`cannot compare ${names[0]} and ${names[1]}: their classes differ (${a.classes.join(', ')} vs ${b.classes.join(', ')})`);
  }
  const byPath = new Map(b.rows.map((r) => [r.path, r]));
  const missing = a.rows.filter((r) => !byPath.has(r.path));
  if (missing.length || a.rows.length !== b.rows.length) {
    const extra = b.rows.length - (a.rows.length - missing.length);
    throw new Error(
      `cannot compare ${names[0]} and ${names[1]}: they must score the same images (${missing.length} of ${names[0]}'s are not in ${names[1]}${missing.length ? `, e.g. ${missing[0].path}` : ''}; ${extra} of ${names[1]}'s are not in ${names[0]})`,
    );
  }
  const rowsB = a.rows.map((r) => {
    const o = byPath.get(r.path)!;
    if (JSON.stringify(o.labels) !== JSON.stringify(r.labels)) throw new Error(`cannot compare ${names[0]} and ${names[1]}: image ${r.path} has labels ${JSON.stringify(r.labels)} in one and ${JSON.stringify(o.labels)} in the other`);
    return o;
  });
  return { rowsB };
}

export interface PairedClassComparison {
  name: string;
  n: number;
  positives: number;
  aucA: number | null;
  aucB: number | null;
  diff: number | null;
  z: number | null;
  p: number | null;
}

export interface PairedComparison {
  kind: 'paired';
  task: 'multilabel' | 'multiclass';
  names: [string, string];
  n: number;
  classes: string[];
  /** paired DeLong per class (multiclass: one-vs-rest) */
  perClass: PairedClassComparison[];
  meanAucA: number | null;
  meanAucB: number | null;
  /** multiclass: Stuart–Maxwell test of marginal homogeneity of the two models' predicted classes */
  stuartMaxwell: { statistic: number | null; df: number; p: number | null; table: number[][]; droppedCategories: string[] } | null;
  /** multiclass: each model's accuracy */
  accuracyA: number | null;
  accuracyB: number | null;
  warnings: string[];
}

/**
 * Two models' predictions on the same images: paired DeLong test per class; for multiclass also the
 * Stuart–Maxwell test on the A-predicted × B-predicted table.
 */
export function comparePredictions(a: Predictions, b: Predictions, names: [string, string] = ['A', 'B']): PairedComparison {
  const { rowsB } = align(a, b, names);
  const bb: Predictions = { ...b, rows: rowsB };
  const c = a.classes.length;
  const warnings: string[] = [];
  const perClass: PairedClassComparison[] = [];
  let accuracyA: number | null = null;
  let accuracyB: number | null = null;
  let sm: PairedComparison['stuartMaxwell'] = null;
  let n = a.rows.length;
  if (a.task === 'multilabel') {
    const xa = multilabelArrays(a);
    const xb = multilabelArrays(bb);
    a.classes.forEach((name, k) => {
      const y = column(xa.labels, c, k, xa.mask);
      perClass.push(pairedClass(name, column(xa.scores, c, k, xa.mask), column(xb.scores, c, k, xa.mask), y, warnings));
    });
  } else {
    const xa = multiclassArrays(a);
    const xb = multiclassArrays(bb);
    n = xa.labels.length;
    if (xa.unlabelled) warnings.push(`${xa.unlabelled} images without a label left out`);
    a.classes.forEach((name, k) => {
      const y = Float64Array.from(xa.labels, (v) => (v === k ? 1 : 0));
      perClass.push(pairedClass(name, column(xa.scores, c, k), column(xb.scores, c, k), y, warnings));
    });
    const pa = argmaxRows(xa.scores, c);
    const pb = argmaxRows(xb.scores, c);
    const t = Array.from({ length: c }, () => new Array<number>(c).fill(0));
    let ra = 0;
    let rb = 0;
    for (let i = 0; i < n; i++) {
      t[pa[i]][pb[i]]++;
      ra += pa[i] === xa.labels[i] ? 1 : 0;
      rb += pb[i] === xa.labels[i] ? 1 : 0;
    }
    accuracyA = n ? ra / n : null;
    accuracyB = n ? rb / n : null;
    const s = stuartMaxwell(t);
    if (!Number.isFinite(s.statistic)) warnings.push('Stuart–Maxwell: the covariance of the marginal differences is singular; no test');
    sm = { statistic: num(s.statistic), df: s.df, p: num(s.p), table: t, droppedCategories: s.droppedCategories.map((i) => a.classes[i]) };
  }
  const mean = (key: 'aucA' | 'aucB'): number | null => {
    const v = perClass.filter((r) => r.aucA !== null).map((r) => r[key] as number);
    return v.length ? v.reduce((s, x) => s + x, 0) / v.length : null;
  };
  return { kind: 'paired', task: a.task, names, n, classes: [...a.classes], perClass, meanAucA: mean('aucA'), meanAucB: mean('aucB'), stuartMaxwell: sm, accuracyA, accuracyB, warnings };
}

function pairedClass(name: string, sa: Float64Array, sb: Float64Array, y: Float64Array, warnings: string[]): PairedClassComparison {
  let positives = 0;
  for (let i = 0; i < y.length; i++) positives += y[i];
  if (positives === 0 || positives === y.length) {
    warnings.push(`class ${name}: AUC undefined (${positives} positives, ${y.length - positives} negatives); not compared`);
    return { name, n: y.length, positives, aucA: null, aucB: null, diff: null, z: null, p: null };
  }
  const d = delongPaired(sa, sb, y);
  return { name, n: y.length, positives, aucA: d.aucA, aucB: d.aucB, diff: d.diff, z: num(d.z), p: num(d.p) };
}

export interface RepeatedMetric {
  /** e.g. "mean AUC", "AUC Cardiomegaly", "accuracy", "macro F1" */
  metric: string;
  a: number[];
  b: number[];
  meanA: number;
  sdA: number | null;
  meanB: number;
  sdB: number | null;
  /** paired t-test of run i of A against run i of B; null with fewer than two complete pairs */
  t: number | null;
  df: number | null;
  p: number | null;
}

export interface RepeatedComparison {
  kind: 'repeated';
  task: 'multilabel' | 'multiclass';
  names: [string, string];
  runs: number;
  metrics: RepeatedMetric[];
  warnings: string[];
}

/** The summary numbers of one run that repeated comparisons pair up. */
function runMetrics(r: EvaluationReport): Map<string, number | null> {
  const m = new Map<string, number | null>();
  m.set('mean AUC', r.meanAuc);
  if (r.task === 'multiclass') {
    m.set('accuracy', r.accuracy);
    m.set('macro F1', r.macro.f1);
  } else {
    m.set('macro F1', r.macro.f1);
  }
  for (const c of r.perClass) m.set(`AUC ${c.name}`, c.auc);
  return m;
}

/**
 * Repeated runs of two models (e.g. R seeded training fractions each, scored on the same test set):
 * run i of A pairs with run i of B. For each summary metric (mean AUC, per-class AUC; multiclass
 * also accuracy and macro F1): the mean ± SD over runs of each model and a paired t-test. A metric
 * undefined in some run (a class without positives) is tested over the runs where both are defined.
 */
export function compareRepeated(a: Predictions[], b: Predictions[], names: [string, string] = ['A', 'B'], threshold?: number): RepeatedComparison {
  if (a.length !== b.length) throw new Error(`repeated comparison: ${names[0]} has ${a.length} runs and ${names[1]} ${b.length}; run i of one pairs with run i of the other`);
  if (a.length < 2) throw new Error(`repeated comparison: needs at least two runs per model (got ${a.length}); compare a single pair of files as "compare A B"`);
  const task = a[0].task;
  const warnings: string[] = [];
  [...a, ...b].forEach((p, i) => {
    if (p.task !== task || p.classes.join('\n') !== a[0].classes.join('\n')) throw new Error(`repeated comparison: run ${i % a.length} of ${i < a.length ? names[0] : names[1]} has another task or other classes than run 0 of ${names[0]}`);
  });
  a.forEach((pa, i) => {
    const pathsA = new Set(pa.rows.map((r) => r.path));
    if (pa.rows.length !== b[i].rows.length || b[i].rows.some((r) => !pathsA.has(r.path))) warnings.push(`run ${i}: ${names[0]} and ${names[1]} scored different images`);
  });
  const ma = a.map((p) => runMetrics(evaluatePredictions(p, threshold)));
  const mb = b.map((p) => runMetrics(evaluatePredictions(p, threshold)));
  const metrics: RepeatedMetric[] = [];
  for (const key of ma[0].keys()) {
    const pairs = ma.map((m, i) => [m.get(key), mb[i].get(key)]).filter((x): x is [number, number] => x[0] != null && x[1] != null);
    if (pairs.length < ma.length) warnings.push(`${key}: undefined in ${ma.length - pairs.length} of ${ma.length} runs; those runs are left out of it`);
    if (!pairs.length) continue;
    const va = pairs.map((x) => x[0]);
    const vb = pairs.map((x) => x[1]);
    const sa = meanSd(va);
    const sb = meanSd(vb);
    let test: { t: number | null; df: number | null; p: number | null } = { t: null, df: null, p: null };
    if (pairs.length >= 2) {
      const r = pairedTTest(va, vb);
      test = { t: num(r.t), df: r.df, p: num(r.p) };
    }
    metrics.push({ metric: key, a: va, b: vb, meanA: sa.mean, sdA: num(sa.sd), meanB: sb.mean, sdB: num(sb.sd), ...test });
  }
  return { kind: 'repeated', task, names, runs: a.length, metrics, warnings };
}

const fp = (p: number | null): string => (p === null ? '—' : p < 1e-4 ? p.toExponential(1) : p.toFixed(4));

/** A comparison as Markdown tables. */
export function comparisonMarkdown(c: PairedComparison | RepeatedComparison): string {
  const [na, nb] = c.names;
  const out: string[] = [];
  if (c.kind === 'paired') {
    out.push(`## ${na} vs ${nb}`, '', `${c.task}, ${c.n} images scored by both; paired DeLong test per class${c.task === 'multiclass' ? ' (one-vs-rest)' : ''}.`, '');
    out.push(
      table(
        ['class', 'n', 'pos', `AUC ${na}`, `AUC ${nb}`, 'diff', 'z', 'p'],
        c.perClass.map((r) => [r.name, String(r.n), String(r.positives), f3(r.aucA), f3(r.aucB), f3(r.diff), r.z === null ? '—' : r.z.toFixed(2), fp(r.p)]),
      ),
      '',
      `Mean AUC: ${na} ${f3(c.meanAucA)}, ${nb} ${f3(c.meanAucB)}.`,
      '',
    );
    if (c.stuartMaxwell) {
      const s = c.stuartMaxwell;
      out.push(`Accuracy: ${na} ${f3(c.accuracyA)}, ${nb} ${f3(c.accuracyB)}.`, '');
      out.push(`Stuart–Maxwell test of marginal homogeneity: χ² = ${s.statistic === null ? '—' : s.statistic.toFixed(3)}, df ${s.df}, p = ${fp(s.p)}.`, '');
      out.push(table([`${na} \\ ${nb}`, ...c.classes], s.table.map((row, i) => [c.classes[i], ...row.map(String)])), '');
    }
  } else {
    out.push(`## ${na} vs ${nb}: ${c.runs} paired runs`, '', 'Mean ± SD over runs; paired t-test of run i against run i.', '');
    const pm = (m: number, s: number | null): string => `${m.toFixed(3)} ± ${s === null ? '—' : s.toFixed(3)}`;
    out.push(
      table(
        ['metric', 'runs', na, nb, 't', 'df', 'p'],
        c.metrics.map((m) => [m.metric, String(m.a.length), pm(m.meanA, m.sdA), pm(m.meanB, m.sdB), m.t === null ? '—' : m.t.toFixed(2), m.df === null ? '—' : String(m.df), fp(m.p)]),
      ),
      '',
    );
  }
  if (c.warnings.length) out.push('Warnings:', '', ...c.warnings.map((w) => `- ${w}`), '');
  return out.join('\n');
}
