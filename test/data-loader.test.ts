// Datasets, the preprocessing cache and the two-view loader: determinism across worker counts,
// shuffling and drop_last, a corrupt file skipped with one warning, DICOM decoded once, tensors.
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { CsvManifest, CxrLoader, ImageFolder, loadPreprocessed, parseCsv, PreprocessCache, SyntheticCxr, syntheticRadiograph, type Batch } from '../src/data/index.js';
import { packageRoot } from '../src/native.js';
import { cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);

function fixtures(): string {
  const local = join(process.cwd(), 'test', 'fixtures', 'data');
  return existsSync(local) ? local : join(packageRoot(), 'test', 'fixtures', 'data');
}
const tmp = mkdtempSync(join(tmpdir(), 'ifa-data-test-'));
const S = 32;

/** A folder: 7 synthetic PNGs in two subfolders, one DICOM, one corrupt PNG, one text file. */
async function makeFolder(): Promise<string> {
  const root = join(tmp, 'folder');
  mkdirSync(join(root, 'a', 'deep'), { recursive: true });
  mkdirSync(join(root, 'b'), { recursive: true });
  for (let i = 0; i < 7; i++) {
    const img = syntheticRadiograph(100 + i, { width: 48, height: 40 });
    const u8 = Uint8Array.from(img.data, (v) => Math.round(v * 255));
    await sharp(Buffer.from(u8), { raw: { width: 48, height: 40, channels: 1 } })
      .png()
      .toFile(join(root, i < 4 ? 'a' : i < 6 ? 'b' : join('a', 'deep'), `img${i}.png`));
  }
  copyFileSync(join(fixtures(), 'mono1_explicit.dcm'), join(root, 'b', 'scan.dcm'));
  copyFileSync(join(fixtures(), 'corrupt.png'), join(root, 'a', 'broken.png'));
  writeFileSync(join(root, 'b', 'notes.txt'), 'not an image');
  return root;
}
// Made on first use, so that a run that skips this file (IFA_TEST_BACKENDS without cpu) starts no
// writes that its cleanup could race.
let folderMade: Promise<string> | undefined;
const folder = (): Promise<string> => (folderMade ??= makeFolder());

async function collect(loader: CxrLoader, epoch: number): Promise<Batch<Float32Array>[]> {
  const out: Batch<Float32Array>[] = [];
  for await (const b of loader.epoch(epoch, 'array')) out.push(b);
  return out;
}

test('ImageFolder lists images recursively in sorted order', async () => {
  const ds = await ImageFolder.open(await folder());
  assert.is(ds.length, 9);
  assert.equal([...ds.paths], [...ds.paths].sort());
  assert.ok(ds.paths.some((p) => p.endsWith(join('a', 'deep', 'img6.png'))));
  assert.not.ok(ds.paths.some((p) => p.endsWith('.txt')));
  assert.is(ds.labels(), null);
  await ImageFolder.open(join(tmp, 'nope')).then(
    () => assert.unreachable(),
    (e: Error) => assert.ok(/ENOENT|no such file/.test(e.message)),
  );
});

test('CsvManifest reads CheXpert-style labels (blank → NaN, −1 by policy, quoted fields)', async () => {
  const csv = [
    'Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Cardiomegaly,"Pleural Effusion"',
    'CheXpert-v1.0-small/train/patient1/study1/view1_frontal.jpg,Male,68,Frontal,AP,1.0,,0.0',
    '"CheXpert-v1.0-small/train/patient2/study1/view1, frontal.jpg",Female,87,Frontal,PA,,-1.0,1.0',
    'CheXpert-v1.0-small/train/patient2/study1/view2_lateral.jpg,Female,87,Lateral,,,1.0,-1.0',
    '',
  ].join('\r\n');
  const file = join(tmp, 'train.csv');
  writeFileSync(file, csv);
  const m = await CsvManifest.open(file, { root: '/data' });
  assert.is(m.length, 3);
  assert.equal(m.labelNames, ['No Finding', 'Cardiomegaly', 'Pleural Effusion']);
  assert.is(m.paths[1], '/data/CheXpert-v1.0-small/train/patient2/study1/view1, frontal.jpg');
  assert.equal([...m.labels(0)].map(String), ['1', 'NaN', '0']);
  assert.equal([...m.labels(1)], [NaN, -1, 1].map(Math.fround));
  const ones = await CsvManifest.open(file, { uncertain: 'ones', blank: 0, filter: (r) => r['Frontal/Lateral'] === 'Frontal' });
  assert.is(ones.length, 2);
  assert.equal([...ones.labels(1)], [0, 1, 1]);
  assert.ok(ones.paths[0].startsWith(tmp), 'relative paths resolve against the CSV folder');
  assert.equal(parseCsv('a,"b ""q"" c",d\n1,2,3'), [['a', 'b "q" c', 'd'], ['1', '2', '3']]);
  assert.throws(() => CsvManifest.fromText('Path,A\nx.png,maybe\n'), /not a number/);
  assert.throws(() => CsvManifest.fromText('Path,A\nx.png\n'), /has 1 fields/);
});

