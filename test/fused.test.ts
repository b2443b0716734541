// Fused kernels against the unfused ops they replace (issue 15 item 3: the unfused path stays the
// test reference). addRelu(a, b) rounds a + b once, as add does, then takes the ReLU, so on every
// backend it must equal relu(add(a, b)) bit for bit, forward and gradients, in every dtype the
// backend takes; and a ResNet-50 bottleneck (which ends in addRelu) must equal the same block
// written out with relu(add(...)).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Bottleneck, add, addRelu, backward, getBackend, initBackend, mul, relu, sum, tensor, tidy, type Tensor } from '../src/index.js';
import type { DType } from '../src/core/dtype.js';
import { Rng } from '../src/core/random.js';
import { backendStatuses, skipNote, testBackends, testValues } from './helpers.js';

const statuses = await backendStatuses();

async function grads(ts: Tensor[]): Promise<Float32Array[]> {
  return Promise.all(ts.map((t) => t.grad!.data()));
}

function sameBits(got: Float32Array, want: Float32Array, what: string): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) assert.unreachable(`${what}: element ${i} is ${got[i]}, unfused ${want[i]}`);
  }
}

for (const backend of testBackends) {
  const status = statuses.find((s) => s.name === backend);
  if (!status?.available) {
    skipNote(`fused kernels on ${backend}`, status?.reason ?? 'unavailable');
    continue;
  }

  test(`addRelu equals relu(add) bit for bit on ${backend}, forward and both gradients, every dtype it takes`, async () => {
    await initBackend(backend);
    const dtypes = getBackend(backend).kernelDtypes('addRelu') as readonly DType[];
    assert.ok(dtypes.includes('float32'), `${backend} takes float32 addRelu`);
    const shape = [3, 5, 7, 11];
    const n = shape.reduce((x, y) => x * y, 1);
    // Values on a coarse grid so that many sums are exactly 0 (the ReLU's kink), plus a NaN.
    const av = Float32Array.from(testValues(n, 1), (v) => Math.round(v * 4) / 4);
    const bv = Float32Array.from(testValues(n, 2), (v) => Math.round(v * 4) / 4);
    av[5] = NaN;
    const rv = testValues(n, 3);
    for (const dtype of dtypes) {
      const run = async (fused: boolean) => {
        const a = tensor(av, shape, { backend, dtype, requiresGrad: true });
        const b = tensor(bv, shape, { backend, dtype, requiresGrad: true });
        const r = tensor(rv, shape, { backend, dtype });
        const y = fused ? addRelu(a, b) : relu(add(a, b));
        tidy(() => backward(sum(mul(y, r))));
        const [ga, gb] = await grads([a, b]);
        const out = await y.data();
        for (const t of [a.grad!, b.grad!, a, b, r, y]) t.dispose();
        return { out, ga, gb };
      };
      const fused = await run(true);
      const plain = await run(false);
      sameBits(fused.out, plain.out, `${backend} ${dtype} y`);
      sameBits(fused.ga, plain.ga, `${backend} ${dtype} da`);
      sameBits(fused.gb, plain.gb, `${backend} ${dtype} db`);
      assert.ok(Number.isNaN(fused.out[5]), 'relu(NaN + b) is NaN');
      assert.ok(fused.out.some((v) => v === 0) && fused.out.some((v) => v > 0), 'the case has both sides of the kink');
    }
  });

  test(`a ResNet-50 bottleneck (ending in addRelu) equals the block written with relu(add) on ${backend}`, async () => {
    await initBackend(backend);
    const block = new Bottleneck(32, 8, 2, true, new Rng(5), backend);
    const x = tensor(testValues(2 * 9 * 9 * 32, 4), [2, 9, 9, 32], { backend, requiresGrad: true });
    const unfused = (v: Tensor): Tensor => {
      let out = block.bn1.forward(block.conv1.forward(v), { relu: true });
      out = block.bn2.forward(block.conv2.forward(out), { relu: true });
      out = block.bn3.forward(block.conv3.forward(out));
      return relu(add(out, block.downsample!.forward(v)));
    };
    const w = block.namedParameters().find(([name]) => name === 'conv1.weight')![1];
    const run = async (f: (v: Tensor) => Tensor) => {
      const y = f(x);
      const r = tensor(testValues(y.shape.reduce((p, q) => p * q, 1), 6), y.shape, { backend });
      tidy(() => backward(sum(mul(y, r))));
      const [gx, gw] = await grads([x, w]);
      const out = await y.data();
      for (const t of [x.grad!, w.grad!, y, r]) t.dispose();
      x.grad = null;
      w.grad = null;
      return { out, gx, gw };
    };
    const fused = await run((v) => block.forward(v));
    const plain = await run(unfused);
    sameBits(fused.out, plain.out, `${backend} bottleneck output`);
    sameBits(fused.gx, plain.gx, `${backend} bottleneck dx`);
    sameBits(fused.gw, plain.gw, `${backend} bottleneck d conv1.weight`);
    x.dispose();
  });
}

test('addRelu refuses shapes that differ (it does not broadcast), naming both and the fix', () => {
  const a = tensor([1, 2, 3, 4], [2, 2]);
  const b = tensor([1, 2], [2]);
  assert.throws(() => addRelu(a, b), (e: Error) => e instanceof RangeError && /addRelu: a \[2,2\] and b \[2\] must have one shape.*relu\(add\(a, b\)\)/.test(e.message));
  a.dispose();
  b.dispose();
});

test.run();
