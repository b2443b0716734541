// Autograd against closed forms: accumulation across uses, reverse topological order on a diamond,
// noGrad, detach, errors, and the host-known upstream gradient (Tensor.knownValue).
import * as assert from 'uvu/assert';
import { type Tensor, add, copyRowsInto, matmul, mean, mul, noGrad, relu, scale, sum, tensor, tidy } from '../src/index.js';
import { record } from '../src/ops/op.js';
import { assertClose, cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);

test('gradient accumulates when a tensor feeds several ops', async () => {
  // f = Σ (x·x + x) → df/dx = 2x + 1
  const x = tensor([1, -2, 3], [3], { requiresGrad: true });
  tidy(() => sum(add(mul(x, x), x)).backward());
  assert.equal([...(await x.grad!.data())], [3, -3, 7]);
  // A second backward adds to .grad, as PyTorch does.
  tidy(() => sum(x).backward());
  assert.equal([...(await x.grad!.data())], [4, -2, 8]);
  x.grad!.dispose();
  x.dispose();
});

test('diamond graph: each node runs once, after all its consumers', async () => {
  // y = relu(x); f = mean(y·y + 3y) → df/dx = (2y + 3)/n where x > 0
  const x = tensor([0.5, -1, 2, 4], [4], { requiresGrad: true });
  tidy(() => {
    const y = relu(x);
    mean(add(mul(y, y), mul(y, tensor(3)))).backward();
  });
  assertClose(await x.grad!.data(), [(1 + 3) / 4, 0, (4 + 3) / 4, (8 + 3) / 4], { atol: 1e-6, rtol: 1e-6 }, 'dx');
  x.grad!.dispose();
  x.dispose();
});

test('matmul gradient against the closed form', async () => {
  // f = Σ A·B → dA = 1·Bᵀ (row sums of B), dB = Aᵀ·1 (column sums of A)
  const a = tensor([[1, 2], [3, 4], [5, 6]], undefined, { requiresGrad: true });
  const b = tensor([[1, -1, 2], [0, 3, 1]], undefined, { requiresGrad: true });
  tidy(() => sum(matmul(a, b)).backward());
  assert.equal(await a.grad!.array(), [[2, 4], [2, 4], [2, 4]]);
  assert.equal(await b.grad!.array(), [[9, 9, 9], [12, 12, 12]]);
  for (const t of [a, b]) {
    t.grad!.dispose();
    t.dispose();
  }
});

test('broadcast gradients are summed back to the input shape', async () => {
  const x = tensor(new Float32Array(12).map((_, i) => i), [2, 3, 2], { requiresGrad: true });
  const bias = tensor([10, 20], [2], { requiresGrad: true });
  tidy(() => sum(mul(add(x, bias), tensor(2))).backward());
  assert.equal([...(await bias.grad!.data())], [12, 12]);
  assert.equal([...(await x.grad!.data())], new Array(12).fill(2));
  for (const t of [x, bias]) {
    t.grad!.dispose();
    t.dispose();
  }
});

test('noGrad and detach stop recording; errors are clear', () => {
  const x = tensor([1, 2], [2], { requiresGrad: true });
  const y = noGrad(() => mul(x, x));
  assert.not.ok(y.requiresGrad);
  assert.is(y.node, null);
  const z = mul(x.detach(), x.detach());
  assert.not.ok(z.requiresGrad);
  assert.throws(() => y.backward(), /does not require grad/);
  const w = mul(x, x);
  assert.throws(() => w.backward(), /gradient is required for a non-scalar output of shape \[2\]/);
  for (const t of [x, y, z, w]) t.dispose();
});

test('backward through a disposed tensor whose values the rule needs fails naming the op', () => {
  const x = tensor([1, 2], [2], { requiresGrad: true });
  const c = tensor([3, 4], [2]);
  const y = mul(x, c);
  const loss = sum(y);
  c.dispose();
  assert.throws(() => loss.backward(), /backward through mul: .*disposed/);
  for (const t of [x, y, loss]) t.dispose();
});

/** The identity, recording the knownValue of the gradient that reaches it. */
function probe(x: Tensor, seen: (number | undefined)[]): Tensor {
  const y = noGrad(() => scale(x, 1));
  return record(y, 'probe', [x], (gy) => {
    seen.push(gy.knownValue);
    return [gy];
  });
}

test('knownValue: the seed is 1, scale multiplies it, add and reshape pass it on, a given grad has none', async () => {
  const x = tensor([2], [1], { requiresGrad: true });
  const seen: (number | undefined)[] = [];
  // total = 3·a + b.reshape([1]) with a, b probes of x: their gradients are known to be 3 and 1.
  tidy(() => add(scale(probe(x, seen), 3), probe(x, seen).reshape([1, 1]).reshape([1])).backward());
  assert.equal(seen.sort(), [1, 3]);
  assert.equal([...(await x.grad!.data())], [4]);
  seen.length = 0;
  // A broadcast add sums the gradient into a new tensor: not known there.
  tidy(() => sum(add(probe(x, seen), tensor([1, 2], [2]))).backward());
  assert.equal(seen, [undefined]);
  seen.length = 0;
  tidy(() => scale(probe(x, seen), 2).backward(tensor([1], [1])));
  assert.equal(seen, [undefined], 'a gradient passed to backward() is not known on the host');
  x.grad!.dispose();
  x.dispose();
});

test('knownValue: shared by views, dropped for all of them by an in-place write', async () => {
  const t = tensor([1, 1], [2, 1]);
  t.knownValue = 1;
  const view = t.detach();
  assert.is(view.knownValue, 1);
  const src = tensor([5], [1, 1]);
  copyRowsInto(t, src, 0);
  assert.is(t.knownValue, undefined);
  assert.is(view.knownValue, undefined);
  assert.equal([...(await t.data())], [5, 1]);
  for (const v of [t, view, src]) v.dispose();
});

test.run();
