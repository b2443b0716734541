// Reverse-mode autograd over the recorded graph: a topological order from the root (iterative, no
// recursion), then each node's gradient rule in reverse order, accumulating where a tensor feeds
// several ops. Gradient rules run without recording and inside tidy(), so their temporaries die.
// A gradient may have another dtype than its tensor (a conv's float32 weight gradient for a half
// weight); two gradients of different dtypes are summed in float32.
import { getBackend } from '../backends/registry.js';
import type { DType } from './dtype.js';
import { dispatchKernel, keep, noGrad, tidy } from './engine.js';
import { formatShape, shapesEqual } from './shape.js';
import { Tensor, emptyTensor, knownFull, setBackwardImpl } from './tensor.js';

/** Tensors reachable from root through recorded ops, root first, each before its inputs. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: { t: Tensor; next: number }[] = [{ t: root, next: 0 }];
  visited.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const inputs = top.t.node ? top.t.node.inputs : [];
    if (top.next < inputs.length) {
      const child = inputs[top.next++];
      if (child.node && !visited.has(child)) {
        visited.add(child);
        stack.push({ t: child, next: 0 });
      }
    } else {
      order.push(top.t);
      stack.pop();
    }
  }
  return order.reverse();
}

/**
 * One elementwise kernel of the backend into a new tensor of the inputs' shape. Core runs the two
 * kernels accumulation needs (add, cast) itself, as tensor.ts runs fill, so it depends on the
 * backends and not on src/ops.
 */
function runElementwise(kernel: 'add' | 'cast', inputs: Tensor[], dtype: DType): Tensor {
  const out = emptyTensor(inputs[0].shape, inputs[0].backend, dtype);
  try {
    dispatchKernel(getBackend(out.backend), `grad.${kernel}`, kernel, inputs.map((t) => t.ref()), [out.ref()], {});
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}

/** into + g, both of one shape (the tensor's); into and g are disposed. */
function accumulate(into: Tensor | undefined | null, g: Tensor): Tensor {
  if (!into) return g;
  if (!shapesEqual(into.shape, g.shape)) {
    throw new RangeError(`backward: cannot add a gradient of shape ${formatShape(g.shape)} to one of shape ${formatShape(into.shape)}`);
  }
  if (into.backend !== g.backend) throw new Error(`backward: cannot add a gradient on ${g.backend} to one on ${into.backend}`);
  const f32 = (t: Tensor): Tensor => (t.dtype === 'float32' ? t : runElementwise('cast', [t], 'float32'));
  const sum = into.dtype === g.dtype ? runElementwise('add', [into, g], into.dtype) : tidy(() => runElementwise('add', [f32(into), f32(g)], 'float32'));
  into.dispose();
  g.dispose();
  return sum;
}

/** The default seed: ones, known on the host (Tensor.knownValue) and filled on the device only if read. */
function knownOnes(root: Tensor): Tensor {
  return knownFull(root.shape, 1, root.backend, root.dtype);
}

export function backward(root: Tensor, grad?: Tensor): void {
  if (!(root instanceof Tensor)) throw new TypeError('backward: expects a Tensor');
  if (root.isDisposed) throw new Error(`backward: the tensor ${root} was disposed`);
  if (!root.requiresGrad) throw new Error('backward: the tensor does not require grad (no input had requiresGrad, or it was made under noGrad)');
  if (grad === undefined && root.size !== 1) {
    throw new RangeError(`backward: a gradient is required for a non-scalar output of shape ${formatShape(root.shape)}`);
  }
  if (grad !== undefined) {
    if (!(grad instanceof Tensor)) throw new TypeError('backward: grad must be a Tensor');
    if (!shapesEqual(grad.shape, root.shape)) {
      throw new RangeError(`backward: grad shape ${formatShape(grad.shape)} differs from the output's ${formatShape(root.shape)}`);
    }
    if (grad.backend !== root.backend) throw new Error(`backward: grad is on ${grad.backend}, the output on ${root.backend}`);
  }
  noGrad(() => {
    const grads = new Map<Tensor, Tensor>();
    grads.set(root, grad ? grad.detach() : knownOnes(root));
    for (const t of topologicalOrder(root)) {
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      if (!t.node) {
        if (t.requiresGrad) t.grad = keep(accumulate(t.grad, g));
        else g.dispose();
        continue;
      }
      const node = t.node;
      let inputGrads: (Tensor | null)[];
      try {
        inputGrads = tidy(() => node.backward(g).map((x) => (x === g ? x.detach() : x)));
      } catch (e) {
        throw new Error(`backward through ${node.op}: ${(e as Error).message}`);
      }
      g.dispose();
      const seen = new Set<Tensor>();
      node.inputs.forEach((inp, i) => {
        let gi = inputGrads[i];
        if (!gi || !inp.requiresGrad) {
          if (gi && !seen.has(gi)) gi.dispose();
          return;
        }
        if (seen.has(gi)) gi = gi.detach();
        seen.add(gi);
        if (!shapesEqual(gi.shape, inp.shape)) {
          throw new Error(`backward through ${node.op}: gradient shape ${formatShape(gi.shape)} for input ${i} should be ${formatShape(inp.shape)}`);
        }
        if (inp.node) grads.set(inp, accumulate(grads.get(inp), gi));
        else if (inp.requiresGrad) inp.grad = keep(accumulate(inp.grad, gi));
      });
    }
  });
}

setBackwardImpl(backward);
