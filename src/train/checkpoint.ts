// Checkpoints: one safetensors file, written atomically (temp file + rename).
//   - the trained encoder under torchvision's names, conv weights in PyTorch's OIHW layout, BatchNorm
//     num_batches_tracked as int64, so PyTorch loads it into torchvision's resnet50 (with the head as
//     `fc`); trainer state sits under the `_state.` prefix (drop those keys before load_state_dict):
//     `_state.encoder_k.*` (MoCo's key encoder), `_state.momentum.*` (SGD buffers), `_state.queue`;
//   - metadata: format, method, config (JSON), step, epoch, queue pointer, RNG state.
import { readSafetensors, writeSafetensorsAsync, type SafetensorsInput } from '../io/safetensors.js';
import { extractStateDictReport, readPth } from '../io/pth.js';
import { ohwiToOihw, oihwToOhwi } from '../io/layout.js';
import type { TensorRecord } from '../io/types.js';
import { BatchNorm2d } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import type { Tensor } from '../core/tensor.js';
import { nextTurn, offload, pacer } from '../core/offload.js';

export const CHECKPOINT_FORMAT = 'ifa-ssl-checkpoint-1';
export const STATE_PREFIX = '_state.';

/**
 * A conv-weight layout change (ohwiToOihw / oihwToOhwi: both keep dim 0, Cout, first) done in
 * slices of output channels of ~128 K values, the event loop turning between them (1–2 ms each;
 * 512 K-value slices took 30–80 ms on a busy 2-core machine, the largest share of a checkpoint's
 * event-loop delay).
 */
async function pacedPermute<T extends { shape: number[]; data: TensorRecord['data'] }>(rec: T, permute: (r: T) => T): Promise<T> {
  const [n, ...rest] = rec.shape;
  const per = rest.reduce((a, b) => a * b, 1);
  if (rec.shape.length !== 4 || per === 0 || rec.data.length !== n * per) return permute(rec);
  const rows = Math.max(1, Math.floor((1 << 17) / per));
  const src = rec.data as Float32Array;
  const out = new (src.constructor as new (n: number) => Float32Array)(src.length);
  let shape = rec.shape;
  for (let r = 0; r < n; r += rows) {
    const m = Math.min(rows, n - r);
    const part = permute({ ...rec, shape: [m, ...rest], data: src.subarray(r * per, (r + m) * per) });
    out.set(part.data as Float32Array, r * per);
    shape = [n, ...part.shape.slice(1)];
    await nextTurn();
  }
  return { ...rec, shape, data: out };
}

/** A module's tensors as records: torchvision names, OIHW conv weights, int64 num_batches_tracked. */
export async function exportModule(model: Module, prefix = ''): Promise<Record<string, SafetensorsInput>> {
  const out: Record<string, SafetensorsInput> = {};
  // One tensor at a time, so the event loop turns between the reads (each allocates its array on
  // the JS thread) and within the OHWI → OIHW transposes (~200 ms for ResNet-50 in all).
  for (const [name, t] of model.stateDict()) {
    const rec = { dtype: 'F32' as const, shape: [...t.shape], data: await t.data() };
    out[prefix + name] = t.rank === 4 ? await pacedPermute(rec, ohwiToOihw) : rec;
  }
  for (const [name, m] of model.namedModules()) {
    if (m instanceof BatchNorm2d) {
      out[`${prefix}${name ? name + '.' : ''}num_batches_tracked`] = { shape: [], data: new BigInt64Array([BigInt(m.numBatchesTracked)]) };
    }
  }
  return out;
}

function toFloat32(rec: TensorRecord, name: string): Float32Array {
  if (rec.data instanceof Float32Array) return rec.data;
  if (rec.data instanceof BigInt64Array) return Float32Array.from(rec.data, (v) => Number(v));
  if (rec.dtype === 'BOOL') throw new TypeError(`checkpoint: ${name} is boolean, expected numbers`);
  return Float32Array.from(rec.data as ArrayLike<number>);
}

/**
 * Loads records with torchvision names (OIHW conv weights) into a module. Returns missing and
 * unexpected keys like PyTorch's load_state_dict(strict=False).
 */
export async function importModule(model: Module, records: Record<string, TensorRecord>, prefix = ''): Promise<{ missing: string[]; unexpected: string[] }> {
  const values = new Map<string, { shape: number[]; data: Float32Array }>();
  const tracked = new Map<string, number>();
  // Files hold conv weights as PyTorch does (O,I,H,W); a mismatch is reported in that layout.
  const own = new Map(model.stateDict());
  for (const [key, rec] of Object.entries(records)) {
    if (!key.startsWith(prefix)) continue;
    const name = key.slice(prefix.length);
    if (name.endsWith('num_batches_tracked')) {
      tracked.set(name.slice(0, -'num_batches_tracked'.length).replace(/\.$/, ''), Number(toFloat32(rec, key)[0] ?? 0));
      continue;
    }
    const t = own.get(name);
    if (t && rec.shape.length === 4 && t.rank === 4) {
      const [o, h, w, i] = t.shape;
      if (rec.shape.join() !== [o, i, h, w].join()) {
        throw new RangeError(`${name} has shape [${rec.shape}] in the checkpoint but [${o},${i},${h},${w}] in the model (PyTorch's layout: out, in, kH, kW)${name === 'conv1.weight' && rec.shape[1] !== i ? `; the checkpoint takes ${rec.shape[1]}-channel images, the model ${i} (set inChannels / --in-channels ${rec.shape[1]})` : ''}`);
      }
    }
    const r = rec.shape.length === 4 ? await pacedPermute(rec, oihwToOhwi) : rec;
    values.set(name, { shape: r.shape, data: toFloat32(r, key) });
  }
  const res = await model.loadStateDict(values);
  for (const [name, m] of model.namedModules()) {
    if (m instanceof BatchNorm2d && tracked.has(name)) m.numBatchesTracked = tracked.get(name)!;
  }
  return res;
}

