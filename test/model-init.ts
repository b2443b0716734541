// The deterministic init formula of test/fixtures/make_model_fixtures.py, bit for bit: weights,
// buffers and inputs that PyTorch and ifa-ssl both build without storing them. Integer hashing with
// Math.imul / >>> 0 (Python: & 0xffffffff), a 24-bit uniform, float64 arithmetic (the same operations
// in the same order as numpy), then one rounding to float32. See the generator's docstring.
import type { Module } from '../src/nn/module.js';
import type { TensorRecord } from '../src/io/types.js';

export type Role = 'conv' | 'linear' | 'bn_weight' | 'bn_bias' | 'bn_mean' | 'bn_var' | 'input';

/** Chris Wellons' lowbias32. */
export function lowbias32(v: number): number {
  let x = v >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** FNV-1a-32 of the UTF-8 bytes. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(s, 'utf8')) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return h;
}

/** Formula values for `tag/key`, indexed in PyTorch's row-major layout of `shape`. */
export function formulaValues(tag: string, key: string, shape: readonly number[], role: Role, fanIn = 0): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const salt = fnv1a(`${tag}/${key}`);
  const out = new Float32Array(n);
  const convScale = Math.sqrt(24.0 / fanIn);
  const linearScale = 2.0 / Math.sqrt(fanIn);
  const inputScale = Math.sqrt(12.0);
  for (let i = 0; i < n; i++) {
    const h = lowbias32((Math.imul(i, 0x9e3779b9) + salt) >>> 0);
    const u = (h >>> 8) * 2 ** -24 - 0.5;
    let v: number;
    switch (role) {
      case 'conv':
        v = u * convScale;
        break;
      case 'linear':
        v = u * linearScale;
        break;
      case 'bn_weight':
        v = 1.0 + 0.4 * u;
        break;
      case 'bn_bias':
        v = 0.5 + 0.2 * u;
        break;
      case 'bn_mean':
        v = 0.2 * u;
        break;
      case 'bn_var':
        v = 1.0 + 0.5 * (u + 0.5);
        break;
      case 'input':
        v = u * inputScale;
        break;
    }
    out[i] = v;
  }
  return out;
}

/** Σ bits(v_i)·(2i+1) mod 2^32 over the float32 bit patterns (the generator's fingerprint). */
export function fingerprint(data: Float32Array): number {
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  let acc = 0;
  for (let i = 0; i < bits.length; i++) acc = (acc + Math.imul(bits[i], 2 * i + 1)) >>> 0;
  return acc;
}

/** PyTorch's shape of a state-dict entry: conv weights [Cout, KH, KW, Cin] → OIHW. */
function torchShape(shape: readonly number[]): number[] {
  return shape.length === 4 ? [shape[0], shape[3], shape[1], shape[2]] : [...shape];
}

/** The formula's role for a key, by the generator's rule (shapes in PyTorch's layout). */
export function roleOf(shapes: Map<string, number[]>, key: string): [Role, number] {
  const dot = key.lastIndexOf('.');
  const p = dot >= 0 ? key.slice(0, dot + 1) : '';
  const leaf = key.slice(dot + 1);
  const shape = shapes.get(key)!;
  if (shape.length === 4) return ['conv', shape[1] * shape[2] * shape[3]];
  if (leaf === 'running_mean') return ['bn_mean', 0];
  if (leaf === 'running_var') return ['bn_var', 0];
  if (shapes.has(`${p}running_mean`)) return [leaf === 'weight' ? 'bn_weight' : 'bn_bias', 0];
  if (shape.length === 2) return ['linear', shape[1]];
  const w = shapes.get(`${p}weight`);
  if (leaf === 'bias' && w && w.length === 2) return ['linear', w[1]];
  throw new Error(`model-init: no init role for ${key} [${shape.join(',')}]`);
}

/**
 * Every parameter and buffer of `model` from the formula, as torchvision-named records in PyTorch's
 * layout (OIHW conv weights): what importModule (src/train/checkpoint.ts) loads.
 */
export function formulaRecords(model: Module, tag: string): Record<string, TensorRecord & { data: Float32Array }> {
  const shapes = new Map<string, number[]>();
  for (const [key, t] of model.stateDict()) shapes.set(key, torchShape(t.shape));
  const out: Record<string, TensorRecord & { data: Float32Array }> = {};
  for (const [key, shape] of shapes) {
    const [role, fanIn] = roleOf(shapes, key);
    out[key] = { dtype: 'F32', shape, data: formulaValues(tag, key, shape, role, fanIn) };
  }
  return out;
}

/** An input of the formula in NHWC (the index order the generator uses for inputs). */
export function formulaInput(tag: string, key: string, nhwcShape: readonly number[]): Float32Array {
  return formulaValues(tag, key, nhwcShape, 'input');
}
