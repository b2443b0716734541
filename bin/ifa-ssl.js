#!/usr/bin/env node
import { main } from '../dist/src/cli/main.js';

// main() is the one promise that must finish: some of what it awaits (the loader's idle workers,
// a worker being terminated) does not keep Node's event loop alive, and without this Node would
// exit 0 in the middle of a run. The timer holds the process until main settles.
const keepAlive = setInterval(() => {}, 1 << 30);
let settled = false;
process.on('beforeExit', () => {
  if (settled) return;
  console.error('ifa-ssl: internal error: the command stopped without finishing (nothing kept it running); treating it as a failure');
  process.exitCode = 1;
});
main(process.argv.slice(2)).then(
  (code) => {
    settled = true;
    clearInterval(keepAlive);
    process.exitCode = code;
  },
  (err) => {
    settled = true;
    clearInterval(keepAlive);
    const msg = err && err.message ? err.message : String(err);
    console.error(msg.startsWith('ifa-ssl') ? msg : `ifa-ssl: ${msg}`);
    process.exitCode = 1;
  },
);
