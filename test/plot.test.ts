// src/report/plot.ts: ROC and training-curve pictures (vega-lite → SVG, sharp → PNG) with the
// plotted geometry checked against the data, and the trainer drawing loss.svg/.png at every
// checkpoint, a plot failure only warning.
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, Trainer, type ConfigInput } from '../src/index.js';
import { defaultLossFields, lossCurvesSvg, rocSvg, writePlot } from '../src/report/plot.js';
import { cpuTests } from './helpers.js';
import { checkPlotFiles, lineSeries } from './plot-check.js';

const test = cpuTests(import.meta.url);
const root = mkdtempSync(join(tmpdir(), 'ifa-plot-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

/** The vertices of an SVG path "Mx,yLx,y…" as [x, y] pairs. */
async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected a rejection matching ${re}`);
}

const vertices = (d: string): number[][] => d.split(/[ML]/).filter(Boolean).map((p) => p.split(',').map(Number));

test('rocSvg: one line per curve at the data coordinates (320-px square plot), AUC in the legend, files valid', async () => {
  const svg = await rocSvg(
    [
      { name: 'perfect', fpr: [0, 0, 1], tpr: [0, 1, 1], auc: 1 },
      { name: 'Cardiomegaly', fpr: [0, 0.25, 0.5, 1], tpr: [0, 0.5, 0.75, 1], auc: 0.71875 },
    ],
    'ROC',
  );
  const lines = lineSeries(svg);
  assert.is(lines.length, 2, 'two curves (the chance diagonal is not a series)');
  assert.equal(vertices(lines[0].d), [[0, 320], [0, 0], [320, 0]]);
  assert.equal(vertices(lines[1].d), [[0, 320], [80, 160], [160, 80], [320, 0]]);
  assert.match(svg, />Cardiomegaly \(AUC 0\.719\)</);
  await writePlot(root, 'roc', svg);
  assert.is((await checkPlotFiles(root, 'roc')).length, 2);
  assert.is(readFileSync(join(root, 'roc.svg'), 'utf8'), svg);
  await rejects(rocSvg([], 'empty'), /no curves/);
});

test('lossCurvesSvg: total, contrastive, each IFA term and lr from metrics rows; thinned to 1500 points', async () => {
  const rows = Array.from({ length: 5 }, (_, i) => ({ step: i + 1, epoch: 0, loss: 6 - i, contrastive: 5 - i, ifa: { block3: 1, block4: 0.5 }, lr: 0.1 / (i + 1), img_per_s: 9, time_s: i }));
  assert.equal(defaultLossFields(rows), ['loss', 'contrastive', 'ifa.block3', 'ifa.block4', 'lr']);
  const lines = lineSeries(await lossCurvesSvg(rows));
  assert.is(lines.length, 5);
  assert.equal(lines.slice(0, 4).map((l) => l.label.replace(/.*series: /, '')), ['total loss', 'contrastive', 'IFA block3', 'IFA block4']);
  assert.match(lines[4].label, /^step: 1; learning rate: 1e-1$/, 'the learning rate, in its own panel');
  assert.ok(lines.every((l) => l.points === 5), 'five points per series');
  // total loss falls linearly from 6 to 2: its vertices are evenly spaced on a straight line
  const v = vertices(lines[0].d);
  for (let i = 1; i < 4; i++) assert.ok(Math.abs(v[i + 1][1] - v[i][1] - (v[1][1] - v[0][1])) < 0.01, `evenly spaced: ${JSON.stringify(v)}`);
  const long = Array.from({ length: 4000 }, (_, i) => ({ step: i + 1, loss: Math.exp(-i / 1000) }));
  const l2 = lineSeries(await lossCurvesSvg(long));
  assert.is(l2.length, 1);
  assert.is(l2[0].points, 1500);
  await rejects(lossCurvesSvg([{ loss: 1 }]), /no metrics rows with a step/);
});

const tiny: ConfigInput = {
  data: 'synthetic',
  syntheticImages: 16,
  imageSize: 32,
  batch: 4,
  steps: 4,
  queueSize: 16,
  layers: [1, 1, 1, 1],
  width: 8,
  hidden: 32,
  dim: 16,
  workers: 1,
  lr: 0.3,
  logEvery: 1,
  checkpointEvery: 2,
  bnGroups: 2,
};

test('pretraining draws loss.svg / loss.png in the run folder at every checkpoint', async () => {
  const out = join(root, 'run');
  let atStep3: { label: string; points: number }[] = [];
  const trainer = new Trainer(parseConfig({ ...tiny, out }));
  const pending: Promise<void>[] = [];
  await trainer.run({
    onLog: () => {},
    onWarning: (w) => assert.unreachable(`no warning expected: ${w}`),
    onStep: (m) => {
      if (m.step === 3) pending.push(checkPlotFiles(out, 'loss').then((s) => {
        atStep3 = s;
      }));
    },
  });
  await Promise.all(pending);
  assert.ok(pending.length === 1, 'the plot was checked at step 3');
  assert.equal(atStep3.map((s) => s.points), [2, 2, 2, 2], 'drawn at step 2: two points in each of loss, contrastive, IFA block3, lr');
  const end = await checkPlotFiles(out, 'loss');
  assert.equal(end.map((s) => s.points), [4, 4, 4, 4], 'redrawn at the end checkpoint');
  assert.match(end[2].label, /series: IFA block3/);
});

test('a plot that cannot be written warns and the run still finishes', async () => {
  const out = join(root, 'blocked');
  mkdirSync(join(out, 'loss.svg'), { recursive: true }); // a folder where the SVG should go
  const warnings: string[] = [];
  const r = await new Trainer(parseConfig({ ...tiny, steps: 2, out })).run({ onLog: () => {}, onWarning: (w) => warnings.push(w) });
  assert.is(r.steps, 2);
  assert.ok(existsSync(join(out, 'last.safetensors')));
  assert.is(warnings.length, 1, warnings.join('\n')); // the one checkpoint, at the end
  assert.match(warnings[0], /could not draw the training curves .*loss\.svg\/\.png .*training goes on/);
  assert.equal(readdirSync(out).filter((f) => f.endsWith('.tmp')), [], 'no temp file left behind');
});

test.run();
