// Seeded random numbers for tensor creation: xoshiro128** seeded through splitmix32, so a seed gives
// the same values on every backend (values are generated on the host, then uploaded).

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private s: Uint32Array;
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
    const sm = splitmix32(Math.floor(seed) >>> 0);
    this.s = new Uint32Array([sm(), sm(), sm(), sm()]);
  }
  /** Next 32 random bits. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }
  /** Standard normal (Box–Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
  state(): number[] {
    return [...this.s];
  }
  /** A generator continuing exactly from a saved state(). */
  static fromState(state: number[]): Rng {
    if (!Array.isArray(state) || state.length !== 4 || state.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new RangeError('Rng.fromState: expected four unsigned 32-bit integers');
    }
    const r = new Rng(0);
    r.s = new Uint32Array(state);
    return r;
  }
}

/**
 * x rotated left by k bits (0 < k < 32), as an int32: bitwise ops, Math.imul and Uint32Array stores
 * read it as the same 32 bits, and it stays a small integer in hot loops (`>>> 0` gives the unsigned).
 */
export function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

let globalRng = new Rng(0x1fa55);

/** Reseeds the generator used by random tensors created without an explicit seed. */
export function setSeed(seed: number): void {
  globalRng = new Rng(seed);
}

export function rngFor(seed?: number): Rng {
  return seed === undefined ? globalRng : new Rng(seed);
}
