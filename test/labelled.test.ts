// Labelled data: the uncertainty policies on a small CheXpert-style CSV (targets and masks written
// out by hand), class selection, CSV errors that name the file, row and column, class folders,
// patient-level seeded splits, fraction subsets and class balancing.
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHEXPERT_CLASSES, LabelledDataError, balanceWeights, balancedIndices, fractionSubsets, labelsFromCsvText, randomSplit, readClassFolders, readLabelCsv } from '../src/data/labelled.js';
import { cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);
const root = mkdtempSync(join(tmpdir(), 'ifa-labelled-'));

// Five competition columns in CheXpert's order, plus metadata columns that must be ignored.
const CSV = [
  'Path,Sex,Age,Frontal/Lateral,AP/PA,Atelectasis,Cardiomegaly,Consolidation,Edema,Pleural Effusion',
  'train/patient00001/study1/view1_frontal.jpg,Male,60,Frontal,AP,1.0,-1.0,,0.0,1',
  'train/patient00001/study2/view1_frontal.jpg,Male,60,Frontal,AP,-1,,0,1,',
  'train/patient00002/study1/view1_frontal.jpg,Female,41,Frontal,PA,,,-1.0,,0',
].join('\n');
const classes = ['Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema', 'Pleural Effusion'];

test('uncertainty policies: u-ones, u-zeros, ignore (masked); blank is negative', () => {
  const ones = labelsFromCsvText(CSV, 'mini.csv', { classes: 'competition', uncertainty: 'u-ones', root: '/data' });
  assert.equal(ones.classes, classes);
  assert.equal(Array.from(ones.targets), [1, 1, 0, 0, 1, /**/ 1, 0, 0, 1, 0, /**/ 0, 0, 1, 0, 0]);
  assert.is(ones.mask, null);
  assert.is(ones.paths[0], '/data/train/patient00001/study1/view1_frontal.jpg');
  const zeros = labelsFromCsvText(CSV, 'mini.csv', { classes: 'competition', uncertainty: 'u-zeros' });
  assert.equal(Array.from(zeros.targets), [1, 0, 0, 0, 1, /**/ 0, 0, 0, 1, 0, /**/ 0, 0, 0, 0, 0]);
  const ignore = labelsFromCsvText(CSV, 'mini.csv', { classes: 'competition', uncertainty: 'ignore' });
  assert.equal(Array.from(ignore.targets), [1, 0, 0, 0, 1, /**/ 0, 0, 0, 1, 0, /**/ 0, 0, 0, 0, 0]);
  assert.equal(Array.from(ignore.mask!), [1, 0, 1, 1, 1, /**/ 0, 1, 1, 1, 1, /**/ 1, 1, 0, 1, 1]);
  // The loader's view: NaN where masked.
  assert.equal(Array.from(ignore.labels(0)), [1, NaN, 0, 0, 1]);
  // Default policy is u-ones (the authors' downstream code).
  assert.equal(Array.from(labelsFromCsvText(CSV, 'mini.csv', { classes: 'competition' }).targets), Array.from(ones.targets));
  // A chosen subset, in the order asked.
  const two = labelsFromCsvText(CSV, 'mini.csv', { classes: ['Edema', 'Atelectasis'] });
  assert.equal(Array.from(two.targets), [0, 1, 1, 1, 0, 0]);
  // Counts (positives / negatives per class, unmasked only).
  assert.equal(ignore.classCounts(), { positive: [1, 0, 0, 1, 1], negative: [1, 2, 2, 2, 2] });
});

