#!/usr/bin/env bash
# Issue 4's GPU check in one call on the device machine: what the addon sees, a round trip, the CUDA
# conformance suite, our benches (ifa, bn, the ResNet-50 convolutions) beside PyTorch's
# (bench/torch/cuda_ops.py: copy bandwidth, eager, torch.compile, cuDNN), compute-sanitizer memcheck
# over the CUDA conformance suite and its positive control (a planted out-of-bounds read must be
# reported), our ResNet-50 convolutions last, and the ratio table with a verdict per acceptance item
# (bench/gpu/table.ts). A failing step is recorded and the next one runs.
#
#   bash bench/gpu/check.sh          # on the device; see kernels/cuda/README.md for the whole recipe
#
# When node is not on PATH it re-runs itself through .device/remote.sh (../shared/device/pack.sh makes
# .device/), so the device command stays `bash bench/gpu/check.sh`. Without CUDA every CUDA step is
# recorded as "skipped: CUDA unavailable (reason)" and the script still ends with a report.
#
# Writes to ${OUT:-/tmp/gpu-out} (8 files, the most the device returns): report.md, results.md (the
# same tables as a section for bench/RESULTS.md), check.log (everything, in order), steps.tsv,
# conformance.log, memcheck.log, ours.jsonl (our bench JSON lines), torch.json (cuda_ops.py's).
# Exit status: 0 every acceptance item passed, 1 one failed, 2 none failed but some were not
# verified (skipped or out of time), 3 the script could not start.
#
# Environment: IFA_CHECK_BUDGET_S (total seconds, default 400), IFA_CHECK_STEPS (comma list of probe,
# conformance, bench, torch, memcheck, control; default all), IFA_CHECK_PLANT_ADDON (the planted
# build for the control step, default build-plant/Release/ifa_native.node: carry it), IFA_CHECK_ITERS (timed runs per bench, default
# 20), IFA_CHECK_CONV_BATCH (default 128), IFA_CHECK_NO_COMPILE=1 (skip torch.compile),
# IFA_TORCH_PYTHON (default python3), IFA_CHECK_SANITIZER (path of compute-sanitizer).
# IFA_CHECK_DRYRUN=1 rehearses every step without a GPU: the cpu backend where cuda would be
# (conformance = the CPU reference suite), conv batch 1, 3 iterations, cuda_ops.py --cpu-smoke; its
# numbers mean nothing, it checks the plumbing before a device call.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

source bench/gpu/with-node.sh bench/gpu/check.sh "$@"
if [ ! -f dist/bench/gpu/table.js ] || [ ! -f dist/test/conformance.test.js ]; then
  echo "check.sh: dist/ is missing or stale (run npx tsc -p tsconfig.json before pack.sh)" >&2
  exit 3
fi

OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
rm -f "$OUT"/{report.md,results.md,check.log,steps.tsv,conformance.log,memcheck.log,ours.jsonl,torch.json,torch.json.tmp}
touch "$OUT/ours.jsonl" "$OUT/steps.tsv"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

budget=${IFA_CHECK_BUDGET_S:-400}
deadline=$((SECONDS + budget))
reserve=15 # seconds kept for the report at the end
dryrun=${IFA_CHECK_DRYRUN:-}
backend=cuda
iters=${IFA_CHECK_ITERS:-20}
conv_batch=${IFA_CHECK_CONV_BATCH:-128}
if [ -n "$dryrun" ]; then
  backend=cpu
  iters=${IFA_CHECK_ITERS:-3}
  conv_batch=${IFA_CHECK_CONV_BATCH:-1}
fi
steps=${IFA_CHECK_STEPS:-probe,conformance,bench,torch,memcheck,control}
python=${IFA_TORCH_PYTHON:-python3}
export NO_COLOR=1 PYTHONUNBUFFERED=1
unset FORCE_COLOR
node_bin=$(command -v node)

