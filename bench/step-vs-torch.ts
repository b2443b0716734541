// `node dist/bench/step-vs-torch.js [bench step flags]`: `ifa-ssl bench step` against
// bench/torch/step.py (PyTorch: Debian's on the CPU, IFA_TORCH_PYTHON's on a GPU machine; the same
// threads) on the same step, in alternating rounds (ours, torch, ours, torch: the machine is shared),
// each round a median of --steps steps; prints the rounds and a Markdown table of the medians of the
// rounds' medians.
// Flags: --method, --ifa (repeatable), --no-ifa, --image-size, --batch, --queue, --steps, --warmup,
// --threads (default 2), --layers, --width, --rounds (default 2), --backend cpu|cuda (PyTorch on the
// same device), --precision fp32|tf32|bf16|fp16 (both sides: ours as the trainer's, PyTorch as its
// users run it — autocast and channels_last for the half ones), --torch-mode eager|compile.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../src/native.js';

const { values } = parseArgs({
  args: process.argv.slice(2),
  strict: true,
  options: {
    method: { type: 'string', default: 'moco' },
    ifa: { type: 'string', multiple: true },
    'no-ifa': { type: 'boolean', default: false },
    'image-size': { type: 'string', default: '64' },
    batch: { type: 'string', default: '8' },
    queue: { type: 'string' },
    steps: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    layers: { type: 'string' },
    width: { type: 'string' },
    rounds: { type: 'string', default: '2' },
    backend: { type: 'string', default: 'cpu' },
    precision: { type: 'string', default: 'fp32' },
    'torch-mode': { type: 'string', default: 'eager' },
  },
});
if (values.backend !== 'cpu' && values.backend !== 'cuda') throw new RangeError(`--backend must be cpu or cuda (PyTorch's devices), got '${values.backend}'`);
if (!['fp32', 'tf32', 'bf16', 'fp16'].includes(values.precision!)) throw new RangeError(`--precision must be one of fp32, tf32, bf16, fp16, got '${values.precision}'`);
if (values['torch-mode'] !== 'eager' && values['torch-mode'] !== 'compile') throw new RangeError(`--torch-mode must be eager or compile, got '${values['torch-mode']}'`);
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`--rounds must be a positive integer, got '${values.rounds}'`);
const shared = ['--method', values.method!, '--image-size', values['image-size']!, '--batch', values.batch!, '--steps', values.steps!, '--warmup', values.warmup!, '--threads', values.threads!];
if (values.queue !== undefined) shared.push('--queue', values.queue);
for (const t of values.ifa ?? []) shared.push('--ifa', t);
if (values['no-ifa']) shared.push('--no-ifa');
if (values.layers !== undefined) shared.push('--layers', values.layers);
if (values.width !== undefined) shared.push('--width', values.width);
shared.push('--precision', values.precision!);
const oursArgs = [...shared, '--backend', values.backend!, '--json'];
const torchArgs = [...shared, '--device', values.backend!, '--mode', values['torch-mode']!];

const root = packageRoot();
const python = process.env.IFA_TORCH_PYTHON ?? '/usr/bin/python3';
type Row = { median_ms: number; img_per_s: number; host_ms: number; peak_bytes: number | null; max_rss_bytes?: number; kernels_per_step: number | null; torch?: string; channels_last?: boolean };
const run = (cmd: string, args: string[]): Row => JSON.parse(execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()!);
const ours: Row[] = [];
const torch: Row[] = [];
for (let r = 0; r < rounds; r++) {
  process.stderr.write(`round ${r + 1}/${rounds}: ifa-ssl bench step ${oursArgs.join(' ')}\n`);
  ours.push(run(process.execPath, [join(root, 'bin', 'ifa-ssl.js'), 'bench', 'step', ...oursArgs]));
  process.stderr.write(`round ${r + 1}/${rounds}: ${python} bench/torch/step.py ${torchArgs.join(' ')}\n`);
  torch.push(run(python, [join(root, 'bench', 'torch', 'step.py'), ...torchArgs]));
  process.stderr.write(`  ifa-ssl ${ours[r].median_ms} ms, PyTorch ${torch[r].median_ms} ms\n`);
}
const median = (v: number[]) => {
  const x = [...v].sort((a, b) => a - b);
  return x.length % 2 ? x[(x.length - 1) / 2] : (x[x.length / 2 - 1] + x[x.length / 2]) / 2;
};
const o = median(ours.map((r) => r.median_ms));
const t = median(torch.map((r) => r.median_ms));
const b = Number(values.batch);
const mib = (v: number) => `${(v / 2 ** 20).toFixed(0)} MiB`;
console.log(
  [
    `bench step ${shared.join(' ')} on ${values.backend === 'cpu' ? 'the CPU' : 'CUDA'}: ifa-ssl vs PyTorch ${torch[0].torch} ${values['torch-mode']} ${values.precision}${torch[0].channels_last ? ' channels_last' : ''}, median of ${values.steps} steps per round, median of ${rounds} alternating rounds; ${new Date().toISOString().slice(0, 16)}Z`,
    '',
    '| | PyTorch | ifa-ssl | ratio (ifa-ssl speed / PyTorch) |',
    '|---|---:|---:|---:|',
    `| ms per step | ${t.toFixed(1)} | ${o.toFixed(1)} | ${(t / o).toFixed(2)}× |`,
    `| img/s | ${((b * 1000) / t).toFixed(1)} | ${((b * 1000) / o).toFixed(1)} | |`,
    `| host ms per step | ${median(torch.map((r) => r.host_ms)).toFixed(1)} | ${median(ours.map((r) => r.host_ms)).toFixed(1)} | |`,
    `| peak memory | ${torch[0].peak_bytes !== null ? mib(torch[0].peak_bytes) : `n/a (peak RSS ${mib(Math.max(...torch.map((r) => r.max_rss_bytes ?? 0)))})`} | ${mib(Math.max(...ours.map((r) => r.peak_bytes!)))} live | |`,
    `| kernels per step | n/a | ${ours[0].kernels_per_step} | |`,
    '',
    `rounds (ms): ifa-ssl ${ours.map((r) => r.median_ms).join(', ')}; PyTorch ${torch.map((r) => r.median_ms).join(', ')}`,
  ].join('\n'),
);
