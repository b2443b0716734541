// Shape checks shared by tensor creation and the ops' shape rules.

export type Shape = readonly number[];

export function formatShape(s: Shape): string {
  return `[${s.join(',')}]`;
}

export function numel(s: Shape): number {
  let n = 1;
  for (const d of s) n *= d;
  return n;
}

/** Throws a TypeError/RangeError naming `what` unless s is an array of non-negative safe integers. */
export function checkShape(s: unknown, what: string): number[] {
  if (!Array.isArray(s)) throw new TypeError(`${what}: shape must be an array of dimensions, got ${typeof s}`);
  if (s.length > 8) throw new RangeError(`${what}: rank ${s.length} is not supported (at most 8)`);
  for (const d of s) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new RangeError(`${what}: shape ${JSON.stringify(s)} must hold non-negative integers`);
    }
  }
  const n = numel(s);
  if (n > 2 ** 36) throw new RangeError(`${what}: shape ${formatShape(s)} has ${n} elements, more than 2^36`);
  return [...s];
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** numpy broadcasting; null when incompatible. */
export function broadcastShape(a: Shape, b: Shape): number[] | null {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = i < r - a.length ? 1 : a[i - (r - a.length)];
    const db = i < r - b.length ? 1 : b[i - (r - b.length)];
    if (da !== db && da !== 1 && db !== 1) return null;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Axes of `out` that must be summed to bring a gradient of shape `out` back to shape `inp`. */
export function reducedAxesFor(inp: Shape, out: Shape): number[] {
  const axes: number[] = [];
  const lead = out.length - inp.length;
  for (let i = 0; i < out.length; i++) {
    if (i < lead || (inp[i - lead] === 1 && out[i] !== 1)) axes.push(i);
  }
  return axes;
}

/** Normalises axes (negative allowed) against rank; throws naming the op on out-of-range or repeats. */
export function normalizeAxes(axes: number | number[] | undefined, rank: number, what: string): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = Array.isArray(axes) ? axes : [axes];
  const seen = new Set<number>();
  for (const a of list) {
    if (typeof a !== 'number' || !Number.isInteger(a) || a < -rank || a >= rank) {
      throw new RangeError(`${what}: axis ${a} is out of range for rank ${rank}`);
    }
    const n = a < 0 ? a + rank : a;
    if (seen.has(n)) throw new RangeError(`${what}: axis ${a} is listed twice`);
    seen.add(n);
  }
  return [...seen].sort((x, y) => x - y);
}
