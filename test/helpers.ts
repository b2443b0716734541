// Shared test utilities: closeness checks that name the worst element, and backend discovery.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as assert from 'uvu/assert';
import { backends, type BackendStatus } from '../src/index.js';

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

let statusCache: BackendStatus[] | null = null;
export async function backendStatuses(): Promise<BackendStatus[]> {
  statusCache ??= await backends();
  return statusCache;
}

/** Logs why a backend's tests are skipped (uvu counts them as skipped). */
export function skipNote(what: string, reason: string): void {
  console.log(`  skipped: ${what} — ${reason}`);
}

/**
 * Whether tests should exercise this device backend: all by default; IFA_TEST_BACKENDS=cuda (a
 * comma-separated list) narrows a run, e.g. the CUDA-emulator pass in .ci/run, which would
 * otherwise repeat the WebGPU tests.
 */
export function backendSelected(name: string): boolean {
  const only = process.env.IFA_TEST_BACKENDS;
  if (!only) return true;
  return only.split(',').map((s) => s.trim()).includes(name);
}
