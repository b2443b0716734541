// benny suites over the same work as `ifa-ssl bench` (IFA loss, BatchNorm+ReLU, the four reference
// convolutions), forward + backward on the CPU backend. Run: npm run bench (results in bench/results/).
import b from 'benny';
import { prepareBench, type BenchSpec } from '../src/bench/ops.js';
import { getBackend } from '../src/index.js';

const cases: [string, BenchSpec][] = [
  ['ifa 16x8x8x1024', { bench: 'ifa', backend: 'cpu', shape: [16, 8, 8, 1024] }],
  ['bn+relu 8x56x56x256', { bench: 'bn', backend: 'cpu', shape: [8, 56, 56, 256] }],
  ['conv 3x3 64->64 @56', { bench: 'conv', backend: 'cpu', shape: [8, 56, 56, 64], kernel: 3, cout: 64 }],
  ['conv 1x1 256->64 @56', { bench: 'conv', backend: 'cpu', shape: [8, 56, 56, 256], kernel: 1, cout: 64 }],
  ['conv 3x3 256->256 @14', { bench: 'conv', backend: 'cpu', shape: [8, 14, 14, 256], kernel: 3, cout: 256 }],
  ['conv 7x7 s2 1->64 @128', { bench: 'conv', backend: 'cpu', shape: [8, 128, 128, 1], kernel: 7, stride: 2, cout: 64 }],
];

const cpu = getBackend('cpu');
await b.suite(
  'ifa-ssl CPU ops, forward + backward',
  ...cases.map(([name, spec]) =>
    b.add(name, () => {
      const work = prepareBench(spec);
      return async () => {
        work.run();
        await cpu.sync();
      };
    }),
  ),
  b.cycle(),
  b.complete(),
  b.save({ file: 'cpu-ops', folder: 'bench/results', format: 'json' }),
);
