#!/usr/bin/env bash
# The IFA comparison of bench/gpu/check.sh, repeated ROUNDS times in one call (default 3): each round
# runs `ifa-ssl bench ifa` on both shapes, then bench/torch/cuda_ops.py --only ifa (eager and
# torch.compile, a fresh compile per round), so the spread of each side across rounds on one machine
# can be read beside the ratio one check.sh call gives. Prints one line per round and shape:
#   round shape ifa-ssl_ms compile_ms eager_ms compile/ifa-ssl
# and leaves the raw JSON under $OUT (ours-R.jsonl, torch-R.json).
#
#   bash bench/gpu/ifa-repeat.sh [ROUNDS]     (on the GPU machine; re-runs itself via .device/remote.sh)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
source bench/gpu/with-node.sh bench/gpu/ifa-repeat.sh "$@"
rounds=${1:-3}
python=${IFA_TORCH_PYTHON:-python3}
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
shapes=(128,14,14,1024 32,32,32,1024)
for ((r = 1; r <= rounds; r++)); do
  : >"$OUT/ours-$r.jsonl"
  for s in "${shapes[@]}"; do
    timeout 60 node bin/ifa-ssl.js bench ifa --backend cuda --shape "$s" --json | grep '^{"bench"' >>"$OUT/ours-$r.jsonl"
  done
  timeout 200 "$python" bench/torch/cuda_ops.py 20 --only ifa --out "$OUT/torch-$r.json" >/dev/null 2>"$OUT/torch-$r.err"
  node - "$r" "$OUT/ours-$r.jsonl" "$OUT/torch-$r.json" <<'JS'
const fs = require('fs');
const [r, oursPath, torchPath] = process.argv.slice(2);
const ours = fs.readFileSync(oursPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
let torch = { results: [] };
try { torch = JSON.parse(fs.readFileSync(torchPath, 'utf8')); } catch (e) { console.log(`round ${r}: no PyTorch results (${e.message})`); }
for (const o of ours) {
  const key = o.shape.join(',');
  const find = (v) => (torch.results || []).find((t) => t.work === 'ifa' && t.variant === v && t.shape.join(',') === key);
  const c = find('compile'), e = find('eager');
  const ratio = c && c.median_ms ? (c.median_ms / o.median_ms).toFixed(2) : '—';
  console.log(`round ${r} ${key} ifa-ssl ${o.median_ms} compile ${c?.median_ms ?? '—'} eager ${e?.median_ms ?? '—'} compile/ifa-ssl ${ratio}`);
}
JS
done
