// Issue 17 items 5–7, through bin/ifa-ssl.js: small artefacts (export of the encoder alone, periodic
// checkpoints kept as the last N), the data the README promises (--data FILE.csv, --augment paper,
// bench data --data DIR, a "found N images (M skipped)" line, the effective lr in the header), and a
// complete CLI (--help everywhere, every config field a flag, embed DIR, an error names its path once).
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flagName } from '../src/cli/flags.js';
import { configFromArgs } from '../src/cli/pretrain.js';
import { ResNet50, exportModule, readAnyCheckpoint } from '../src/index.js';
import { nativeAddon, nativePath, packageRoot } from '../src/native.js';
import { configSchema } from '../src/train/config.js';
import { cliTests } from './helpers.js';

const test = cliTests(import.meta.url);

const root = mkdtempSync(join(tmpdir(), 'ifa-cli-'));
const bin = join(packageRoot(), 'bin', 'ifa-ssl.js');
const data = join(root, 'cxr');
mkdirSync(join(data, 'sub'), { recursive: true });
const images: string[] = [];
for (let i = 0; i < 8; i++) {
  const p = join(data, i < 4 ? '' : 'sub', `img${i}.png`);
  copyFileSync(join(packageRoot(), 'test', 'fixtures', 'data', 'gray16.png'), p);
  images.push(p);
}
writeFileSync(join(data, 'notes.txt'), 'not an image\n');
const tiny = ['--image-size', '32', '--batch', '4', '--queue-size', '16', '--layers', '1,1,1,1', '--width', '8', '--hidden', '32', '--dim', '16', '--workers', '1'];

function cli(args: string[]): { code: number | null; stdout: string; stderr: string; out: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL', env: { ...process.env, IFA_SSL_CACHE: join(root, 'cache') } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, out: `${r.stdout}\n${r.stderr}` };
}

const run = join(root, 'run');

test('item 5/6: a folder run logs what it found and the effective lr; --keep-last 2 keeps the newest two step-N checkpoints', () => {
  const r = cli(['pretrain', '--data', data, ...tiny, '--steps', '4', '--checkpoint-every', '1', '--keep-last', '2', '--out', run]);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, `data: found 8 images in ${data} (1 skipped: not .png .jpg .jpeg .dcm .dicom)`);
  assert.match(r.out, 'lr 0.03 per 256 → 0.00046875 at batch 4 (cosine)'); // 0.03 × 4 / 256
  assert.equal(readdirSync(run).sort(), ['last.safetensors', 'loss.png', 'loss.svg', 'metrics.jsonl', 'step-2.safetensors', 'step-3.safetensors']);
  assert.is(readAnyCheckpoint(join(run, 'step-3.safetensors')).metadata.step, '3');
  assert.is(readAnyCheckpoint(join(run, 'last.safetensors')).metadata.step, '4');
});

test('item 5: export writes the encoder alone under torchvision names; embed gives the same features from it', async () => {
  const last = join(run, 'last.safetensors');
  const ck = readAnyCheckpoint(last);
  const fresh = new ResNet50({ layers: [1, 1, 1, 1], width: 8, head: 'none' });
  const names = Object.keys(await exportModule(fresh)).sort();
  fresh.dispose();
  for (const head of [false, true]) {
    const file = join(root, head ? 'encoder-head.safetensors' : 'encoder.safetensors');
    const r = cli(['export', '--init', last, '--out', file, ...(head ? ['--head'] : [])]);
    assert.is(r.code, 0, r.out);
    const ex = readAnyCheckpoint(file);
    const keys = Object.keys(ex.records).sort();
    assert.equal(keys.filter((k) => !k.startsWith('fc.')), names, 'exactly the encoder of a torchvision ResNet');
    assert.equal(keys.filter((k) => k.startsWith('fc.')), head ? ['fc.0.bias', 'fc.0.weight', 'fc.2.bias', 'fc.2.weight'] : []);
    for (const k of keys) assert.equal([...ex.records[k].data].map(String), [...ck.records[k].data].map(String), `${k} as in the checkpoint`);
    const layer = head ? 'head' : 'pool';
    const a = cli(['embed', '--init', file, '--layer', layer, '--json', images[0]]);
    const b = cli(['embed', '--init', last, '--layer', layer, '--json', images[0]]);
    assert.is(a.code, 0, a.out);
    assert.equal(JSON.parse(a.stdout).features, JSON.parse(b.stdout).features, `${layer} features from the export and from the checkpoint`);
  }
});

