// Traces (`--trace FILE`) and the data the profiler reads: every op as the JS thread dispatched it
// (name, kernel, shapes, dtypes) on a host track, every kernel as the device ran it on a device track
// (CPU: the stream thread's begin and end; CUDA: an event pair around each launch; WebGPU: submit to
// completion), data-loader workers' decode and augment on a track per worker, checkpoint writes and
// training steps on tracks of their own. All times are on one clock (src/core/clock.ts).
//
// Usage: startTrace({ file }) … await stopTrace() (writes the file). Tracing off costs a null check
// per kernel launch (src/core/engine.ts's dispatchKernel) and per traceSpan.
//
// The file is Chrome's trace-event format (JSON object form: { traceEvents: [...] }), which Perfetto
// (ui.perfetto.dev) and chrome://tracing open: complete events (ph 'X': ts and dur in µs) and
// metadata events (ph 'M') naming each process (host, device cpu/cuda/webgpu, data) and thread
// (track). Timestamps count from startTrace.
import { closeSync, openSync, renameSync, writeSync } from 'node:fs';
import type { Backend, BackendName, DeviceSpan, KernelAttrs, TensorRef } from '../backends/backend.js';
import { nowUs } from './clock.js';
import type { DType } from './dtype.js';
import { setKernelDispatcher } from './engine.js';

export { nowUs } from './clock.js';

export interface TensorSig {
  shape: readonly number[];
  dtype: DType;
}

/** One kernel launch as the JS thread dispatched it. */
export interface HostOp {
  backend: BackendName;
  op: string;
  kernel: string;
  inputs: TensorSig[];
  outputs: TensorSig[];
  attrs: KernelAttrs;
  /** The id the backend's DeviceSpan carries (absent: the backend does not time kernels). */
  id?: number;
  tsUs: number;
  durUs: number;
}

/** A kernel (or a transfer: op undefined, id 0) as the device ran it. */
export interface KernelRun extends DeviceSpan {
  backend: BackendName;
  op?: HostOp;
}

/** A span on a named track: a training step, a checkpoint write, a worker's decode or augment. */
export interface Mark {
  track: string;
  name: string;
  beginUs: number;
  endUs: number;
  args?: Record<string, unknown>;
}

export interface Trace {
  readonly file: string | undefined;
  readonly startUs: number;
  ops: HostOp[];
  kernels: KernelRun[];
  marks: Mark[];
  /** Device spans whose id matched no host op (kernels launched around the library); should be 0. */
  unmatched: number;
  /** Set when the trace reached MAX_TRACE_OPS: nothing launched after this time is recorded. */
  truncatedAtUs?: number;
}

/**
 * Kernel launches a trace records at most (about 0.5 KB each in memory with their device span):
 * a trace is for a few steps (a ResNet-50 training step launches ~1,000 kernels). Past the cap the
 * launches run unrecorded, marks still are, and the file says where it stopped.
 */
export const MAX_TRACE_OPS = 1_000_000;

export interface TraceOptions {
  /** Where stopTrace writes the Chrome trace JSON; without it the trace is only returned. */
  file?: string;
}

interface Active {
  trace: Trace;
  timed: Set<Backend>;
  byId: Map<Backend, Map<number, HostOp>>;
}

let active: Active | null = null;

/** Whether a trace is being recorded (the data loader asks its workers for spans then). */
export function isTracing(): boolean {
  return active !== null;
}

/** The trace being recorded, if any. */
export function currentTrace(): Trace | null {
  return active?.trace ?? null;
}

function sig(t: TensorRef): TensorSig {
  return { shape: t.shape, dtype: t.storage.dtype };
}

function launch(backend: Backend, op: string, kernel: string, inputs: TensorRef[], outputs: TensorRef[], attrs: KernelAttrs): void {
  const a = active!;
  if (a.trace.truncatedAtUs !== undefined || a.trace.ops.length >= MAX_TRACE_OPS) {
    a.trace.truncatedAtUs ??= nowUs();
    backend.run(kernel, inputs, outputs, attrs);
    return;
  }
  if (!a.timed.has(backend)) {
    a.timed.add(backend);
    a.byId.set(backend, new Map());
    backend.setKernelTiming?.(true);
  }
  const tsUs = nowUs();
  const id = backend.run(kernel, inputs, outputs, attrs);
  const durUs = nowUs() - tsUs;
  const rec: HostOp = { backend: backend.name, op, kernel, inputs: inputs.map(sig), outputs: outputs.map(sig), attrs, tsUs, durUs };
  if (typeof id === 'number') {
    rec.id = id;
    a.byId.get(backend)!.set(id, rec);
  }
  a.trace.ops.push(rec);
}