want() { [[ ",$steps," == *",$1,"* ]]; }
say() { echo "$*" | tee -a "$OUT/check.log"; }
oneline() { tr '\t\n\r' '   ' | sed 's/\x1b\[[0-9;]*m//g; s/  */ /g' | cut -c1-"${1:-300}"; }
# record NAME STATUS SECONDS NOTE: one line of steps.tsv (status pass, fail, skipped or timeout).
record() {
  local note
  note=$(printf '%s' "$4" | oneline 300)
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$note" >>"$OUT/steps.tsv"
  say "--> $1: $2 (${3}s) $note"
}
# limit WANTED: the lesser of WANTED and the budget left (minus the reserve); 0 when none is left.
limit() {
  local left=$((deadline - SECONDS - reserve))
  [ "$left" -lt 5 ] && { echo 0; return; }
  [ "$1" -lt "$left" ] && echo "$1" || echo "$left"
}
# run LOG SECONDS CMD...: CMD under timeout, stdout+stderr appended to LOG and check.log; sets rc.
run() {
  local logf=$1 t=$2
  shift 2
  if [ "$t" -le 0 ]; then # timeout 0 would mean no limit at all
    say "skipped (out of time budget): $*"
    rc=124
    return
  fi
  say "\$ $* (limit ${t}s, $(date +%T))"
  timeout -k 10 "$t" "$@" 2>&1 | tee -a "$logf" >>"$OUT/check.log"
  rc=${PIPESTATUS[0]}
}
status_of() { # rc → pass / timeout / fail
  if [ "$1" -eq 0 ]; then echo pass; elif [ "$1" -eq 124 ] || [ "$1" -eq 137 ]; then echo timeout; else echo fail; fi
}
# uvu's summary of LOG as "total passed skipped".
uvu_counts() {
  sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '$1 == "Total:" { t = $2 } $1 == "Passed:" { p = $2 } $1 == "Skipped:" { s = $2 } END { print t + 0, p + 0, s + 0 }'
}

say "=== ifa-ssl GPU check ($(date -u +%FT%TZ)), budget ${budget}s, steps: $steps${dryrun:+ — DRY RUN on the $backend backend}"

# --- environment -------------------------------------------------------------------------------
t0=$SECONDS
{
  echo "host: $(uname -srm)"
  echo "node: $(node --version) at $(command -v node)"
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv 2>&1
    nvidia-smi 2>&1 | head -20
  else
    echo "nvidia-smi: not found"
  fi
  sanitizer=${IFA_CHECK_SANITIZER:-$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1 || true)}
  echo "compute-sanitizer: ${sanitizer:-not found}"
  [ -n "$sanitizer" ] && "$sanitizer" --version 2>&1 | tail -2
  echo "python: $(command -v "$python" || echo "$python not found")"
  timeout 30 "$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -1
} 2>&1 | tee -a "$OUT/check.log"
sanitizer=${IFA_CHECK_SANITIZER:-$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1 || true)}
device=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
commit=$(cat .device/commit 2>/dev/null || git rev-parse --short HEAD 2>/dev/null || echo unknown)
record env pass $((SECONDS - t0)) "node $(node --version); ${device:-no GPU seen by nvidia-smi}"

# --- probe: addon info, kernels, round trip -------------------------------------------------------
cuda_ok=1
cuda_reason=""
if want probe; then
  t0=$SECONDS
  : >"$tmp/probe.log"
  run "$tmp/probe.log" "$(limit 60)" node dist/bench/gpu/probe.js
  if [ "$rc" -eq 2 ]; then
    cuda_ok=0
    cuda_reason=$(grep '^unavailable: ' "$tmp/probe.log" | tail -1 | sed 's/^unavailable: //')
    record probe skipped $((SECONDS - t0)) "skipped: CUDA unavailable (${cuda_reason:-no reason given})"
  else
    record probe "$(status_of "$rc")" $((SECONDS - t0)) "$(grep -E '^(kernels\(cuda\)|round trip|error)' "$tmp/probe.log" | cut -c1-120 | tr '\n' ';')"
  fi