test('item 6: --data train.csv (CheXpert layout) with --augment paper trains, and says what it found', () => {
  const csv = join(data, 'train.csv');
  writeFileSync(csv, ['Path,Sex,Age,Atelectasis', ...images.map((p, i) => `${p.slice(data.length + 1)},F,50,${i % 2}`), ',M,60,1', ''].join('\n'));
  const out = join(root, 'csv');
  const r = cli(['pretrain', '--data', csv, '--augment', 'paper', ...tiny, '--steps', '2', '--out', out]);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, `data: found 8 images in ${csv} (1 skipped: blank path)`);
  assert.is(JSON.parse(readAnyCheckpoint(join(out, 'last.safetensors')).metadata.config).augment, 'paper');
  const bad = cli(['pretrain', '--data', join(data, 'notes.txt'), ...tiny, '--steps', '1', '--out', join(root, 'bad')]);
  assert.is(bad.code, 1, bad.out);
  assert.match(bad.out, /--data \S+notes\.txt: a file, but not a \.csv manifest/);
});

test('item 6: bench data --data DIR measures the folder', () => {
  const r = cli(['bench', 'data', '--data', data, '--image-size', '32', '--batch-size', '4', '--pairs', '8', '--workers', '1', '--json']);
  assert.is(r.code, 0, r.out);
  const j = JSON.parse(r.stdout);
  assert.is(j.source.startsWith(`${data} (8 images)`), true, j.source);
  assert.ok(j.pairs >= 8 && j.batch_size === 4);
});

test('item 7: --help on every command exits 0 with its usage', () => {
  for (const args of [['info'], ['demo'], ['pretrain'], ['embed'], ['export'], ['bench'], ['bench', 'step'], ['bench', 'data']]) {
    const r = cli([...args, '--help']);
    assert.is(r.code, 0, `${args.join(' ')} --help: ${r.out}`);
    assert.match(r.stdout, /^usage: ifa-ssl /, args.join(' '));
  }
});

test('item 7: every config field is a flag listed in pretrain --help, and parses', () => {
  const help = cli(['pretrain', '--help']).stdout;
  for (const field of Object.keys(configSchema.shape)) {
    const flag = field === 'ifa' ? '--ifa' : `--${flagName(field)}`;
    assert.ok(new RegExp(`^\\s+${flag}\\b`, 'm').test(help), `${flag} (${field}) is in pretrain --help`);
  }
  const cfg = configFromArgs(['--augment', 'paper', '--bn-groups', '2', '--warmup-steps', '3', '--temperature', '0.5', '--synthetic-images', '9', '--warm-queue', '--layers', '1,2,3,4', '--keep-last', '2', '--weight-decay', '0.001', '--head', 'linear']);
  assert.equal(
    [cfg.augment, cfg.bnGroups, cfg.warmupSteps, cfg.temperature, cfg.syntheticImages, cfg.warmQueue, cfg.layers, cfg.keepLast, cfg.weightDecay, cfg.head],
    ['paper', 2, 3, 0.5, 9, true, [1, 2, 3, 4], 2, 0.001, 'linear'],
  );
});

test('item 7: embed DIR embeds the images under it; an unreadable file is named once', () => {
  const r = cli(['embed', '--init', join(run, 'last.safetensors'), '--json', data]);
  assert.is(r.code, 0, r.out);
  assert.equal(r.stdout.trim().split('\n').map((l) => JSON.parse(l).image), [...images].sort());
  const notes = join(data, 'notes.txt');
  const bad = cli(['embed', '--init', join(run, 'last.safetensors'), notes]);
  assert.is(bad.code, 1);
  const line = bad.stderr.split('\n').find((l) => l.includes(notes)) ?? '';
  assert.is(line.split(notes).length - 1, 1, `the path appears once: ${line}`);
});

