// Downstream training: the host losses against PyTorch (test/fixtures/finetune/gen.py) and finite
// differences, ReduceLROnPlateau against PyTorch's, the kNN monitor against a hand count, and end to
// end on synthetic data through the CLI: pretrain a few steps → linear probe → evaluate, where the
// planted findings must give AUCs far above what chance can produce.
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labelsFromCsvText, randomSplit, writeSyntheticLabelled } from '../src/data/labelled.js';
import { Finetuner, loadClassifier, predict, type FinetuneOptions } from '../src/train/finetune.js';
import { knnTwoFold } from '../src/eval/knn.js';
import { readPredictions } from '../src/eval/predictions.js';
import { rocAuc } from '../src/eval/metrics.js';
import { packageRoot } from '../src/native.js';
import { bceWithLogits, crossEntropy, ReduceLROnPlateau } from '../src/train/classification-loss.js';
import { assertClose, cliTests } from './helpers.js';

const test = cliTests(import.meta.url);
const bin = join(packageRoot(), 'bin', 'ifa-ssl.js');

function golden(): any {
  for (const start of [dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    let dir = start;
    for (let i = 0; i < 6; i++) {
      const f = join(dir, 'test', 'fixtures', 'finetune', 'golden.json');
      if (existsSync(f)) return JSON.parse(readFileSync(f, 'utf8'));
      dir = dirname(dir);
    }
  }
  throw new Error('cannot find test/fixtures/finetune/golden.json (run the tests from the repository root)');
}
const G = golden();

/** Central differences of f at x, entry by entry. */
function numericGrad(f: (x: Float64Array) => number, x: Float64Array, h = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const a = Float64Array.from(x), b = Float64Array.from(x);
    a[i] += h;
    b[i] -= h;
    g[i] = (f(a) - f(b)) / (2 * h);
  }
  return g;
}

test('BCE-with-logits (pos_weight) equals PyTorch; gradient equals PyTorch and finite differences; a mask leaves entries out', () => {
  const { logits, targets, posWeight, loss, grad } = G.bce;
  const r = bceWithLogits(logits, targets, 3, null, posWeight);
  assertClose([r.loss], [loss], { atol: 1e-12, rtol: 1e-9 }, 'loss');
  assertClose(r.grad, grad, { atol: 1e-7, rtol: 1e-5 }, 'grad');
  const mask = [1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1];
  const f = (x: Float64Array): number => bceWithLogits(x, targets, 3, mask, posWeight).loss;
  const m = bceWithLogits(logits, targets, 3, mask, posWeight);
  assertClose(m.grad, numericGrad(f, Float64Array.from(logits)), { atol: 1e-6, rtol: 1e-4 }, 'masked grad vs finite differences');
  // Masked = the mean over the counted entries only: the same as BCE on those entries alone.
  const kept = mask.flatMap((k, i) => (k ? [i] : []));
  const alone = kept.reduce((s, i) => s + bceWithLogits([logits[i]], [targets[i]], 1, null, [posWeight[i % 3]]).loss, 0) / kept.length;
  assertClose([m.loss], [alone], { atol: 1e-12, rtol: 1e-9 }, 'masked loss');
  assert.equal(Array.from(mask.map((k, i) => (k ? 1 : m.grad[i] === 0 ? 1 : 0))), mask.map(() => 1), 'masked entries get no gradient');
  // Large logits stay finite (softplus, not log(sigmoid)).
  const big = bceWithLogits([80, -80], [0, 1], 1);
  assertClose([big.loss], [80], { atol: 1e-9, rtol: 1e-12 }, 'loss at ±80');
});

test('cross-entropy (class weights) equals PyTorch; gradient equals PyTorch and finite differences', () => {
  const { logits, labels, weight, loss, grad } = G.ce;
  const r = crossEntropy(logits, labels, 4, weight);
  assertClose([r.loss], [loss], { atol: 1e-12, rtol: 1e-9 }, 'loss');
  assertClose(r.grad, grad, { atol: 1e-7, rtol: 1e-5 }, 'grad');
  const f = (x: Float64Array): number => crossEntropy(x, labels, 4, weight).loss;
  assertClose(r.grad, numericGrad(f, Float64Array.from(logits)), { atol: 1e-6, rtol: 1e-4 }, 'grad vs finite differences');
  assert.throws(() => crossEntropy([0, 0], [2], 2), /label 2 of row 0 is not a class index in \[0, 2\)/);
});

test('ReduceLROnPlateau gives PyTorch’s learning rates', () => {
  const { factor, patience, lr, metrics, lrs } = G.plateau;
  const s = new ReduceLROnPlateau(lr, factor, patience);
  assertClose(metrics.map((m: number) => s.step(m)), lrs, { atol: 0, rtol: 1e-12 }, 'lr after each epoch');
  // Its state round-trips (resume).
  const t = ReduceLROnPlateau.fromState(JSON.parse(JSON.stringify(s.state())), factor, patience);
  assert.is(t.step(0.72), s.step(0.72));
});