test('the preprocess cache: a hit equals the fresh image; a new mtime invalidates it', async () => {
  const cacheDir = join(tmp, 'cache1');
  const path = join(tmp, 'one.dcm');
  copyFileSync(join(fixtures(), 'mono2_implicit.dcm'), path);
  const desc = { kind: 'files' as const, paths: [path] };
  const o = { imageSize: 16, clipPercentile: 99, cache: new PreprocessCache(cacheDir) };
  const a = await loadPreprocessed(desc, 0, o);
  const b = await loadPreprocessed(desc, 0, o);
  assert.is(a.cacheHit, false);
  assert.is(b.cacheHit, true);
  assert.equal([...b.data], [...a.data], 'cached image is bit-identical');
  utimesSync(path, new Date(), new Date(Date.now() + 5000));
  assert.is((await loadPreprocessed(desc, 0, o)).cacheHit, false, 'changed mtime → decoded again');
  const other = await loadPreprocessed(desc, 0, { ...o, imageSize: 8 });
  assert.is(other.cacheHit, false, 'another size is another entry');
  assert.is(other.data.length, 64);
});

test('a folder with a corrupt PNG trains on: full batches, one warning, one skipped file', async () => {
  const ds = await ImageFolder.open(await folder());
  const warnings: string[] = [];
  const loader = new CxrLoader(ds, { batchSize: 3, imageSize: S, workers: 2, seed: 5, cacheDir: join(tmp, 'cache2'), onWarning: (m) => warnings.push(m) });
  try {
    const decodedAfter: number[] = [];
    for (let e = 0; e < 2; e++) {
      let batches = 0;
      for await (const b of loader.epoch(e)) {
        assert.equal(b.view1.shape, [3, S, S, 1]);
        assert.equal(b.view2.shape, [3, S, S, 1]);
        assert.is(b.indices.length, 3);
        assert.not.ok(b.indices.some((i) => ds.paths[i].endsWith('broken.png')), 'the corrupt file never appears');
        const v = await b.view1.data();
        assert.ok(v.every(Number.isFinite));
        b.view1.dispose();
        b.view2.dispose();
        batches++;
      }
      assert.is(batches, 3, `epoch ${e}: 9 files, batch 3, drop_last → 3 batches`);
      decodedAfter.push(loader.stats.decoded);
    }
    assert.is(loader.stats.skipped, 1);
    assert.ok(loader.stats.skippedFiles[0].endsWith('broken.png'));
    assert.is(warnings.length, 1, warnings.join('\n'));
    assert.ok(warnings[0].includes('broken.png'));
    // The 8 readable files (DICOM included) are decoded in the first epoch (the substitute for the
    // broken file may be decoded twice if two workers reach it together); the second epoch decodes none.
    assert.ok(decodedAfter[0] >= 8 && decodedAfter[0] <= 9, `decoded ${decodedAfter[0]}`);
    assert.is(decodedAfter[1], decodedAfter[0], 'no decoding in the second epoch');
    assert.is(loader.stats.samples, 18);
    assert.is(loader.stats.cacheHits + loader.stats.decoded, 18);
  } finally {
    await loader.close();
  }
});

