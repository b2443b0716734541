// Plain tensor records shared by the checkpoint readers and writers (no backend, no Tensor class):
// the model layer converts them to and from tensors.
import { endianness } from 'node:os';

/** Element types, named as in safetensors. */
export type IoDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** The typed arrays a record's data may be. F16/BF16 have none: readers widen them to F32. */
export type IoData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/** A dense, row-major tensor. BOOL data is a Uint8Array of 0/1. */
export interface TensorRecord {
  dtype: IoDtype;
  shape: number[];
  data: IoData;
}

export const DTYPE_BYTES: Readonly<Record<IoDtype, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export function isIoDtype(s: unknown): s is IoDtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

/** The dtype a typed array holds; Uint8Array is U8 unless the caller says BOOL. */
export function dtypeOfData(data: unknown): IoDtype | undefined {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Int16Array) return 'I16';
  if (data instanceof Int8Array) return 'I8';
  if (data instanceof Uint8Array) return 'U8';
  return undefined;
}

/** True for {dtype, shape, data} with a typed array: what the readers produce for a tensor. */
export function isTensorRecord(v: unknown): v is TensorRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Partial<TensorRecord>;
  return isIoDtype(r.dtype) && Array.isArray(r.shape) && dtypeOfData(r.data) !== undefined;
}

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Sets an own property even for keys like "__proto__" (file contents choose the keys). */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

export function hasOwn(obj: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

/** Typed-array views read and write host byte order; both file formats are little-endian. */
export function assertLittleEndianHost(what: string): void {
  if (endianness() !== 'LE') throw new Error(`${what}: big-endian hosts are not supported`);
}

/** IEEE half → float32 value. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** bfloat16 bits → float32 values, into out. */
export function bf16ToFloat32(src: Uint16Array, out: Float32Array): void {
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
}
