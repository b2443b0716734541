#!/usr/bin/env node
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`ifa-ssl: ${err && err.message ? err.message : err}`);
    process.exitCode = 1;
  },
);
