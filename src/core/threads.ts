// The CPU backend's kernel threads, a process-wide setting like the float32 precision. It lives here,
// not in the package root, so that the trainer and the bench can set it without importing the root.
import type { CpuBackend } from '../backends/cpu.js';
import { getBackend } from '../backends/registry.js';

/** Number of CPU kernel threads (default: all cores). */
export function setCpuThreads(n: number): void {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw new RangeError(`setCpuThreads: expects a positive integer, got ${n}`);
  (getBackend('cpu') as CpuBackend).setThreads(n);
}
