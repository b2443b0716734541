// `ifa-ssl compare A.jsonl B.jsonl` — two models' predictions on the same images: paired DeLong test
// per class (multilabel; one-vs-rest for multiclass) and the Stuart–Maxwell test (multiclass).
// `ifa-ssl compare --a a1.jsonl,a2.jsonl,… --b b1.jsonl,b2.jsonl,…` — repeated runs (e.g. the
// --fraction --repeats stress test): mean ± SD per model and a paired t-test, run i against run i.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { readPredictions } from '../eval/predictions.js';
import { compareRepeated, comparePredictions, comparisonMarkdown } from '../eval/report.js';
import { writeRocPlots } from '../report/roc.js';

export const COMPARE_USAGE = `usage: ifa-ssl compare A.jsonl B.jsonl [--names A,B] [--threshold T] [--json] [--out DIR]
       ifa-ssl compare --a A1.jsonl,A2.jsonl,... --b B1.jsonl,B2.jsonl,... [--names A,B] [--json] [--out DIR]

  Two prediction files (from ifa-ssl evaluate) of two models on the same images: the paired DeLong
  test of the AUCs per class (multilabel; one-vs-rest for multiclass) and, for multiclass, the
  Stuart-Maxwell test of marginal homogeneity of the two models' predicted classes.
  --a/--b: repeated runs of each model (e.g. the training-fraction stress test), run i of A paired
  with run i of B: mean ± SD over runs of each model and a paired t-test, for the mean AUC, each
  class's AUC (and accuracy, macro F1 for multiclass).
  --names A,B   the models' names in the tables (default: the file names)
  --threshold T multilabel: positive at score >= T for F1 in repeated runs (default 0.5)
  --json        print the comparison as JSON instead of Markdown
  --out DIR     also write DIR/compare.json, DIR/compare.md and (two files) the ROC curves of both
                models per class, DIR/roc-<class>.svg/.png
`;

export async function compareCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(COMPARE_USAGE);
    return 0;
  }
  let values: { a?: string; b?: string; names?: string; threshold?: string; json?: boolean; out?: string };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { a: { type: 'string' }, b: { type: 'string' }, names: { type: 'string' }, threshold: { type: 'string' }, json: { type: 'boolean', default: false }, out: { type: 'string' } },
    }));
  } catch (e) {
    process.stderr.write(`ifa-ssl compare: ${(e as Error).message}\n\n${COMPARE_USAGE}`);
    return 2;
  }
  const repeated = values.a !== undefined || values.b !== undefined;
  const usage = (msg: string): number => {
    process.stderr.write(`ifa-ssl compare: ${msg}\n\n${COMPARE_USAGE}`);
    return 2;
  };
  if (repeated && (values.a === undefined || values.b === undefined)) return usage('--a and --b go together: give both models\' runs');
  if (repeated && positionals.length) return usage(`give either two files or --a/--b runs, not both (got ${positionals.join(' ')})`);
  if (!repeated && positionals.length !== 2) return usage(`expected two prediction files, got ${positionals.length}`);
  const threshold = values.threshold === undefined ? undefined : Number(values.threshold);
  if (threshold !== undefined && !Number.isFinite(threshold)) return usage(`--threshold must be a number, got '${values.threshold}'`);
  const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);
  const filesA = repeated ? list(values.a!) : [positionals[0]];
  const filesB = repeated ? list(values.b!) : [positionals[1]];
  let names: [string, string] = repeated ? ['A', 'B'] : [basename(filesA[0]), basename(filesB[0])];
  if (values.names !== undefined) {
    const n = list(values.names);
    if (n.length !== 2 || n[0] === n[1]) return usage(`--names takes two different names separated by a comma, got '${values.names}'`);
    names = [n[0], n[1]];
  } else if (names[0] === names[1]) names = ['A', 'B'];
  try {
    const a = filesA.map(readPredictions);
    const b = filesB.map(readPredictions);
    const result = repeated ? compareRepeated(a, b, names, threshold) : comparePredictions(a[0], b[0], names);
    const md = comparisonMarkdown(result);
    const json = JSON.stringify(result, null, 2) + '\n';
    if (values.out !== undefined) {
      mkdirSync(values.out, { recursive: true });
      writeFileSync(join(values.out, 'compare.json'), json);
      writeFileSync(join(values.out, 'compare.md'), md);
      if (!repeated) {
        await writeRocPlots(values.out, [
          { name: names[0], predictions: a[0] },
          { name: names[1], predictions: b[0] },
        ]);
      }
    }
    process.stdout.write(values.json ? json : md);
    for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`ifa-ssl compare: ${(e as Error).message}\n`);
    return 1;
  }
}
