// Issue 19 items 1–2: `--trace FILE` writes Chrome trace-event JSON (validated here against the
// format: the JSON object form, complete 'X' and metadata 'M' events) with host, device and data
// tracks, every kernel on the device track matched to its launch on the host track; `ifa-ssl profile`
// prints per-kernel rows that, with the stream's transfers and the device's idle time, add up to the
// step time, and whose calls and FLOPs are the architecture's closed forms.
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { clipToWindows, idleUs } from '../src/core/profile.js';
import { packageRoot } from '../src/native.js';
import { cliTests } from './helpers.js';

const test = cliTests(import.meta.url);
const root = mkdtempSync(join(tmpdir(), 'ifa-trace-'));
const bin = join(packageRoot(), 'bin', 'ifa-ssl.js');
// A tiny ResNet (one block per stage): 1 stem + 3 per block + 4 downsample convolutions = 17.
const layers = [1, 1, 1, 1];
const convs = 1 + 3 * layers.reduce((a, b) => a + b, 0) + 4;
const tiny = ['--data', 'synthetic', '--synthetic-images', '8', '--image-size', '32', '--batch', '4', '--queue-size', '16', '--layers', layers.join(','), '--width', '8', '--hidden', '32', '--dim', '16', '--workers', '1', '--threads', '1'];

function cli(args: string[]): { code: number | null; stdout: string; stderr: string; out: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL', env: { ...process.env, IFA_SSL_CACHE: join(root, 'cache') } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, out: `${r.stdout}\n${r.stderr}` };
}

// The trace-event format (Chrome's "Trace Event Format" document, the JSON object form) as far as
// this writer uses it: Perfetto and chrome://tracing read these fields.
const complete = z.object({ ph: z.literal('X'), name: z.string().min(1), cat: z.string().optional(), pid: z.number().int().positive(), tid: z.number().int().positive(), ts: z.number().nonnegative(), dur: z.number().nonnegative(), args: z.record(z.string(), z.unknown()).optional() }).strict();
const metadata = z.object({ ph: z.literal('M'), name: z.enum(['process_name', 'process_sort_index', 'thread_name']), pid: z.number().int().positive(), tid: z.number().int().nonnegative(), ts: z.literal(0), args: z.union([z.object({ name: z.string().min(1) }).strict(), z.object({ sort_index: z.number().int() }).strict()]) }).strict();
const traceFile = z.object({ displayTimeUnit: z.enum(['ms', 'ns']), otherData: z.object({ producer: z.literal('ifa-ssl'), unmatchedDeviceSpans: z.number().int() }).passthrough(), traceEvents: z.array(z.union([complete, metadata])) }).strict();
type Complete = z.infer<typeof complete>;

test('pretrain --trace: valid trace-event JSON with host, device and data tracks; every kernel matched to its launch', () => {
  const out = join(root, 'pre');
  const file = join(root, 'pretrain-trace.json');
  const r = cli(['pretrain', ...tiny, '--steps', '3', '--out', out, '--trace', file]);
  assert.is(r.code, 0, r.out);
  assert.match(r.stderr, `→ ${file}`);
  const t = traceFile.parse(JSON.parse(readFileSync(file, 'utf8')));
  assert.is(t.otherData.unmatchedDeviceSpans, 0);
  const meta = t.traceEvents.filter((e) => e.ph === 'M');
  const names = new Map<string, string>();
  const procs = new Map<number, string>();
  for (const e of meta) {
    if (e.name === 'process_name') procs.set(e.pid, (e.args as { name: string }).name);
    if (e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, (e.args as { name: string }).name);
  }
  assert.equal([...procs.values()].sort(), ['data loader', 'device cpu', 'host (JS main thread)']);
  const xs = t.traceEvents.filter((e): e is Complete => e.ph === 'X');
  const track = (e: Complete) => names.get(`${e.pid}:${e.tid}`);
  for (const e of xs) assert.ok(track(e), `event ${e.name} on an unnamed track ${e.pid}:${e.tid}`);
  const on = (name: string | RegExp) => xs.filter((e) => (typeof name === 'string' ? track(e) === name : name.test(track(e) ?? '')));
  const ops = on('ops (dispatch)');
  const kernels = on('stream thread (kernel begin → end)').filter((e) => e.cat === 'kernel');
  assert.equal(on('steps').map((e) => e.name), ['step 1', 'step 2', 'step 3']);
  assert.equal(on('checkpoint writes').map((e) => e.name), ['checkpoint step 3']);
  const data = on(/^data worker /);
  assert.ok(data.some((e) => e.name === 'load') && data.some((e) => e.name === 'augment'), 'the worker decodes and augments on its track');
  // 3 MoCo steps: query and key encoders forward, the query's backward; the stem has no input gradient.
  assert.is(ops.filter((e) => e.name === 'conv2d').length, 3 * 2 * convs);
  assert.is(ops.filter((e) => (e.args as { kernel: string }).kernel === 'conv2dBackwardFilter').length, 3 * convs);
  assert.is(ops.filter((e) => (e.args as { kernel: string }).kernel === 'conv2dBackwardInput').length, 3 * (convs - 1));
  const stem = ops.find((e) => e.name === 'conv2d')!.args as { inputs: string[]; outputs: string[] };
  assert.equal(stem.inputs, ['float32[4,32,32,1]', 'float32[8,7,7,1]'], 'host ops carry dtype and shape of each input');
  // Every host launch has its device span, and the device ran it after the host launched it.
  const launched = new Map(ops.map((e) => [(e.args as { id: number }).id, e]));
  assert.is(kernels.length, ops.length);
  let prevEnd = 0;
  for (const k of kernels.sort((a, b) => a.ts - b.ts)) {
    const host = launched.get((k.args as { id: number }).id);
    assert.ok(host, `kernel ${k.name} id ${(k.args as { id: number }).id} has no host launch`);
    assert.ok(k.ts >= host.ts - 5, `kernel ${k.name} began ${host.ts - k.ts} µs before its launch: the clocks disagree`);
    assert.ok(k.ts >= prevEnd - 1, 'one stream thread runs one kernel at a time');
    prevEnd = k.ts + k.dur;
  }
  rmSync(out, { recursive: true, force: true });
});

