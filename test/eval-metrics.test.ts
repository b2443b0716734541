// src/eval/metrics.ts against golden values from test/fixtures/eval/gen.py (sklearn roc_auc_score /
// roc_curve / precision_recall_fscore_support / confusion_matrix, statsmodels SquareTable
// homogeneity 'stuart_maxwell' and mcnemar, scipy ttest_rel and distributions, DeLong's fast
// midrank algorithm checked there against the O(m·n) definition).
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  atThreshold,
  classificationReport,
  confusionMatrix,
  delong,
  delongPaired,
  meanSd,
  multilabelClassificationReport,
  pairedTTest,
  rocAuc,
  rocCurve,
  stuartMaxwell,
  type Prf,
} from '../src/eval/metrics.js';
import { chi2Sf, normalTwoSided, studentTTwoSided } from '../src/eval/stats.js';
import { packageRoot } from '../src/native.js';
import { assertClose, cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);

function goldenPath(): string {
  const local = join(process.cwd(), 'test', 'fixtures', 'eval', 'golden.json');
  return existsSync(local) ? local : join(packageRoot(), 'test', 'fixtures', 'eval', 'golden.json');
}
const golden: any = JSON.parse(readFileSync(goldenPath(), 'utf8'));
const TOL = { atol: 1e-12, rtol: 1e-10 };
const close = (a: number, e: number, what: string, tol = TOL): void => assertClose([a], [e], tol, what);
const nan = (v: number, what: string): void => assert.ok(Number.isNaN(v), `${what}: expected NaN, got ${v}`);

test('rocAuc and delong match sklearn and the O(m·n) DeLong definition, ties included', () => {
  let defined = 0;
  for (const c of golden.binary) {
    const auc = rocAuc(c.scores, c.labels);
    const d = delong(c.scores, c.labels);
    if (c.auc === null) {
      nan(auc, `${c.name} auc`);
      nan(d.auc, `${c.name} delong auc`);
      nan(d.variance, `${c.name} variance`);
      continue;
    }
    defined++;
    close(auc, c.auc, `${c.name} auc`);
    close(d.auc, c.auc, `${c.name} delong auc`);
    close(d.variance, c.variance, `${c.name} variance`);
    assertClose(d.ci95, c.ci95, TOL, `${c.name} ci95`);
  }
  assert.is(defined, 6);
});

test('rocCurve matches sklearn roc_curve(drop_intermediate=False), first threshold +Infinity', () => {
  for (const c of golden.binary) {
    const r = rocCurve(c.scores, c.labels);
    if (c.auc === null) {
      assert.equal(r, { fpr: [], tpr: [], thresholds: [] }, c.name);
      continue;
    }
    assertClose(r.fpr, c.fpr, TOL, `${c.name} fpr`);
    assertClose(r.tpr, c.tpr, TOL, `${c.name} tpr`);
    assert.is(r.thresholds[0], Infinity);
    assertClose(r.thresholds.slice(1), c.thresholds.slice(1), TOL, `${c.name} thresholds`);
  }
});

test('atThreshold matches the confusion counts of sklearn at score ≥ threshold', () => {
  for (const c of golden.binary) {
    if (c.auc === null) continue;
    for (const g of c.atThreshold) {
      const r = atThreshold(c.scores, c.labels, g.threshold);
      const what = `${c.name} at ${g.threshold}`;
      assert.equal([r.tp, r.fp, r.tn, r.fn], [g.tp, g.fp, g.tn, g.fn], what);
      for (const k of ['sensitivity', 'specificity', 'ppv', 'npv'] as const) {
        if (g[k] === null) nan(r[k], `${what} ${k}`);
        else close(r[k], g[k], `${what} ${k}`);
      }
    }
  }
});

test('delongPaired matches the fast-midrank covariance test (checked against the definition)', () => {
  for (const c of golden.paired) {
    const r = delongPaired(c.scoresA, c.scoresB, c.labels);
    for (const k of ['aucA', 'aucB', 'diff', 'variance', 'z', 'p'] as const) close(r[k], c[k], `${c.name} ${k}`);
  }
  // a model against itself: no difference, p = 1
  const c = golden.paired[0];
  const same = delongPaired(c.scoresA, c.scoresA, c.labels);
  assert.equal([same.diff, same.z, same.p], [0, 0, 1]);
});

function assertPrf(actual: Prf | Omit<Prf, 'support'>, expected: Prf | Omit<Prf, 'support'>, what: string): void {
  for (const k of ['precision', 'recall', 'f1'] as const) close(actual[k], expected[k], `${what} ${k}`);
  if ('support' in expected) assert.is((actual as Prf).support, expected.support, `${what} support`);
}

