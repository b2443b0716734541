#!/usr/bin/env bash
# Per-kernel times and DRAM bytes of one ifa-ssl bench on the GPU, through Nsight Compute:
#
#   bash bench/gpu/profile.sh bn --shape 128,56,56,256      # any `ifa-ssl bench` arguments
#
# Runs `ifa-ssl bench ARGS --backend cuda --iters 1 --warmup 1 --reps 1` under ncu (clocks left
# alone: --clock-control none), profiling the last IFA_PROFILE_LAUNCHES launches (default 12: one
# timed iteration), and prints one line per kernel: duration, DRAM bytes read and written, the
# achieved DRAM rate, grid, block and registers. ncu serialises kernels, so these are per-kernel
# times without launch gaps; sum them against the bench's own median to see the gaps.
# Writes ${OUT:-/tmp/gpu-out}/profile-<bench>.csv (ncu's raw CSV) beside the table on stdout.
# When node is not on PATH it re-runs itself through .device/remote.sh, like check.sh.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
source bench/gpu/with-node.sh bench/gpu/profile.sh "$@"
[ $# -ge 1 ] || { echo "usage: bash bench/gpu/profile.sh <ifa|bn|conv> [bench arguments]" >&2; exit 2; }
ncu=${IFA_NCU:-$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)}
[ -n "$ncu" ] || { echo "profile.sh: ncu not found (set IFA_NCU)" >&2; exit 3; }
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
csv="$OUT/profile-$1.csv"
launches=${IFA_PROFILE_LAUNCHES:-12}
metrics=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,launch__grid_size,launch__block_size,launch__registers_per_thread
# The bench runs warm-up + 1 timed sample of 1 iteration; skip all but the last `launches` kernels
# by profiling everything and keeping the tail (ncu cannot count from the end).
"$ncu" --clock-control none --target-processes all --metrics "$metrics" --csv --print-units base \
  node bin/ifa-ssl.js bench "$@" --backend cuda --iters 1 --warmup 1 --reps 1 >"$csv.raw" 2>"$OUT/profile-$1.err"
rc=$?
grep '^"' "$csv.raw" >"$csv"
rm -f "$csv.raw"
node - "$csv" "$launches" <<'JS'
const fs = require('fs');
const [file, keep] = [process.argv[2], Number(process.argv[3])];
const rows = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => l.slice(1, -1).split('","'));
const head = rows.shift() || [];
const col = (n) => head.indexOf(n);
const [iId, iName, iMetric, iValue] = [col('ID'), col('Kernel Name'), col('Metric Name'), col('Metric Value')];
const byId = new Map();
for (const r of rows) {
  const k = byId.get(r[iId]) || { name: r[iName] };
  k[r[iMetric]] = Number(String(r[iValue]).replace(/,/g, ''));
  byId.set(r[iId], k);
}
const ks = [...byId.values()].slice(-keep);
let total = 0;
console.log('| kernel | µs | read MB | write MB | GB/s | grid | block | regs |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const k of ks) {
  const us = k['gpu__time_duration.sum'] / 1e3;
  const bytes = k['dram__bytes_read.sum'] + k['dram__bytes_write.sum'];
  total += us;
  console.log(`| ${k.name.slice(0, 60)} | ${us.toFixed(1)} | ${(k['dram__bytes_read.sum'] / 1e6).toFixed(1)} | ${(k['dram__bytes_write.sum'] / 1e6).toFixed(1)} | ${(bytes / us / 1e3).toFixed(0)} | ${k['launch__grid_size']} | ${k['launch__block_size']} | ${k['launch__registers_per_thread']} |`);
}
console.log(`| total (${ks.length} kernels) | ${total.toFixed(1)} | | | | | | |`);
JS
exit $rc