test('profile --json bench conv: rows + transfers + idle = the step; FLOPs are 2·N·Ho·Wo·Co·Ci·K² per pass; measured idle closes the sum', () => {
  const r = cli(['profile', '--json', 'bench', 'conv', '--shape', '4,32,32,32', '--iters', '4', '--warmup', '1', '--threads', '1']);
  assert.is(r.code, 0, r.out);
  const p = JSON.parse(r.stdout);
  assert.match(r.stderr, /conv both on cpu/, "the bench's own line goes to stderr");
  assert.is(p.steps, 4);
  assert.equal(p.rows.map((x: { kernel: string }) => x.kernel).sort(), ['conv2d', 'conv2dBackwardFilter', 'conv2dBackwardInput']);
  const flops = 2 * 4 * 32 * 32 * 32 * 32 * 9;
  for (const row of p.rows) {
    assert.is(row.calls, 1);
    assert.is(row.flops, flops);
    assert.ok(Math.abs(row.TFLOPs - row.flops / (row.totalMs * 1e9)) < 1e-9);
  }
  const sum = p.rows.reduce((s: number, x: { totalMs: number }) => s + x.totalMs, 0);
  assert.ok(Math.abs(sum - p.kernelMs) < 1e-9 * p.stepMs);
  // Idle is measured (the gaps between the device's spans inside each step), so the rows, the
  // transfers and the idle time add up to the step only if the stream's spans are disjoint and each
  // is counted in one step. The stated margin is float rounding: 1e-6 of the step.
  assert.ok(Math.abs(sum + p.transferMs + p.idleMs - p.stepMs) < 1e-6 * p.stepMs, `${sum} + ${p.transferMs} + ${p.idleMs} vs ${p.stepMs}`);
  assert.ok(sum > 0 && p.idleMs >= 0 && p.idleMs < p.stepMs);
  assert.match(p.roofline.source, /^measured: /);
  assert.ok(p.roofline.bandwidthGBps > 0 && p.roofline.tflops.float32 > 0);
});

