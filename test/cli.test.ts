// `ifa-ssl info --json`: valid JSON with the build and each backend's status.
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../src/native.js';
import { cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);

const bin = join(packageRoot(), 'bin', 'ifa-ssl.js');

test('info --json reports the build and every backend', () => {
  const out = execFileSync(process.execPath, [bin, 'info', '--json'], { encoding: 'utf8' });
  const info = JSON.parse(out);
  assert.type(info.version, 'string');
  assert.equal(info.backends.map((b: { name: string }) => b.name), ['cpu', 'cuda', 'webgpu']);
  const [cpu, cuda, webgpu] = info.backends;
  assert.ok(cpu.available);
  if (info.build.cuda.emulator) {
    assert.ok(cuda.available && /emulator/.test(cuda.device), 'the emulator build reports its device');
  } else if (info.build.cuda.compiled) {
    assert.ok(info.build.cuda.architectures.includes('sm_90'), 'sm_90 is among the architectures');
  }
  if (!cuda.available) assert.match(cuda.reason, /driver|CUDA/);
  console.log(`  cuda: ${cuda.available ? cuda.device : cuda.reason}`);
  console.log(`  webgpu: ${webgpu.available ? webgpu.device : webgpu.reason}`);
  // CI installs Mesa's lavapipe, so WebGPU must come up there.
  if (process.env.CI) assert.ok(webgpu.available, `webgpu unavailable in CI: ${webgpu.reason}`);
});

test('unknown command and bad flag exit non-zero with a message', () => {
  for (const args of [['nope'], ['info', '--bogus']]) {
    try {
      execFileSync(process.execPath, [bin, ...args], { encoding: 'utf8', stdio: 'pipe' });
      assert.unreachable(`ifa-ssl ${args.join(' ')} exited 0`);
    } catch (e) {
      const err = e as { status: number; stderr: string };
      assert.ok(err.status !== 0);
      assert.match(err.stderr, /unknown|Unknown/);
    }
  }
});

test.run();
