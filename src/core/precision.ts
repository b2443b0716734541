// The process-wide precision of float32 convolutions and matmuls, as torch.backends.cudnn.allow_tf32
// and torch.backends.cuda.matmul.allow_tf32 are in PyTorch. 'highest' (the default) is exact
// float32: our SIMT CUDA kernels and the CPU's. 'tf32' lets the CUDA kernels read float32 operands
// as TF32 (10 mantissa bits) on the tensor cores, accumulating in float32. The ops pass it to
// conv2d, conv2dBackwardInput, conv2dBackwardFilter and matmul as attrs.tf32 (true only for
// float32 tensors); CPU kernels ignore it. PyTorch's defaults differ between the two: cuDNN
// convolutions allow TF32 by default, matmuls do not (since 1.12). Ours is 'highest' for both.

export type Float32Precision = 'highest' | 'tf32';

let precision: Float32Precision = 'highest';

export function setFloat32Precision(p: Float32Precision): void {
  if (p !== 'highest' && p !== 'tf32') {
    throw new TypeError(`setFloat32Precision: expects 'highest' or 'tf32', got ${typeof p === 'string' ? `'${p}'` : String(p)}`);
  }
  precision = p;
}

export function getFloat32Precision(): Float32Precision {
  return precision;
}

/** attrs.tf32 for a convolution or matmul whose operands have this dtype. */
export function tf32For(dtype: string): boolean {
  return precision === 'tf32' && dtype === 'float32';
}
