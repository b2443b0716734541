// Classification metrics and the paper's tests: ROC AUC with DeLong's variance (the fast midrank
// algorithm of Sun & Xu 2014), the paired DeLong test, confusion matrices, precision / recall / F1,
// sensitivity / specificity at a threshold, the Stuart–Maxwell test of marginal homogeneity and the
// paired t-test. Conventions follow scikit-learn, statsmodels and scipy (test/fixtures/eval/gen.py
// computes the golden values the tests check against).
import { chi2Sf, normalTwoSided, studentTTwoSided, Z975 } from './stats.js';

/** Throws unless every score is a finite number. */
function checkScores(scores: ArrayLike<number>, what = 'scores'): void {
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i])) throw new Error(`${what}[${i}] is ${scores[i]}: scores must be finite numbers`);
  }
}

/** Splits binary data into the positives' and the negatives' scores, in input order. */
function split(scores: ArrayLike<number>, labels: ArrayLike<number>, what = 'scores'): { pos: Float64Array; neg: Float64Array } {
  if (scores.length !== labels.length) throw new Error(`${what}: ${scores.length} scores but ${labels.length} labels`);
  checkScores(scores, what);
  let m = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y === 1) m++;
    else if (y !== 0) throw new Error(`labels[${i}] is ${y}: binary labels must be 0 or 1 (leave masked entries out)`);
  }
  const pos = new Float64Array(m);
  const neg = new Float64Array(labels.length - m);
  let p = 0;
  let q = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 1) pos[p++] = scores[i];
    else neg[q++] = scores[i];
  }
  return { pos, neg };
}

/** The number of elements of the ascending array a that are < x (strict) or ≤ x. */
function lowerBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
function upperBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * DeLong's structural components: for each positive, the fraction of negatives it outscores (ties
 * count one half), V10; for each negative, the fraction of positives that outscore it, V01. Their
 * means are the AUC. Sun & Xu compute them from midranks: V10_i = (Tz_i − Tx_i) / n where Tz is the
 * midrank in the pooled sample and Tx within the positives; the difference is exactly the number of
 * negatives below plus half those tied, which is what the binary searches count here in O(N log N).
 */
function components(pos: Float64Array, neg: Float64Array): { v10: Float64Array; v01: Float64Array } {
  const m = pos.length;
  const n = neg.length;
  const sx = pos.slice().sort();
  const sy = neg.slice().sort();
  const v10 = new Float64Array(m);
  const v01 = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    const lo = lowerBound(sy, pos[i]);
    const hi = upperBound(sy, pos[i]);
    v10[i] = (lo + 0.5 * (hi - lo)) / n;
  }
  for (let j = 0; j < n; j++) {
    const lo = lowerBound(sx, neg[j]);
    const hi = upperBound(sx, neg[j]);
    v01[j] = (m - hi + 0.5 * (hi - lo)) / m;
  }
  return { v10, v01 };
}

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}

/** The sample covariance (denominator k − 1) of two equally long series; NaN for fewer than two. */
function covariance(a: Float64Array, b: Float64Array): number {
  const k = a.length;
  if (k < 2) return NaN;
  const ma = mean(a);
  const mb = mean(b);
  let s = 0;
  for (let i = 0; i < k; i++) s += (a[i] - ma) * (b[i] - mb);
  return s / (k - 1);
}

/**
 * The area under the ROC curve (the Mann–Whitney statistic; tied scores count one half), as
 * sklearn.metrics.roc_auc_score. labels are 0 / 1. NaN when one class is absent (AUC undefined).
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const { pos, neg } = split(scores, labels);
  if (pos.length === 0 || neg.length === 0) return NaN;
  const sy = neg.slice().sort();
  let s = 0;
  for (let i = 0; i < pos.length; i++) {
    const lo = lowerBound(sy, pos[i]);
    s += lo + 0.5 * (upperBound(sy, pos[i]) - lo);
  }
  return s / (pos.length * neg.length);
}

export interface RocCurve {
  /** false-positive rate at each threshold, from 0 up to 1 */
  fpr: number[];
  /** true-positive rate at each threshold */
  tpr: number[];
  /** predicted positive when score ≥ threshold; the first is +Infinity (nothing predicted positive) */
  thresholds: number[];
}

