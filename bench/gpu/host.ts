// Host cost per call on a backend: how long JS and the addon take to enqueue work, with the device
// work made negligible (tiny tensors), so the numbers are what a training step pays per op before
// the GPU sees it. Each line: median µs per call over `samples` batches of `calls` calls, the work
// synced between batches (not timed).
//
//   node dist/bench/gpu/host.js [--backend cuda] [--calls 2000] [--samples 15]
//
// Prints one JSON object. On the GPU machine: bash .device/remote.sh node dist/bench/gpu/host.js.
import { parseArgs } from 'node:util';
import { type BackendName, getBackend, ifaLoss, initBackend, relu, tensor, tidy } from '../../src/index.js';
import { nativeAddon } from '../../src/native.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'cuda' },
    calls: { type: 'string', default: '2000' },
    samples: { type: 'string', default: '15' },
  },
});
const backendName = values.backend as BackendName;
const calls = Number(values.calls);
const samples = Number(values.samples);
const backend = await initBackend(backendName);
const addon = nativeAddon();

async function perCall(fn: () => void): Promise<number> {
  for (let i = 0; i < Math.min(calls, 200); i++) fn();
  await backend.sync();
  const t: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) fn();
    t.push(((performance.now() - t0) / calls) * 1000);
    await backend.sync();
  }
  t.sort((a, b) => a - b);
  return Number(t[t.length >> 1].toFixed(2));
}

const shape = [1, 2, 2, 64];
const n = 256;
const q = tensor(Float32Array.from({ length: n }, (_, i) => Math.sin(i)), shape, { backend: backendName, requiresGrad: true });
const p = tensor(Float32Array.from({ length: n }, (_, i) => Math.cos(i)), shape, { backend: backendName });
const device = backendName === 'cpu' ? 'cpu' : 'cuda';
const handle = addon.alloc(n, undefined, device);
const out = addon.alloc(n, undefined, device);
const b = getBackend(backendName);

const result: Record<string, unknown> = { backend: backendName, device: backend.status().device ?? backendName, calls, samples, unit: 'µs per call (median)' };
result['addon.info()'] = await perCall(() => addon.info());
result['addon.alloc + free (1 KiB)'] = await perCall(() => addon.free(addon.alloc(n, undefined, device)));
result["addon.run('fill') (one output)"] = await perCall(() => addon.run('fill', [], [[out, [n]]], { value: 1 }));
result["addon.run('relu') (one input, one output)"] = await perCall(() => addon.run('relu', [[handle, [n]]], [[out, [n]]]));
result['backend.alloc + free'] = await perCall(() => b.free(b.alloc(n)));
result['relu(x) in tidy (JS op path)'] = await perCall(() => tidy(() => void relu(p)));
result['ifaLoss fused step: forward + backward in tidy'] = await perCall(() =>
  tidy(() => {
    ifaLoss(q, p, { gradScale: 1 }).backward();
    q.grad!.dispose();
    q.grad = null;
  }),
);
addon.free(handle);
addon.free(out);
q.dispose();
p.dispose();
console.log(JSON.stringify(result, null, 1));