test('batches depend on (seed, epoch, index) only, not on the number of workers', async () => {
  const ds = new SyntheticCxr({ length: 10, seed: 3, width: 40 });
  const cacheDir = join(tmp, 'cache3');
  const runs: Batch<Float32Array>[][][] = [];
  for (const workers of [1, 2, 3]) {
    const loader = new CxrLoader(ds, { batchSize: 4, imageSize: S, workers, seed: 9, cacheDir: workers === 3 ? false : cacheDir, dropLast: false, prefetch: 2 });
    try {
      runs.push([await collect(loader, 0), await collect(loader, 1)]);
    } finally {
      await loader.close();
    }
  }
  const [one, two, three] = runs;
  for (const other of [two, three]) {
    for (let e = 0; e < 2; e++) {
      assert.is(other[e].length, one[e].length);
      one[e].forEach((b, i) => {
        assert.equal(other[e][i].indices, b.indices);
        assert.ok(other[e][i].view1.every((v, j) => v === b.view1[j]) && other[e][i].view2.every((v, j) => v === b.view2[j]), `epoch ${e} batch ${i}`);
      });
    }
  }
  // drop_last: false keeps the last 2 samples; every index once per epoch; epochs shuffle differently.
  assert.equal(one[0].map((b) => b.indices.length), [4, 4, 2]);
  assert.equal(one[0].flatMap((b) => b.indices).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.not.equal(one[0].flatMap((b) => b.indices), one[1].flatMap((b) => b.indices));
  // Two views of one image differ (at least for most samples).
  const same = one[0].flatMap((b) => b.indices.map((_, k) => b.view1.subarray(k * S * S, (k + 1) * S * S).every((v, j) => v === b.view2[k * S * S + j]))).filter(Boolean).length;
  assert.ok(same <= 2, `${same} of 10 samples have identical views`);
});

test('no shuffle gives dataset order; epochs() streams across epochs like separate epoch() calls', async () => {
  const ds = new SyntheticCxr({ length: 6, seed: 4, width: 32 });
  const loader = new CxrLoader(ds, { batchSize: 2, imageSize: S, workers: 2, shuffle: false, cacheDir: false, augmentations: 'easy' });
  try {
    const e0 = await collect(loader, 0);
    assert.equal(e0.map((b) => b.indices), [[0, 1], [2, 3], [4, 5]]);
    const e1 = await collect(loader, 1);
    const streamed: Batch<Float32Array>[] = [];
    for await (const b of loader.epochs(0, 2, 'array')) streamed.push(b);
    assert.equal(streamed.map((b) => [b.epoch, b.batch]), [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]);
    [...e0, ...e1].forEach((b, i) => assert.ok(b.view1.every((v, j) => v === streamed[i].view1[j])));
    // Breaking out early leaves the loader usable.
    for await (const b of loader.epochs(0)) {
      b.view1.dispose();
      b.view2.dispose();
      break;
    }
    assert.is((await collect(loader, 0)).length, 3);
    // Values: normalised with the CXR mean/std, so roughly centred.
    let s = 0;
    for (const v of e0[0].view1) s += v;
    const mean = s / e0[0].view1.length;
    assert.ok(mean > -3 && mean < 2, `mean ${mean}`);
  } finally {
    await loader.close();
  }
  assert.throws(() => new CxrLoader(ds, { batchSize: 0 }), /batchSize/);
  assert.throws(() => new CxrLoader(ds, { batchSize: 2, augmentations: 'hard' as never }), /unknown augmentation preset/);
  assert.throws(() => new CxrLoader(ds, { batchSize: 2, augmentations: [{ type: 'nope' } as never] }), /unknown transform/);
});

test('labels from a manifest come with the batch; an all-corrupt batch is dropped, not fatal', async () => {
  const dir = join(tmp, 'manifest');
  mkdirSync(dir, { recursive: true });
  for (const n of ['x0', 'x1', 'x2']) copyFileSync(join(fixtures(), 'gray16.png'), join(dir, `${n}.png`));
  copyFileSync(join(fixtures(), 'corrupt.png'), join(dir, 'bad.png'));
  writeFileSync(join(dir, 'm.csv'), 'Path,A,B\nx0.png,1,0\nx1.png,0,1\nx2.png,,1\nbad.png,1,1\n');
  const m = await CsvManifest.open(join(dir, 'm.csv'));
  const loader = new CxrLoader(m, { batchSize: 4, imageSize: 16, workers: 1, shuffle: false, cacheDir: false, onWarning: () => {}, maxSubstitutes: 0 });
  try {
    const [b] = await collect(loader, 0);
    assert.equal(b.indices, [0, 1, 2], 'the bad file is skipped; with no substitutes the batch shrinks');
    assert.equal([...b.labels!].map(String), ['1', '0', '0', '1', 'NaN', '1']);
    assert.is(loader.stats.skipped, 1);
  } finally {
    await loader.close();
  }
  const allBad = CsvManifest.fromText('Path\nbad.png\nbad.png\n', { root: dir });
  const warnings: string[] = [];
  const l2 = new CxrLoader(allBad, { batchSize: 2, imageSize: 16, workers: 1, cacheDir: false, onWarning: (w) => warnings.push(w) });
  try {
    assert.equal(await collect(l2, 0), []);
    assert.ok(warnings.some((w) => /no readable images/.test(w)));
  } finally {
    await l2.close();
  }
});

test('a worker that dies mid-epoch is replaced and its batches rerun, with the same content', async () => {
  const ds = new SyntheticCxr({ length: 8, seed: 6, width: 32 });
  const opts = { batchSize: 2, imageSize: S, workers: 2, cacheDir: false as const, seed: 2 };
  const ref = new CxrLoader(ds, opts);
  const crash = new CxrLoader(ds, opts);
  try {
    const want = await collect(ref, 0);
    const got: Batch<Float32Array>[] = [];
    for await (const b of crash.epoch(0, 'array')) {
      if (got.length === 0) for (const s of (crash as unknown as { slots: { worker: { terminate(): Promise<number> } }[] }).slots) void s.worker.terminate();
      got.push(b);
    }
    assert.is(crash.stats.workerRestarts, 2);
    assert.equal(got.map((b) => b.indices), want.map((b) => b.indices));
    got.forEach((b, i) => assert.ok(b.view1.every((v, j) => v === want[i].view1[j]), `batch ${i}`));
  } finally {
    await ref.close();
    await crash.close();
  }
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test.run();