export interface CheckpointContents {
  records: Record<string, TensorRecord>;
  metadata: Record<string, string>;
}

export async function writeCheckpoint(path: string, tensors: Record<string, SafetensorsInput>, metadata: Record<string, unknown>): Promise<void> {
  const meta: Record<string, string> = { format: CHECKPOINT_FORMAT };
  for (const [k, v] of Object.entries(metadata)) meta[k] = typeof v === 'string' ? v : JSON.stringify(v);
  await writeSafetensorsAsync(path, tensors, meta);
}

/**
 * Reads an ifa-ssl checkpoint (.safetensors) or a PyTorch checkpoint (.pth/.pth.tar: a state dict,
 * a {state_dict} wrapper, MoCo/CheSS's module.encoder_q. prefix). Encoder keys come back unprefixed.
 */
export function readAnyCheckpoint(path: string): CheckpointContents & { kind: 'ifa-ssl' | 'safetensors' | 'pytorch'; dropped: string[] } {
  if (/\.(pth|pt|tar|ckpt)$/i.test(path)) {
    const report = extractStateDictReport(readPth(path));
    return { records: report.stateDict, metadata: {}, kind: 'pytorch', dropped: report.dropped };
  }
  const { tensors, metadata } = readSafetensors(path);
  return { records: tensors, metadata, kind: metadata.format === CHECKPOINT_FORMAT ? 'ifa-ssl' : 'safetensors', dropped: [] };
}

/** What readAnyCheckpointAsync returns: readAnyCheckpoint's contents plus the finiteness checks. */
export interface CheckpointRead extends CheckpointContents {
  kind: 'ifa-ssl' | 'safetensors' | 'pytorch';
  dropped: string[];
  /** firstNonFinite over the encoder's records (keys outside `_state.`) and over the trainer state's. */
  nonFinite: { encoder: string | null; state: string | null };
}

/** readAnyCheckpoint plus the finiteness checks (what the helper thread runs). */
export function readCheckpointReport(path: string): CheckpointRead {
  const ck = readAnyCheckpoint(path);
  const encoder: Record<string, TensorRecord> = {};
  const state: Record<string, TensorRecord> = {};
  for (const [k, v] of Object.entries(ck.records)) (k.startsWith(STATE_PREFIX) ? state : encoder)[k] = v;
  return { ...ck, nonFinite: { encoder: firstNonFinite(encoder), state: firstNonFinite(state) } };
}

/**
 * readAnyCheckpoint on the helper thread: reading, parsing (a PyTorch pickle, a safetensors header),
 * widening and the finiteness scans run off the event loop; the tensors come back without a copy.
 * Errors are readAnyCheckpoint's, with the same messages.
 */
export function readAnyCheckpointAsync(path: string): Promise<CheckpointRead> {
  return offload('readCheckpoint', { path });
}

/** SGD momentum buffers by the names of the parameters they belong to. */
export async function exportTensors(named: [string, Tensor][], prefix: string): Promise<Record<string, SafetensorsInput>> {
  const out: Record<string, SafetensorsInput> = {};
  const pace = pacer();
  for (const [n, t] of named) {
    out[prefix + n] = { shape: [...t.shape], data: await t.data() };
    await pace(t.size);
  }
  return out;
}

/** A checkpoint whose metadata is damaged or does not fit this run: names the file and the field. */
export class CheckpointMetadataError extends Error {}

/** An integer metadata field in [min, max]; `fallback` when absent (undefined: the field is required). */
export function metadataInt(path: string, metadata: Record<string, string>, field: string, min: number, max: number, fallback?: number): number {
  const raw = metadata[field];
  if (raw === undefined) {
    if (fallback !== undefined) return fallback;
    throw new CheckpointMetadataError(`${path}: metadata field '${field}' is missing; the file is not a complete ifa-ssl checkpoint`);
  }
  const v = /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new CheckpointMetadataError(`${path}: metadata field '${field}' must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}; the file is damaged or was edited (resume from another checkpoint)`);
  }
  return v;
}

/** A JSON metadata field, parsed; a parse error names the file and the field. */
export function metadataJson(path: string, metadata: Record<string, string>, field: string): unknown {
  const raw = metadata[field];
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw new CheckpointMetadataError(`${path}: metadata field '${field}' is not valid JSON (${(e as Error).message}); the file is damaged or was edited`);
  }
}

/**
 * The first non-finite value among named tensors' data, as `name[index] = value`, or null. A
 * checkpoint or --init holding NaN/Inf weights is refused by this.
 */
export function firstNonFinite(records: Record<string, { data: ArrayLike<number | bigint> }>): string | null {
  for (const [name, rec] of Object.entries(records)) {
    const d = rec.data;
    if (!(d instanceof Float32Array || d instanceof Float64Array)) continue;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return `${name}[${i}] = ${d[i]}`;
  }
  return null;
}
