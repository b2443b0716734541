// Module: named parameters, buffers and children, train/eval mode, state dicts with torchvision's
// key names ("layer3.5.bn2.running_var"). Parameters are leaf tensors with requiresGrad; a module owns
// its tensors and frees them in dispose().
import '../core/autograd.js';
import { getBackend } from '../backends/registry.js';
import { formatShape, shapesEqual } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { pacer } from '../core/offload.js';

export abstract class Module {
  training = true;
  private readonly paramSlots = new Map<string, Tensor>();
  private readonly bufferSlots = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  protected registerParameter(name: string, t: Tensor): Tensor {
    t.requiresGrad = true;
    this.paramSlots.set(name, t);
    return t;
  }

  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.bufferSlots.set(name, t);
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** The current tensor in a parameter or buffer slot (slots can be replaced by loadStateDict). */
  protected param(name: string): Tensor {
    return this.paramSlots.get(name)!;
  }

  protected buffer(name: string): Tensor {
    return this.bufferSlots.get(name)!;
  }

  namedChildren(): [string, Module][] {
    return [...this.children.entries()];
  }

  /** This module and all below it, by dotted name ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix.replace(/\.$/, ''), this]];
    for (const [n, c] of this.children) out.push(...c.namedModules(`${prefix}${n}.`));
    return out;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.paramSlots) out.push([prefix + n, t]);
    for (const [n, c] of this.children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.bufferSlots) out.push([prefix + n, t]);
    for (const [n, c] of this.children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Parameters and buffers by torchvision name, in PyTorch's order (own tensors, then children). */
  stateDict(prefix = '', into = new Map<string, Tensor>()): Map<string, Tensor> {
    for (const [n, t] of this.paramSlots) into.set(prefix + n, t);
    for (const [n, t] of this.bufferSlots) into.set(prefix + n, t);
    for (const [n, c] of this.children) c.stateDict(`${prefix}${n}.`, into);
    return into;
  }

  train(mode = true): this {
    this.training = mode;
    for (const c of this.children.values()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /**
   * Copies values into this module's tensors (same backend, shapes must match). Returns the keys
   * that were missing from `values` and those in `values` that the module does not have, like
   * PyTorch's load_state_dict(strict=False).
   */
  async loadStateDict(values: Map<string, Float32Array | { shape: readonly number[]; data: Float32Array }>): Promise<{ missing: string[]; unexpected: string[] }> {
    const own = this.stateDict();
    const missing: string[] = [];
    const pace = pacer(); // each write copies its values on the JS thread: let the event loop turn
    for (const [name, t] of own) {
      const v = values.get(name);
      if (!v) {
        missing.push(name);
        continue;
      }
      const data = v instanceof Float32Array ? v : v.data;
      if (!(v instanceof Float32Array) && !shapesEqual(v.shape, t.shape) && !(v.shape.length === 0 && t.size === 1)) {
        throw new RangeError(`loadStateDict: ${name} has shape ${formatShape(v.shape)} in the checkpoint but ${formatShape(t.shape)} in the model`);
      }
      if (data.length !== t.size) throw new RangeError(`loadStateDict: ${name} has ${data.length} values, the model expects ${t.size}`);
      writeInto(t, data);
      await pace(data.length);
    }
    const unexpected = [...values.keys()].filter((k) => !own.has(k));
    return { missing, unexpected };
  }

  /** Frees every parameter and buffer (and their gradients). */
  dispose(): void {
    for (const [, t] of [...this.namedParameters(), ...this.namedBuffers()]) {
      t.grad?.dispose();
      t.grad = null;
      t.dispose();
    }
  }
}

/** Overwrites a tensor's values in place (ordered after queued work on its backend). */
export function writeInto(t: Tensor, data: Float32Array): void {
  getBackend(t.backend).write(t.storage, data);
  t.knownValue = undefined;
}
