// PyTorch checkpoint import without Python: torch.save's zip format (torch >= 1.6) — <archive>/data.pkl
// (a pickle whose tensors point at <archive>/data/<key> through persistent ids) — read with the
// restricted unpickler. Tensors become dense row-major records; floating types are widened or
// narrowed to F32, integers and bool keep their type (num_batches_tracked stays I64).
import { closeSync, openSync, readSync } from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { type AllowedGlobal, PickleGlobal, unpickle } from './pickle.js';
import { ZipArchive } from './zip.js';
import {
  DTYPE_BYTES,
  type IoData,
  type IoDtype,
  type TensorRecord,
  assertLittleEndianHost,
  formatShape,
  halfToFloat,
  hasOwn,
  isTensorRecord,
  setOwn,
  shapeSize,
} from './types.js';

/** torch.<Name>Storage → the element type of its data file. */
const STORAGE_DTYPES: Readonly<Record<string, IoDtype>> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

/** A storage a tensor views: the raw elements of data/<key>. */
class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: IoDtype,
    readonly numel: number,
    readonly elements: IoData | Uint16Array,
  ) {}
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** A pickled value for a message: BigInts (big pickle ints) and cycles do not break it; long ones are cut. */
function describeValue(v: unknown): string {
  const seen = new WeakSet<object>();
  let text: string;
  try {
    text = JSON.stringify(v, (_k, x) => {
      if (typeof x === 'bigint') return `${x}n`;
      if (typeof x === 'object' && x !== null) {
        if (seen.has(x)) return '[cycle]';
        seen.add(x);
      }
      return x;
    }) ?? String(v);
  } catch {
    text = String(v);
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function intTuple(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every(isNonNegInt)) throw new Error(`${what} must be a tuple of non-negative integers, got ${describeValue(v)}`);
  return v as number[];
}

function outputDtype(src: IoDtype): IoDtype {
  return src === 'F64' || src === 'F16' || src === 'BF16' ? 'F32' : src;
}

function allocate(dtype: IoDtype, n: number): IoData {
  switch (dtype) {
    case 'F32': return new Float32Array(n);
    case 'I64': return new BigInt64Array(n);
    case 'I32': return new Int32Array(n);
    case 'I16': return new Int16Array(n);
    case 'I8': return new Int8Array(n);
    default: return new Uint8Array(n); // U8, BOOL
  }
}

function isContiguous(size: number[], stride: number[]): boolean {
  let expected = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expected) return false;
    expected *= size[d];
  }
  return true;
}

/**
 * What a checkpoint may expand to when its views are made dense: twice the storage bytes present
 * (F16/BF16 widen to F32) plus 64 MiB, and never more than this cap. A view with stride 0 can
 * describe 2³⁰ elements over one stored float; it is refused, by name, before anything is allocated.
 */
export const PTH_MAX_BYTES = 16 * 2 ** 30;

/** A validated view, made dense only after unpickling, when its name and the budget are known. */
class PendingView {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
  get bytes(): number {
    return shapeSize(this.size) * DTYPE_BYTES[outputDtype(this.storage.dtype)];
  }
}

/** _rebuild_tensor_v2(storage, storage_offset, size, stride, …): checked here, made dense later. */
function rebuildTensor(args: readonly unknown[]): PendingView {
  const [storage, offset, sizeArg, strideArg] = args;
  if (!(storage instanceof StorageRef)) throw new Error('the first argument must be a storage reference');
  if (!isNonNegInt(offset)) throw new Error(`storage offset must be a non-negative integer, got ${String(offset)}`);
  const size = intTuple(sizeArg, 'size');
  const stride = intTuple(strideArg, 'stride');
  if (size.length !== stride.length) throw new Error(`size ${formatShape(size)} and stride ${formatShape(stride)} differ in rank`);
  const numel = shapeSize(size);
  if (numel > 0) {
    let last = offset;
    for (let d = 0; d < size.length; d++) last += (size[d] - 1) * stride[d];
    if (last >= storage.numel) {
      throw new Error(`view (offset ${offset}, size ${formatShape(size)}, stride ${formatShape(stride)}) reaches element ${last} of storage data/${storage.key}, which holds ${storage.numel}`);
    }
  }
  return new PendingView(storage, offset, size, stride);
}

