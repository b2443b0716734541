// The plan contract of src/data/augment/plan.ts: the counter-based noise words every device computes
// (golden values from an independent Python implementation of lowbias32), and the noise kernels'
// distributions.
import * as assert from 'uvu/assert';
import { test } from 'uvu';
import { lowbias32, noiseU32 } from '../src/data/augment/plan.js';
import { gaussNoiseKernel as gaussNoiseCounter, multiplicativeNoiseElementwise as multiplicativeNoiseCounter } from '../src/data/augment/pixels.js';

test('lowbias32 and noiseU32 equal the Python reference words', () => {
  // /usr/bin/python3: M = 2**32 - 1; lb(x): x ^= x >> 16; x = x*0x21f0aaad & M; x ^= x >> 15;
  // x = x*0x735a2d97 & M; x ^= x >> 15. nu(s, i) = lb((i*0x9E3779B9 + lb(s)) & M).
  assert.equal([0, 1, 2, 0xdeadbeef, 0xffffffff].map(lowbias32), [0, 2261973619, 229111015, 707447538, 2578835075]);
  assert.equal([0, 1, 2, 262143, 2 ** 31].map((i) => noiseU32(12345, i)), [1561514587, 312370311, 140535456, 3507681591, 1952725853]);
});

test('counter noise: Gaussian has the requested σ, multiplicative is uniform in [lo, hi]; seeds differ', () => {
  const n = 1 << 16;
  const src = new Float32Array(n).fill(0.5);
  const g = new Float32Array(n);
  gaussNoiseCounter(src, g, n, 0.05, 7);
  let m = 0, v = 0;
  for (const x of g) m += x / n;
  for (const x of g) v += (x - m) ** 2 / n;
  assert.ok(Math.abs(m - 0.5) < 0.002, `mean ${m}`);
  assert.ok(Math.abs(Math.sqrt(v) - 0.05) < 0.002, `σ ${Math.sqrt(v)}`);
  const u = new Float32Array(n);
  multiplicativeNoiseCounter(src, u, n, 0.9, 1.1, 7);
  let lo = Infinity, hi = -Infinity, mu = 0;
  for (const x of u) { lo = Math.min(lo, x); hi = Math.max(hi, x); mu += x / n; }
  assert.ok(lo >= 0.45 && lo < 0.4502 && hi <= 0.55 && hi > 0.5498, `${lo} ${hi}`);
  assert.ok(Math.abs(mu - 0.5) < 0.001, `mean ${mu}`);
  const g2 = new Float32Array(n);
  gaussNoiseCounter(src, g2, n, 0.05, 8);
  let same = 0;
  for (let i = 0; i < n; i++) if (g[i] === g2[i]) same++;
  assert.ok(same < n / 100, `seeds 7 and 8 share ${same} values`);
});

test.run();