else
  node --input-type=module -e "import {nativeAddon} from './dist/src/native.js'; const c=nativeAddon().info().cuda; if(!c.compiled||!c.available){console.log(c.reason); process.exit(2)}" >"$tmp/avail" 2>&1 || { cuda_ok=0; cuda_reason=$(tail -1 "$tmp/avail"); }
fi
if [ -n "$dryrun" ]; then
  say "dry run: the CUDA steps run on the $backend backend (CUDA: ${cuda_reason:-available})"
  cuda_ok=1
fi
skip_cuda() { record "$1" skipped 0 "skipped: CUDA unavailable (${cuda_reason:-unknown reason})"; }

# --- conformance: every op, forward + backward, CUDA vs CPU -------------------------------------
# The CUDA test files: conformance (every op, CUDA vs CPU), device behaviour (cuda), the fused IFA
# path, a ResNet-50 forward+backward and three MoCo/SimCLR training steps against the CPU, the event
# loop staying responsive while CUDA work drains, and the
# boundary fuzz with CUDA buffers. IFA_TEST_BACKENDS=cuda keeps them off WebGPU.
SUITE_ALL='(conformance|cuda|ifa-fused|device-resnet|device-train|boundary|event-loop)\.test\.js$'
SUITE_MEMCHECK='(conformance|cuda|ifa-fused)\.test\.js$'
conformance_step() { # LOG LIMIT PATTERN [PREFIX...]: CUDA test files, judged by uvu's counts
  local logf=$1 lim=$2 pattern=$3
  shift 3
  local t0=$SECONDS
  run "$logf" "$lim" env IFA_TEST_BACKENDS=$backend "$@" "$node_bin" node_modules/uvu/bin.js dist/test "$pattern"
  local total passed skipped
  read -r total passed skipped < <(uvu_counts "$logf")
  local note="$passed/$total passed, $skipped skipped"
  local st
  st=$(status_of "$rc")
  if [ "$st" = pass ] && { [ "$total" -eq 0 ] || [ "$skipped" -ne 0 ] || [ "$passed" -ne "$total" ]; }; then
    st=fail
    note="$note (every CUDA case must run and pass); $(grep -E '^ *skipped: ' "$logf" | head -3 | oneline 200)"
  elif [ "$st" != pass ]; then
    note="rc $rc, $note; $(sed 's/\x1b\[[0-9;]*m//g' "$logf" | grep -E 'FAIL|Error|✘' | head -3 | oneline 200)"
  fi
  CONF_STATUS=$st
  CONF_NOTE=$note
  CONF_T0=$t0
}
if want conformance; then
  if [ "$cuda_ok" -eq 1 ]; then
    conformance_step "$OUT/conformance.log" "$(limit 150)" "$SUITE_ALL"
    record conformance "$CONF_STATUS" $((SECONDS - CONF_T0)) "$CONF_NOTE"
  else
    skip_cuda conformance
  fi
fi

