// `node dist/bench/augment-kernels.js [--size 512] [--rounds 5]`: each augmentation kernel of the
// loader at S×S, the addon's C++ (src/data/augment/native.ts) against its TypeScript reference
// (src/data/augment/pixels.ts), in alternating rounds on one thread; prints ms per call (median of
// the rounds) and the speed-up, plus one whole default-preset view (normalised into a batch slot).
import { parseArgs } from 'node:util';
import { Rng } from '../src/core/random.js';
import { compileAugmentations, mixSeed } from '../src/data/augment/compose.js';
import * as F from '../src/data/augment/native.js';
import { motionBlurTaps, shiftScaleRotateMatrix } from '../src/data/augment/pixels.js';
import { preset } from '../src/data/augment/presets.js';

const { values } = parseArgs({ options: { size: { type: 'string', default: '512' }, rounds: { type: 'string', default: '5' } } });
const S = Number(values.size), rounds = Number(values.rounds);
if (!(Number.isInteger(S) && S >= 8 && S <= 4096)) throw new RangeError(`--size must be an integer in [8, 4096], got ${values.size}`);
if (!(Number.isInteger(rounds) && rounds >= 1)) throw new RangeError(`--rounds must be a positive integer, got ${values.rounds}`);
if (F.augmentKernels() !== 'native') throw new Error('the addon has no augmentation kernels here (not built, or IFA_AUGMENT_NATIVE=0): nothing to compare');

const n = S * S;
const src = new Float32Array(n);
for (let i = 0; i < n; i++) src[i] = 0.5 + 0.4 * Math.sin(i * 0.001) + 0.1 * ((Math.imul(i, 2654435761) >>> 0) / 4294967296);
const dst = new Float32Array(n), batch = new Float32Array(32 * n), u16 = new Uint16Array(n).map((_, i) => (i * 7919) & 0xffff);
const aug = compileAugmentations(preset('default'));
const cases: [string, (i: number) => void, number][] = [
  ['default preset, one view', (i) => aug.runInto(src, S, S, new Rng(mixSeed(1, 2, i, i & 1)), batch, (i % 32) * n, 0.5, 0.25), 100],
  ['cache read (unit16)', () => F.unit16(u16, dst), 50],
  ['pointwise (1 stage + norm)', (i) => F.pointwiseChain(src, batch, (i % 32) * n, n, [1.1, 0.01], 1, 4, -2), 50],
  ['median 3×3', () => F.medianBlurKernel(src, dst, S, S, 3), 20],
  ['motion blur 7', () => F.filterTaps(src, dst, S, S, motionBlurTaps(7, 0, 0, 6, 4)), 20],
  ['sharpen', () => F.sharpenKernel(src, dst, S, S, 0.1, 0.7), 20],
  ['shift-scale-rotate', () => F.warpAffineInverse(src, dst, S, S, shiftScaleRotateMatrix(S, S, 5, 1.1, 0.01, 0.02)), 20],
  ['optical distortion', () => F.opticalDistortionKernel(src, dst, S, S, 0.03, 3, 2), 20],
  ['gauss noise', () => F.gaussNoiseKernel(src, dst, n, 0.05, 3), 20],
  ['multiplicative noise', () => F.multiplicativeNoiseElementwise(src, dst, n, 0.9, 1.1, 3), 20],
];
const time = (f: (i: number) => void, reps: number): number => {
  f(0);
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) f(i);
  return (performance.now() - t0) / reps;
};
const median = (a: number[]): number => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ts: number[][] = cases.map(() => []), nat: number[][] = cases.map(() => []);
for (let r = 0; r < rounds; r++) {
  for (const side of ['typescript', 'native'] as const) {
    F.useReferenceKernels(side === 'typescript');
    cases.forEach(([, f, reps], i) => (side === 'typescript' ? ts : nat)[i].push(time(f, reps)));
  }
}
F.useReferenceKernels(false);
console.log(`| kernel at ${S}×${S} (ms per call, median of ${rounds} alternating rounds) | TypeScript | C++ | speed-up |`);
console.log('|---|---:|---:|---:|');
cases.forEach(([name], i) => console.log(`| ${name} | ${median(ts[i]).toFixed(3)} | ${median(nat[i]).toFixed(3)} | ${(median(ts[i]) / median(nat[i])).toFixed(2)}× |`));
