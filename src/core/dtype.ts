// Element types of tensors. float32 is the default and the reference; bfloat16 (8 significant bits,
// float32's exponent range) and float16 (11 significant bits, largest finite 65504) are 16-bit
// storage types: values are rounded to nearest even when stored and read back exactly as float32,
// and their kernels compute in float32. Mixed-precision training keeps master weights, optimizer
// state, batch-norm statistics and losses in float32 (ARCHITECTURE.md, Precision).

export type DType = 'float32' | 'bfloat16' | 'float16';
export const DTYPES: readonly DType[] = Object.freeze(['float32', 'bfloat16', 'float16'] as const);

/** Bytes per element. */
export function dtypeSize(d: DType): number {
  return d === 'float32' ? 4 : 2;
}

/** `v` as a DType, or a TypeError naming `what` and the allowed values. */
export function checkDType(v: unknown, what: string): DType {
  if (typeof v === 'string' && (DTYPES as readonly string[]).includes(v)) return v as DType;
  throw new TypeError(`${what}: dtype must be one of ${DTYPES.map((d) => `'${d}'`).join(', ')}, got ${typeof v === 'string' ? `'${v}'` : String(v)}`);
}