/** Starts recording. Throws if a trace is already being recorded. */
export function startTrace(opts: TraceOptions = {}): Trace {
  if (active) throw new Error('startTrace: a trace is already being recorded; stopTrace() it first');
  const trace: Trace = { file: opts.file, startUs: nowUs(), ops: [], kernels: [], marks: [], unmatched: 0 };
  active = { trace, timed: new Set(), byId: new Map() };
  setKernelDispatcher(launch);
  return trace;
}

/** Moves the completed device spans of every timed backend into the trace. */
function collect(a: Active): void {
  for (const b of a.timed) {
    const ids = a.byId.get(b)!;
    for (const s of b.takeKernelSpans?.() ?? []) {
      const op = s.id ? ids.get(s.id) : undefined;
      if (!op && a.trace.truncatedAtUs !== undefined && s.beginUs >= a.trace.truncatedAtUs) continue; // launched unrecorded
      if (s.id && !op) a.trace.unmatched++;
      if (op) ids.delete(s.id);
      a.trace.kernels.push({ ...s, backend: b.name, op });
    }
  }
}

/**
 * Stops recording: waits for the timed backends' queued work, collects their kernel spans, writes
 * the file when one was given, and returns the trace.
 */
export async function stopTrace(): Promise<Trace> {
  const a = active;
  if (!a) throw new Error('stopTrace: no trace is being recorded (startTrace first)');
  setKernelDispatcher(null);
  active = null;
  try {
    for (const b of a.timed) await b.sync();
    collect(a);
  } finally {
    for (const b of a.timed) b.setKernelTiming?.(false);
  }
  a.trace.kernels.sort((x, y) => x.beginUs - y.beginUs);
  if (a.trace.file) writeChromeTrace(a.trace, a.trace.file);
  return a.trace;
}

/** Adds a span to a track of the trace being recorded (nothing when none is). */
export function traceMark(track: string, name: string, beginUs: number, endUs: number, args?: Record<string, unknown>): void {
  active?.trace.marks.push({ track, name, beginUs, endUs, ...(args ? { args } : {}) });
}

/**
 * Runs fn as a span on `track` (awaiting it). A span on the 'steps' track also moves the kernels
 * that completed into the trace, so the addon's buffer stays small over a long run. Off: fn().
 */
export async function traceSpan<T>(track: string, name: string, fn: () => Promise<T> | T, args?: Record<string, unknown>): Promise<T> {
  if (!active) return fn();
  const begin = nowUs();
  try {
    return await fn();
  } finally {
    traceMark(track, name, begin, nowUs(), args);
    if (track === 'steps' && active) collect(active);
  }
}

// ---- Chrome trace-event JSON

const DEVICE_PIDS: Record<BackendName, number> = { cpu: 2, cuda: 3, webgpu: 4 };
const DEVICE_TRACKS: Record<BackendName, string> = {
  cpu: 'stream thread (kernel begin → end)',
  cuda: 'stream (CUDA events around each launch)',
  webgpu: 'queue (submit → complete)',
};
const HOST_PID = 1;
const DATA_PID = 5;

export interface TraceEvent {
  ph: 'X' | 'M';
  name: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  cat?: string;
  args?: Record<string, unknown>;
}

function sigText(t: TensorSig): string {
  return `${t.dtype}[${t.shape.join(',')}]`;
}

/** attrs as trace args; long integer lists (gatherRows' index) are cut to their length. */
function attrArgs(attrs: KernelAttrs): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) && v.length > 16 ? `${v.length} integers` : v;
  }
  return out;
}

