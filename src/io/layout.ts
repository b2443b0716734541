// Conv-weight layout at the checkpoint boundary: PyTorch stores OIHW ([Cout, Cin, KH, KW]); ifa-ssl
// keeps OHWI ([Cout, KH, KW, Cin]) in memory. Records of any other rank pass through unchanged.
import { type IoData, formatShape, shapeSize } from './types.js';

export interface LayoutRecord {
  shape: number[];
  data: IoData;
}

function permute4<T extends LayoutRecord>(record: T, order: readonly [number, number, number, number], what: string): T {
  const { shape, data } = record;
  if (shape.length !== 4) return record;
  const n = shapeSize(shape);
  if (data.length !== n) throw new Error(`${what}: ${data.length} values do not fill shape ${formatShape(shape)}`);
  const outShape = order.map((d) => shape[d]);
  // Source strides, read in output order: out[a][b][c][d] = in[... indices permuted ...].
  const inStride = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1];
  const s = order.map((d) => inStride[d]);
  const out = new (data.constructor as new (n: number) => IoData)(n);
  const dst = out as unknown as (number | bigint)[];
  const src = data as unknown as (number | bigint)[];
  let i = 0;
  for (let a = 0; a < outShape[0]; a++)
    for (let b = 0; b < outShape[1]; b++)
      for (let c = 0; c < outShape[2]; c++) {
        const base = a * s[0] + b * s[1] + c * s[2];
        for (let d = 0; d < outShape[3]; d++) dst[i++] = src[base + d * s[3]];
      }
  return { ...record, shape: outShape, data: out };
}

/** [Cout, Cin, KH, KW] (PyTorch, on disk) → [Cout, KH, KW, Cin] (ifa-ssl, in memory). */
export function oihwToOhwi<T extends LayoutRecord>(record: T): T {
  return permute4(record, [0, 2, 3, 1], 'oihwToOhwi');
}

/** [Cout, KH, KW, Cin] (ifa-ssl) → [Cout, Cin, KH, KW] (PyTorch), for writing checkpoints. */
export function ohwiToOihw<T extends LayoutRecord>(record: T): T {
  return permute4(record, [0, 3, 1, 2], 'ohwiToOihw');
}