test('confusionMatrix and classificationReport match sklearn (empty classes included)', () => {
  for (const c of golden.multiclass) {
    assert.equal(confusionMatrix(c.yTrue, c.yPred, c.nClasses), c.confusion, `${c.name} confusion`);
    const r = classificationReport(c.yTrue, c.yPred, c.nClasses);
    c.perClass.forEach((g: Prf, i: number) => assertPrf(r.perClass[i], g, `${c.name} class ${i}`));
    for (const mode of ['macro', 'micro', 'weighted'] as const) assertPrf(r[mode], c[mode], `${c.name} ${mode}`);
    close(r.accuracy, c.accuracy, `${c.name} accuracy`);
    close(r.micro.f1, r.accuracy, `${c.name}: micro F1 is the accuracy`);
  }
});

test('multilabelClassificationReport matches sklearn on indicator matrices; a mask leaves cells out', () => {
  const c = golden.multilabel;
  const r = multilabelClassificationReport(c.yTrue, c.yPred, c.nClasses);
  c.perClass.forEach((g: Prf, i: number) => assertPrf(r.perClass[i], g, `class ${i}`));
  for (const mode of ['macro', 'micro', 'weighted'] as const) assertPrf(r[mode], c[mode], mode);
  close(r.accuracy, c.accuracy, 'accuracy');
  // masking out class 0 entirely gives class 0 no support and leaves the others as they were
  const mask = Uint8Array.from(c.yTrue, (_: number, i: number) => (i % c.nClasses === 0 ? 0 : 1));
  const m = multilabelClassificationReport(c.yTrue, c.yPred, c.nClasses, mask);
  assert.equal(m.perClass[0], { precision: 0, recall: 0, f1: 0, support: 0 });
  for (let k = 1; k < c.nClasses; k++) assert.equal(m.perClass[k], r.perClass[k]);
});

test('stuartMaxwell matches statsmodels; 2×2 is McNemar without continuity correction; an unused category is dropped', () => {
  for (const c of golden.stuartMaxwell) {
    const r = stuartMaxwell(c.table);
    close(r.statistic, c.statistic, `${c.name} statistic`, { atol: 1e-10, rtol: 1e-9 });
    assert.is(r.df, c.df, `${c.name} df`);
    close(r.p, c.p, `${c.name} p`, { atol: 1e-12, rtol: 1e-9 });
    assert.equal(r.droppedCategories, c.dropped ?? [], `${c.name} dropped`);
    if (c.mcnemar) {
      close(r.statistic, c.mcnemar.statistic, `${c.name} = McNemar statistic`, { atol: 1e-10, rtol: 1e-9 });
      // McNemar without correction in closed form: (b − c)² / (b + c)
      const [[, b], [cc]] = c.table;
      close(r.statistic, (b - cc) ** 2 / (b + cc), `${c.name} closed form`);
    }
  }
  assert.throws(() => stuartMaxwell([[1, 2], [3]]), /square/);
  assert.throws(() => stuartMaxwell([[1, -2], [3, 4]]), /table\[0\]\[1\] is -2/);
});

test('pairedTTest matches scipy ttest_rel; meanSd', () => {
  for (const c of golden.ttest) {
    const r = pairedTTest(c.a, c.b);
    close(r.t, c.t, `${c.name} t`, { atol: 1e-12, rtol: 1e-9 });
    assert.is(r.df, c.df);
    close(r.p, c.p, `${c.name} p`, { atol: 1e-12, rtol: 1e-9 });
  }
  assert.throws(() => pairedTTest([1, 2], [1]), /pair up/);
  assert.throws(() => pairedTTest([1], [1]), /at least two/);
  const s = meanSd([1, 2, 3, 4]);
  close(s.mean, 2.5, 'mean');
  close(s.sd, Math.sqrt(5 / 3), 'sd');
});

test('distribution tails match scipy', () => {
  const d = golden.distributions;
  for (const g of d.chi2Sf) close(chi2Sf(g.x, g.df), g.p, `chi2 sf(${g.x}, ${g.df})`, { atol: 1e-15, rtol: 1e-11 });
  for (const g of d.normalTwoSided) close(normalTwoSided(g.z), g.p, `normal(${g.z})`, { atol: 1e-15, rtol: 1e-11 });
  for (const g of d.studentTTwoSided) close(studentTTwoSided(g.t, g.df), g.p, `t(${g.t}, ${g.df})`, { atol: 1e-15, rtol: 1e-11 });
});

test('bad inputs are refused by name', () => {
  assert.throws(() => rocAuc([0.1, NaN], [0, 1]), /scores\[1\] is NaN/);
  assert.throws(() => rocAuc([0.1, 0.2], [0, 2]), /labels\[1\] is 2/);
  assert.throws(() => rocAuc([0.1], [0, 1]), /1 scores but 2 labels/);
  assert.throws(() => confusionMatrix([0, 3], [0, 1], 3), /yTrue\[1\] is 3/);
  assert.throws(() => delongPaired([0.1, 0.2], [0.1], [0, 1]), /same cases/);
});

test.run();