# --- our benches ----------------------------------------------------------------------------------
# bench_one ID LIMIT BENCH-ARGS...: one `ifa-ssl bench … --backend cuda --json` into ours.jsonl.
bench_one() {
  local id=$1 lim=$2
  shift 2
  local t0=$SECONDS
  # What the table matches an error entry on: bench, pass, shape or layer.
  local bench=$1 shape="" layer="" pass=both a
  local args=("$@")
  for ((i = 0; i < ${#args[@]}; i++)); do
    a=${args[i]}
    case $a in --shape) shape=${args[i + 1]} ;; --layer) layer=${args[i + 1]} ;; --pass) pass=${args[i + 1]} ;; esac
  done
  entry() { # KEY REASON → a JSON line for ours.jsonl
    node -e 'const [b,s,p,l,k,r]=process.argv.slice(1);const o={bench:b,shape:s?s.split(",").map(Number):[],pass:p};if(l)o.layer=l;o[k]=r;console.log(JSON.stringify(o))' \
      "$bench" "$shape" "$pass" "$layer" "$1" "$2" >>"$OUT/ours.jsonl"
  }
  if [ "$cuda_ok" -ne 1 ]; then
    entry skipped "CUDA unavailable (${cuda_reason:-unknown reason})"
    skip_cuda "bench $id"
    return
  fi
  local lim2
  lim2=$(limit "$lim")
  if [ "$lim2" -eq 0 ]; then
    entry skipped "out of time budget"
    record "bench $id" skipped 0 "skipped: out of time budget"
    return
  fi
  : >"$tmp/bench.out"
  run "$tmp/bench.out" "$lim2" node bin/ifa-ssl.js bench "$@" --backend "$backend" --json --iters "$iters"
  local line
  line=$(grep '^{"bench"' "$tmp/bench.out" | tail -1)
  if [ "$rc" -eq 0 ] && [ -n "$line" ]; then
    echo "$line" >>"$OUT/ours.jsonl"
    record "bench $id" pass $((SECONDS - t0)) "$(node -e 'const r=JSON.parse(process.argv[1]);console.log(`${r.median_ms} ms, ${r.GBps} GB/s${r.TFLOPs?`, ${r.TFLOPs} TFLOP/s`:""}`)' "$line")"
  else
    local why
    why="rc $rc: $(grep -v '^\s*$' "$tmp/bench.out" | tail -2 | oneline 250)"
    entry error "$why"
    record "bench $id" "$(status_of "$rc")" $((SECONDS - t0)) "$why"
  fi
}
if want bench; then
  bench_one "ifa 128x14x14x1024" 60 ifa --shape 128,14,14,1024
  bench_one "ifa 32x32x32x1024" 60 ifa --shape 32,32,32,1024
  bench_one "bn 128x56x56x256" 90 bn --shape 128,56,56,256
  # One iteration between two events, host time included, as the anchors timed PyTorch: informational.
  bench_one "ifa 128x14x14x1024 one iteration" 60 ifa --shape 128,14,14,1024 --reps 1
  bench_one "ifa 32x32x32x1024 one iteration" 60 ifa --shape 32,32,32,1024 --reps 1
fi

# --- PyTorch, same work, same call ----------------------------------------------------------------
if want torch; then
  t0=$SECONDS
  lim=$(limit 200)
  if ! command -v "$python" >/dev/null 2>&1; then
    echo "{\"skipped\": \"$python not found\"}" >"$OUT/torch.json"
    record torch skipped 0 "skipped: $python not found"
  elif [ "$lim" -eq 0 ]; then
    echo '{"skipped": "out of time budget"}' >"$OUT/torch.json"
    record torch skipped 0 "skipped: out of time budget"
  else
    targs=("$iters" --conv-batch "$conv_batch")
    [ -n "${IFA_CHECK_NO_COMPILE:-}" ] && targs+=(--no-compile)
    [ -n "$dryrun" ] && targs+=(--cpu-smoke)
    # --out keeps what was measured if the time runs out; stdout has the whole report (or the skip).
    targs+=(--out "$OUT/torch.json")
    say "\$ $python bench/torch/cuda_ops.py ${targs[*]} (limit ${lim}s, $(date +%T))"
    timeout -k 10 "$lim" "$python" bench/torch/cuda_ops.py "${targs[@]}" >"$tmp/torch.stdout" 2> >(tee -a "$OUT/check.log" >&2)
    rc=$?
    rm -f "$OUT/torch.json.tmp"
    [ -s "$OUT/torch.json" ] || cp "$tmp/torch.stdout" "$OUT/torch.json"
    if grep -q '"skipped"' "$OUT/torch.json" 2>/dev/null && [ "$rc" -eq 2 ]; then
      record torch skipped $((SECONDS - t0)) "skipped: $(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).skipped)' "$OUT/torch.json" 2>/dev/null)"
    elif [ "$rc" -eq 0 ]; then
      record torch pass $((SECONDS - t0)) "$(node -e 'const t=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const e=t.results.filter(r=>r.error).length;console.log(`torch ${t.torch} on ${t.device}, copy ${t.copy.GBps} GB/s, ${t.results.length} results, ${e} errors`)' "$OUT/torch.json" 2>&1)"
    else
      # Keep whatever JSON came out; the table reports the missing PyTorch numbers.
      [ -s "$OUT/torch.json" ] || echo "{\"error\": \"cuda_ops.py exited with $rc (see check.log)\"}" >"$OUT/torch.json"
      grep -q '^{' "$OUT/torch.json" || echo "{\"error\": \"cuda_ops.py exited with $rc (see check.log)\"}" >"$OUT/torch.json"
      record torch "$(status_of "$rc")" $((SECONDS - t0)) "cuda_ops.py exited with $rc$(grep -q '"complete": false' "$OUT/torch.json" && echo ' (partial results kept)')"
    fi
  fi
