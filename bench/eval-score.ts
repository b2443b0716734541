// Scoring speed (issue 18): 100,000 predictions × 14 classes → per-class AUC with DeLong CI (and the
// whole multilabel report: P/R/F1, threshold metrics, mean AUC), timed over repeated rounds.
// Run: npm run bench:eval   (tsc, then node dist/bench/eval-score.js [--n 100000] [--classes 14] [--rounds 7])
import { parseArgs } from 'node:util';
import { delong } from '../src/eval/metrics.js';
import { evaluateMultilabel } from '../src/eval/report.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '100000' }, classes: { type: 'string', default: '14' }, rounds: { type: 'string', default: '7' } } });
const n = Number(values.n);
const c = Number(values.classes);
const rounds = Number(values.rounds);

// seeded synthetic predictions: scores rounded to 4 decimals (ties, as float probabilities have)
let s = 12345;
const rand = (): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
const scores = new Float32Array(n * c);
const labels = new Float32Array(n * c);
for (let i = 0; i < n * c; i++) {
  labels[i] = rand() < 0.2 ? 1 : 0;
  scores[i] = Math.round(Math.min(1, Math.max(0, 0.35 + 0.25 * labels[i] + 0.3 * (rand() - 0.5))) * 1e4) / 1e4;
}
const classes = Array.from({ length: c }, (_, k) => `c${k}`);

function column(k: number): { s: Float64Array; y: Float64Array } {
  const cs = new Float64Array(n);
  const cy = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    cs[i] = scores[i * c + k];
    cy[i] = labels[i * c + k];
  }
  return { s: cs, y: cy };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const aucOnly: number[] = [];
const report: number[] = [];
let sink = 0;
for (let r = 0; r < rounds; r++) {
  let t = performance.now();
  for (let k = 0; k < c; k++) {
    const { s: cs, y } = column(k);
    sink += delong(cs, y).ci95[0];
  }
  aucOnly.push(performance.now() - t);
  t = performance.now();
  sink += evaluateMultilabel({ scores, labels, classes }).meanAuc ?? 0;
  report.push(performance.now() - t);
}
console.log(
  JSON.stringify({
    bench: 'eval-score',
    n,
    classes: c,
    rounds,
    delong_ms_median: Number(median(aucOnly).toFixed(1)),
    report_ms_median: Number(median(report).toFixed(1)),
    delong_ms: aucOnly.map((x) => Number(x.toFixed(1))),
    report_ms: report.map((x) => Number(x.toFixed(1))),
    check: Number.isFinite(sink),
  }),
);