test("item 7: bench conv --layer conv1 is the model's 1-channel stem at 512², with --progress lines on stderr", () => {
  const r = cli(['bench', 'conv', '--layer', 'conv1', '--batch', '1', '--pass', 'forward', '--iters', '2', '--warmup', '1', '--progress', '--json']);
  assert.is(r.code, 0, r.out);
  const j = JSON.parse(r.stdout);
  assert.equal([j.shape, j.kernel, j.stride, j.cout, j.out], [[1, 512, 512, 1], 7, 2, 64, [1, 256, 256, 64]]);
  assert.is(j.flops, 2 * 256 * 256 * 64 * 1 * 7 * 7, 'forward flops 2·N·Ho·Wo·Cout·Cin·K²');
  assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('bench conv: ')).map((l) => l.replace(/ \(.*/, '')), ['bench conv: warmup 1/1', 'bench conv: timed 1/2', 'bench conv: timed 2/2']);
  // --layer stem is the same layer; a shape beside it is refused by name.
  const stem = cli(['bench', 'conv', '--layer', 'stem', '--batch', '1', '--pass', 'forward', '--iters', '1', '--warmup', '1', '--json']);
  assert.is(stem.code, 0, stem.out);
  assert.equal(JSON.parse(stem.stdout).shape, [1, 512, 512, 1]);
  const both = cli(['bench', 'conv', '--layer', 'conv1', '--shape', '1,64,64,1']);
  assert.is(both.code, 1, both.out);
  assert.match(both.stderr, /--layer conv1 sets the shape, kernel, stride and cout: give --batch/);
});

test("item 7: bench conv --layer conv1_rgb is the anchors' 3-channel 224² layer (the one cuDNN is timed on)", () => {
  const r = cli(['bench', 'conv', '--layer', 'conv1_rgb', '--batch', '1', '--pass', 'forward', '--iters', '1', '--warmup', '1', '--json']);
  assert.is(r.code, 0, r.out);
  const j = JSON.parse(r.stdout);
  assert.equal([j.shape, j.kernel, j.stride, j.cout, j.out, j.layer], [[1, 224, 224, 3], 7, 2, 64, [1, 112, 112, 64], 'conv1_rgb']);
});

test("item 7: Dawn's 'artificially reduced' warnings stay off stderr unless IFA_WEBGPU_VERBOSE=1", () => {
  const verbose = spawnSync(process.execPath, [bin, 'info'], { encoding: 'utf8', env: { ...process.env, IFA_WEBGPU_VERBOSE: '1' } });
  const quiet = cli(['info']);
  assert.is(quiet.code, 0, quiet.out);
  assert.not.match(quiet.stderr, /artificially reduced/);
  if (!/artificially reduced/.test(verbose.stderr)) console.log('  note: this machine\'s WebGPU adapter prints no such warning (not lavapipe); only the quiet run was checked');
  else assert.match(quiet.stdout, /webgpu +available/, 'WebGPU still comes up with the warnings silenced');
});

test('quietStderr returns what fn returns and restores stderr when fn throws', () => {
  const addon = nativeAddon();
  assert.is(addon.quietStderr!(() => 42), 42);
  assert.throws(() => addon.quietStderr!(() => {
    throw new RangeError('inside');
  }), /inside/);
  const r = spawnSync(process.execPath, ['-e', `const a = require(${JSON.stringify(nativePath())}); a.quietStderr(() => process.stderr.write('hidden\\n')); process.stderr.write('shown\\n');`], { encoding: 'utf8' });
  assert.is(r.stderr, 'shown\n');
});

test.after(() => rmSync(root, { recursive: true, force: true }));

test.run();