/** The trace as trace events, metadata first; ts in µs from the trace's start. */
export function chromeTraceEvents(trace: Trace): TraceEvent[] {
  const t0 = trace.startUs;
  const ts = (us: number) => Math.round((us - t0) * 1000) / 1000;
  const dur = (b: number, e: number) => Math.max(0, Math.round((e - b) * 1000) / 1000);
  const meta: TraceEvent[] = [];
  const events: TraceEvent[] = [];
  const threads = new Map<string, { pid: number; tid: number }>();
  const named = new Set<number>();
  const processName = (pid: number, name: string) => {
    if (named.has(pid)) return;
    named.add(pid);
    meta.push({ ph: 'M', name: 'process_name', pid, tid: 0, ts: 0, args: { name } });
    meta.push({ ph: 'M', name: 'process_sort_index', pid, tid: 0, ts: 0, args: { sort_index: pid } });
  };
  const thread = (key: string, pid: number, name: string) => {
    let t = threads.get(key);
    if (!t) {
      t = { pid, tid: [...threads.values()].filter((x) => x.pid === pid).length + 1 };
      threads.set(key, t);
      meta.push({ ph: 'M', name: 'thread_name', pid, tid: t.tid, ts: 0, args: { name } });
    }
    return t;
  };
  processName(HOST_PID, 'host (JS main thread)');
  const opsTrack = thread('ops', HOST_PID, 'ops (dispatch)');
  for (const o of trace.ops) {
    events.push({
      ph: 'X',
      cat: 'op',
      name: o.op,
      pid: opsTrack.pid,
      tid: opsTrack.tid,
      ts: ts(o.tsUs),
      dur: dur(o.tsUs, o.tsUs + o.durUs),
      args: { kernel: o.kernel, backend: o.backend, inputs: o.inputs.map(sigText), outputs: o.outputs.map(sigText), ...(o.id !== undefined ? { id: o.id } : {}), attrs: attrArgs(o.attrs) },
    });
  }
  for (const k of trace.kernels) {
    const pid = DEVICE_PIDS[k.backend];
    processName(pid, `device ${k.backend}`);
    const track = thread(`device:${k.backend}`, pid, DEVICE_TRACKS[k.backend]);
    events.push({
      ph: 'X',
      cat: k.op ? 'kernel' : 'transfer',
      name: k.name,
      pid,
      tid: track.tid,
      ts: ts(k.beginUs),
      dur: dur(k.beginUs, k.endUs),
      args: k.op ? { op: k.op.op, id: k.id, inputs: k.op.inputs.map(sigText), outputs: k.op.outputs.map(sigText) } : {},
    });
  }
  for (const m of trace.marks) {
    const data = m.track.startsWith('data ');
    const pid = data ? DATA_PID : HOST_PID;
    if (data) processName(DATA_PID, 'data loader');
    const track = thread(`mark:${m.track}`, pid, m.track);
    events.push({ ph: 'X', cat: data ? 'data' : m.track, name: m.name, pid, tid: track.tid, ts: ts(m.beginUs), dur: dur(m.beginUs, m.endUs), ...(m.args ? { args: m.args } : {}) });
  }
  events.sort((a, b) => a.ts - b.ts);
  return [...meta, ...events];
}

/** Writes the trace as Chrome trace-event JSON (to FILE.tmp, then renamed), one event per line. */
export function writeChromeTrace(trace: Trace, file: string): void {
  const events = chromeTraceEvents(trace);
  const tmp = `${file}.${process.pid}.tmp`;
  let fd: number;
  try {
    fd = openSync(tmp, 'w');
  } catch (e) {
    throw new Error(`--trace ${file}: cannot write (${(e as Error).message}); choose a writable path`);
  }
  try {
    writeSync(fd, '{"displayTimeUnit":"ms","otherData":' + JSON.stringify({ producer: 'ifa-ssl', unmatchedDeviceSpans: trace.unmatched, ...(trace.truncatedAtUs !== undefined ? { truncatedAtMs: (trace.truncatedAtUs - trace.startUs) / 1e3, maxOps: MAX_TRACE_OPS } : {}) }) + ',"traceEvents":[\n');
    const chunk: string[] = [];
    for (let i = 0; i < events.length; i++) {
      chunk.push(JSON.stringify(events[i]) + (i + 1 < events.length ? ',\n' : '\n'));
      if (chunk.length >= 4096) writeSync(fd, chunk.splice(0).join(''));
    }
    writeSync(fd, chunk.join('') + ']}\n');
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