/**
 * The ROC curve: one point per distinct score, from the highest down (sklearn's roc_curve with
 * drop_intermediate=False, whose first threshold is +Infinity from version 1.3). Empty arrays when
 * one class is absent.
 */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number>): RocCurve {
  const { pos, neg } = split(scores, labels);
  const m = pos.length;
  const n = neg.length;
  if (m === 0 || n === 0) return { fpr: [], tpr: [], thresholds: [] };
  const sx = pos.sort().reverse();
  const sy = neg.sort().reverse();
  const fpr = [0];
  const tpr = [0];
  const thresholds = [Infinity];
  let i = 0;
  let j = 0;
  while (i < m || j < n) {
    const t = Math.max(i < m ? sx[i] : -Infinity, j < n ? sy[j] : -Infinity);
    while (i < m && sx[i] === t) i++;
    while (j < n && sy[j] === t) j++;
    fpr.push(j / n);
    tpr.push(i / m);
    thresholds.push(t);
  }
  return { fpr, tpr, thresholds };
}

export interface DelongResult {
  auc: number;
  /** DeLong's estimate of the AUC's variance: var(V10)/m + var(V01)/n */
  variance: number;
  /** auc ± 1.96·√variance, clipped to [0, 1]; NaN when the variance is (one class absent, or a class of one) */
  ci95: [number, number];
}

/**
 * The AUC with DeLong's variance and 95 % confidence interval, by the fast midrank algorithm (Sun &
 * Xu 2014), O(N log N). NaN throughout when one class is absent; the variance needs at least two
 * positives and two negatives.
 */
export function delong(scores: ArrayLike<number>, labels: ArrayLike<number>): DelongResult {
  const { pos, neg } = split(scores, labels);
  const m = pos.length;
  const n = neg.length;
  if (m === 0 || n === 0) return { auc: NaN, variance: NaN, ci95: [NaN, NaN] };
  const { v10, v01 } = components(pos, neg);
  const auc = mean(v10);
  const variance = covariance(v10, v10) / m + covariance(v01, v01) / n;
  const half = Z975 * Math.sqrt(variance);
  return { auc, variance, ci95: [Math.max(0, auc - half), Math.min(1, auc + half)] };
}

export interface DelongPairedResult {
  aucA: number;
  aucB: number;
  /** aucA − aucB */
  diff: number;
  /** diff / √var(diff), var(diff) from the two models' structural-component covariance */
  z: number;
  /** two-sided p-value of z against N(0, 1) */
  p: number;
  /** DeLong's variance of diff */
  variance: number;
}

/**
 * DeLong's test that two models' AUCs on the same cases are equal (DeLong, DeLong & Clarke-Pearson
 * 1988; the paired test of pROC's roc.test). When the two models score every pair of cases alike
 * (diff 0 and variance 0) z is 0 and p is 1.
 */
export function delongPaired(scoresA: ArrayLike<number>, scoresB: ArrayLike<number>, labels: ArrayLike<number>): DelongPairedResult {
  if (scoresA.length !== scoresB.length) throw new Error(`paired DeLong: model A has ${scoresA.length} scores, model B ${scoresB.length}; both must score the same cases`);
  const a = split(scoresA, labels, 'model A scores');
  const b = split(scoresB, labels, 'model B scores');
  const m = a.pos.length;
  const n = a.neg.length;
  if (m === 0 || n === 0) return { aucA: NaN, aucB: NaN, diff: NaN, z: NaN, p: NaN, variance: NaN };
  const ca = components(a.pos, a.neg);
  const cb = components(b.pos, b.neg);
  const aucA = mean(ca.v10);
  const aucB = mean(cb.v10);
  const diff = aucA - aucB;
  const s10 = covariance(ca.v10, ca.v10) + covariance(cb.v10, cb.v10) - 2 * covariance(ca.v10, cb.v10);
  const s01 = covariance(ca.v01, ca.v01) + covariance(cb.v01, cb.v01) - 2 * covariance(ca.v01, cb.v01);
  const variance = Math.max(0, s10 / m + s01 / n);
  if (diff === 0 && variance === 0) return { aucA, aucB, diff, z: 0, p: 1, variance };
  const z = diff / Math.sqrt(variance);
  return { aucA, aucB, diff, z, p: normalTwoSided(z), variance };
}