test('CSV errors name the file, the row and the column', () => {
  const err = (text: string, opts = {}): string => {
    try {
      labelsFromCsvText(text, 'bad.csv', opts);
    } catch (e) {
      assert.instance(e, LabelledDataError);
      return (e as Error).message;
    }
    throw new Error('no error');
  };
  assert.match(err('Image,Edema\na.png,1\n'), /^bad\.csv: row 1 \(the header\) has no 'Path' column/);
  assert.match(err('Path,Edema\na.png,1\n', { classes: ['Edema', 'Nodule'] }), /^bad\.csv: row 1 \(the header\) has no column 'Nodule'/);
  assert.match(err('Path,Edema,Atelectasis\na.png,1,0\nb.png,yes,0\n'), /^bad\.csv: row 3, column 'Edema': 'yes' is not a label \(expected 1, 0, -1 or blank\)/);
  assert.match(err('Path,Edema\na.png,2\n'), /row 2, column 'Edema': '2' is not a label/);
  assert.match(err('Path,Edema\na.png,1,0\n'), /^bad\.csv: row 2 has 3 fields, the header has 2/);
  assert.match(err('Path,Edema\n,1\n'), /^bad\.csv: row 2, column 'Path': the path is empty/);
  assert.match(err(''), /^bad\.csv: the file is empty/);
  assert.match(err('Path,Edema\n'), /^bad\.csv: no rows after the header/);
  assert.match(err('Path,Label\na.png,viral\nb.png,\n'), /^bad\.csv: row 3, column 'Label': the class name is blank/);
  assert.match(err('Path,Label\na.png,fungal\n', { classes: ['bacterial', 'normal'] }), /row 2, column 'Label': 'fungal' is not one of the classes \(bacterial, normal\)/);
  // 'all' demands the 14 CheXpert columns.
  assert.match(err('Path,Edema\na.png,1\n', { classes: 'all' }), /no column 'No Finding'/);
  assert.throws(() => readLabelCsv(join(root, 'missing.csv')), /cannot read .*missing\.csv/);
});

test('the 14 CheXpert columns are the default when present; other CSVs take their columns', () => {
  const header = ['Path', 'Sex', ...CHEXPERT_CLASSES].join(',');
  const row = ['a.png', 'Male', ...CHEXPERT_CLASSES.map((_, i) => (i % 3 === 0 ? '1' : i % 3 === 1 ? '-1' : ''))].join(',');
  const s = labelsFromCsvText(`${header}\n${row}\n`, 'full.csv');
  assert.equal(s.classes, [...CHEXPERT_CLASSES]);
  assert.equal(Array.from(s.targets), CHEXPERT_CLASSES.map((_, i) => (i % 3 === 2 ? 0 : 1)));
  assert.equal(labelsFromCsvText('Path,Sex,Nodule,Mass\na.png,F,1,\n', 'x.csv').classes, ['Nodule', 'Mass']);
});

test('class-per-folder layout: sorted classes, every image under its folder', () => {
  const dir = join(root, 'folders');
  for (const [cls, files] of [['viral', ['v1.png', 'sub/v2.png']], ['normal', ['n1.jpg']], ['bacterial', ['b1.png', 'b2.dcm']]] as const) {
    for (const f of files) {
      mkdirSync(join(dir, cls, f, '..'), { recursive: true });
      writeFileSync(join(dir, cls, f), 'x');
    }
  }
  writeFileSync(join(dir, 'normal', 'notes.txt'), 'not an image');
  const s = readClassFolders(dir);
  assert.is(s.task, 'multiclass');
  assert.equal(s.classes, ['bacterial', 'normal', 'viral']);
  assert.equal(s.paths.map((p) => p.slice(dir.length + 1)), ['bacterial/b1.png', 'bacterial/b2.dcm', 'normal/n1.jpg', 'viral/sub/v2.png', 'viral/v1.png']);
  assert.equal(Array.from(s.targets), [0, 0, 1, 2, 2]);
  // Round trip through the Path,Label CSV the finetune command writes for its splits.
  writeFileSync(join(dir, 'split.csv'), s.toCsv(dir));
  const back = readLabelCsv(join(dir, 'split.csv'), { classes: [...s.classes] });
  assert.equal([...back.paths], [...s.paths]);
  assert.equal(Array.from(back.targets), Array.from(s.targets));
  mkdirSync(join(root, 'one-class', 'normal'), { recursive: true });
  assert.throws(() => readClassFolders(join(root, 'one-class')), /needs at least 2 class folders, found 1 \(normal\)/);
});

