// matmul(a, b, {transposeA, transposeB}): C[M,N] = op(A)·op(B) for 2-D tensors.
// Gradients (dC is [M,N]): dA = dC·op(B)ᵀ, dB = op(A)ᵀ·dC, each written back in A's/B's own layout
// by choosing the transpose flags, so no transpose is ever materialised. a and b share one dtype;
// attrs.tf32 is the float32 precision switch (core/precision.ts).
import { tf32For } from '../core/precision.js';
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { gradIn } from './cast.js';
import { checkTensor, launch, record, sameBackend, sameDtype } from './op.js';
import { registerOp } from './registry.js';

export interface MatmulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
}

function mm(a: Tensor, b: Tensor, ta: boolean, tb: boolean, op: string): Tensor {
  const m = ta ? a.shape[1] : a.shape[0];
  const n = tb ? b.shape[0] : b.shape[1];
  return launch({ op, kernel: 'matmul', inputs: [a, b], outShape: [m, n], attrs: { transposeA: ta, transposeB: tb, tf32: tf32For(a.dtype) } });
}

export function matmul(aIn: Tensor, bIn: Tensor, opts: MatmulOptions = {}): Tensor {
  const a = checkTensor(aIn, 'matmul', 'a');
  const b = checkTensor(bIn, 'matmul', 'b');
  sameBackend('matmul', [a, b], ['a', 'b']);
  sameDtype('matmul', [a, b], ['a', 'b']);
  const ta = !!opts.transposeA;
  const tb = !!opts.transposeB;
  if (a.rank !== 2 || b.rank !== 2) {
    throw new RangeError(`matmul: expects 2-D tensors, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
  const ka = ta ? a.shape[0] : a.shape[1];
  const kb = tb ? b.shape[1] : b.shape[0];
  if (ka !== kb) {
    throw new RangeError(
      `matmul: inner dimensions differ: a ${formatShape(a.shape)}${ta ? 'ᵀ' : ''} has ${ka}, b ${formatShape(b.shape)}${tb ? 'ᵀ' : ''} has ${kb}`,
    );
  }
  const out = mm(a, b, ta, tb, 'matmul');
  return record(out, 'matmul', [a, b], (dcIn) => {
    const dc = gradIn(dcIn, a.dtype);
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (a.requiresGrad) {
      // !ta: dA[M,K] = dC·op(B)ᵀ.  ta: dA[K,M] = op(B)·dCᵀ.
      da = !ta ? mm(dc, b, false, !tb, 'matmul.backward') : mm(b, dc, tb, true, 'matmul.backward');
    }
    if (b.requiresGrad) {
      // !tb: dB[K,N] = op(A)ᵀ·dC.  tb: dB[N,K] = dCᵀ·op(A).
      db = !tb ? mm(a, dc, !ta, false, 'matmul.backward') : mm(dc, a, true, ta, 'matmul.backward');
    }
    return [da, db];
  });
}

registerOp({
  name: 'matmul',
  kernels: ['matmul'],
  cases: [
    { label: 'plain', shapes: [[5, 7], [7, 3]] },
    { label: 'transposeA', shapes: [[7, 5], [7, 3]], attrs: { transposeA: true } },
    { label: 'transposeB', shapes: [[5, 7], [3, 7]], attrs: { transposeB: true } },
    { label: 'both', shapes: [[7, 5], [3, 7]], attrs: { transposeA: true, transposeB: true } },
    { label: 'odd sizes', shapes: [[37, 19], [19, 23]] },
  ],
  run: ([a, b], attrs) => matmul(a, b, attrs as MatmulOptions),
  tolerance: { atol: 1e-5, rtol: 1e-4 },
  halfTolerance: { output: 4, gradient: 4, why: 'float32 dot products rounded once; entries that cancel are small against the absolute part' },
});