function checkClasses(y: ArrayLike<number>, nClasses: number, what: string): void {
  for (let i = 0; i < y.length; i++) {
    const c = y[i];
    if (!Number.isInteger(c) || c < 0 || c >= nClasses) throw new Error(`${what}[${i}] is ${c}: class indices must be integers in 0..${nClasses - 1}`);
  }
}

/** The confusion matrix: rows are the true class, columns the predicted one (sklearn's layout). */
export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, nClasses: number): number[][] {
  if (yTrue.length !== yPred.length) throw new Error(`confusion matrix: ${yTrue.length} true labels but ${yPred.length} predictions`);
  if (!Number.isInteger(nClasses) || nClasses < 1) throw new Error(`confusion matrix: nClasses must be a positive integer, not ${nClasses}`);
  checkClasses(yTrue, nClasses, 'yTrue');
  checkClasses(yPred, nClasses, 'yPred');
  const cm = Array.from({ length: nClasses }, () => new Array<number>(nClasses).fill(0));
  for (let i = 0; i < yTrue.length; i++) cm[yTrue[i]][yPred[i]]++;
  return cm;
}

export interface Prf {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface ClassificationReport {
  perClass: Prf[];
  /** unweighted means over the classes (support: the total) */
  macro: Prf;
  /** from the pooled counts; for single-label multiclass all three equal the accuracy */
  micro: Prf;
  /** means weighted by support */
  weighted: Prf;
  accuracy: number;
}

/** Precision, recall and F1 from counts; 0 where a denominator is 0 (sklearn's zero_division default). */
function prf(tp: number, fp: number, fn: number): Omit<Prf, 'support'> {
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1 };
}

function averages(counts: { tp: number; fp: number; fn: number }[], perClass: Prf[]): Pick<ClassificationReport, 'macro' | 'micro' | 'weighted'> {
  const k = perClass.length;
  const total = perClass.reduce((s, c) => s + c.support, 0);
  const avg = (key: 'precision' | 'recall' | 'f1', weighted: boolean): number =>
    weighted ? (total > 0 ? perClass.reduce((s, c) => s + c[key] * c.support, 0) / total : 0) : perClass.reduce((s, c) => s + c[key], 0) / k;
  const sum = (key: 'tp' | 'fp' | 'fn'): number => counts.reduce((s, c) => s + c[key], 0);
  return {
    macro: { precision: avg('precision', false), recall: avg('recall', false), f1: avg('f1', false), support: total },
    micro: { ...prf(sum('tp'), sum('fp'), sum('fn')), support: total },
    weighted: { precision: avg('precision', true), recall: avg('recall', true), f1: avg('f1', true), support: total },
  };
}

/**
 * Per-class precision, recall, F1 and support with their macro, micro and weighted averages and the
 * accuracy, for single-label multiclass predictions (sklearn's precision_recall_fscore_support with
 * labels=range(nClasses), zero_division=0).
 */
export function classificationReport(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, nClasses: number): ClassificationReport {
  const cm = confusionMatrix(yTrue, yPred, nClasses);
  const counts = cm.map((row, c) => {
    const tp = row[c];
    const fn = row.reduce((s, v) => s + v, 0) - tp;
    const fp = cm.reduce((s, r) => s + r[c], 0) - tp;
    return { tp, fp, fn };
  });
  const perClass = counts.map((k) => ({ ...prf(k.tp, k.fp, k.fn), support: k.tp + k.fn }));
  const correct = cm.reduce((s, row, c) => s + row[c], 0);
  return { perClass, ...averages(counts, perClass), accuracy: yTrue.length > 0 ? correct / yTrue.length : NaN };
}

