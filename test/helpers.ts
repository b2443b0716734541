// Shared test utilities: closeness checks that name the worst element, and backend discovery and
// selection. IFA_TEST_BACKENDS (a comma list of BACKEND_NAMES; unset: all) chooses which backends a
// run exercises: a device test file runs its cases for the selected backends only, and a CPU-only
// file (cpuTests) registers nothing unless cpu is selected. So every run takes the whole dist/test
// set, and IFA_TEST_BACKENDS=cuda is the CUDA suite (npm run test:emu, bench/gpu/check.sh).
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { suite, test, type Callback, type Test } from 'uvu';
import * as assert from 'uvu/assert';
import { BACKEND_NAMES, type BackendName, type KernelAttrs, type TensorRef } from '../src/backends/backend.js';
import { backends, getBackend, initBackend, type BackendStatus } from '../src/index.js';

setFlagsFromString('--expose-gc');
/** V8's gc(), exposed at run time (no node flag needed). */
export const gc = runInNewContext('gc') as () => void;

/**
 * Collects garbage and lets the FinalizationRegistry release what earlier tests left undisposed, so a
 * memory count taken next moves only with what the test itself does (a leak collected mid-test would
 * otherwise lower it).
 */
export async function collectGarbage(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Tolerance {
  atol: number;
  rtol: number;
}

/** Asserts |a − b| ≤ atol + rtol·|b| elementwise; the message names the worst element. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what: string): void {
  assert.is(actual.length, expected.length, `${what}: length ${actual.length} vs ${expected.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const excess = Math.abs(a - e) - (tol.atol + tol.rtol * Math.abs(e));
    if (Number.isNaN(a) !== Number.isNaN(e) || excess > worstExcess) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  if (worst >= 0) {
    assert.unreachable(
      `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (atol ${tol.atol}, rtol ${tol.rtol})`,
    );
  }
}

const listed = (process.env.IFA_TEST_BACKENDS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const unknown = listed.filter((n) => !(BACKEND_NAMES as readonly string[]).includes(n));
if (unknown.length) throw new Error(`IFA_TEST_BACKENDS names unknown backends: ${unknown.join(', ')} (known: ${BACKEND_NAMES.join(', ')})`);
/** The backends this run exercises: those IFA_TEST_BACKENDS names, or all when it is unset. */
export const testBackends: readonly BackendName[] = listed.length ? BACKEND_NAMES.filter((n) => listed.includes(n)) : BACKEND_NAMES;

/** The device backends (all but the CPU, every test's reference) this run exercises, in BACKEND_NAMES order. */
export const deviceBackends: readonly BackendName[] = testBackends.filter((n) => n !== 'cpu');

/**
 * Whether tests should exercise this backend: all by default; IFA_TEST_BACKENDS=cuda (a
 * comma-separated list) narrows a run, e.g. the CUDA-emulator pass in .ci/run, which would
 * otherwise repeat the CPU and WebGPU tests.
 */
export function backendSelected(name: string): boolean {
  return (testBackends as readonly string[]).includes(name);
}

let statusCache: Promise<BackendStatus[]> | null = null;
/**
 * The status of every backend. With IFA_TEST_BACKENDS set only the selected backends (and the CPU,
 * every test's reference) are started, so a CUDA run makes no WebGPU adapter request; the others
 * read as unavailable, left out by the selection.
 */
export function backendStatuses(): Promise<BackendStatus[]> {
  statusCache ??= listed.length ? selectedStatuses() : backends();
  return statusCache;
}

async function selectedStatuses(): Promise<BackendStatus[]> {
  const out: BackendStatus[] = [];
  for (const name of BACKEND_NAMES) {
    if (name !== 'cpu' && !backendSelected(name)) {
      out.push({ name, available: false, reason: `left out by IFA_TEST_BACKENDS=${process.env.IFA_TEST_BACKENDS}` });
      continue;
    }
    try {
      out.push((await initBackend(name)).status());
    } catch (e) {
      out.push({ name, available: false, reason: (e as Error).message });
    }
  }
  return out;
}

/** Logs why a backend's tests are skipped (uvu counts them as skipped). */
export function skipNote(what: string, reason: string): void {
  console.log(`  skipped: ${what} — ${reason}`);
}

/**
 * uvu's `test` for a file whose tests exercise the CPU backend only (pass import.meta.url). When
 * IFA_TEST_BACKENDS leaves cpu out it notes the skip once and returns a stand-in that registers no
 * test and runs no before-hook, so the file costs only its imports; after-hooks still run (they
 * remove what the file's top level made, e.g. temporary folders).
 */
export function cpuTests(file: string): Test {
  if (backendSelected('cpu')) return test;
  return skippedTests(file, `CPU-only tests; IFA_TEST_BACKENDS=${process.env.IFA_TEST_BACKENDS} leaves cpu out`);
}

/**
 * cpuTests for a file whose tests run the CLI in child processes (training runs, kills): these run
 * in the plain suite only, not under a preloaded sanitizer (LD_PRELOAD), where every child would
 * start the instrumented addon and the runs' timing bounds would not hold.
 */
export function cliTests(file: string): Test {
  if (process.env.LD_PRELOAD) return skippedTests(file, `CLI runs in child processes; not under LD_PRELOAD=${process.env.LD_PRELOAD}`);
  return cpuTests(file);
}

function skippedTests(file: string, reason: string): Test {
  const name = basename(fileURLToPath(file));
  skipNote(name, reason);
  let cleanup: Test | null = null; // an empty suite, made for the first after-hook
  const ignore = (): void => {};
  const hook = (fn: (cb: Callback) => void): Test['before'] => Object.assign(fn, { each: ignore });
  return Object.assign((): void => {}, {
    only: ignore,
    skip: ignore,
    before: hook(ignore),
    after: hook((cb) => (cleanup ??= suite(`${name} cleanup`)).after(cb)),
    run: () => cleanup?.run(),
  });
}

/** n test values in [−0.5, 0.5), a fixed sequence per seed (the same on every backend). */
export function testValues(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let x = seed * 7919 + 17;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    a[i] = x / 2147483648 - 0.5;
  }
  return a;
}