test('kNN monitor: weighted votes of the other fold, by hand', () => {
  // 4 images on the unit circle; folds: rows 0, 2 and rows 1, 3.
  const ang = [0, 0.1, Math.PI, Math.PI + 0.3];
  const feats = Float32Array.from(ang.flatMap((a) => [Math.cos(a), Math.sin(a)]));
  const mc = labelsFromCsvText('Path,Label\na,x\nb,x\nc,y\nd,y\n', 'k.csv');
  assert.equal(knnTwoFold(feats, 2, [0, 1, 2, 3], mc, { k: 1 }), { k: 1, n: 4, accuracy: 1 });
  // Multilabel with k 2, T 0.5: image 0's bank is {1, 3}; its score for class A is
  // (w01·y1 + w03·y3)/(w01 + w03) with w = exp(cos/T).
  const ml = labelsFromCsvText('Path,A\na,1\nb,0\nc,1\nd,0\n', 'k.csv');
  const r = knnTwoFold(feats, 2, [0, 1, 2, 3], ml, { k: 2, temperature: 0.5 });
  const w = (i: number, j: number): number => Math.exp(Math.cos(ang[i] - ang[j]) / 0.5);
  const score = (i: number, bank: number[]): number => bank.reduce((s, j) => s + w(i, j) * ml.targets[j], 0) / bank.reduce((s, j) => s + w(i, j), 0);
  const expected = rocAuc([score(0, [1, 3]), score(1, [0, 2]), score(2, [1, 3]), score(3, [0, 2])], [1, 0, 1, 0]);
  assert.is(r.k, 2);
  assertClose([r.auc!.A!], [expected], { atol: 1e-12, rtol: 0 }, 'AUC');
});

test('whole-network fine-tuning (Scratch, multiclass, class folders) via the library: 2 epochs straight = 1 epoch, resume, 1 epoch; predict reloads the best', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ifa-ft-'));
  const set = await writeSyntheticLabelled(join(dir, 'data'), { length: 24, seed: 3, size: 32, task: 'multiclass' });
  assert.equal(set.classes, ['Cardiomegaly', 'No_Finding', 'Nodule', 'Pleural_Effusion']);
  const { train, val } = randomSplit(set, [0.75, 0.25], 0);
  const base: FinetuneOptions = { task: 'multiclass', train, val, imageSize: 32, batch: 4, epochs: 2, lr: 0.01, layers: [1, 1, 1, 1], width: 8, workers: 1, out: '', overwrite: true };
  const quiet = { onLog: () => {}, onWarning: () => {} };
  const straight = await new Finetuner({ ...base, out: join(dir, 'a') }).run(quiet);
  assert.is(straight.epochs, 2);
  const first = new Finetuner({ ...base, epochs: 1, out: join(dir, 'b') });
  const r1 = await first.run(quiet);
  assert.is(r1.epochs, 1);
  const resumed = await new Finetuner({ ...base, out: join(dir, 'c'), resume: r1.last }).run(quiet);
  assert.equal(resumed.history.map((m) => [m.epoch, m.train_loss, m.val_loss]), straight.history.slice(1).map((m) => [m.epoch, m.train_loss, m.val_loss]), 'epoch 2 after resume');
  // The best checkpoint predicts: softmax rows sum to 1, one row per validation image.
  const { model, info } = await loadClassifier(straight.best);
  try {
    assert.equal(info, { task: 'multiclass', classes: [...set.classes], imageSize: 32, linear: false });
    const p = await predict(model, info, val, { workers: 1 });
    assert.is(p.indices.length, val.length);
    for (let i = 0; i < val.length; i++) assertClose([p.scores.slice(i * 4, i * 4 + 4).reduce((a, b) => a + b, 0)], [1], { atol: 1e-5, rtol: 0 }, `row ${i}`);
    // The same logits as the validation pass at the best epoch give its loss.
    const bestEpoch = straight.history.find((m) => m.epoch === straight.bestEpoch)!;
    let nll = 0;
    p.indices.forEach((idx, j) => (nll -= Math.log(p.scores[j * 4 + val.targets[idx]])));
    assertClose([nll / val.length], [bestEpoch.val_loss], { atol: 1e-5, rtol: 1e-5 }, 'validation loss from predict()');
  } finally {
    model.dispose();
  }
});