/**
 * The same for multilabel 0/1 indicator matrices (N×C, row-major): each class is its own binary
 * problem; micro pools the cells. mask (N×C, 1 = counted) leaves out ignored labels. accuracy is
 * the fraction of counted cells predicted right (not sklearn's exact-match subset accuracy).
 */
export function multilabelClassificationReport(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, nClasses: number, mask?: ArrayLike<number>): ClassificationReport {
  if (yTrue.length !== yPred.length || yTrue.length % nClasses !== 0) {
    throw new Error(`multilabel report: ${yTrue.length} labels and ${yPred.length} predictions must both be N×${nClasses}`);
  }
  if (mask && mask.length !== yTrue.length) throw new Error(`multilabel report: the mask has ${mask.length} entries, the labels ${yTrue.length}`);
  const counts = Array.from({ length: nClasses }, () => ({ tp: 0, fp: 0, fn: 0, tn: 0 }));
  for (let i = 0; i < yTrue.length; i++) {
    if (mask && !mask[i]) continue;
    const t = yTrue[i];
    const p = yPred[i];
    if ((t !== 0 && t !== 1) || (p !== 0 && p !== 1)) throw new Error(`multilabel report: entry ${i} is label ${t}, prediction ${p}; both must be 0 or 1`);
    const k = counts[i % nClasses];
    if (t && p) k.tp++;
    else if (p) k.fp++;
    else if (t) k.fn++;
    else k.tn++;
  }
  const perClass = counts.map((k) => ({ ...prf(k.tp, k.fp, k.fn), support: k.tp + k.fn }));
  const cells = counts.reduce((s, k) => s + k.tp + k.fp + k.fn + k.tn, 0);
  const right = counts.reduce((s, k) => s + k.tp + k.tn, 0);
  return { perClass, ...averages(counts, perClass), accuracy: cells > 0 ? right / cells : NaN };
}

export interface ThresholdMetrics {
  /** tp / (tp + fn), the recall; NaN without positives */
  sensitivity: number;
  /** tn / (tn + fp); NaN without negatives */
  specificity: number;
  /** tp / (tp + fp), the precision; NaN when nothing is predicted positive */
  ppv: number;
  /** tn / (tn + fn); NaN when nothing is predicted negative */
  npv: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/** Binary metrics when a case is called positive at score ≥ threshold. */
export function atThreshold(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): ThresholdMetrics {
  const { pos, neg } = split(scores, labels);
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < pos.length; i++) if (pos[i] >= threshold) tp++;
  for (let i = 0; i < neg.length; i++) if (neg[i] >= threshold) fp++;
  const fn = pos.length - tp;
  const tn = neg.length - fp;
  const ratio = (a: number, b: number): number => (b > 0 ? a / b : NaN);
  return { sensitivity: ratio(tp, tp + fn), specificity: ratio(tn, tn + fp), ppv: ratio(tp, tp + fp), npv: ratio(tn, tn + fn), tp, fp, tn, fn };
}

/** Solves A x = b by Gaussian elimination with partial pivoting; null when A is singular. */
function solve(a: number[][], b: number[]): number[] | null {
  const k = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  const scale = Math.max(...a.flat().map(Math.abs), 0);
  for (let col = 0; col < k; col++) {
    let piv = col;
    for (let r = col + 1; r < k; r++) if (Math.abs(m[r][col]) > Math.abs(m[piv][col])) piv = r;
    if (Math.abs(m[piv][col]) <= 1e-12 * scale) return null;
    [m[col], m[piv]] = [m[piv], m[col]];
    for (let r = col + 1; r < k; r++) {
      const f = m[r][col] / m[col][col];
      for (let c = col; c <= k; c++) m[r][c] -= f * m[col][c];
    }
  }
  const x = new Array<number>(k).fill(0);
  for (let r = k - 1; r >= 0; r--) {
    let s = m[r][k];
    for (let c = r + 1; c < k; c++) s -= m[r][c] * x[c];
    x[r] = s / m[r][r];
  }
  return x;
}

