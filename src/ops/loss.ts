// softmaxCrossEntropy(logits[N,K], labels[N]) → scalar mean loss over the rows (log-sum-exp with
// the row max subtracted). labels hold class indices stored as floats and get no gradient. The
// values live on the device, so they cannot be checked here: a label that is not an integer in
// [0, K) makes that row's loss, and so the mean, NaN (and its row of the gradient NaN).
// Gradient: softmaxCrossEntropyBackward, dlogits = gy/N·(softmax(logits) − onehot(labels)).
import { keep } from '../core/engine.js';
import { formatShape } from '../core/shape.js';
import { Tensor, tensor } from '../core/tensor.js';
import { checkTensor, expectFloat32, launch, record, sameBackend } from './op.js';
import { registerOp } from './registry.js';

export function softmaxCrossEntropy(logitsIn: Tensor, labelsIn: Tensor): Tensor {
  const op = 'softmaxCrossEntropy';
  const logits = checkTensor(logitsIn, op, 'logits');
  const labels = checkTensor(labelsIn, op, 'labels');
  sameBackend(op, [logits, labels], ['logits', 'labels']);
  // The MLP head's logits stay float32 in mixed precision, as under PyTorch's autocast.
  expectFloat32(op, logits, 'logits');
  expectFloat32(op, labels, 'labels');
  if (logits.rank !== 2) throw new RangeError(`${op}: logits must be 2-D [N,K], got ${formatShape(logits.shape)}`);
  const [N] = logits.shape;
  if (labels.rank !== 1 || labels.shape[0] !== N) {
    throw new RangeError(`${op}: labels shape ${formatShape(labels.shape)} should be [${N}] for logits ${formatShape(logits.shape)}`);
  }
  const loss = launch({ op, kernel: 'softmaxCrossEntropy', inputs: [logits, labels], outShape: [1] });
  return record(loss, op, [logits], (gy) => [
    launch({ op: `${op}.backward`, kernel: 'softmaxCrossEntropyBackward', inputs: [gy, logits, labels], outShape: logits.shape }),
  ]);
}

// Fixed labels for the conformance cases (N(0,1) inputs are not class indices): one tensor per
// backend and shape, kept for the life of the process.
const caseLabels = new Map<string, Tensor>();
function labelsFor(logits: Tensor): Tensor {
  const [N, K] = logits.shape;
  const key = `${logits.backend}:${N}:${K}`;
  let t = caseLabels.get(key);
  if (!t) {
    t = keep(tensor(Float32Array.from({ length: N }, (_, i) => (i * 5 + 2) % K), [N], { backend: logits.backend }));
    caseLabels.set(key, t);
  }
  return t;
}

registerOp({
  name: 'softmaxCrossEntropy',
  kernels: ['softmaxCrossEntropy', 'softmaxCrossEntropyBackward'],
  cases: [
    { label: '5 rows, 7 classes', shapes: [[5, 7]] },
    { label: 'batch 1', shapes: [[1, 4]] },
    { label: '3 rows, 37 classes', shapes: [[3, 37]] },
  ],
  run: ([logits]) => softmaxCrossEntropy(logits, labelsFor(logits)),
  tolerance: { atol: 1e-5, rtol: 1e-4 },
});
