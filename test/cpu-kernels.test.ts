// CPU kernels against obvious references: the fast matmul against matmulReference (the triple loop
// kept beside it) on sizes that cross its blocking, and the reduction/broadcast paths against JS.
import * as assert from 'uvu/assert';
import { nativeAddon } from '../src/native.js';
import { Rng } from '../src/core/random.js';
import { assertClose, cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);

const addon = nativeAddon();
const rng = new Rng(77);
const randn = (n: number) => Float32Array.from({ length: n }, () => rng.normal());

test('matmul (blocked, threaded) equals matmulReference for every transpose and odd sizes', async () => {
  for (const [m, n, k] of [[1, 1, 1], [3, 300, 5], [67, 1100, 290], [129, 65, 513]]) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const A = addon.alloc(m * k, randn(m * k));
        const B = addon.alloc(k * n, randn(k * n));
        const C1 = addon.alloc(m * n);
        const C2 = addon.alloc(m * n);
        const args = [[A, ta ? [k, m] : [m, k]], [B, tb ? [n, k] : [k, n]]] as [number, number[]][];
        addon.run('matmul', args, [[C1, [m, n]]], { transposeA: ta, transposeB: tb });
        addon.run('matmulReference', args, [[C2, [m, n]]], { transposeA: ta, transposeB: tb });
        const [fast, ref] = await Promise.all([addon.read(C1), addon.read(C2)]);
        assertClose(fast, ref, { atol: 1e-4, rtol: 1e-4 }, `matmul ${m}x${n}x${k} ta=${ta} tb=${tb}`);
        for (const h of [A, B, C1, C2]) addon.free(h);
      }
    }
  }
});

function jsReduce(x: Float32Array, shape: number[], axes: number[]): number[] {
  const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = new Array(kept.reduce((a, b) => a * b, 1)).fill(0);
  const idx = new Array(shape.length).fill(0);
  for (let i = 0; i < x.length; i++) {
    let o = 0;
    for (let d = 0; d < shape.length; d++) o = o * kept[d] + (axes.includes(d) ? 0 : idx[d]);
    out[o] += x[i];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

test('reduceSum: suffix, prefix and general axis sets match a JS reference', async () => {
  const shape = [3, 4, 5, 6];
  const n = 360;
  const xv = randn(n);
  const X = addon.alloc(n, xv);
  for (const axes of [[3], [2, 3], [0], [0, 1, 2], [1], [0, 2], [1, 3], [0, 1, 2, 3]]) {
    const keptN = shape.filter((_, i) => !axes.includes(i)).reduce((a, b) => a * b, 1);
    const Y = addon.alloc(keptN);
    addon.run('reduceSum', [[X, shape]], [[Y, [keptN]]], { axes, scale: 0.5 });
    const got = await addon.read(Y);
    assertClose(got, jsReduce(xv, shape, axes).map((v) => v * 0.5), { atol: 1e-5, rtol: 1e-5 }, `axes [${axes}]`);
    addon.free(Y);
  }
  addon.free(X);
});

test('broadcast add: general strided path matches JS', async () => {
  const a = randn(2 * 1 * 4);
  const b = randn(3 * 1);
  const A = addon.alloc(8, a);
  const B = addon.alloc(3, b);
  const C = addon.alloc(24);
  addon.run('add', [[A, [2, 1, 4]], [B, [3, 1]]], [[C, [2, 3, 4]]]);
  const got = await addon.read(C);
  const want: number[] = [];
  for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) want.push(Math.fround(a[i * 4 + k] + b[j]));
  assert.equal([...got], want);
  for (const h of [A, B, C]) addon.free(h);
});

test.run();