test('profile pretrain: per-step calls are the architecture\'s; the table adds up to the step; the text table names its roofline', () => {
  const temps = () => readdirSync(tmpdir()).filter((n) => n.startsWith('ifa-profile-')).sort();
  const before = temps();
  const r = cli(['profile', 'pretrain', ...tiny]);
  assert.is(r.code, 0, r.out);
  assert.match(r.stderr, /profile: pretrain --steps 4 \(1 skipped, 3 profiled/);
  const lines = r.stdout.split('\n');
  assert.match(lines[0], /^profile on cpu: 3 steps, per step \(means\)/);
  assert.match(lines[1], /^roofline: [\d.]+ GB\/s, fp32 [\d.]+ TFLOP\/s \(measured: /);
  const row = (name: string) => lines.find((l) => l.startsWith(name + ' '))?.trim().split(/\s+/);
  assert.is(row('conv2d')?.[1], String(2 * convs));
  assert.is(row('conv2dBackwardFilter')?.[1], String(convs));
  assert.is(row('conv2dBackwardInput')?.[1], String(convs - 1));
  const kernelRows = lines.slice(3).filter((l) => l && !l.startsWith('(') && !l.startsWith('step '));
  const sum = kernelRows.reduce((s, l) => s + Number(l.trim().split(/\s+/)[2]), 0);
  const transfers = Number(lines.find((l) => l.startsWith('(transfers'))!.trim().split(/\s+/)[2]);
  const idle = Number(lines.find((l) => l.startsWith('(device idle)'))!.trim().split(/\s+/)[2]);
  const step = Number(row('step')?.[1]);
  assert.ok(Math.abs(sum + transfers + idle - step) <= 0.0005 * kernelRows.length + 0.002, `${sum} + ${transfers} + ${idle} vs ${step}`);
  assert.equal(temps(), before, 'the temporary --out is removed');
});

test('--trace errors: no file name, an unwritable folder; profile without a command; profile bench data', () => {
  const a = cli(['bench', 'ifa', '--trace']);
  assert.is(a.code, 1, a.out);
  assert.match(a.stderr, /--trace: expects a file name/);
  const b = cli(['pretrain', ...tiny, '--steps', '1', '--out', join(root, 'x'), '--trace', join(root, 'no', 'such', 'dir', 't.json')]);
  assert.is(b.code, 1, b.out);
  assert.match(b.stderr, /does not exist or is not writable/);
  assert.not.ok(existsSync(join(root, 'x')), 'refused before any work');
  const c = cli(['profile', '--json']);
  assert.is(c.code, 1, c.out);
  assert.match(c.stderr, /expects a command to profile/);
  const d = cli(['profile', 'bench', 'data']);
  assert.is(d.code, 1, d.out);
  assert.match(d.stderr, /data bench launches none/);
});

test('bench ifa --trace: the bench samples are spans on the steps track', () => {
  const file = join(root, 'ifa.json');
  const r = cli(['bench', 'ifa', '--shape', '2,4,4,64', '--iters', '3', '--warmup', '1', '--trace', file]);
  assert.is(r.code, 0, r.out);
  const t = traceFile.parse(JSON.parse(readFileSync(file, 'utf8')));
  const xs = t.traceEvents.filter((e): e is Complete => e.ph === 'X');
  assert.equal(xs.filter((e) => e.cat === 'steps').map((e) => e.name), ['sample 1', 'sample 2', 'sample 3']);
  assert.is(xs.filter((e) => e.cat === 'kernel' && e.name === 'ifaLossWithGrad').length, 4, 'warm-up + 3 samples');
});

test('clipToWindows + idleUs: a span belongs to the window its begin is in, cut at its end; idle = the gaps, overlaps counted once (closed form)', () => {
  // Windows [0,10) and [20,30); spans 1–3, 2–4 (overlap), 6–12 (cut to 6–10), 18–22 (begins before
  // the second window: not its), 25–26. Gaps: 0–1, 4–6 in the first; 20–25, 26–30 in the second.
  const windows = [{ beginUs: 0, endUs: 10 }, { beginUs: 20, endUs: 30 }];
  const spans = [{ beginUs: 6, endUs: 12 }, { beginUs: 1, endUs: 3 }, { beginUs: 2, endUs: 4 }, { beginUs: 18, endUs: 22 }, { beginUs: 25, endUs: 26 }];
  const mine = clipToWindows(spans, windows);
  assert.equal(mine, [{ beginUs: 6, endUs: 10 }, { beginUs: 1, endUs: 3 }, { beginUs: 2, endUs: 4 }, { beginUs: 25, endUs: 26 }]);
  assert.is(idleUs(mine, windows), 1 + 2 + 5 + 4);
  assert.is(idleUs([], [{ beginUs: 5, endUs: 7 }]), 2);
  // Disjoint spans: their clipped time plus the idle time is the windows' length.
  const serial = clipToWindows([{ beginUs: 0.5, endUs: 3 }, { beginUs: 3, endUs: 9.5 }, { beginUs: 9.75, endUs: 21 }, { beginUs: 22, endUs: 31 }], windows);
  const busy = serial.reduce((s, k) => s + k.endUs - k.beginUs, 0);
  assert.is(busy + idleUs(serial, windows), 20);
});

test.after(() => rmSync(root, { recursive: true, force: true }));

test.run();