const run = (args: string[]): string => execFileSync(process.execPath, [bin, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test('finetune / evaluate refuse bad input with exit 2 and a message naming the thing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ifa-ftbad-'));
  writeFileSync(join(dir, 'bad.csv'), 'Path,Edema\na.png,1\nb.png,maybe\n');
  const cases: [string[], RegExp][] = [
    [['finetune', '--data', join(dir, 'bad.csv'), '--out', join(dir, 'o')], /bad\.csv: row 3, column 'Edema': 'maybe' is not a label/],
    [['finetune', '--out', join(dir, 'o')], /--data \(or --train\/--val\) is required/],
    [['finetune', '--data', 'synthetic', '--balance', 'smote', '--out', join(dir, 'o')], /--balance must be one of none, weighted-loss, sampler, undersample, got 'smote'/],
    [['finetune', '--data', 'synthetic', '--epochs', 'ten', '--out', join(dir, 'o')], /--epochs must be an integer, got 'ten'/],
    [['evaluate', '--init', join(dir, 'none.safetensors'), '--data', join(dir, 'bad.csv')], /--init .*none\.safetensors: no such file/],
  ];
  for (const [args, re] of cases) {
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
    assert.is(r.status, 2, `${args.join(' ')}: exit ${r.status}; ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});

test('end to end on synthetic data: pretrain → linear probe → evaluate; planted findings give AUCs chance cannot', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ifa-e2e-'));
  writeFileSync(join(dir, 'tiny.json'), JSON.stringify({ layers: [1, 1, 1, 1], width: 8, hidden: 32, dim: 16 }));
  run(['pretrain', '--config', join(dir, 'tiny.json'), '--data', 'synthetic', '--synthetic-images', '16', '--image-size', '64', '--batch', '4', '--steps', '2', '--queue-size', '16', '--workers', '1', '--out', join(dir, 'pre')]);
  const ft = run(['finetune', '--init', join(dir, 'pre', 'last.safetensors'), '--linear', '--data', 'synthetic', '--synthetic-images', '400', '--image-size', '64', '--batch', '8', '--epochs', '30', '--lr', '2', '--schedule', 'cosine', '--split', '0.5,0.25,0.25', '--workers', '1', '--out', join(dir, 'ft')]);
  assert.match(ft, /linear probe: cached 2\d\d \+ \d+ feature rows of 256/);
  const metrics = readFileSync(join(dir, 'ft', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.is(metrics.length, 30);
  const best = metrics.reduce((a, b) => (b.val_loss < a.val_loss ? b : a));
  assert.match(ft, new RegExp(`best: .*best\\.safetensors \\(epoch ${best.epoch}\\)`), 'best = lowest validation loss');
  run(['evaluate', '--init', join(dir, 'ft', 'best.safetensors'), '--data', join(dir, 'ft', 'test.csv'), '--workers', '1', '--out', join(dir, 'eval')]);
  const report = JSON.parse(readFileSync(join(dir, 'eval', 'report.json'), 'utf8'));
  const preds = readPredictions(join(dir, 'eval', 'predictions.jsonl'));
  assert.is(preds.rows.length, report.n);
  assert.ok(report.n >= 90, `test split of ${report.n} images`);
  // Under the null that the scores carry no information about a label, the AUC is the Mann–Whitney
  // statistic of an exchangeable ranking: mean 1/2, variance (n₁ + n₀ + 1)/(12·n₁·n₀). z > 4 has a
  // one-sided probability below 3.2e-5 (normal approximation), per class. Effusion (fluid at a lung
  // base) and cardiomegaly (a 1.4× heart) are large, so a random-ish encoder's features carry them.
  for (const name of ['Pleural Effusion', 'Cardiomegaly']) {
    const c = report.perClass.find((x: { name: string }) => x.name === name);
    const sd = Math.sqrt((c.positives + c.negatives + 1) / (12 * c.positives * c.negatives));
    const z = (c.auc - 0.5) / sd;
    assert.ok(z > 4, `${name}: AUC ${c.auc} with ${c.positives} positives / ${c.negatives} negatives is z = ${z.toFixed(2)}, not > 4`);
    // The report's AUC is the predictions file's.
    const k = preds.classes.indexOf(name);
    assertClose([rocAuc(preds.rows.map((r) => r.scores[k]), preds.rows.map((r) => r.labels[k] as number))], [c.auc], { atol: 1e-12, rtol: 0 }, `${name} AUC from predictions.jsonl`);
  }
  assert.ok(report.meanAuc > 0.7, `mean AUC ${report.meanAuc}`);
  // Unreadable images are skipped, named and counted; the rest are scored.
  const csv = readFileSync(join(dir, 'ft', 'test.csv'), 'utf8');
  writeFileSync(join(dir, 'ft', 'broken.png'), 'not a png');
  writeFileSync(join(dir, 'ft', 'test-bad.csv'), csv + 'missing.png,1,0,0\nbroken.png,0,1,0\n');
  const bad = spawnSync(process.execPath, [bin, 'evaluate', '--init', join(dir, 'ft', 'best.safetensors'), '--data', join(dir, 'ft', 'test-bad.csv'), '--workers', '1', '--out', join(dir, 'eval-bad')], { encoding: 'utf8' });
  assert.is(bad.status, 0, bad.stderr);
  assert.match(bad.stderr, /skipping .*missing\.png/);
  assert.match(bad.stderr, /skipping .*broken\.png/);
  assert.match(bad.stderr, new RegExp(`skipped 2 unreadable images \\(named above\\); scored ${report.n}`));
  const badReport = JSON.parse(readFileSync(join(dir, 'eval-bad', 'report.json'), 'utf8'));
  assert.is(badReport.n, report.n);
  assert.is(badReport.skipped.length, 2);
  assert.is(badReport.meanAuc, report.meanAuc);
  for (const f of [join(dir, 'eval', 'roc.svg'), join(dir, 'eval', 'roc.png'), join(dir, 'ft', 'loss.png')]) assert.ok(existsSync(f), `${f} was not drawn`);
});

test.run();
