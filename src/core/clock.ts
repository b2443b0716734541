// The trace clock: microseconds of process.hrtime (CLOCK_MONOTONIC on Linux), one clock for the main
// thread, the data-loader workers and, through an offset measured once, the addon's steady_clock.
import { hrtime } from 'node:process';

/** Now, in microseconds of the process-wide monotonic clock (the same in every worker thread). */
export function nowUs(): number {
  return Number(hrtime.bigint()) / 1e3;
}

/**
 * The offset (µs) that maps a clock `otherNs` (nanoseconds) onto nowUs: the other clock read between
 * two reads of ours, the midpoint taken, best of a few tries (the tightest bracket). On Linux both
 * are CLOCK_MONOTONIC and the offset is 0 within a microsecond.
 */
export function clockOffsetUs(otherNs: () => number): number {
  let best = Infinity;
  let offset = 0;
  for (let i = 0; i < 5; i++) {
    const a = nowUs();
    const o = otherNs() / 1e3;
    const b = nowUs();
    if (b - a < best) {
      best = b - a;
      offset = (a + b) / 2 - o;
    }
  }
  return offset;
}
