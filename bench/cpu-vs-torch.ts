// `npm run bench:cpu`: the issue-3 ratio table. Runs PyTorch (Debian's python3-torch, 2 threads) and
// ifa-ssl's CPU backend on the same work in one invocation, one after the other, and prints a
// Markdown table of medians and ratios (ours vs PyTorch: > 1 means ifa-ssl is faster).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runBench, type BenchSpec } from '../src/bench/ops.js';
import { packageRoot } from '../src/native.js';

interface Row {
  name: string;
  spec: BenchSpec;
  metric: 'GFLOPs' | 'ms';
  target: number;
}

const rows: Row[] = [
  { name: 'conv 3x3 64->64 @56', spec: { bench: 'conv', backend: 'cpu', shape: [8, 56, 56, 64], kernel: 3, stride: 1, cout: 64 }, metric: 'GFLOPs', target: 0.5 },
  { name: 'conv 1x1 256->64 @56', spec: { bench: 'conv', backend: 'cpu', shape: [8, 56, 56, 256], kernel: 1, stride: 1, cout: 64 }, metric: 'GFLOPs', target: 0.5 },
  { name: 'conv 3x3 256->256 @14', spec: { bench: 'conv', backend: 'cpu', shape: [8, 14, 14, 256], kernel: 3, stride: 1, cout: 256 }, metric: 'GFLOPs', target: 0.5 },
  { name: 'conv 7x7 s2 1->64 @128', spec: { bench: 'conv', backend: 'cpu', shape: [8, 128, 128, 1], kernel: 7, stride: 2, cout: 64 }, metric: 'GFLOPs', target: 0.5 },
  { name: 'bn+relu 8x56x56x256', spec: { bench: 'bn', backend: 'cpu', shape: [8, 56, 56, 256] }, metric: 'ms', target: 1 },
  { name: 'ifa 16x8x8x1024', spec: { bench: 'ifa', backend: 'cpu', shape: [16, 8, 8, 1024] }, metric: 'ms', target: 1 },
];

const iters = Number(process.argv[2] ?? 9);
const python = process.env.IFA_TORCH_PYTHON ?? '/usr/bin/python3';
process.stderr.write(`running PyTorch (${python} bench/torch/cpu_torch_ops.py ${iters}) ...\n`);
const torch = JSON.parse(execFileSync(python, [join(packageRoot(), 'bench', 'torch', 'cpu_torch_ops.py'), String(iters)], { encoding: 'utf8' }));

const lines = [
  `CPU backend vs PyTorch ${torch.torch} (${torch.threads} threads), forward + backward, median of ${iters}; ${new Date().toISOString().slice(0, 10)}`,
  '',
  '| work | PyTorch | ifa-ssl | ratio (ifa-ssl / PyTorch speed) | target |',
  '|---|---:|---:|---:|---:|',
];
let allMet = true;
for (const r of rows) {
  process.stderr.write(`running ifa-ssl ${r.name} ...\n`);
  const ours = await runBench({ ...r.spec, pass: 'both', iters, warmup: 2 });
  const peer = torch[`${r.name} both`];
  let ratio: number;
  let cells: [string, string];
  if (r.metric === 'GFLOPs') {
    ratio = ours.GFLOPs! / peer.GFLOPs;
    cells = [`${peer.GFLOPs} GFLOP/s`, `${ours.GFLOPs} GFLOP/s`];
  } else {
    ratio = peer.median_ms / ours.median_ms;
    cells = [`${peer.median_ms} ms`, `${ours.median_ms} ms`];
  }
  const met = ratio >= r.target;
  allMet &&= met;
  lines.push(`| ${r.name} | ${cells[0]} | ${cells[1]} | ${ratio.toFixed(2)}× | ≥ ${r.target}× ${met ? '✓' : '✗'} |`);
}
console.log(lines.join('\n'));
process.exitCode = allMet ? 0 : 1;
