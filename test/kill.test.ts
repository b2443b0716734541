// The kill test (issue 16): a child pretraining a tiny model with a checkpoint every step is SIGKILLed
// at 10 random moments (some land inside checkpoint writes); after each, last.safetensors loads, the
// next start resumes from it and runs a step, and no temp file of a killed writer survives that start.
// About 15 s.
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readAnyCheckpoint } from '../src/index.js';
import { packageRoot } from '../src/native.js';
import { cliTests } from './helpers.js';

const test = cliTests(import.meta.url);

const root = mkdtempSync(join(tmpdir(), 'ifa-kill-'));
const bin = join(packageRoot(), 'bin', 'ifa-ssl.js');
const out = join(root, 'run');
const config = join(root, 'tiny.json');
writeFileSync(config, JSON.stringify({ data: 'synthetic', syntheticImages: 16, imageSize: 32, batch: 4, queueSize: 16, layers: [1, 1, 1, 1], width: 8, hidden: 32, dim: 16, checkpointEvery: 1, bnGroups: 2, workers: 1, lr: 0.03, steps: 100000, out }));
const ckpt = join(out, 'last.safetensors');
const children = new Set<import('node:child_process').ChildProcess>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function lastMetricStep(): number {
  const path = join(out, 'metrics.jsonl');
  if (!existsSync(path)) return 0;
  const lines = readFileSync(path, 'utf8').trim().split('\n').filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      return JSON.parse(lines[i]).step;
    } catch {
      // a line cut by the kill
    }
  }
  return 0;
}

const temps = () => (existsSync(out) ? readdirSync(out).filter((n) => n.endsWith('.tmp')) : []);

test('10 SIGKILLs at random moments: last always loads, --resume always runs a step, no temp file survives', async () => {
  let seed = 20261204;
  const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  let leftover: string[] = [];
  let killedInWrite = 0;
  for (let round = 0; round < 10; round++) {
    const resumeFrom = existsSync(ckpt) ? Number(readAnyCheckpoint(ckpt).metadata.step) : 0;
    const args = ['pretrain', '--config', config, ...(existsSync(ckpt) ? ['--resume', ckpt] : ['--overwrite'])];
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '', stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    // Wait for the first step past the checkpoint (the resumed run's own work), then kill at a random moment.
    children.add(child);
    const t0 = Date.now();
    const stepped = () => /step\s+\d+\//.test(stdout + stderr);
    while (!stepped() && Date.now() - t0 < 20_000 && child.exitCode === null) await sleep(10);
    assert.ok(stepped() && lastMetricStep() > resumeFrom, `round ${round}: the run made no step past ${resumeFrom} (${stderr})`);
    for (const t of leftover) assert.not.ok(existsSync(join(out, t)), `round ${round}: ${t} survived the start`);
    await sleep(rand() * 400);
    if (temps().length) killedInWrite++;
    child.kill('SIGKILL');
    assert.is(await exited, null, `round ${round}: the child exited by itself: ${stderr}`);
    children.delete(child);
    leftover = temps();
    if (leftover.length) killedInWrite++;
    const ck = readAnyCheckpoint(ckpt); // must load: the rename is atomic
    assert.ok(Number(ck.metadata.step) >= resumeFrom, `round ${round}: the checkpoint went back`);
  }
  // A last, clean finish from where the kills left it.
  const at = Number(readAnyCheckpoint(ckpt).metadata.step);
  writeFileSync(config, JSON.stringify({ ...JSON.parse(readFileSync(config, 'utf8')), steps: at + 1 }));
  const child = spawn(process.execPath, [bin, 'pretrain', '--config', config, '--resume', ckpt], { stdio: 'ignore' });
  assert.is(await new Promise<number | null>((r) => child.on('exit', (c) => r(c))), 0);
  assert.is(readAnyCheckpoint(ckpt).metadata.step, String(at + 1));
  assert.equal(temps(), [], 'no temp file left');
  const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.equal(steps, Array.from({ length: at + 1 }, (_, i) => i + 1), 'metrics hold each step once, in order');
  console.log(`  10 kills; ${killedInWrite} saw a checkpoint write in progress; finished at step ${at + 1}`);
});

test.after(() => {
  for (const c of children) c.kill('SIGKILL'); // a failed assertion leaves no trainer running
  rmSync(root, { recursive: true, force: true });
});
test.run();