// 40 patients with 1–3 images each, 1 label column (positive for even patients).
function patients(): ReturnType<typeof labelsFromCsvText> {
  const rows = ['Path,Edema'];
  for (let p = 0; p < 40; p++) for (let s = 0; s <= p % 3; s++) rows.push(`train/patient${String(p).padStart(5, '0')}/study${s}/view1.png,${p % 2 === 0 ? 1 : 0}`);
  return labelsFromCsvText(rows.join('\n'), 'p.csv');
}

test('seeded random split by patient: disjoint patients, all images placed, ratios in patients, same seed same split', () => {
  const set = patients();
  const a = randomSplit(set, [0.6, 0.2, 0.2], 7);
  const pat = (paths: readonly string[]): Set<string> => new Set(paths.map((p) => /patient\d+/.exec(p)![0]));
  const [tr, va, te] = [pat(a.train.paths), pat(a.val.paths), pat(a.test!.paths)];
  assert.equal([tr.size, va.size, te.size], [24, 8, 8]);
  for (const p of tr) assert.ok(!va.has(p) && !te.has(p), `patient ${p} in two splits`);
  for (const p of va) assert.ok(!te.has(p));
  assert.is(a.train.length + a.val.length + a.test!.length, set.length);
  const b = randomSplit(set, [0.6, 0.2, 0.2], 7);
  assert.equal([...b.test!.paths], [...a.test!.paths]);
  const c = randomSplit(set, [0.6, 0.2, 0.2], 8);
  assert.not.equal([...c.test!.paths], [...a.test!.paths]);
  assert.throws(() => randomSplit(set, [0.6, 0.6], 0), /summing to 1/);
  assert.is(randomSplit(set, [0.8, 0.2], 1).test, null);
});

test('fraction subsets: R different seeded subsets of round(F·N) training images', () => {
  const set = patients();
  const subs = fractionSubsets(set, 0.25, 3, 0);
  assert.equal(subs.map((s) => s.length), [20, 20, 20]);
  for (const s of subs) assert.is(new Set(s.paths).size, 20);
  assert.not.equal([...subs[0].paths], [...subs[1].paths]);
  assert.equal([...fractionSubsets(set, 0.25, 3, 0)[2].paths], [...subs[2].paths]);
  assert.throws(() => fractionSubsets(set, 0, 1, 0), /--fraction must be in \(0, 1\]/);
});

test('class balance: pos_weight = neg/pos, balanced class weights, sampler, undersampling', () => {
  const ml = labelsFromCsvText('Path,A,B\na,1,0\nb,1,0\nc,0,0\nd,1,1\n', 'w.csv');
  assert.equal(Array.from(balanceWeights(ml)), [Math.fround(1 / 3), 3]);
  const mc = labelsFromCsvText('Path,Label\na,x\nb,x\nc,x\nd,x\ne,x\nf,x\ng,y\nh,y\ni,z\n', 'm.csv');
  // sklearn's compute_class_weight('balanced'): N / (K · n_k) = 9/(3·6), 9/(3·2), 9/(3·1).
  assert.equal(Array.from(balanceWeights(mc)), [Math.fround(0.5), Math.fround(1.5), 3]);
  const under = balancedIndices(mc, 'undersample', 0, 0);
  assert.equal(under.map((i) => mc.targets[i]).sort(), [0, 1, 2]);
  // The sampler makes the classes about equally frequent: over many epochs each near 1/3.
  const counts = [0, 0, 0];
  for (let e = 0; e < 200; e++) for (const i of balancedIndices(mc, 'sampler', 0, e)) counts[mc.targets[i]]++;
  const total = counts.reduce((a, b) => a + b, 0);
  // 1800 draws, p = 1/3 each: sd √(1800·(1/3)(2/3)) = 20, so ±100 (5 sd) bounds chance.
  for (const c of counts) assert.ok(Math.abs(c - total / 3) < 100, `sampler class counts ${counts}`);
  assert.throws(() => balancedIndices(ml, 'sampler', 0, 0), /needs a multiclass task/);
  assert.equal(balancedIndices(ml, 'none', 0, 0), [0, 1, 2, 3]);
});

test.run();
