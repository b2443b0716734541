// Work that would hold the event loop for more than a few milliseconds — drawing a model's initial
// weights, reading and parsing a checkpoint, decoding and preprocessing an image, drawing the loss
// plots — runs on one helper worker thread (src/core/offload-worker.ts), started on first use.
// Results come back in transferred buffers (no copy). The worker keeps the process alive only while a task is pending.
import { Worker } from 'node:worker_threads';

export interface OffloadTasks {
  /** Values of an init plan (src/nn/init.ts), drawn in order from Rng(seed). */
  drawInit: { args: { seed: number; plan: import('../nn/init.js').InitRequest[] }; result: Float32Array[] };
  /** readAnyCheckpoint (src/train/checkpoint.ts) plus the first non-finite encoder / state value. */
  readCheckpoint: { args: { path: string }; result: import('../train/checkpoint.js').CheckpointRead };
  /** An image file, encoded bytes or a grey image, preprocessed as in the paper (preprocessCxr), then normalised if asked: S×S values. */
  /** plotRunCurves (src/report/plot.ts): metrics → loss.svg and loss.png in dir; null without rows. */
  plotRunCurves: { args: { dir: string; metricsFile: string; basename: string }; result: { svg: string; png: string } | null };
  preprocess: {
    args: { path?: string; bytes?: Uint8Array; image?: { width: number; height: number; data: Float32Array }; imageSize: number; clipPercentile?: number; normalize: boolean };
    result: Float32Array;
  };
}
export type OffloadTask = keyof OffloadTasks;

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

let worker: Worker | null = null;
let nextId = 1;
const pending = new Map<number, Pending>();

/** The worker's error, with its name and message (and DecodeError's class, which callers test for). */
async function rebuildError(e: { name: string; message: string; code?: string }): Promise<Error> {
  let err: Error;
  if (e.name === 'DecodeError') {
    const { DecodeError } = await import('../data/decode.js');
    err = new DecodeError(e.message);
  } else if (e.name === 'RangeError') err = new RangeError(e.message);
  else if (e.name === 'TypeError') err = new TypeError(e.message);
  else err = new Error(e.message);
  if (e.code) (err as NodeJS.ErrnoException).code = e.code;
  return err;
}

function failAll(err: Error): void {
  const all = [...pending.values()];
  pending.clear();
  for (const p of all) p.reject(err);
}

function start(): Worker {
  const w = new Worker(new URL('./offload-worker.js', import.meta.url));
  w.on('message', (m: { id: number; result?: unknown; error?: { name: string; message: string; code?: string } }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (pending.size === 0) w.unref();
    if (m.error) void rebuildError(m.error).then((e) => p.reject(e));
    else p.resolve(m.result);
  });
  w.on('error', (e) => {
    if (worker === w) worker = null;
    failAll(new Error(`ifa-ssl helper thread failed: ${e.message}`));
  });
  w.on('exit', (code) => {
    if (worker === w) worker = null;
    if (pending.size) failAll(new Error(`ifa-ssl helper thread exited (code ${code}) with work pending; it may have run out of memory`));
  });
  return w;
}

/** Runs a task on the helper thread. `transfer` lists buffers handed over (the caller loses them). */
export function offload<T extends OffloadTask>(task: T, args: OffloadTasks[T]['args'], transfer: ArrayBuffer[] = []): Promise<OffloadTasks[T]['result']> {
  if (!worker) worker = start();
  const w = worker;
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    w.ref();
    w.postMessage({ id, task, args }, transfer);
  });
}

/** Stops the helper thread (it restarts on the next task). Pending tasks fail. */
export async function stopOffloadWorker(): Promise<void> {
  const w = worker;
  worker = null;
  if (w) await w.terminate();
}

/** The buffers of typed arrays that can be transferred whole (each once; views of a larger buffer are copied instead). */
export function transferables(arrays: Iterable<ArrayBufferView>): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const a of arrays) {
    if (a.buffer instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.byteLength > 0) out.add(a.buffer);
  }
  return [...out];
}

/** Lets timers and I/O run before the caller continues. */
export function nextTurn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/**
 * Paces host work done in pieces on the JS thread: `await pace(n)` after a piece that touched n
 * values lets the event loop turn once every `limit` values (1 M floats: about a millisecond of copying,
 * several on a busy machine).
 */
export function pacer(limit = 1 << 20): (n: number) => Promise<void> {
  let done = 0;
  return async (n) => {
    done += n;
    if (done >= limit) {
      done = 0;
      await nextTurn();
    }
  };
}
