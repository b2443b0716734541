// Module resolution hook for test/runner/run.ts (node:module register): the bare specifier 'uvu'
// resolves to test/runner/uvu.ts's build, so test files keep importing uvu's API while run.ts
// reports each test by name. 'uvu/assert' and every other import resolve as usual.
interface ResolveContext {
  parentURL?: string;
}
type NextResolve = (specifier: string, context: ResolveContext) => Promise<{ url: string }>;

const shim = new URL('./uvu.js', import.meta.url).href;

export async function resolve(specifier: string, context: ResolveContext, next: NextResolve): Promise<{ url: string; shortCircuit?: boolean }> {
  if (specifier === 'uvu') return { url: shim, shortCircuit: true };
  return next(specifier, context);
}