/** The dense copy of a view. */
function materialize(view: PendingView): TensorRecord {
  const { storage, offset, size, stride } = view;
  const numel = shapeSize(size);
  const dtype = outputDtype(storage.dtype);
  const out = allocate(dtype, numel);
  const src = storage.elements;
  let read: (j: number) => number | bigint = (j) => src[j];
  if (storage.dtype === 'F16') read = (j) => halfToFloat(src[j] as number);
  if (storage.dtype === 'BF16') {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    read = (j) => {
      u[0] = (src[j] as number) << 16;
      return f[0];
    };
  }
  if (isContiguous(size, stride) && (storage.dtype === dtype || storage.dtype === 'F64')) {
    (out as Float32Array).set((src as Float32Array).subarray(offset, offset + numel));
  } else if (numel > 0) {
    // Strided gather with an odometer over the index; materialises transposes, steps and expands.
    const rank = size.length;
    const idx = new Array<number>(rank).fill(0);
    let j = offset;
    for (let i = 0; i < numel; i++) {
      (out as unknown as (number | bigint)[])[i] = read(j);
      for (let d = rank - 1; d >= 0; d--) {
        if (++idx[d] < size[d]) {
          j += stride[d];
          break;
        }
        j -= (size[d] - 1) * stride[d];
        idx[d] = 0;
      }
    }
  }
  return { dtype, shape: [...size], data: out };
}

function rebuildParameter(args: readonly unknown[]): TensorRecord | PendingView {
  if (!(args[0] instanceof PendingView) && !isTensorRecord(args[0])) throw new Error('expects a tensor');
  return args[0];
}

/**
 * Replaces every pending view in the unpickled tree by its dense copy, in order, refusing by name
 * one that would take the total past the budget (see PTH_MAX_BYTES).
 */
function materializeTree(root: unknown, label: string, storageBytes: number, maxBytes: number): unknown {
  const budget = Math.min(maxBytes, 2 * storageBytes + 64 * 2 ** 20);
  let used = 0;
  const done = new Map<PendingView, TensorRecord>();
  const seen = new Set<object>();
  const visit = (v: unknown, name: string): unknown => {
    if (v instanceof PendingView) {
      const have = done.get(v);
      if (have) return have;
      const bytes = v.bytes;
      if (used + bytes > budget || bytes > bufferConstants.MAX_LENGTH) {
        throw new Error(
          `${label}: tensor ${name} (shape ${formatShape(v.size)}, stride ${formatShape(v.stride)}) would expand to ${bytes} bytes, past what the file's ${storageBytes} bytes of storage allow (budget ${budget} bytes, cap ${maxBytes}); the file is damaged or hostile`,
        );
      }
      used += bytes;
      const rec = materialize(v);
      done.set(v, rec);
      return rec;
    }
    if (typeof v !== 'object' || v === null || seen.has(v) || isTensorRecord(v)) return v;
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = visit(v[i], `${name}[${i}]`);
    } else if (Object.getPrototypeOf(v) === Object.prototype) {
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) o[k] = visit(o[k], name ? `${name}.${k}` : k);
    }
    return v;
  };
  return visit(root, '');
}

function orderedDict(args: readonly unknown[]): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  if (args.length === 0) return d;
  const items = args[0];
  if (args.length !== 1 || !Array.isArray(items)) throw new Error('expects () or a list of (key, value) pairs');
  for (const pair of items) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string') throw new Error('expects (str, value) pairs');
    setOwn(d, pair[0], pair[1]);
  }
  return d;
}

/** Exactly what state dicts, optimizer states and MoCo/torchvision checkpoints reference. */
export const ALLOWED_GLOBALS: ReadonlyMap<string, AllowedGlobal> = new Map<string, AllowedGlobal>([
  ['collections.OrderedDict', { reduce: orderedDict, makesDict: true, build: () => undefined /* _metadata: not needed */ }],
  ['torch._utils._rebuild_tensor_v2', { reduce: rebuildTensor }],
  ['torch._utils._rebuild_tensor', { reduce: rebuildTensor }],
  ['torch._utils._rebuild_parameter', { reduce: rebuildParameter }],
  ['torch._utils._rebuild_parameter_with_state', { reduce: rebuildParameter }],
  ...Object.keys(STORAGE_DTYPES).map((name): [string, AllowedGlobal] => [`torch.${name}`, {}]),
]);

