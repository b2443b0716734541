// `--trace FILE` (pretrain, finetune, bench) and `ifa-ssl profile <command…>`: both run a command with
// a trace being recorded (src/core/trace.ts); --trace writes it as Chrome trace-event JSON, profile
// turns the trace's steps into the per-kernel table of src/core/profile.ts.
import { accessSync, constants, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { BackendName } from '../backends/backend.js';
import { deviceRoofline } from '../bench/roofline.js';
import { formatProfile, profileTrace, stepWindows } from '../core/profile.js';
import { MAX_TRACE_OPS, startTrace, stopTrace, type Trace } from '../core/trace.js';

/** Removes `--trace FILE` / `--trace=FILE` from argv; the file is checked to be writable before any work. */
export function takeTraceFlag(argv: string[], command: string): { file?: string; rest: string[] } {
  const rest: string[] = [];
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === '--trace' || a.startsWith('--trace=')) {
      const v = a === '--trace' ? argv[++i] : a.slice('--trace='.length);
      if (!v || v.startsWith('--')) throw new RangeError(`${command} --trace: expects a file name, e.g. --trace trace.json`);
      if (file !== undefined) throw new RangeError(`${command}: --trace given twice`);
      file = v;
    } else rest.push(a);
  }
  if (file !== undefined) checkWritable(file, command);
  return { file, rest };
}

function checkWritable(file: string, command: string): void {
  const dir = dirname(resolve(file));
  if (existsSync(file) && statSync(file).isDirectory()) throw new RangeError(`${command} --trace ${file}: is a directory; give a file name, e.g. ${join(file, 'trace.json')}`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new RangeError(`${command} --trace ${file}: the folder ${dir} does not exist or is not writable; create it or choose another path`);
  }
}

function summary(t: Trace, file: string): string {
  const cut = t.truncatedAtUs !== undefined ? ` (stopped recording kernels after ${MAX_TRACE_OPS.toLocaleString('en')} launches, at ${((t.truncatedAtUs - t.startUs) / 1e6).toFixed(1)} s: trace a few steps)` : '';
  return `trace: ${t.ops.length} kernel launches, ${t.kernels.length} device spans, ${t.marks.length} spans of steps, data and checkpoints → ${file}${cut}; open it in https://ui.perfetto.dev or chrome://tracing\n`;
}

/**
 * Runs a command with a trace written to `file` (when given). The trace is written also when the
 * command fails or is stopped (it shows what ran up to there); the command's exit code is kept.
 */
export async function withTrace(file: string | undefined, run: () => Promise<number>): Promise<number> {
  if (file === undefined) return run();
  startTrace({ file });
  let code: number;
  try {
    code = await run();
  } finally {
    const t = await stopTrace();
    process.stderr.write(summary(t, file));
  }
  return code;
}

export const PROFILE_USAGE = `usage: ifa-ssl profile [--json] [--skip N] [--trace FILE] <command> [its arguments]
  <command>: bench ifa|conv|bn|step … or pretrain … or finetune … (the same arguments as alone)
  Runs the command with kernel timing on and prints, per kernel, per step (means over the steps):
  calls, total and mean time, share of the step, bytes moved and FLOPs (each kernel's declared cost,
  src/backends/kernels.ts), achieved GB/s and TFLOP/s, and the fraction of the roofline reached
  (max(FLOPs / peak, bytes / bandwidth) over the time). Then the stream's transfers, the device's idle
  time (waiting for the host) and the step: the rows add up to the step time.
  Steps are the training steps (pretrain, finetune, bench step) or the bench's timed samples.
  Roofline: a known card's datasheet figures (CUDA), else measured on the backend after the run
  (bandwidth of a large add, float32 matmul peak; on the CPU at the run's thread count).
  --skip N     leave out the first N steps (default 1 for pretrain and finetune: the first step
               allocates; 0 for bench, which has its own warm-up)
  --json       the profile as one JSON object on stdout (the command's own output goes to stderr)
  --trace FILE also write the trace (Chrome trace-event JSON)
  pretrain without --steps/--epochs runs --steps 4; without --out it writes to a temporary folder,
  removed afterwards.
  Profile options go before <command>; everything after it is the command's.
`;