export interface StuartMaxwellResult {
  statistic: number;
  df: number;
  p: number;
  /** categories dropped because neither model used them (their row and column are all zero) */
  droppedCategories: number[];
}

/**
 * The Stuart–Maxwell test of marginal homogeneity of a square table (rows: model A's class, columns:
 * model B's, on the same cases), as statsmodels' SquareTable(table).homogeneity('stuart_maxwell');
 * for 2×2 it is McNemar's test without continuity correction. Categories no case falls in (row and
 * column all zero) are dropped first — they carry no information and would make the covariance
 * singular. A table whose covariance is still singular gives NaN statistic and p.
 */
export function stuartMaxwell(table: number[][]): StuartMaxwellResult {
  const k0 = table.length;
  table.forEach((row, i) => {
    if (row.length !== k0) throw new Error(`Stuart–Maxwell: the table must be square; row ${i} has ${row.length} entries, there are ${k0} rows`);
    row.forEach((v, j) => {
      if (!(Number.isFinite(v) && v >= 0)) throw new Error(`Stuart–Maxwell: table[${i}][${j}] is ${v}; counts must be non-negative numbers`);
    });
  });
  const keep: number[] = [];
  const droppedCategories: number[] = [];
  for (let i = 0; i < k0; i++) {
    const used = table[i].some((v) => v > 0) || table.some((row) => row[i] > 0);
    (used ? keep : droppedCategories).push(i);
  }
  const k = keep.length;
  if (k <= 1) return { statistic: 0, df: 0, p: 1, droppedCategories };
  const t = keep.map((i) => keep.map((j) => table[i][j]));
  const nObs = t.flat().reduce((s, v) => s + v, 0);
  const pr = t.map((row) => row.map((v) => v / nObs));
  const rowM = pr.map((row) => row.reduce((s, v) => s + v, 0)).slice(0, k - 1);
  const colM = pr[0].map((_, j) => pr.reduce((s, row) => s + row[j], 0)).slice(0, k - 1);
  const d = colM.map((c, i) => c - rowM[i]);
  const v = d.map((_, i) => d.map((__, j) => (i === j ? rowM[i] + colM[i] - 2 * pr[i][i] : -(pr[i][j] + pr[j][i]))));
  const df = k - 1;
  const x = solve(v, d);
  if (!x) return { statistic: NaN, df, p: NaN, droppedCategories };
  const statistic = nObs * d.reduce((s, di, i) => s + di * x[i], 0);
  return { statistic, df, p: chi2Sf(statistic, df), droppedCategories };
}

export interface TTestResult {
  t: number;
  df: number;
  p: number;
  /** mean of a − b */
  meanDiff: number;
}

/** The paired two-sided t-test of a − b (scipy.stats.ttest_rel). */
export function pairedTTest(a: number[], b: number[]): TTestResult {
  if (a.length !== b.length) throw new Error(`paired t-test: ${a.length} values against ${b.length}; the runs must pair up`);
  const n = a.length;
  if (n < 2) throw new Error(`paired t-test: needs at least two pairs, got ${n}`);
  const d = a.map((v, i) => v - b[i]);
  checkScores(d, 'paired differences');
  const md = mean(d);
  const sd = Math.sqrt(d.reduce((s, v) => s + (v - md) ** 2, 0) / (n - 1));
  const t = md / (sd / Math.sqrt(n));
  const df = n - 1;
  return { t, df, p: Number.isNaN(t) ? NaN : studentTTwoSided(t, df), meanDiff: md };
}

/** Mean and sample standard deviation (denominator n − 1; NaN for one value). */
export function meanSd(values: number[]): { mean: number; sd: number; n: number } {
  const n = values.length;
  const m = mean(values);
  const sd = n > 1 ? Math.sqrt(values.reduce((s, v) => s + (v - m) ** 2, 0) / (n - 1)) : NaN;
  return { mean: m, sd, n };
}
