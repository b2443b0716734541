// No silent failure (issue 16): each way a run used to end with exit 0 (or not end) without doing
// its work now ends with a message and a non-zero exit, and a diverged run never replaces a good
// checkpoint. Tiny models (32², width 8), a few steps each: the file runs in well under a minute.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CxrLoader, ImageFolder, readAnyCheckpoint, readSafetensors, relu, tensor, writeSafetensors } from '../src/index.js';
import { packageRoot } from '../src/native.js';
import { backendStatuses, cliTests } from './helpers.js';

const test = cliTests(import.meta.url);
const everyBackend = suite('relu(NaN) on every selected backend');

const root = mkdtempSync(join(tmpdir(), 'ifa-failure-'));
const bin = join(packageRoot(), 'bin', 'ifa-ssl.js');
const gray = join(packageRoot(), 'test', 'fixtures', 'data', 'gray16.png');
const tiny = { data: 'synthetic', syntheticImages: 16, imageSize: 32, batch: 4, queueSize: 16, layers: [1, 1, 1, 1], width: 8, hidden: 32, dim: 16, checkpointEvery: 1, bnGroups: 2, workers: 1, lr: 0.3 };
const config = join(root, 'tiny.json');
writeFileSync(config, JSON.stringify(tiny));

function cli(args: string[], timeout = 60_000): { code: number | null; out: string; signal: string | null } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout, killSignal: 'SIGKILL' });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}`, signal: r.signal };
}

function folder(name: string, good: number, bad: number): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < good; i++) copyFileSync(gray, join(dir, `good${i}.png`));
  for (let i = 0; i < bad; i++) writeFileSync(join(dir, `text${i}.png`), `not an image ${i}\n`);
  return dir;
}

function nonFinite(path: string): number {
  let n = 0;
  for (const r of Object.values(readAnyCheckpoint(path).records)) for (const v of r.data) if (typeof v === 'number' && !Number.isFinite(v)) n++;
  return n;
}

/** A copy of a checkpoint with one metadata field or one tensor value changed. */
function mutated(src: string, name: string, edit: { meta?: [string, string]; value?: [string, number]; config?: Record<string, unknown> }): string {
  const { tensors, metadata } = readSafetensors(src);
  if (edit.meta) metadata[edit.meta[0]] = edit.meta[1];
  if (edit.value) (tensors[edit.value[0]].data as Float32Array)[0] = edit.value[1];
  if (edit.config) metadata.config = JSON.stringify({ ...JSON.parse(metadata.config), ...edit.config });
  const out = join(root, name);
  writeSafetensors(out, tensors, metadata);
  return out;
}

const good = join(root, 'good');

test('a good run: exit 0 and a checkpoint of its last step', () => {
  const r = cli(['pretrain', '--config', config, '--steps', '2', '--out', good]);
  assert.is(r.code, 0, r.out);
  assert.is(readAnyCheckpoint(join(good, 'last.safetensors')).metadata.step, '2');
});

test('item 1: 2 good PNGs and 30 text files named .png (1 and 2 workers) exit non-zero with a message', () => {
  const dir = folder('mixed', 2, 30);
  for (const workers of ['1', '2']) {
    const r = cli(['pretrain', '--config', config, '--data', dir, '--batch', '2', '--workers', workers, '--steps', '30', '--out', join(root, `mixed-out-${workers}`)]);
    assert.is(r.code, 1, r.out);
    assert.match(r.out, /of the 32 files in the data set are unreadable .*check the data folder/);
  }
});

test('item 1/6: --resume with a damaged queuePtr, step, rng or config exits non-zero naming the file and field', () => {
  const ck = join(good, 'last.safetensors');
  const cases: [string, string, RegExp][] = [
    ['queuePtr', '15', /'queuePtr' is 15, not a multiple of the batch 4/],
    ['queuePtr', '-2', /'queuePtr' must be an integer in \[0, 15\], got "-2"/],
    ['queuePtr', '1.5', /'queuePtr' must be an integer in \[0, 15\], got "1.5"/],
    ['queuePtr', 'abc', /'queuePtr' must be an integer in \[0, 15\], got "abc"/],
    ['step', 'NaN', /'step' must be an integer/],
    ['epoch', '-1', /'epoch' must be an integer/],
    ['rng', '{x', /'rng' is not valid JSON/],
    ['rng', '[1,2]', /'rng' must be four unsigned 32-bit integers/],
  ];
  for (const [field, value, want] of cases) {
    const bad = mutated(ck, `meta-${field}.safetensors`, { meta: [field, value] });
    const out = join(root, `resume-${field}-${value}`);
    const r = cli(['pretrain', '--config', config, '--steps', '3', '--resume', bad, '--out', out]);
    assert.is(r.code, 1, `${field}=${value}: ${r.out}`);
    assert.match(r.out, want);
    assert.ok(r.out.includes(bad), 'the message names the file');
    assert.not.ok(existsSync(join(out, 'last.safetensors')), 'nothing written');
  }
  const other = mutated(ck, 'meta-hidden.safetensors', { config: { hidden: 1e9 } });
  const r = cli(['pretrain', '--config', config, '--steps', '3', '--resume', other, '--out', join(root, 'resume-hidden')]);
  assert.is(r.code, 1);
  assert.match(r.out, /meta-hidden\.safetensors: metadata field 'config' is not a valid config; the file is damaged or was edited \(invalid config: hidden: Too big/);
  const e = cli(['embed', '--init', other, gray]);
  assert.is(e.code, 1);
  assert.match(e.out, /config\.hidden is 1000000000 but the tensors say 32/);
});

test('item 2: a folder of unreadable files ends at once with an error (the loop used to run forever)', () => {
  const dir = folder('allbad', 0, 30);
  const t0 = Date.now();
  const r = cli(['pretrain', '--config', config, '--data', dir, '--batch', '2', '--steps', '30', '--out', join(root, 'allbad-out')], 30_000);
  assert.is(r.signal, null, 'it ended by itself');
  assert.is(r.code, 1, r.out);
  assert.match(r.out, /files in the data set are unreadable/);
  assert.ok(Date.now() - t0 < 30_000);
});

test('item 2: the loader stops after a bounded number of failed reads, and drops batches below minBatch', async () => {
  const dir = folder('loader', 1, 7);
  const ds = await ImageFolder.open(dir);
  const warnings: string[] = [];
  const all = new CxrLoader(await ImageFolder.open(folder('loader-bad', 0, 4)), { batchSize: 2, imageSize: 16, workers: 1, cacheDir: false, maxConsecutiveUnreadable: 100, onWarning: (w) => warnings.push(w) });
  try {
    let err: Error | null = null;
    try {
      for await (const b of all.epochs(0, Infinity, 'array')) void b;
    } catch (e) {
      err = e as Error;
    }
    assert.ok(err, 'an endless stream of unreadable files ends');
    assert.match(err!.message, /\d+ reads in a row failed \(4 distinct unreadable files of 4 tried\)/);
  } finally {
    await all.close();
  }
  // One readable file of 8: a batch of 2 that shrinks to 1, which batch norm cannot take, is dropped.
  const one = new CxrLoader(ds, { batchSize: 2, imageSize: 16, workers: 1, cacheDir: false, minBatch: 2, onWarning: (w) => warnings.push(w) });
  try {
    const seen: number[] = [];
    for await (const b of one.epochs(0, 8, 'array')) seen.push(b.indices.length);
    assert.equal(seen.filter((n) => n !== 2), [], 'no batch below minBatch is passed on');
    assert.ok(warnings.some((w) => /fewer than the 2 training needs; dropped/.test(w)));
  } finally {
    await one.close();
  }
});

test('item 3: --lr 1e12 stops at the step that diverged and leaves the last good checkpoint', () => {
  const out = join(root, 'diverge');
  const r = cli(['pretrain', '--config', config, '--lr', '1e12', '--steps', '6', '--out', out]);
  assert.is(r.code, 1, r.out);
  assert.match(r.out, /training diverged at step 2: parameter \S+ became (NaN|-?Infinity)/);
  const ck = join(out, 'last.safetensors');
  assert.is(readAnyCheckpoint(ck).metadata.step, '1', 'the step-1 checkpoint is still there');
  assert.is(nonFinite(ck), 0);
  assert.equal(readdirSync(out).sort(), ['last.safetensors', 'loss.png', 'loss.svg', 'metrics.jsonl']);
});

test('item 3: weights holding NaN are refused by --init, --resume and embed, by tensor name', () => {
  const bad = mutated(join(good, 'last.safetensors'), 'nan.safetensors', { value: ['layer1.0.conv1.weight', NaN] });
  const init = cli(['pretrain', '--config', config, '--steps', '1', '--init', bad, '--out', join(root, 'init-nan')]);
  assert.is(init.code, 1);
  assert.match(init.out, /--init .*non-finite value \(layer1\.0\.conv1\.weight\[0\] = NaN\)/);
  const resume = cli(['pretrain', '--config', config, '--steps', '3', '--resume', bad, '--out', join(root, 'resume-nan')]);
  assert.is(resume.code, 1);
  assert.match(resume.out, /layer1\.0\.conv1\.weight\[0\] = NaN/);
  const e = cli(['embed', '--init', bad, gray]);
  assert.is(e.code, 1);
  assert.match(e.out, /non-finite weight \(layer1\.0\.conv1\.weight\[0\] = NaN\)/);
});

everyBackend('item 3: relu(NaN) is NaN, relu(-0) and relu(-1) are 0 (PyTorch), on every backend that loads', async () => {
  for (const b of (await backendStatuses()).filter((b) => b.available)) {
    const backend = b.name as 'cpu' | 'cuda' | 'webgpu';
    const y = await relu(tensor(new Float32Array([NaN, -1, -0, 2, Infinity]), [5], { backend })).data();
    assert.equal([...y].map(String), ['NaN', '0', '0', '2', 'Infinity'], backend);
    console.log(`  relu(NaN) on ${backend}: ${y[0]}`);
  }
});

test('item 5: an --out holding a run is refused without --resume/--overwrite; stale temp files go', () => {
  const stale = join(good, '.last.safetensors.999999999.0badc0de.tmp');
  writeFileSync(stale, 'half a checkpoint');
  const r = cli(['pretrain', '--config', config, '--steps', '1', '--out', good]);
  assert.is(r.code, 1);
  assert.match(r.out, /already holds a run .*--resume .*--overwrite/);
  assert.is(readAnyCheckpoint(join(good, 'last.safetensors')).metadata.step, '2', 'the run is untouched');
  assert.not.ok(existsSync(stale), 'the dead writer\'s temp file is removed at start');
  const o = cli(['pretrain', '--config', config, '--steps', '1', '--out', good, '--overwrite']);
  assert.is(o.code, 0, o.out);
  assert.is(readFileSync(join(good, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 1, 'metrics of one run only');
});

test('item 8: an --out that cannot be created fails at once with a message', () => {
  const r = cli(['pretrain', '--config', config, '--steps', '1', '--out', '/proc/ifa-ssl-test/out'], 20_000);
  assert.is(r.signal, null, 'it did not spin');
  assert.is(r.code, 1);
  assert.match(r.out, /--out \/proc\/ifa-ssl-test\/out: cannot create/);
});

test('item 9: --batch -4, --workers 0 and a config with hidden 1e9 name the field', () => {
  assert.match(cli(['pretrain', '--batch', '-4']).out, /batch: Too small/);
  assert.match(cli(['pretrain', '--workers', '0']).out, /workers: Too small/);
  const big = join(root, 'hidden.json');
  writeFileSync(big, JSON.stringify({ ...tiny, hidden: 1e9 }));
  const r = cli(['pretrain', '--config', big, '--out', join(root, 'hidden-out')]);
  assert.is(r.code, 2);
  assert.match(r.out, /hidden: Too big: expected number to be <=65536/);
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
everyBackend.run();
