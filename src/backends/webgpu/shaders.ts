// Finds kernels/wgsl/ and reads its shaders. The compiled file sits at dist/src/backends/webgpu/ in
// the package, so walking up from it reaches the package root; IFA_WGSL_DIR and the current
// directory are fallbacks for builds compiled elsewhere.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SHADER_FILES = ['elementwise', 'reduce', 'matmul', 'layout', 'loss', 'batchnorm', 'pool', 'conv', 'optim', 'augment'] as const;
export type ShaderFile = (typeof SHADER_FILES)[number];

function walkUp(start: string): string | null {
  let dir = resolve(start);
  for (;;) {
    const candidate = join(dir, 'kernels', 'wgsl');
    if (existsSync(join(candidate, 'elementwise.wgsl'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/**
 * The kernels/wgsl directory, or null with the places searched. A directory given explicitly (option
 * or IFA_WGSL_DIR) must hold the shaders; it is not silently replaced by another.
 */
export function findShaderDir(explicit?: string): { dir: string | null; searched: string[] } {
  const given = explicit ?? process.env.IFA_WGSL_DIR;
  if (given) return { dir: existsSync(join(given, 'elementwise.wgsl')) ? resolve(given) : null, searched: [given] };
  const searched: string[] = [];
  const here = dirname(fileURLToPath(import.meta.url));
  searched.push(`kernels/wgsl in ${here} or its parents`);
  const fromHere = walkUp(here);
  if (fromHere) return { dir: fromHere, searched };
  searched.push(`kernels/wgsl in ${process.cwd()} or its parents`);
  return { dir: walkUp(process.cwd()), searched };
}

export function loadShaders(dir: string): Record<ShaderFile, string> {
  const out = {} as Record<ShaderFile, string>;
  for (const f of SHADER_FILES) out[f] = readFileSync(join(dir, `${f}.wgsl`), 'utf8');
  return out;
}
