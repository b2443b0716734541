// What `ifa-ssl info` reports: version, how the addon was built, and each backend's status.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendStatus } from './backends/backend.js';
import { backends } from './backends/registry.js';
import { nativeAddon, nativePath, packageRoot } from './native.js';

export interface BuildInfo {
  version: string;
  node: string;
  build: {
    addon: string;
    buildSystem: string;
    cuda: { compiled: boolean; emulator: boolean; architectures: string[]; toolkit?: string };
    cpuThreads: number;
  };
  backends: BackendStatus[];
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

export async function info(): Promise<BuildInfo> {
  const n = nativeAddon().info();
  return {
    version: packageVersion(),
    node: process.version,
    build: {
      addon: nativePath(),
      buildSystem: n.buildSystem,
      cuda: {
        compiled: n.cuda.compiled,
        emulator: n.cuda.emulator === true,
        architectures: n.cuda.architectures ? n.cuda.architectures.split(',').map((a) => `sm_${a}`) : [],
        ...(n.cuda.toolkit ? { toolkit: n.cuda.toolkit } : {}),
      },
      cpuThreads: n.threads,
    },
    backends: await backends(),
  };
}