fi

report() {
  local t0=$SECONDS
  local meta=(--meta "date=$(date -u +%F)" --meta "device=$device" --meta "driver=$driver" --meta "commit=$commit" --meta "node=$(node --version)" \
    ${dryrun:+--meta "DRY RUN=the cuda steps ran on the $backend backend, the PyTorch ones with --cpu-smoke: plumbing only, no result"} \
    --meta "iterations=median of $iters after warm-up" --meta "conv batch=$conv_batch")
  local files=(--ours "$OUT/ours.jsonl" --torch "$OUT/torch.json" --steps "$OUT/steps.tsv")
  node dist/bench/gpu/table.js "${files[@]}" "${meta[@]}" --out "$OUT/report.md" >"$tmp/report.txt" 2>&1
  table_rc=$?
  node dist/bench/gpu/table.js "${files[@]}" "${meta[@]}" --results \
    --meta "command=device run: bash bench/gpu/check.sh (carry .device, build-cmake/Release/ifa_native.node, build-plant/Release/ifa_native.node)" --out "$OUT/results.md" >/dev/null 2>&1
  [ -f "$OUT/report.md" ] || { cat "$tmp/report.txt" >>"$OUT/check.log"; echo "# report failed (table.js exited $table_rc)" >"$OUT/report.md"; table_rc=1; }
  say "--- report written ($((SECONDS - t0))s, table exit $table_rc)"
}
# A report now, in case the sanitizer runs out the clock; rewritten at the end.
report

# --- compute-sanitizer memcheck over the CUDA conformance suite -----------------------------------
if want memcheck; then
  if [ "$cuda_ok" -ne 1 ]; then
    skip_cuda memcheck
  elif [ -z "$sanitizer" ]; then
    record memcheck skipped 0 "skipped: compute-sanitizer not found"
  elif [ "$(limit 200)" -lt 30 ]; then
    record memcheck skipped 0 "skipped: out of time budget ($(limit 200)s left)"
  else
    # Exact-size device blocks, so an access past a tensor's end is past its allocation.
    conformance_step "$OUT/memcheck.log" "$(limit 200)" "$SUITE_MEMCHECK" IFA_CUDA_EXACT_ALLOC=1 \
      "$sanitizer" --tool memcheck --target-processes all --error-exitcode 86 --print-limit 50
    # test/cuda.test.ts asks for more memory than the card has, on purpose (the RangeError test);
    # memcheck reports that failed cudaMalloc, and the cudaGetLastError that clears it, as API errors.
    # Those are counted apart; every other report (a bad access, a leak, any other API error) fails.
    summary=$(grep -E 'ERROR SUMMARY' "$OUT/memcheck.log" | tail -1 | sed 's/^=* *//' | oneline 80)
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9][0-9]*\) error.*/\1/p' "$OUT/memcheck.log" | tail -1)
    oom=$(grep -c 'Program hit cudaErrorMemoryAllocation (error 2) due to "out of memory" on CUDA API call to \(cudaMalloc\|cudaGetLastError\)' "$OUT/memcheck.log")
    read -r mtotal mpassed mskipped < <(uvu_counts "$OUT/memcheck.log")
    st=fail
    if [ -n "$errors" ] && [ "$mtotal" -gt 0 ] && [ "$mpassed" -eq "$mtotal" ] && [ "$mskipped" -eq 0 ] && [ "$errors" -eq "$oom" ] &&
      { [ "$rc" -eq 0 ] || [ "$rc" -eq 86 ]; }; then
      st=pass
    fi
    record memcheck "$st" $((SECONDS - CONF_T0)) "${summary:-no ERROR SUMMARY line}: ${oom} from the deliberate out-of-memory test, $(( ${errors:-0} - oom )) others; $mpassed/$mtotal passed, $mskipped skipped (rc $rc)"
  fi