/** Where the command's output goes while profile prints its own: stdout is the profile's. */
async function withStdoutToStderr<T>(fn: () => Promise<T>): Promise<T> {
  const write = process.stdout.write;
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  try {
    return await fn();
  } finally {
    process.stdout.write = write;
  }
}

export async function profileCommand(argv: string[], runCommand: (command: string, argv: string[]) => Promise<number>): Promise<number> {
  const at = argv.findIndex((a) => a === 'bench' || a === 'pretrain' || a === 'finetune');
  const own = at < 0 ? argv : argv.slice(0, at);
  if (own.includes('--help') || own.includes('-h') || argv.length === 0) {
    process.stdout.write(PROFILE_USAGE);
    return argv.length === 0 ? 2 : 0;
  }
  const { values } = parseArgs({ args: own, strict: true, options: { json: { type: 'boolean', default: false }, skip: { type: 'string' }, trace: { type: 'string' } } });
  if (at < 0) throw new RangeError(`profile: expects a command to profile (bench, pretrain or finetune) after its options\n\n${PROFILE_USAGE}`);
  const command = argv[at];
  let rest = argv.slice(at + 1);
  if (command === 'bench' && (rest[0] === 'data' || rest[0] === undefined)) throw new RangeError(`profile bench ${rest[0] ?? ''}: profile times kernels, and the data bench launches none; give bench ifa|conv|bn|step, or use bench data --trace FILE to see the loader's workers`.replace('  ', ' '));
  if (rest.includes('--help') || rest.includes('-h')) return runCommand(command, rest);
  const skip = values.skip === undefined ? (command === 'bench' ? 0 : 1) : Number(values.skip);
  if (!Number.isInteger(skip) || skip < 0) throw new RangeError(`profile --skip must be an integer ≥ 0, got '${values.skip}'`);
  if (values.trace !== undefined) checkWritable(values.trace, 'profile');
  let tmpOut: string | undefined;
  if (command === 'pretrain' || command === 'finetune') {
    const has = (f: string) => rest.some((a) => a === f || a.startsWith(`${f}=`));
    if (command === 'pretrain' && !has('--steps') && !has('--epochs') && !has('--resume')) {
      rest = [...rest, '--steps', String(skip + 3)];
      process.stderr.write(`profile: pretrain --steps ${skip + 3} (${skip} skipped, 3 profiled; give --steps for more)\n`);
    }
    if (!has('--out')) {
      tmpOut = mkdtempSync(join(tmpdir(), 'ifa-profile-'));
      rest = [...rest, '--out', tmpOut];
    }
  }
  const trace = startTrace({ file: values.trace });
  let code: number;
  try {
    code = await withStdoutToStderr(() => runCommand(command, rest));
  } finally {
    await stopTrace();
    if (tmpOut) rmSync(tmpOut, { recursive: true, force: true });
  }
  if (values.trace) process.stderr.write(summary(trace, values.trace));
  if (code !== 0) return code;
  const windows = stepWindows(trace, skip);
  if (windows.length === 0) throw new Error(`profile: the ${command} run had ${stepWindows(trace).length} step(s), all skipped (--skip ${skip}); run more steps or lower --skip`);
  const counts = new Map<BackendName, number>();
  for (const k of trace.kernels) if (k.op && windows.some((w) => k.beginUs >= w.beginUs && k.beginUs < w.endUs)) counts.set(k.backend, (counts.get(k.backend) ?? 0) + 1);
  const backend = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  if (!backend) throw new Error(`profile: no timed kernels ran inside the ${windows.length} profiled step(s)`);
  const roofline = await deviceRoofline(backend);
  const p = profileTrace(trace, windows, backend, roofline);
  process.stdout.write(values.json ? JSON.stringify(p) + '\n' : formatProfile(p) + '\n');
  return 0;
}
