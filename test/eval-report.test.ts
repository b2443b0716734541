// src/eval/report.ts and src/eval/predictions.ts: whole reports and comparisons against golden values
// from test/fixtures/eval/gen.py (sklearn per class on the unmasked rows, DeLong fast midrank checked
// there against the definition, statsmodels Stuart–Maxwell, scipy ttest_rel); the predictions file
// round trip and its errors.
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePredictions, readPredictions, writePredictions, type Predictions } from '../src/eval/predictions.js';
import { compareRepeated, comparePredictions, comparisonMarkdown, evaluateMulticlass, evaluateMultilabel, evaluatePredictions, reportMarkdown } from '../src/eval/report.js';
import { packageRoot } from '../src/native.js';
import { assertClose, cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);

function goldenPath(): string {
  const local = join(process.cwd(), 'test', 'fixtures', 'eval', 'golden.json');
  return existsSync(local) ? local : join(packageRoot(), 'test', 'fixtures', 'eval', 'golden.json');
}
const golden: any = JSON.parse(readFileSync(goldenPath(), 'utf8'));
const TOL = { atol: 1e-12, rtol: 1e-10 };
const close = (a: number | null, e: number, what: string): void => assertClose([a ?? NaN], [e], TOL, what);
const tmp = mkdtempSync(join(tmpdir(), 'ifa-eval-report-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** Golden multilabel arrays as a predictions file's rows (masked labels null). */
function multilabelPredictions(scores: number[], labels: number[], mask: number[] | null, classes: string[]): Predictions {
  const c = classes.length;
  const rows = Array.from({ length: scores.length / c }, (_, i) => ({
    path: `img${i}.png`,
    scores: scores.slice(i * c, (i + 1) * c),
    labels: labels.slice(i * c, (i + 1) * c).map((y, k) => (mask && !mask[i * c + k] ? null : y)),
  }));
  return { task: 'multilabel', classes, rows };
}

test('evaluateMultilabel: per-class AUC + DeLong CI, P/R/F1 and counts at 0.5 on the unmasked rows; a class without positives is named, not averaged', () => {
  const g = golden.reportMultilabel;
  const r = evaluateMultilabel({ scores: Float64Array.from(g.scoresA), labels: Float64Array.from(g.labels), mask: Uint8Array.from(g.mask), classes: g.classes });
  assert.is(r.n, g.n);
  g.perClass.forEach((e: any, k: number) => {
    const c = r.perClass[k];
    const what = `class ${c.name}`;
    assert.equal([c.n, c.positives, c.tp, c.fp, c.tn, c.fn, c.support], [e.n, e.positives, e.tp, e.fp, e.tn, e.fn, e.support], what);
    for (const key of ['precision', 'recall', 'f1'] as const) close(c[key], e[key], `${what} ${key}`);
    close(c.sensitivity, e.tp / (e.tp + e.fn), `${what} sensitivity`);
    close(c.npv, e.tn / (e.tn + e.fn), `${what} npv`);
    if (e.auc === null) {
      assert.is(c.auc, null, `${what} auc`);
      assert.is(c.aucCi95, null);
    } else {
      close(c.auc, e.auc, `${what} auc`);
      assertClose(c.aucCi95!, e.ci95, TOL, `${what} ci`);
    }
  });
  close(r.meanAuc, g.meanAuc, 'mean AUC');
  assert.equal(r.undefinedAuc, ['c3']);
  assert.equal(r.meanAucOver, ['c0', 'c1', 'c2', 'c4']);
  assert.ok(r.warnings.some((w) => /class c3: AUC undefined \(0 positives/.test(w)), r.warnings.join('\n'));
  // the JSON survives a round trip (null, not NaN) and the Markdown names the undefined class
  assert.equal(JSON.parse(JSON.stringify(r)), r);
  const md = reportMarkdown(r);
  assert.match(md, /\| c3 \| \d+ \| 0 \| — \| — \|/);
  assert.match(md, /undefined: c3/);
});

test('evaluateMulticlass: argmax confusion matrix, P/R/F1, one-vs-rest AUCs match sklearn', () => {
  const g = golden.reportMulticlass;
  const r = evaluateMulticlass({ scores: Float64Array.from(g.scoresA), labels: Int32Array.from(g.labels), classes: g.classes });
  assert.equal(r.confusion, g.confusion);
  close(r.accuracy, g.accuracyA, 'accuracy');
  close(r.macro.f1, g.macroF1, 'macro F1');
  g.perClass.forEach((e: any, k: number) => {
    const c = r.perClass[k];
    for (const key of ['precision', 'recall', 'f1', 'auc'] as const) close(c[key], e[key], `${c.name} ${key}`);
    assert.is(c.support, e.support);
    assertClose(c.aucCi95!, e.ci95, TOL, `${c.name} ci`);
  });
  assert.match(reportMarkdown(r), /Confusion matrix/);
});

test('comparePredictions: paired DeLong per class (multilabel, masked rows out) and Stuart–Maxwell (multiclass), rows paired by path', () => {
  const g = golden.reportMultilabel;
  const a = multilabelPredictions(g.scoresA, g.labels, g.mask, g.classes);
  const b = multilabelPredictions(g.scoresB, g.labels, g.mask, g.classes);
  b.rows.reverse(); // pairing is by path, not order
  const c = comparePredictions(a, b, ['moco', 'scratch']);
  g.perClass.forEach((e: any, k: number) => {
    const r = c.perClass[k];
    if (e.paired === null) {
      assert.is(r.p, null, `${r.name} p`);
      return;
    }
    for (const key of ['aucA', 'aucB', 'diff', 'z', 'p'] as const) close(r[key], e.paired[key], `${r.name} ${key}`);
  });
  assert.match(comparisonMarkdown(c), /\| c0 \| .* \|/);

  const m = golden.reportMulticlass;
  const k = m.classes.length;
  const rows = (scores: number[]): Predictions['rows'] => m.labels.map((y: number, i: number) => ({ path: `p${i}`, scores: scores.slice(i * k, (i + 1) * k), labels: [y] }));
  const mc = comparePredictions({ task: 'multiclass', classes: m.classes, rows: rows(m.scoresA) }, { task: 'multiclass', classes: m.classes, rows: rows(m.scoresB) });
  assert.equal(mc.stuartMaxwell!.table, m.stuartMaxwell.table);
  close(mc.stuartMaxwell!.statistic, m.stuartMaxwell.statistic, 'Stuart–Maxwell statistic');
  close(mc.stuartMaxwell!.p, m.stuartMaxwell.p, 'Stuart–Maxwell p');
  close(mc.accuracyA, m.accuracyA, 'accuracy A');
  close(mc.accuracyB, m.accuracyB, 'accuracy B');
  m.perClass.forEach((e: any, i: number) => close(mc.perClass[i].p, e.paired.p, `${m.classes[i]} paired p`));
  assert.match(comparisonMarkdown(mc), /Stuart–Maxwell/);
});

test('comparePredictions refuses files that do not score the same images or labels', () => {
  const g = golden.reportMultilabel;
  const a = multilabelPredictions(g.scoresA, g.labels, g.mask, g.classes);
  const b = multilabelPredictions(g.scoresB, g.labels, g.mask, g.classes);
  assert.throws(() => comparePredictions(a, { ...b, rows: b.rows.slice(1) }), /same images/);
  const renamed = { ...b, rows: b.rows.map((r, i) => (i === 3 ? { ...r, path: 'other.png' } : r)) };
  assert.throws(() => comparePredictions(a, renamed), /e\.g\. img3\.png/);
  const relabelled = { ...b, rows: b.rows.map((r, i) => (i === 0 ? { ...r, labels: r.labels.map((y) => (y === null ? null : 1 - y)) } : r)) };
  assert.throws(() => comparePredictions(a, relabelled), /image img0\.png has labels/);
  assert.throws(() => comparePredictions(a, { ...b, classes: ['a', 'b', 'c', 'd', 'e'] }), /classes differ/);
});

test('compareRepeated: mean ± SD over runs and the paired t-test of the mean AUCs match numpy/scipy', () => {
  const g = golden.repeated;
  const run = (s: number[]): Predictions => multilabelPredictions(s, g.labels, null, g.classes);
  const r = compareRepeated(g.runs.map((x: any) => run(x.scoresA)), g.runs.map((x: any) => run(x.scoresB)), ['ifa', 'moco']);
  const m = r.metrics.find((x) => x.metric === 'mean AUC')!;
  assertClose(m.a, g.runs.map((x: any) => x.meanAucA), TOL, 'run AUCs A');
  close(m.meanA, g.meanA, 'mean A');
  close(m.sdA, g.sdA, 'sd A');
  close(m.meanB, g.meanB, 'mean B');
  close(m.sdB, g.sdB, 'sd B');
  close(m.t, g.t, 't');
  close(m.p, g.p, 'p');
  assert.is(m.df, g.runs.length - 1);
  assert.match(comparisonMarkdown(r), /\| mean AUC \| 4 \| \d\.\d{3} ± \d\.\d{3} \|/);
  assert.throws(() => compareRepeated([run(g.runs[0].scoresA)], [run(g.runs[0].scoresB)]), /at least two runs/);
  assert.throws(() => compareRepeated([run(g.runs[0].scoresA), run(g.runs[1].scoresA)], [run(g.runs[0].scoresB)]), /2 runs/);
});

test('predictions files: write → read round trip; evaluatePredictions equals evaluateMultilabel on the same arrays', () => {
  const g = golden.reportMultilabel;
  const p = multilabelPredictions(g.scoresA, g.labels, g.mask, g.classes);
  const file = join(tmp, 'preds.jsonl');
  writePredictions(file, p);
  const back = readPredictions(file);
  assert.equal(back, p);
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  assert.equal(JSON.parse(lines[0]), { format: 'ifa-ssl-predictions', version: 1, task: 'multilabel', classes: g.classes });
  assert.is(lines.length, g.n + 1);
  const r = evaluatePredictions(back);
  const direct = evaluateMultilabel({ scores: Float32Array.from(g.scoresA), labels: Float32Array.from(g.labels), mask: Uint8Array.from(g.mask), classes: g.classes });
  assert.equal(r, direct);
});

test('predictions files: malformed input fails naming the file and line', () => {
  const head = '{"format":"ifa-ssl-predictions","version":1,"task":"multilabel","classes":["a","b"]}';
  const bad = (text: string, re: RegExp): void => {
    const f = join(tmp, 'bad.jsonl');
    writeFileSync(f, text);
    assert.throws(() => readPredictions(f), (e: Error) => re.test(e.message) && e.message.includes(f), `${re}`);
  };
  bad('', /empty/);
  bad('{"format":"other"}\n', /bad\.jsonl:1: not an ifa-ssl predictions file/);
  bad(head.replace('"version":1', '"version":2') + '\n', /:1: predictions format version 2/);
  bad(`${head}\n{"path":"x","scores":[0.1],"labels":[0,1]}\n`, /:2: "scores" must be an array of 2 numbers/);
  bad(`${head}\n\n{"path":"x","scores":[0.1,"a"],"labels":[0,1]}\n`, /:3: scores\[1\] is "a"/);
  bad(`${head}\n{"path":"x","scores":[0.1,0.2],"labels":[0,2]}\n`, /:2: labels\[1\] is 2/);
  bad(`${head}\n{"path":"x","scores":[0.1,0.2],"labels":[0,1]}\n{"path":"x","scores":[0.1,0.2],"labels":[0,1]}\n`, /:3: image x is listed twice \(first on line 2\)/);
  bad(`${head}\n{"path":"x",\n`, /:2: not valid JSON/);
  assert.throws(() => readPredictions(join(tmp, 'missing.jsonl')), /cannot read predictions file .*missing\.jsonl/);
  const mc = '{"format":"ifa-ssl-predictions","version":1,"task":"multiclass","classes":["a","b"]}';
  assert.throws(() => parsePredictions(`${mc}\n{"path":"x","scores":[0.1,0.9],"labels":[2]}`, 'f.jsonl'), /f\.jsonl:2: multiclass "labels" must be \[classIndex\]/);
});

test.run();
