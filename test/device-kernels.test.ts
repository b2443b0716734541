// The in-place and multi-tensor kernels (copyRows, sgd, ema, batchNormUpdateStats), which the
// op-level conformance suite does not reach, run kernel by kernel on every selected device backend
// (CUDA: a GPU or the CUDA emulator; WebGPU) from the same state as on the CPU, and must leave the
// same values as the CPU. Skipped, with the reason, where a backend is unavailable.
import { suite } from 'uvu';
import { initBackend } from '../src/index.js';
import { backendStatuses, deviceBackends, expectKernelMatch, skipNote, testValues } from './helpers.js';

const statuses = await backendStatuses();
for (const device of deviceBackends) {
  const status = statuses.find((s) => s.name === device);
  const s = suite(`${device} in-place kernels vs cpu`);
  if (!status?.available) {
    skipNote(`${device} in-place kernels`, status?.reason ?? 'unavailable');
    s.skip(`${device} in-place kernels (backend unavailable)`, () => {});
    s.run();
    continue;
  }
  await initBackend(device);

  s('copyRows writes rows in place and leaves the rest', async () => {
    await expectKernelMatch(device, 'copyRows', [[3, 4, 5]], [[10, 4, 5]], { start: 6 });
    await expectKernelMatch(device, 'copyRows', [[2, 7]], [[2, 7]], { start: 0 });
  });

  s('sgd: momentum, nesterov, weight decay, first step, momentum 0', async () => {
    const shapes = [[3, 5], [17], [2, 3, 3, 4]];
    const base = { lr: 0.1, momentum: 0.9, weightDecay: 1e-4, dampening: 0 };
    await expectKernelMatch(device, 'sgd', shapes, [...shapes, ...shapes], { ...base, firstStep: true });
    await expectKernelMatch(device, 'sgd', shapes, [...shapes, ...shapes], { ...base, firstStep: false });
    await expectKernelMatch(device, 'sgd', shapes, [...shapes, ...shapes], { ...base, nesterov: true, firstStep: false });
    await expectKernelMatch(device, 'sgd', shapes, [...shapes, ...shapes], { ...base, dampening: 0.5, weightDecay: 0, firstStep: false });
    await expectKernelMatch(device, 'sgd', shapes, shapes, { lr: 0.05, momentum: 0, weightDecay: 1e-2, dampening: 0, firstStep: false });
  });

  s('sgd and ema over 500 tensors in one call', async () => {
    const shapes = Array.from({ length: 500 }, (_, i) => [1 + (i % 7), 3]);
    await expectKernelMatch(device, 'sgd', shapes, [...shapes, ...shapes], { lr: 0.1, momentum: 0.9, weightDecay: 1e-4, dampening: 0, firstStep: false });
    await expectKernelMatch(device, 'ema', shapes, shapes, { m: 0.99 });
  });

  s('ema', async () => {
    await expectKernelMatch(device, 'ema', [[4, 4], [9]], [[4, 4], [9]], { m: 0.999 });
  });

  s('batchNormUpdateStats', async () => {
    const inputs = [testValues(8, 1), Float32Array.from(testValues(8, 2), (v) => 1 + Math.abs(v))];
    const outputs = [testValues(8, 5), Float32Array.from(testValues(8, 6), (v) => v + 1)];
    await expectKernelMatch(device, 'batchNormUpdateStats', [[8], [8]], [[8], [8]], { momentum: 0.1, eps: 1e-5, count: 50 }, undefined, { inputs, outputs });
  });

  s.run();
}
