// Issue 17 item 1: --resume restores the run. The README's three commands (pretrain, fine-tune with
// --init and --lr, resume) run in sequence at a tiny size (32², width 8, batch 4); the resumed run
// takes its settings from the checkpoint, so its lr, image size and step count continue the
// fine-tune's, and its metrics.jsonl time_s continues. A flag that changes the method is refused by
// name unless --override; --steps extends the run and the log says so.
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readAnyCheckpoint } from '../src/index.js';
import { packageRoot } from '../src/native.js';
import { cliTests } from './helpers.js';

const test = cliTests(import.meta.url);

const root = mkdtempSync(join(tmpdir(), 'ifa-resume-'));
const bin = join(packageRoot(), 'bin', 'ifa-ssl.js');
const data = join(root, 'cxr');
mkdirSync(data);
for (let i = 0; i < 8; i++) copyFileSync(join(packageRoot(), 'test', 'fixtures', 'data', 'gray16.png'), join(data, `img${i}.png`));
// The model and run size the README's commands leave to the defaults, made tiny.
const tiny = ['--image-size', '32', '--batch', '4', '--queue-size', '16', '--layers', '1,1,1,1', '--width', '8', '--hidden', '32', '--dim', '16', '--workers', '1'];

function cli(args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL', env: { ...process.env, IFA_SSL_CACHE: join(root, 'cache') } });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

interface Metric {
  step: number;
  loss: number;
  lr: number;
  time_s: number;
}
const metrics = (out: string): Metric[] =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

/** The cosine schedule without warmup: lr per 256 × batch/256 × ½(1 + cos(π·i/total)) for the step of index i. */
const cosine = (lr: number, batch: number, i: number, total: number) => ((lr * batch) / 256) * 0.5 * (1 + Math.cos((Math.PI * i) / total));

const pre = join(root, 'pre');
const ft = join(root, 'ft');

test("the README's pretrain → fine-tune (--init, --lr) → resume: the resumed run continues the fine-tune", () => {
  let r = cli(['pretrain', '--method', 'moco', '--data', data, ...tiny, '--steps', '2', '--no-ifa', '--out', pre]);
  assert.is(r.code, 0, r.out);
  r = cli(['pretrain', '--init', join(pre, 'last.safetensors'), '--ifa', '3:1:1', '--lr', '1e-5', '--data', data, ...tiny, '--steps', '4', '--checkpoint-every', '2', '--keep-last', '1', '--out', ft]);
  assert.is(r.code, 0, r.out);
  const straight = metrics(ft);
  assert.equal(straight.map((m) => m.step), [1, 2, 3, 4]);
  straight.forEach((m, i) => assert.ok(Math.abs(m.lr - cosine(1e-5, 4, i, 4)) <= 1e-12 * cosine(1e-5, 4, 0, 4), `fine-tune step ${m.step}: lr ${m.lr}`));
  const kept = join(ft, 'step-2.safetensors');
  const keptTime = Number(readAnyCheckpoint(kept).metadata.timeS);
  assert.ok(keptTime > 0, `the checkpoint records the training time so far (timeS ${keptTime})`);

  // The README's third command: nothing but --resume, --data and --out.
  r = cli(['pretrain', '--resume', kept, '--data', data, '--out', ft]);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /32², batch 4, lr 0.00001 per 256 → 1.5625e-7 at batch 4 \(cosine\), 4 steps/);
  assert.match(r.out, /resume: continuing from step 2 of 4/);
  const resumed = metrics(ft);
  assert.equal(resumed.map((m) => m.step), [1, 2, 3, 4]);
  for (const i of [2, 3]) {
    assert.is(resumed[i].lr, straight[i].lr, `step ${i + 1}: the fine-tune's lr`);
    assert.is(resumed[i].loss, straight[i].loss, `step ${i + 1}: the fine-tune's loss, bit for bit`);
  }
  assert.ok(resumed[2].time_s >= keptTime, `time_s continues: step 3 at ${resumed[2].time_s} s, the checkpoint at ${keptTime} s`);
  const cfg = JSON.parse(readAnyCheckpoint(join(ft, 'last.safetensors')).metadata.config);
  assert.equal([cfg.imageSize, cfg.batch, cfg.lr, cfg.steps, cfg.ifa], [32, 4, 1e-5, 4, [{ block: 3, target: 1, weight: 1 }]]);
});

test('--steps extends a resumed run and the log says so; the schedule follows the new length', () => {
  const r = cli(['pretrain', '--resume', join(ft, 'last.safetensors'), '--data', data, '--out', ft, '--steps', '6']);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /resume: extending the run from 4 steps to 6 steps/);
  const m = metrics(ft);
  assert.equal(m.map((x) => x.step), [1, 2, 3, 4, 5, 6]);
  for (const i of [4, 5]) assert.ok(Math.abs(m[i].lr - cosine(1e-5, 4, i, 6)) <= 1e-12 * cosine(1e-5, 4, 0, 6), `step ${i + 1}: lr ${m[i].lr}`);
  assert.is(readAnyCheckpoint(join(ft, 'last.safetensors')).metadata.step, '6');
});

test('a flag that changes the method on resume is refused by name, unless --override', () => {
  const last = join(ft, 'last.safetensors');
  let r = cli(['pretrain', '--resume', last, '--data', data, '--out', ft, '--image-size', '64', '--lr', '0.03']);
  assert.is(r.code, 2, r.out);
  assert.match(r.out, /--image-size 64 \(the checkpoint's: 32\), --lr 0.03 \(the checkpoint's: 0.00001\)/);
  assert.match(r.out, /--override/);
  assert.is(readAnyCheckpoint(last).metadata.step, '6', 'nothing was run');
  // The same values as the checkpoint's are no change.
  r = cli(['pretrain', '--resume', last, '--data', data, '--out', ft, '--image-size', '32', '--steps', '6']);
  assert.is(r.code, 0, r.out);
  r = cli(['pretrain', '--resume', last, '--data', data, '--out', ft, '--image-size', '64', '--steps', '7', '--override']);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /resume: --override: imageSize 32 → 64/);
  assert.is(JSON.parse(readAnyCheckpoint(last).metadata.config).imageSize, 64);
  // What is not a run's checkpoint is named, with the way to start from its weights.
  r = cli(['pretrain', '--resume', join(packageRoot(), 'test', 'fixtures', 'imagenet', 'resnet_tiny_rgb.pth'), '--out', join(root, 'pth')]);
  assert.is(r.code, 2, r.out);
  assert.match(r.out, /--resume needs an ifa-ssl checkpoint \(\.safetensors\); \S+resnet_tiny_rgb\.pth is a PyTorch file \(start from its weights with --init\)/);
  r = cli(['pretrain', '--resume', join(root, 'missing.safetensors'), '--out', join(root, 'missing')]);
  assert.is(r.code, 2, r.out);
  assert.match(r.out, /--resume \S+missing\.safetensors: cannot open it \(ENOENT\)/);
});

test.after(() => rmSync(root, { recursive: true, force: true }));

test.run();