fi

# --- the memory checker's positive control -------------------------------------------------------
# With the planted build (CMake IFA_PLANT_OOB=ON; kernels/cuda/README.md), reluKernel reads one float
# past its input: memcheck must say so, or its clean report above proves nothing.
plant=${IFA_CHECK_PLANT_ADDON:-build-plant/Release/ifa_native.node}
if want control; then
  t0=$SECONDS
  if [ "$cuda_ok" -ne 1 ]; then
    skip_cuda control
  elif [ -z "$sanitizer" ] || [ ! -f "$plant" ]; then
    record control skipped 0 "skipped: ${sanitizer:+no planted addon at $plant}${sanitizer:-compute-sanitizer not found}"
  else
    : >"$tmp/control.log"
    run "$tmp/control.log" "$(limit 60)" env IFA_NATIVE_PATH="$root/$plant" IFA_CUDA_EXACT_ALLOC=1 \
      "$sanitizer" --tool memcheck --target-processes all --error-exitcode 86 --print-limit 5 "$node_bin" dist/bench/gpu/oob-control.js
    found=$(grep -m1 -E 'Invalid __global__ read of size 4' "$tmp/control.log" | sed 's/^=* *//')
    at=$(grep -m1 -E 'at .*reluKernel' "$tmp/control.log" | sed 's/^=* *//' | cut -c1-80)
    if [ "$rc" -eq 86 ] && [ -n "$found" ]; then
      record control pass $((SECONDS - t0)) "the planted out-of-bounds read was reported: $found $at"
    else
      record control fail $((SECONDS - t0)) "rc $rc, planted read not reported: $(grep -E 'ERROR SUMMARY|oob-control' "$tmp/control.log" | oneline 150)"
    fi
  fi
fi

# --- our convolutions, last: the targets above come first; conv speed is reported, not a target ----
# (issue 4), and one slow layer (conv1's backward) must not eat the time of the steps that are.
if want bench; then
  for layer in conv1 1x1_256_64_56 3x3_64_64_56 3x3_256_256_14 1x1_1024_256_14 3x3_512_512_7; do
    bench_one "conv $layer fwd" 60 conv --layer "$layer" --batch "$conv_batch" --pass forward
    bench_one "conv $layer fwd+bwd" 90 conv --layer "$layer" --batch "$conv_batch" --pass both
  done
fi

report
# 16 MiB is the most a file may be to come back from the device.
for f in "$OUT"/*; do
  if [ "$(stat -c %s "$f")" -gt $((15 * 1048576)) ]; then
    tail -c $((15 * 1048576)) "$f" >"$tmp/cut" && mv "$tmp/cut" "$f" && say "cut $f to its last 15 MiB"
  fi
done
n_files=$(find "$OUT" -maxdepth 1 -type f | wc -l)
[ "$n_files" -le 8 ] || say "warning: $n_files files in $OUT; the device returns 8 at most"
cat "$OUT/report.md"
say "=== done in $((SECONDS))s; files in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
exit "$table_rc"
