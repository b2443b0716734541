// A restricted unpickler: the opcodes that torch.save (protocol 2, and 4's framing) emits for state
// dicts, optimizer states and plain containers, and nothing else. It never imports or calls
// anything by name: GLOBAL resolves only through a caller-supplied allow-list of JS functions, and
// every other opcode (INST, OBJ, NEWOBJ, EXT*, POP, DUP, BINBYTES, …) is refused with its name.
//
// Python values map to: dict → plain object (keys as strings; own properties even for "__proto__"),
// list → array, tuple → frozen array, str → string, int → number (bigint beyond 2^53), float →
// number, bool → boolean, None → null.
import { isTensorRecord, setOwn } from './types.js';

/** An allow-listed global. `reduce` makes it callable by REDUCE; `build` lets BUILD target its results. */
export interface AllowedGlobal {
  reduce?: (args: readonly unknown[]) => unknown;
  /** BUILD on an object this global made: receives the state (may ignore it). */
  build?: (obj: unknown, state: unknown) => void;
  /** reduce returns a plain object that SETITEM(S) may then fill, like EMPTY_DICT's (OrderedDict). */
  makesDict?: boolean;
}

/** What GLOBAL pushes: a name from the allow-list, never a Python object. */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly spec: AllowedGlobal,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

export interface UnpickleOptions {
  /** Names the file in errors. */
  label: string;
  /** "module.name" → what it may do. Anything absent is refused. */
  globals: ReadonlyMap<string, AllowedGlobal>;
  /** BINPERSID's target; absent, BINPERSID is refused. */
  persistentLoad?: (pid: unknown) => unknown;
}

export const REFUSAL = 'only state dicts of tensors are supported';

const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT', 0x80: 'PROTO',
  0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3',
  0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS',
  0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

const utf8 = new TextDecoder('utf-8');

function typeName(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return Object.isFrozen(v) ? 'tuple' : 'list';
  if (v instanceof PickleGlobal) return v.qualifiedName;
  if (typeof v === 'object') return isTensorRecord(v) ? 'tensor' : Object.getPrototypeOf(v) === Object.prototype ? 'dict' : 'storage';
  return typeof v;
}

/** Unpickles bytes under the restrictions above; throws naming the file, the byte and the reason. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  const { label, globals, persistentLoad } = options;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  let opStart = 0;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();
  const dicts = new WeakSet<object>();
  const lists = new WeakSet<object>();
  const buildable = new WeakMap<object, AllowedGlobal>();

  const fail: (msg: string) => never = (msg) => {
    throw new Error(`${label}: ${msg} (pickle byte ${opStart})`);
  };
  const refuse: (what: string) => never = (what) => {
    throw new Error(`${label}: refusing to unpickle ${what}: ${REFUSAL}`);
  };
  const need = (n: number): void => {
    if (pos + n > bytes.length) fail('pickle ends unexpectedly (truncated data)');
  };
  const u8 = (): number => {
    need(1);
    return bytes[pos++];
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.length)) fail(`length ${v} exceeds the pickle`);
    return Number(v);
  };
  const text = (n: number): string => {
    need(n);
    const s = utf8.decode(bytes.subarray(pos, pos + n));
    pos += n;
    return s;
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('pickle ends inside a GLOBAL name');
    const s = Buffer.from(bytes.subarray(pos, end)).toString('latin1');
    pos = end + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail('stack underflow (corrupt pickle)');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('stack underflow (corrupt pickle)');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = metastack.pop();
    if (prev === undefined) fail('no MARK to pop to (corrupt pickle)');
    stack = prev;
    return items;
  };
  const newDict = (): Record<string, unknown> => {
    const d: Record<string, unknown> = {};
    dicts.add(d);
    return d;
  };
  const tuple = (items: unknown[]): unknown[] => Object.freeze(items) as unknown[];
  const dictKey = (k: unknown): string => {
    if (typeof k === 'string') return k;
    if (typeof k === 'number' || typeof k === 'bigint') return String(k);
    if (typeof k === 'boolean') return k ? 'True' : 'False';
    if (k === null) return 'None';
    return fail(`dict key of type ${typeName(k)} is not supported`);
  };
  const setItem = (target: unknown, k: unknown, v: unknown): void => {
    if (typeof target !== 'object' || target === null || !dicts.has(target)) fail(`SETITEM on a ${typeName(target)}, not a dict`);
    setOwn(target as Record<string, unknown>, dictKey(k), v);
  };
  const appendTo = (target: unknown, items: unknown[]): void => {
    if (typeof target !== 'object' || target === null || !lists.has(target)) fail(`APPEND on a ${typeName(target)}, not a list`);
    (target as unknown[]).push(...items);
  };
  const global = (module: string, name: string): PickleGlobal => {
    const key = `${module}.${name}`;
    const spec = globals.get(key);
    if (!spec) refuse(`global ${key}`);
    return new PickleGlobal(module, name, spec);
  };
  const signedLE = (n: number): number | bigint => {
    need(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[pos + i]);
    if (n > 0 && bytes[pos + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    pos += n;
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    opStart = pos;
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const p = u8();
        if (p > 5) fail(`pickle protocol ${p} is newer than 5`);
        break;
      }
      case 0x95: // FRAME: framing only, the data follows inline
        need(8);
        pos += 8;
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(newDict());
        break;
      case 0x5d: { // EMPTY_LIST
        const l: unknown[] = [];
        lists.add(l);
        stack.push(l);
        break;
      }
      case 0x29: // EMPTY_TUPLE
        stack.push(tuple([]));
        break;
      case 0x74: { // TUPLE (popMark replaces `stack`: take the items before pushing)
        const items = popMark();
        stack.push(tuple(items));
        break;
      }
      case 0x85: // TUPLE1
        stack.push(tuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b, c]));
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x4a: // BININT
        need(4);
        stack.push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(signedLE(u8()));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItem(top(), k, v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        if (items.length % 2) fail('SETITEMS with an odd number of items');
        const d = top();
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        appendTo(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        appendTo(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`memo entry ${i} is missing (corrupt pickle)`);
        stack.push(memo.get(i));
        break;
      }
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        stack.push(global(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(global(module, name));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        const call = fn instanceof PickleGlobal ? fn.spec.reduce : undefined;
        if (!call) return refuse(`a call to ${typeName(fn)}`);
        const g = fn as PickleGlobal;
        if (!Array.isArray(args)) fail(`REDUCE arguments must be a tuple, got ${typeName(args)}`);
        let result: unknown;
        try {
          result = call(args as unknown[]);
        } catch (err) {
          fail(`${g.qualifiedName}: ${(err as Error).message}`);
        }
        if (typeof result === 'object' && result !== null) {
          if (g.spec.build) buildable.set(result, g.spec);
          if (g.spec.makesDict) dicts.add(result);
        }
        stack.push(result);
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!persistentLoad) return refuse('a persistent id outside a checkpoint archive');
        try {
          stack.push(persistentLoad(pid));
        } catch (err) {
          fail((err as Error).message);
        }
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        const build = typeof obj === 'object' && obj !== null ? buildable.get(obj)?.build : undefined;
        if (!build) return refuse(`BUILD on ${typeName(obj)}`);
        build(obj, state);
        break;
      }
      default: {
        const name = OPCODE_NAMES[op];
        refuse(`opcode ${name ?? 'unknown'} (0x${op.toString(16).padStart(2, '0')}) at pickle byte ${opStart}`);
      }
    }
  }
}
