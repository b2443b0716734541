#!/usr/bin/env node
// npm's install script: builds the native addon (build-cmake/Release/ifa_native.node) with cmake-js,
// saying first what it builds and about how long that takes, then a line every 30 s while it runs and
// the time it took at the end. The compiler's own output goes to build-cmake/install.log (its tail is
// printed if the build fails).
//
// npm hides an install script's output unless it fails or `--foreground-scripts` is given, so on an
// interactive terminal these lines are also written to /dev/tty, where the user sees them either way.
//
// Environment: IFA_CUDA=OFF builds the CPU backend only (AUTO, the default, adds CUDA when nvcc is
// found; ON requires it); IFA_BUILD_JOBS sets the number of parallel compiler jobs (default: cores).
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, openSync, writeSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = 'build-cmake';
const logPath = join(root, out, 'install.log');

let tty = -1;
if (process.stderr.isTTY !== true) {
  try {
    tty = openSync('/dev/tty', 'w');
  } catch {
    tty = -1; // no controlling terminal (CI, a service): stderr only
  }
}
function say(line) {
  const text = `ifa-ssl: ${line}\n`;
  process.stderr.write(text);
  if (tty >= 0) {
    try {
      writeSync(tty, text);
    } catch {
      tty = -1;
    }
  }
}

function findOnPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

const cudaMode = (process.env.IFA_CUDA ?? 'AUTO').toUpperCase();
if (!['AUTO', 'ON', 'OFF'].includes(cudaMode)) {
  say(`IFA_CUDA=${process.env.IFA_CUDA} is not one of AUTO, ON, OFF`);
  process.exit(1);
}
const nvcc = cudaMode === 'OFF' ? null : findOnPath('nvcc') ?? (existsSync('/usr/local/cuda/bin/nvcc') ? '/usr/local/cuda/bin/nvcc' : null);
const jobs = Number(process.env.IFA_BUILD_JOBS) > 0 ? Math.floor(Number(process.env.IFA_BUILD_JOBS)) : availableParallelism();

const what = nvcc
  ? `the C++ CPU kernels and the CUDA kernels (nvcc: ${nvcc}; set IFA_CUDA=OFF to skip them)`
  : cudaMode === 'OFF'
    ? 'the C++ CPU kernels (IFA_CUDA=OFF: no CUDA backend)'
    : 'the C++ CPU kernels (no nvcc on PATH: no CUDA backend)';
// Measured on a 2-core machine (see the README's Install section).
const estimate = nvcc ? 'about 5–6 min on 2 cores, less with more cores' : 'well under a minute (10 s on 2 cores)';
say(`building the native addon with cmake-js: ${what}, ${jobs} parallel jobs, ${estimate}.`);
say(`compiler output: ${logPath}`);

mkdirSync(join(root, out), { recursive: true });
const log = createWriteStream(logPath);
const cmakeJs = join(dirname(fileURLToPath(import.meta.resolve('cmake-js/package.json'))), 'bin', 'cmake-js');
const args = [cmakeJs, 'compile', '--out', out, '--parallel', String(jobs)];
if (cudaMode !== 'AUTO') args.push(`--CDIFA_CUDA=${cudaMode}`);

const started = Date.now();
const elapsed = () => {
  const s = Math.round((Date.now() - started) / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
};
const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
child.stdout.pipe(log, { end: false });
child.stderr.pipe(log, { end: false });
const heartbeat = setInterval(() => say(`still building (${elapsed()})…`), 30_000);

child.on('error', (err) => {
  clearInterval(heartbeat);
  say(`could not start cmake-js: ${err.message}`);
  process.exit(1);
});
child.on('close', (code, signal) => {
  clearInterval(heartbeat);
  log.end(() => {
    if (code === 0) {
      say(`built ${out}/Release/ifa_native.node in ${elapsed()}.`);
      return;
    }
    const tail = readFileSync(logPath, 'utf8').split('\n').slice(-40).join('\n');
    process.stderr.write(`${tail}\n`);
    say(`the native build failed (${signal ? `signal ${signal}` : `exit ${code}`}) after ${elapsed()}; the full log is ${logPath}.`);
    say('it needs cmake >= 3.18 and a C++17 compiler (Debian: apt-get install build-essential cmake).');
    process.exit(1);
  });
});
