// The CUDA emulator's sm_80 warp primitives (mma.sync, ldmatrix, cp.async behind kernels/cuda/mma.cuh)
// checked on their own: runs the test-only executable ifa_emu_selftest that the emulator build puts
// beside its addon (kernels/cuda/emu/primitives_test.cu: fragments in the PTX ISA layouts, a host
// reference, cp.async group semantics, misuse reports), in both thread orders, one test per check;
// then its twin built against planted emulator faults, whose checks must fail where the faults are.
// Looks next to IFA_NATIVE_PATH (npm run test:emu, test:emu-asan), else in build-emu/Release;
// skipped with the reason when there is no emulator build.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backendSelected, skipNote } from './helpers.js';

interface Check {
  name: string;
  ok: boolean;
  why: string;
}
interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  checks: Check[];
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dir = process.env.IFA_NATIVE_PATH ? dirname(process.env.IFA_NATIVE_PATH) : join(root, 'build-emu', 'Release');
const selftest = join(dir, 'ifa_emu_selftest');
const planted = join(dir, 'ifa_emu_selftest_planted');

function run(exe: string, order: 'forward' | 'reverse'): Run {
  const env = { ...process.env, IFA_CUDA_EMU_ORDER: order === 'reverse' ? 'reverse' : '' };
  const r = spawnSync(exe, [], { env, encoding: 'utf8', timeout: 120_000 });
  const checks: Check[] = [];
  for (const line of (r.stdout ?? '').split('\n')) {
    const ok = /^ok\t(.*)$/.exec(line);
    const fail = /^FAIL\t(.*?)\t(.*)$/.exec(line);
    if (ok) checks.push({ name: ok[1], ok: true, why: '' });
    else if (fail) checks.push({ name: fail[1], ok: false, why: fail[2] });
  }
  return { status: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : ''), checks };
}

if (!backendSelected('cuda')) {
  // IFA_TEST_BACKENDS leaves cuda out: nothing to run or report.
} else if (!existsSync(selftest) || !existsSync(planted)) {
  skipNote('CUDA emulator primitives', `no emulator self-test at ${selftest} (npm run build:emu builds it)`);
  test.skip('emu primitives: mma, ldmatrix, cp.async against the PTX layouts', () => {});
} else {
  for (const order of ['forward', 'reverse'] as const) {
    const r = run(selftest, order);
    test(`emu primitives (${order} thread order): the self-test runs to the end and passes`, () => {
      assert.ok(!/ERROR: AddressSanitizer/.test(r.stderr), `AddressSanitizer report:\n${r.stderr.slice(-4000)}`);
      assert.match(r.stdout, /selftest: \d+ checks, 0 failed/, `exit ${r.status}; stderr:\n${r.stderr.slice(-4000)}`);
      assert.is(r.status, 0);
      assert.ok(r.checks.length >= 30, `only ${r.checks.length} checks ran`);
    });
    for (const c of r.checks) {
      test(`emu primitives (${order}): ${c.name}`, () => {
        if (!c.ok) assert.unreachable(c.why);
      });
    }
  }

  // The positive control: each planted fault must fail the checks that cover it, and the paths
  // without a plant must still pass (so the checks are specific, not failing wholesale).
  test('emu primitives: control — an emulator with planted faults fails exactly the checks that cover them', () => {
    const r = run(planted, 'forward');
    assert.is.not(r.status, 0, 'the planted self-test passed');
    const failed = r.checks.filter((c) => !c.ok).map((c) => c.name);
    const passed = r.checks.filter((c) => c.ok).map((c) => c.name);
    const mustFail: [string, RegExp][] = [
      ['bf16 A fragment registers 1 and 2 swapped', /^mma bf16 m16n8k16: exact/],
      ['ldmatrix .trans ignored', /^ldmatrix \.x4\.trans/],
      ['ldmatrix .trans ignored, seen through mma', /^ldmatrix → mma f16/],
      ['cp.async landing at issue', /^cp\.async deferred/],
      ['tf32 low 13 bits kept', /^mma tf32 m16n8k8: random values .*low 13 operand bits ignored$/],
    ];
    for (const [fault, pattern] of mustFail) assert.ok(failed.some((n) => pattern.test(n)), `planted ${fault}: no check failed (failed: ${failed.join('; ')})`);
    const mustPass = [/^mma f16 m16n8k16: exact/, /^ldmatrix \.x4 \(/, /^mma tf32 m16n8k8: exact/, /^misuse reported/];
    for (const pattern of mustPass) assert.ok(passed.some((n) => pattern.test(n)), `${pattern} should pass without a plant on its path`);
  });
}

test.run();