const numelOf = (s: number[]) => s.reduce((a, b) => a * b, 1);

/**
 * Runs one kernel straight on the CPU backend and on `device` (started) from the same inputs and
 * initial outputs (testValues of seeds 1, 2, … and 100, 101, … unless given), so in-place kernels
 * start from the same state; returns [cpu, device] outputs as read back after the kernel.
 */
export async function kernelOnCpuAnd(
  device: BackendName,
  kernel: string,
  inShapes: number[][],
  outShapes: number[][],
  attrs: KernelAttrs,
  init: { inputs?: Float32Array[]; outputs?: Float32Array[] } = {},
): Promise<[Float32Array[], Float32Array[]]> {
  const res: Float32Array[][] = [];
  for (const be of [getBackend('cpu'), getBackend(device)]) {
    const ins: TensorRef[] = inShapes.map((sh, i) => ({ storage: be.alloc(numelOf(sh), init.inputs?.[i] ?? testValues(numelOf(sh), i + 1)), shape: sh }));
    const outs: TensorRef[] = outShapes.map((sh, i) => ({ storage: be.alloc(numelOf(sh), init.outputs?.[i] ?? testValues(numelOf(sh), 100 + i)), shape: sh }));
    be.run(kernel, ins, outs, attrs);
    res.push(await Promise.all(outs.map((t) => be.read(t.storage))));
    for (const t of [...ins, ...outs]) be.free(t.storage);
  }
  return [res[0], res[1]];
}

/** kernelOnCpuAnd, then every output of `device` within tol of the CPU's. */
export async function expectKernelMatch(
  device: BackendName,
  kernel: string,
  inShapes: number[][],
  outShapes: number[][],
  attrs: KernelAttrs,
  tol: Tolerance = { atol: 1e-6, rtol: 1e-5 },
  init: { inputs?: Float32Array[]; outputs?: Float32Array[] } = {},
): Promise<void> {
  const [cpu, dev] = await kernelOnCpuAnd(device, kernel, inShapes, outShapes, attrs, init);
  cpu.forEach((want, i) => assertClose(dev[i], want, tol, `${kernel} ${JSON.stringify(inShapes)} output ${i}`));
}