function storageView(dtype: IoDtype, buf: ArrayBuffer): IoData | Uint16Array {
  switch (dtype) {
    case 'F32': return new Float32Array(buf);
    case 'F64': return new Float64Array(buf);
    case 'F16':
    case 'BF16': return new Uint16Array(buf);
    case 'I64': return new BigInt64Array(buf);
    case 'I32': return new Int32Array(buf);
    case 'I16': return new Int16Array(buf);
    case 'I8': return new Int8Array(buf);
    default: return new Uint8Array(buf);
  }
}

function legacyHint(path: string): string | undefined {
  const head = Buffer.alloc(2);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, 2, 0);
  } finally {
    closeSync(fd);
  }
  if (head[0] === 0x80 && head[1] <= 5) {
    return `${path}: legacy torch.save format (torch < 1.6, or _use_new_zipfile_serialization=False) is not supported; re-save it with torch >= 1.6`;
  }
  return undefined;
}

/**
 * Reads a torch.save checkpoint (.pth / .pth.tar / .pt, zip format) into a plain object tree with
 * tensors as {dtype, shape, data}. Refuses anything but containers, numbers, strings and tensors.
 */
export function readPth(path: string, options: { maxBytes?: number } = {}): unknown {
  const maxBytes = options.maxBytes ?? PTH_MAX_BYTES;
  assertLittleEndianHost(`readPth ${path}`);
  let zip: ZipArchive;
  try {
    zip = ZipArchive.open(path);
  } catch (err) {
    if ((err as Error).message.includes('not a zip archive')) {
      throw new Error(legacyHint(path) ?? `${path}: not a PyTorch checkpoint (expected torch.save's zip format)`);
    }
    throw err;
  }
  try {
    const names = [...zip.entries.keys()];
    const pickles = names.filter((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (pickles.length !== 1) {
      if (names.some((n) => /(^|\/)constants\.pkl$/.test(n))) {
        throw new Error(`${path}: a TorchScript archive (torch.jit.save) is not supported; save model.state_dict() with torch.save`);
      }
      throw new Error(`${path}: expected one <archive>/data.pkl, found ${pickles.length}: not a torch.save checkpoint`);
    }
    const prefix = pickles[0].slice(0, -'data.pkl'.length);
    const order = zip.entries.has(`${prefix}byteorder`) ? zip.read(`${prefix}byteorder`).toString('latin1').trim() : 'little';
    if (order !== 'little') throw new Error(`${path}: ${order}-endian checkpoints are not supported`);

    const storages = new Map<string, StorageRef>();
    let storageBytes = 0;
    const persistentLoad = (pid: unknown): StorageRef => {
      if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') {
        throw new Error(`unsupported persistent id ${describeValue(pid)} (expected ('storage', type, key, location, numel))`);
      }
      const [, type, key, , numel] = pid as unknown[];
      const dtype = type instanceof PickleGlobal && type.module === 'torch' ? STORAGE_DTYPES[type.name] : undefined;
      if (!dtype) throw new Error(`unsupported storage type ${type instanceof PickleGlobal ? type.qualifiedName : String(type)}`);
      if (typeof key !== 'string' || !isNonNegInt(numel)) throw new Error('malformed storage reference');
      const cacheKey = `${key}:${dtype}`;
      const cached = storages.get(cacheKey);
      if (cached) return cached;
      const entry = `${prefix}data/${key}`;
      if (!zip.entries.has(entry)) throw new Error(`storage ${entry} is missing from the archive`);
      const bytes = zip.read(entry);
      const need = numel * DTYPE_BYTES[dtype];
      if (bytes.length < need) throw new Error(`storage ${entry} holds ${bytes.length} bytes, ${numel} × ${dtype} need ${need}`);
      const aligned = new ArrayBuffer(need);
      new Uint8Array(aligned).set(bytes.subarray(0, need));
      const ref = new StorageRef(key, dtype, numel, storageView(dtype, aligned));
      storages.set(cacheKey, ref);
      storageBytes += need;
      return ref;
    };
    const tree = unpickle(zip.read(pickles[0]), { label: path, globals: ALLOWED_GLOBALS, persistentLoad });
    return materializeTree(tree, path, storageBytes, maxBytes);
  } finally {
    zip.close();
  }
}

export interface StateDictReport {
  /** Tensors by (prefix-stripped) key, in checkpoint order. */
  stateDict: Record<string, TensorRecord>;
  /** Where the dict was found: "" for the object itself, else the wrapper key ("state_dict", "model"). */
  wrapper: string;
  /** The key prefix stripped ("module.encoder_q.", "encoder_q.", "module.") or "". */
  prefix: string;
  /** Original keys left out: outside the prefix (module.encoder_k.*, module.queue…) or not tensors. */
  dropped: string[];
}

export interface ExtractOptions {
  /** Take this prefix instead of detecting one (e.g. "module.encoder_k." for the key encoder; "" for none). */
  prefix?: string;
}

const WRAPPER_KEYS = ['state_dict', 'model'];
const AUTO_PREFIXES = ['module.encoder_q.', 'encoder_q.'];

function isDict(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isTensorRecord(v);
}

/**
 * The model weights in a checkpoint, with a report: accepts a plain state dict or a wrapper
 * {state_dict: …} / {model: …}; strips MoCo/CheSS's "module.encoder_q." (or "encoder_q.") and keeps
 * only those keys, else strips a "module." (DataParallel) prefix shared by every key.
 */
export function extractStateDictReport(checkpoint: unknown, options: ExtractOptions = {}): StateDictReport {
  if (!isDict(checkpoint)) throw new Error('extractStateDict: expected a state dict or a {state_dict: …} checkpoint');
  let wrapper = '';
  let dict: Record<string, unknown> = checkpoint;
  if (!Object.values(checkpoint).some(isTensorRecord)) {
    const key = WRAPPER_KEYS.find((k) => hasOwn(checkpoint, k) && isDict(checkpoint[k]));
    if (key === undefined) {
      throw new Error(`extractStateDict: no tensors found; expected a state dict or a wrapper with ${WRAPPER_KEYS.join(' or ')} (keys: ${Object.keys(checkpoint).join(', ')})`);
    }
    wrapper = key;
    dict = checkpoint[key] as Record<string, unknown>;
  }
  const keys = Object.keys(dict);
  let prefix = options.prefix;
  if (prefix === undefined) {
    prefix = AUTO_PREFIXES.find((p) => keys.some((k) => k.startsWith(p)));
    if (prefix === undefined) prefix = keys.length > 0 && keys.every((k) => k.startsWith('module.')) ? 'module.' : '';
  }
  const stateDict: Record<string, TensorRecord> = {};
  const dropped: string[] = [];
  for (const k of keys) {
    const v = dict[k];
    if (!k.startsWith(prefix) || k.length === prefix.length || !isTensorRecord(v)) dropped.push(k);
    else setOwn(stateDict, k.slice(prefix.length), v);
  }
  if (Object.keys(stateDict).length === 0) {
    throw new Error(`extractStateDict: no tensors under prefix "${prefix}" (keys: ${keys.slice(0, 8).join(', ')}${keys.length > 8 ? ', …' : ''})`);
  }
  return { stateDict, wrapper, prefix, dropped };
}

/** extractStateDictReport(...).stateDict. */
export function extractStateDict(checkpoint: unknown, options: ExtractOptions = {}): Record<string, TensorRecord> {
  return extractStateDictReport(checkpoint, options).stateDict;
}

export interface KeyComparison {
  /** Expected by the model, absent from the checkpoint. */
  missing: string[];
  /** In the checkpoint, unknown to the model. */
  unexpected: string[];
}

/** Like load_state_dict(strict=False)'s report; both lists keep their input order. */
export function compareKeys(expected: readonly string[], got: readonly string[]): KeyComparison {
  const e = new Set(expected);
  const g = new Set(got);
  return { missing: expected.filter((k) => !g.has(k)), unexpected: got.filter((k) => !e.has(k)) };
}
