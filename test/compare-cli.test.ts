// `ifa-ssl compare`: the CLI over prediction files gives the golden paired DeLong / Stuart–Maxwell /
// paired t-test values (test/fixtures/eval/gen.py), writes compare.json / compare.md / ROC pictures
// with --out, and refuses bad input with a message and a non-zero exit.
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePredictions, type Predictions } from '../src/eval/predictions.js';
import { packageRoot } from '../src/native.js';
import { assertClose, cliTests } from './helpers.js';
import { checkPlotFiles } from './plot-check.js';

const test = cliTests(import.meta.url);
const bin = join(packageRoot(), 'bin', 'ifa-ssl.js');
const root = mkdtempSync(join(tmpdir(), 'ifa-compare-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

function goldenPath(): string {
  const local = join(process.cwd(), 'test', 'fixtures', 'eval', 'golden.json');
  return existsSync(local) ? local : join(packageRoot(), 'test', 'fixtures', 'eval', 'golden.json');
}
const golden = JSON.parse(readFileSync(goldenPath(), 'utf8'));
const TOL = { atol: 1e-12, rtol: 1e-9 };

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(process.execPath, [bin, ...args], { encoding: 'utf8', stdio: 'pipe' });
    return { code: 0, stdout, stderr: '' };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { code: err.status, stdout: err.stdout, stderr: err.stderr };
  }
}

function multilabelFile(name: string, scores: number[], labels: number[], mask: number[] | null, classes: string[]): string {
  const c = classes.length;
  const p: Predictions = {
    task: 'multilabel',
    classes,
    rows: Array.from({ length: scores.length / c }, (_, i) => ({
      path: `img${i}.png`,
      scores: scores.slice(i * c, (i + 1) * c),
      labels: labels.slice(i * c, (i + 1) * c).map((y, k) => (mask && !mask[i * c + k] ? null : y)),
    })),
  };
  const f = join(root, name);
  writePredictions(f, p);
  return f;
}

test('compare A B --json --out: paired DeLong per class as the golden values; compare.json/.md and ROC pictures', async () => {
  const g = golden.reportMultilabel;
  const a = multilabelFile('a.jsonl', g.scoresA, g.labels, g.mask, g.classes);
  const b = multilabelFile('b.jsonl', g.scoresB, g.labels, g.mask, g.classes);
  const out = join(root, 'cmp');
  const r = cli(['compare', a, b, '--names', 'ifa,moco', '--json', '--out', out]);
  assert.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.names, ['ifa', 'moco']);
  g.perClass.forEach((e: any, k: number) => {
    if (e.paired === null) assert.is(j.perClass[k].p, null);
    else assertClose([j.perClass[k].z, j.perClass[k].p], [e.paired.z, e.paired.p], TOL, `class ${k}`);
  });
  assert.equal(JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')), j);
  assert.match(readFileSync(join(out, 'compare.md'), 'utf8'), /\| class \| n \| pos \| AUC ifa \| AUC moco \|/);
  const series = await checkPlotFiles(out, 'roc-c0');
  assert.is(series.length, 2, 'one curve per model');
  assert.ok(!existsSync(join(out, 'roc-c3.svg')), 'no picture for the class without positives');
  // Markdown by default
  const md = cli(['compare', a, b]);
  assert.is(md.code, 0);
  assert.match(md.stdout, /## a\.jsonl vs b\.jsonl/);
});

test('compare --a … --b …: mean ± SD and the paired t-test of repeated runs as scipy', () => {
  const g = golden.repeated;
  const fa = g.runs.map((x: any, i: number) => multilabelFile(`ra${i}.jsonl`, x.scoresA, g.labels, null, g.classes));
  const fb = g.runs.map((x: any, i: number) => multilabelFile(`rb${i}.jsonl`, x.scoresB, g.labels, null, g.classes));
  const r = cli(['compare', '--a', fa.join(','), '--b', fb.join(','), '--json']);
  assert.is(r.code, 0, r.stderr);
  const m = JSON.parse(r.stdout).metrics.find((x: any) => x.metric === 'mean AUC');
  assertClose([m.meanA, m.sdA, m.meanB, m.sdB, m.t, m.p], [g.meanA, g.sdA, g.meanB, g.sdB, g.t, g.p], TOL, 'mean AUC');
  const md = cli(['compare', '--a', fa.join(','), '--b', fb.join(','), '--names', 'ifa,moco']);
  assert.match(md.stdout, /\| mean AUC \| 4 \| \d\.\d{3} ± \d\.\d{3} \| \d\.\d{3} ± \d\.\d{3} \|/);
});

test('compare refuses bad input: usage errors exit 2, unreadable or mismatched files exit 1 naming them', () => {
  const g = golden.reportMultilabel;
  const a = multilabelFile('x.jsonl', g.scoresA, g.labels, g.mask, g.classes);
  const short = multilabelFile('short.jsonl', g.scoresB.slice(0, 50), g.labels.slice(0, 50), g.mask.slice(0, 50), g.classes);
  let r = cli(['compare', a]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /expected two prediction files, got 1/);
  r = cli(['compare', '--a', a]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /--a and --b go together/);
  r = cli(['compare', a, short]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /must score the same images/);
  const broken = join(root, 'broken.jsonl');
  writeFileSync(broken, '{"format":"ifa-ssl-predictions","version":1,"task":"multilabel","classes":["a"]}\n{"path":"p","scores":[1,2],"labels":[0]}\n');
  r = cli(['compare', a, broken]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /broken\.jsonl:2: "scores" must be an array of 1 numbers/);
  r = cli(['compare', '--a', `${a},${a}`, '--b', a]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /A has 2 runs and B 1/);
  assert.match(cli(['compare', '--help']).stdout, /usage: ifa-ssl compare/);
});

test.run();
