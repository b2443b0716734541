// First step of bench/gpu/check.sh: which addon loaded, what it says about CUDA, how many CUDA kernels
// it registered, and a round trip (upload → one kernel → read back) on the device.
// Exit status: 0 CUDA works, 2 CUDA unavailable (the last line says why), 1 CUDA is there but broken.
import { add, initBackend, memory, tensor } from '../../src/index.js';
import { nativeAddon, nativePath } from '../../src/native.js';
import type { CudaBackend } from '../../src/backends/cuda.js';

const addon = nativeAddon();
const info = addon.info();
console.log(`addon: ${nativePath()}`);
console.log(`info: ${JSON.stringify(info)}`);
if (!info.cuda.compiled || !info.cuda.available) {
  console.log(`unavailable: ${info.cuda.reason ?? 'no reason given'}`);
  process.exit(2);
}

try {
  const backend = (await initBackend('cuda')) as unknown as CudaBackend;
  const kernels = backend.kernels();
  console.log(`kernels(cuda): ${kernels.length}: ${kernels.sort().join(' ')}`);
  // An odd size, and values that are not all equal, so offsets and partial blocks show up.
  const n = (1 << 20) + 3;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i) * 1000 + i * 1e-3;
  const t = tensor(data, [n], { backend: 'cuda' });
  const back = await t.data();
  let bad = 0;
  for (let i = 0; i < n; i++) if (back[i] !== data[i]) bad++;
  const doubled = add(t, t);
  const d = await doubled.data();
  let badAdd = 0;
  for (let i = 0; i < n; i++) if (d[i] !== data[i] + data[i]) badAdd++;
  console.log(`round trip: ${n} floats, ${bad} differ; add(t, t): ${badAdd} differ`);
  console.log(`memory: ${JSON.stringify(memory())}`);
  doubled.dispose();
  t.dispose();
  process.exit(bad || badAdd ? 1 : 0);
} catch (e) {
  console.log(`error: ${(e as Error).stack ?? e}`);
  process.exit(1);
}
