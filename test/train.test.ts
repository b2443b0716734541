// The trainer: exact resume (4 steps straight = 2 steps, checkpoint, resume, 2 steps), checkpoints
// that load back, init from an ifa-ssl checkpoint, and config errors that name the field.
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResNet50, importModule, parseConfig, readAnyCheckpoint, Trainer, type ConfigInput } from '../src/index.js';
import { packageRoot } from '../src/native.js';
import { cpuTests } from './helpers.js';
import { checkPlotFiles } from './plot-check.js';

const test = cpuTests(import.meta.url);

const root = mkdtempSync(join(tmpdir(), 'ifa-train-'));
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
  checkpointEvery: 100,
  bnGroups: 2,
};

async function train(extra: ConfigInput, stopAfter?: number) {
  const trainer = new Trainer(parseConfig({ ...tiny, ...extra }));
  return trainer.run({
    onLog: () => {},
    onStep: (m) => {
      if (stopAfter !== undefined && m.step >= stopAfter) trainer.requestStop();
    },
  });
}

for (const method of ['moco', 'simclr'] as const) {
  test(`${method}: 4 steps straight equal 2 steps, checkpoint, resume, 2 steps`, async () => {
    const straight = await train({ method, out: join(root, `${method}-a`) });
    const first = await train({ method, out: join(root, `${method}-b`) }, 2);
    assert.is(first.steps, 2);
    assert.ok(first.stopped);
    const resumed = await train({ method, out: join(root, `${method}-c`), resume: first.checkpoint });
    assert.is(resumed.steps, 4);
    assert.equal(
      resumed.history.map((m) => [m.step, m.loss, m.contrastive, m.ifa.block3]),
      straight.history.slice(2).map((m) => [m.step, m.loss, m.contrastive, m.ifa.block3]),
      'losses of steps 3 and 4',
    );
    const a = readAnyCheckpoint(straight.checkpoint);
    const c = readAnyCheckpoint(resumed.checkpoint);
    assert.equal(Object.keys(c.records).sort(), Object.keys(a.records).sort());
    for (const [k, rec] of Object.entries(a.records)) {
      const other = c.records[k];
      assert.equal([...other.data].map(String), [...rec.data].map(String), `tensor ${k} differs after resume`);
    }
    assert.is(c.metadata.step, '4');
  });
}

test('a checkpoint loads into a fresh model with torchvision keys and no missing ones', async () => {
  const ck = readAnyCheckpoint(join(root, 'moco-a', 'last.safetensors'));
  assert.is(ck.kind, 'ifa-ssl');
  assert.ok('conv1.weight' in ck.records && 'layer3.0.bn2.running_var' in ck.records && 'fc.0.weight' in ck.records && 'fc.2.weight' in ck.records);
  assert.equal(ck.records['conv1.weight'].shape, [8, 1, 7, 7], 'conv weights are OIHW on disk');
  assert.is(ck.records['bn1.num_batches_tracked'].dtype, 'I64');
  const m = new ResNet50({ layers: [1, 1, 1, 1], width: 8, hidden: 32, dim: 16 });
  const own = Object.fromEntries(Object.entries(ck.records).filter(([k]) => !k.startsWith('_state.')));
  const r = await importModule(m, own);
  assert.equal(r, { missing: [], unexpected: [] });
  const w = await m.conv1.stateDict().get('weight')!.data();
  assert.ok(w.some((v) => v !== 0));
  m.dispose();
});

const bin = join(packageRoot(), 'bin', 'ifa-ssl.js');
function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(process.execPath, [bin, ...args], { encoding: 'utf8', stdio: 'pipe' });
    return { code: 0, stdout, stderr: '' };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { code: err.status, stdout: err.stdout, stderr: err.stderr };
  }
}

test('logEvery: a metrics.jsonl line every N steps and at the last', async () => {
  const out = join(root, 'log-every');
  const r = await train({ method: 'simclr', steps: 5, logEvery: 2, out });
  assert.is(r.history.length, 5);
  const logged = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.equal(logged, [2, 4, 5]);
});

test('config errors exit non-zero naming the field and the range', () => {
  const r = cli(['pretrain', '--ifa', '7:1:1', '--steps', '1']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /ifa\[0\]\.block: .*<=\s*4/);
  const r2 = cli(['pretrain', '--batch', 'many']);
  assert.is(r2.code, 2);
  assert.match(r2.stderr, /--batch must be a number/);
  const r3 = cli(['pretrain', '--method', 'byol']);
  assert.match(r3.stderr, /method: /);
});

test('embed prints one JSON line per image with the pooled features', () => {
  const ckpt = join(root, 'moco-a', 'last.safetensors');
  const img = join(packageRoot(), 'test', 'fixtures', 'data');
  const r = cli(['embed', '--init', ckpt, '--image-size', '32', '--json', join(img, 'gray16.png'), join(img, 'corrupt.png')]);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.is(lines.length, 2);
  assert.is(lines[0].dim, 256, 'pooled features of the tiny model (width 8 × 32)');
  assert.is(lines[0].features.length, 256);
  assert.ok(lines[0].features.every((v: number) => Number.isFinite(v)));
  assert.match(lines[1].error, /.+/);
  assert.is(r.code, 1, 'a failed image makes the exit code non-zero');
});

test('the demo (npm start) runs and its checkpoint loads into a fresh ResNet-50', async () => {
  const out = join(root, 'demo');
  const r = cli(['demo', '--steps', '4', '--out', out]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /checkpoint \(end\): .*last\.safetensors at step 4/);
  const ck = readAnyCheckpoint(join(out, 'last.safetensors'));
  const m = new ResNet50({ inChannels: 1 });
  const own = Object.fromEntries(Object.entries(ck.records).filter(([k]) => !k.startsWith('_state.')));
  assert.equal(await importModule(m, own), { missing: [], unexpected: [] });
  assert.is(JSON.parse(ck.metadata.config).method, 'moco');
  m.dispose();
  // issue 19: the loss curves (total, contrastive, IFA block 3, lr; one point per step) in the run folder
  const series = await checkPlotFiles(out, 'loss');
  assert.equal(series.map((s) => s.points), [4, 4, 4, 4]);
  assert.equal(series.slice(0, 3).map((s) => s.label.replace(/.*series: /, '')), ['total loss', 'contrastive', 'IFA block3']);
});

test('SIGINT finishes the step, writes a checkpoint and exits 130', async () => {
  const out = join(root, 'sigint');
  const config = join(root, 'sigint.json');
  writeFileSync(config, JSON.stringify({ ...tiny, steps: 100000, out }));
  const child = spawn(process.execPath, [bin, 'pretrain', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const metrics = join(out, 'metrics.jsonl');
  for (let i = 0; i < 600 && !(existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 2); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.is(code, 130, stdout);
  assert.match(stdout, /checkpoint \(stopped\)/);
  const ck = readAnyCheckpoint(join(out, 'last.safetensors'));
  const steps = readFileSync(metrics, 'utf8').trim().split('\n').length;
  assert.is(Number(ck.metadata.step), steps, 'the checkpoint holds every finished step');
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
