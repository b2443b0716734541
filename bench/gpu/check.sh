#!/usr/bin/env bash
# Issue 4's GPU check in one call on the device machine: what the addon sees, a round trip, the CUDA
# conformance suite, our benches (ifa, bn) beside PyTorch's (bench/torch/cuda_ops.py: copy bandwidth,
# eager, torch.compile, cuDNN fp32), compute-sanitizer memcheck over the CUDA conformance suite and
# its positive control (a planted out-of-bounds read must be reported), issue 14's tensor-core
# convolutions against cuDNN in alternating rounds (conv-tc), our fp32 ResNet-50 convolutions last
# (conv-fp32, informational), and the ratio table with a verdict per acceptance item
# (bench/gpu/table.ts). A failing step is recorded and the next one runs.
#
#   bash bench/gpu/check.sh          # on the device; see docs/gpu-checks.md for the whole recipe
#
# When node is not on PATH it re-runs itself through .device/remote.sh (../shared/device/pack.sh makes
# .device/), so the device command stays `bash bench/gpu/check.sh`. Without CUDA every CUDA step is
# recorded as "skipped: CUDA unavailable (reason)" and the script still ends with a report.
#
# Writes to ${OUT:-/tmp/gpu-out} (8 files, the most the device returns): report.md, results.md (the
# same tables as a section for bench/RESULTS.md), check.log (everything, in order: the conformance
# and memcheck output too), steps.tsv, ours.jsonl (our bench JSON lines), torch.json (cuda_ops.py's),
# ours-conv.jsonl (conv-tc: our bench lines, each with its "round") and torch-conv.jsonl (conv-tc:
# one cuda_ops.py --only conv report a line, each with its "round").
# Exit status: 0 every acceptance item passed, 1 one failed, 2 none failed but some were not
# verified (skipped or out of time), 3 the script could not start.
#
# Environment: IFA_CHECK_BUDGET_S (total seconds, default 400), IFA_CHECK_STEPS (comma list of probe,
# conformance, sm70, bench, torch, memcheck, control, conv-tc, conv-fp32; default all), IFA_CHECK_PLANT_ADDON (the planted
# build for the control step, default build-plant/Release/ifa_native.node: carry it), IFA_CHECK_ITERS (timed runs per bench, default
# 20), IFA_CHECK_CONV_BATCH (default 128), IFA_CHECK_NO_COMPILE=1 (skip torch.compile),
# IFA_TORCH_PYTHON (default python3), IFA_CHECK_SANITIZER (path of compute-sanitizer).
# conv-tc: IFA_CHECK_CONV_ROUNDS (default 2), IFA_CHECK_CONV_ITERS (timed runs per case on each side,
# default 10), IFA_CHECK_CONV_WARMUP (our --warmup, default the CLI's), IFA_CHECK_CONV_LAYERS,
# IFA_CHECK_CONV_PRECISIONS (default tf32,bf16,fp16), IFA_CHECK_CONV_BUDGET_S (the whole step, default
# 200), IFA_CHECK_CONV_CMD_S (one of our commands, default 45), IFA_CHECK_CONV_TORCH_S (one PyTorch
# round, default 120). conv-fp32: IFA_CHECK_CONV32_ITERS (default 5).
# step (not in the default list; IFA_CHECK_STEPS=probe,step runs it): issue 15's whole-step table,
# node dist/bench/step-vs-torch.js per row of IFA_CHECK_STEP_ROWS (method:size:batch:precision, default
# moco:224:128:bf16 moco:224:128:tf32 simclr:224:128:bf16 moco:512:32:bf16; MoCo with K 65536),
# IFA_CHECK_STEP_STEPS timed steps (default 10) and IFA_CHECK_STEP_ROUNDS alternating rounds (default
# 1), each row at most IFA_CHECK_STEP_S seconds (default 240); the tables go to check.log.
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
rm -f "$OUT"/{report.md,results.md,check.log,steps.tsv,conformance.log,memcheck.log,ours.jsonl,torch.json,torch.json.tmp,ours-conv.jsonl,torch-conv.jsonl}
touch "$OUT/ours.jsonl" "$OUT/steps.tsv" "$OUT/ours-conv.jsonl" "$OUT/torch-conv.jsonl"
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
steps=${IFA_CHECK_STEPS:-probe,conformance,sm70,bench,torch,memcheck,control,conv-tc,conv-fp32}
# The six ResNet-50 convolutions of the anchors (our fp32 step and cuDNN fp32 in the torch step), and
# issue 14's seven (those and conv1_1ch, the stem on the 1-channel radiograph) for the tensor-core rounds.
conv_fp32_layers=(conv1_rgb 1x1_256_64_56 3x3_64_64_56 3x3_256_256_14 1x1_1024_256_14 3x3_512_512_7)
conv_tc_layers=${IFA_CHECK_CONV_LAYERS:-conv1_rgb,conv1_1ch,1x1_256_64_56,3x3_64_64_56,3x3_256_256_14,1x1_1024_256_14,3x3_512_512_7}
conv_tc_precisions=${IFA_CHECK_CONV_PRECISIONS:-tf32,bf16,fp16}
conv_rounds=${IFA_CHECK_CONV_ROUNDS:-2}
conv_iters=${IFA_CHECK_CONV_ITERS:-10}
conv32_iters=${IFA_CHECK_CONV32_ITERS:-5}
if [ -n "$dryrun" ]; then
  conv_iters=${IFA_CHECK_CONV_ITERS:-3}
  conv32_iters=${IFA_CHECK_CONV32_ITERS:-3}
fi
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
# path, the in-place kernels (sgd, ema, copyRows, batchNormUpdateStats) against the CPU, a ResNet-50
# forward+backward and three MoCo/SimCLR training steps against the CPU, the event loop staying
# responsive while CUDA work drains, and the boundary fuzz with CUDA buffers. IFA_TEST_BACKENDS=cuda
# keeps them off WebGPU.
SUITE_ALL='(conformance|cuda|ifa-fused|conv-tc|device-kernels|device-resnet|device-train|boundary|event-loop)\.test\.js$'
SUITE_MEMCHECK='(conformance|cuda|ifa-fused|conv-tc)\.test\.js$'
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
    conformance_step "$tmp/conformance.log" "$(limit 150)" "$SUITE_ALL"
    record conformance "$CONF_STATUS" $((SECONDS - CONF_T0)) "$CONF_NOTE"
  else
    skip_cuda conformance
  fi
fi

# --- sm70: the V100 path on this card ------------------------------------------------------------
# A build carrying only compute_70 PTX (bench/gpu/build-sm70.sh build-ptx70 70-virtual, CUDA 11.8;
# carried as build-ptx70/Release/ifa_native.node): the driver compiles that PTX for this card, and the
# addon then runs its sm_70 code (conv: the fp16 WMMA kernels; bf16 and TF32 refused) on real tensor
# cores. The conformance suite and the tensor-core conv tests must pass on it.
SUITE_SM70='(conformance|conv-tc)\.test\.js$'
if want sm70; then
  ptx70=${IFA_CHECK_PTX70_ADDON:-$PWD/build-ptx70/Release/ifa_native.node}
  if [ "$cuda_ok" -ne 1 ] || [ -n "$dryrun" ]; then
    [ -n "$dryrun" ] && record sm70 skipped 0 "skipped: dry run" || skip_cuda sm70
  elif [ ! -f "$ptx70" ]; then
    record sm70 skipped 0 "skipped: no compute_70 build at $ptx70 (bash bench/gpu/build-sm70.sh build-ptx70 70-virtual)"
  else
    # Lazy loading: the driver JIT-compiles only the kernels the suites launch.
    conformance_step "$tmp/sm70.log" "$(limit 180)" "$SUITE_SM70" IFA_NATIVE_PATH="$ptx70" CUDA_MODULE_LOADING=LAZY
    record sm70 "$CONF_STATUS" $((SECONDS - CONF_T0)) "$CONF_NOTE; $(grep -m1 'tensor cores: sm_70' "$tmp/sm70.log" | oneline 160)"
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
  run "$tmp/bench.out" "$lim2" node bin/ifa-ssl.js bench "$@" --backend "$backend" --json --iters "${BENCH_ITERS:-$iters}"
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
# cuDNN here is fp32 only, for the conv-fp32 table (its tf32 columns come from the conv-tc rounds).
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
    if want conv-fp32; then
      targs+=(--conv-precisions fp32 --conv-layers "$(IFS=,; echo "${conv_fp32_layers[*]}")")
    else
      targs+=(--only ifa,bn)
    fi
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
    --meta "iterations=median of $iters after warm-up" --meta "conv batch=$conv_batch"
    --meta "tensor-core conv rounds=$conv_rounds requested, $conv_iters timed runs per case on each side")
  local files=(--ours "$OUT/ours.jsonl" --torch "$OUT/torch.json" --steps "$OUT/steps.tsv" --ours-conv "$OUT/ours-conv.jsonl" --torch-conv "$OUT/torch-conv.jsonl")
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
    conformance_step "$tmp/memcheck.log" "$(limit 200)" "$SUITE_MEMCHECK" IFA_CUDA_EXACT_ALLOC=1 \
      "$sanitizer" --tool memcheck --target-processes all --error-exitcode 86 --print-limit 50
    # test/cuda.test.ts asks for more memory than the card has, on purpose (the RangeError test);
    # memcheck reports that failed cudaMalloc, and the cudaGetLastError that clears it, as API errors.
    # Those are counted apart; every other report (a bad access, a leak, any other API error) fails.
    summary=$(grep -E 'ERROR SUMMARY' "$tmp/memcheck.log" | tail -1 | sed 's/^=* *//' | oneline 80)
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9][0-9]*\) error.*/\1/p' "$tmp/memcheck.log" | tail -1)
    oom=$(grep -c 'Program hit cudaErrorMemoryAllocation (error 2) due to "out of memory" on CUDA API call to \(cudaMalloc\|cudaGetLastError\)' "$tmp/memcheck.log")
    read -r mtotal mpassed mskipped < <(uvu_counts "$tmp/memcheck.log")
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

# --- tensor-core convolutions vs cuDNN, in alternating rounds (issue 14) ---------------------------
# Each round: our bench for every layer, precision (tf32 = float32 with --tf32, bf16, fp16) and pass,
# one node process per command as bench_one, into ours-conv.jsonl with the round; then cuda_ops.py
# --only conv for the same, its report one line of torch-conv.jsonl with the round. So a noisy side
# shows as a spread across rounds rather than as a verdict that flips between calls. A command that
# fails, times out or is left out of the time budget is recorded as its row's error or skip (the
# table then says "not verified" for it), and the next one runs.
conv_t0=$SECONDS
conv_deadline=$((SECONDS + ${IFA_CHECK_CONV_BUDGET_S:-200}))
# conv_limit WANTED [KEEP]: the lesser of WANTED, the step's time left less KEEP seconds and the
# check's (limit); 0 when under 5 s are left. Our commands keep 30 s for the round's PyTorch run, so a
# round cut short still has both sides of what it measured.
conv_limit() {
  local t left=$((conv_deadline - SECONDS - ${2:-0}))
  t=$(limit "$1")
  [ "$left" -lt 5 ] && { echo 0; return; }
  [ "$t" -lt "$left" ] && echo "$t" || echo "$left"
}
# conv_entry ROUND LAYER PRECISION PASS KEY REASON: an error or skip line of ours-conv.jsonl.
conv_entry() {
  node -e 'const [r,l,p,pass,k,why]=process.argv.slice(1);const d={tf32:"float32",bf16:"bfloat16",fp16:"float16"}[p]??p;const o={bench:"conv",round:Number(r),layer:l,pass,dtype:d,tf32:p==="tf32",precision:p,shape:[]};o[k]=why;console.log(JSON.stringify(o))' \
    "$@" >>"$OUT/ours-conv.jsonl"
}
# conv_one ROUND LAYER PRECISION PASS: one of our commands; sets conv_ok (1 measured, 0 not).
conv_one() {
  local r=$1 layer=$2 prec=$3 pass=$4 dargs lim line
  conv_ok=0
  case $prec in
    tf32) dargs=(--dtype float32 --tf32) ;;
    bf16) dargs=(--dtype bfloat16) ;;
    fp16) dargs=(--dtype float16) ;;
    *) conv_entry "$r" "$layer" "$prec" "$pass" error "unknown precision $prec"; return ;;
  esac
  [ -n "${IFA_CHECK_CONV_WARMUP:-}" ] && dargs+=(--warmup "$IFA_CHECK_CONV_WARMUP")
  lim=$(conv_limit "${IFA_CHECK_CONV_CMD_S:-45}" 30)
  if [ "$lim" -eq 0 ]; then
    printf '{"bench":"conv","round":%d,"layer":"%s","pass":"%s","precision":"%s","shape":[],"skipped":"out of time budget"}\n' \
      "$r" "$layer" "$pass" "$prec" >>"$OUT/ours-conv.jsonl"
    conv_skips=$((conv_skips + 1))
    return
  fi
  : >"$tmp/conv.out"
  run "$tmp/conv.out" "$lim" node bin/ifa-ssl.js bench conv --layer "$layer" --batch "$conv_batch" --pass "$pass" "${dargs[@]}" \
    --backend "$backend" --json --iters "$conv_iters"
  line=$(grep '^{"bench"' "$tmp/conv.out" | tail -1)
  if [ "$rc" -eq 0 ] && [ -n "$line" ]; then
    # With the round, and the precision asked for: the table checks the bench's dtype/tf32 against it.
    echo "{\"round\":$r,\"asked\":\"$prec\",${line#\{}" >>"$OUT/ours-conv.jsonl"
    conv_ok=1
    say "    round $r $layer $prec $pass: $(grep -o '"median_ms":[0-9.e+-]*' <<<"$line" | cut -d: -f2) ms, $(grep -o '"TFLOPs":[0-9.e+-]*' <<<"$line" | cut -d: -f2) TFLOP/s"
  else
    local st
    st=$(status_of "$rc")
    [ "$st" = timeout ] && st="timed out after ${lim}s" || st="rc $rc"
    conv_entry "$r" "$layer" "$prec" "$pass" error "$st: $(grep -v '^\s*$' "$tmp/conv.out" | tail -2 | oneline 250)"
    conv_fail_list+=("$layer $prec $pass")
  fi
}
# conv_torch_round ROUND: cuda_ops.py --only conv, its report appended to torch-conv.jsonl as one line.
conv_torch_round() {
  local r=$1 t0=$SECONDS lim why=""
  lim=$(conv_limit "${IFA_CHECK_CONV_TORCH_S:-120}")
  if ! command -v "$python" >/dev/null 2>&1; then
    why="$python not found"
  elif [ "$lim" -eq 0 ]; then
    why="out of time budget"
  fi
  if [ -n "$why" ]; then
    echo "{\"round\":$r,\"skipped\":\"$why\"}" >>"$OUT/torch-conv.jsonl"
    record "conv-tc round $r cudnn" skipped 0 "skipped: $why"
    return
  fi
  local targs=(--only conv --conv-batch "$conv_batch" --conv-layers "$conv_tc_layers" --conv-precisions "$conv_tc_precisions"
    --conv-iters "$conv_iters" --out "$tmp/torch-conv.json")
  [ -n "$dryrun" ] && targs+=(--cpu-smoke)
  rm -f "$tmp/torch-conv.json"
  say "\$ $python bench/torch/cuda_ops.py ${targs[*]} (limit ${lim}s, $(date +%T))"
  timeout -k 10 "$lim" "$python" bench/torch/cuda_ops.py "${targs[@]}" >"$tmp/torch-conv.stdout" 2> >(tee -a "$OUT/check.log" >&2)
  rc=$?
  [ -s "$tmp/torch-conv.json" ] || cp "$tmp/torch-conv.stdout" "$tmp/torch-conv.json"
  # One line: the report with its round (a partial one says "complete": false), or why there is none.
  local note
  note=$(node -e '
    const fs = require("fs");
    const [r, file, rc, out] = process.argv.slice(1);
    let o;
    try { o = JSON.parse(fs.readFileSync(file, "utf8")); } catch (e) { o = { error: `cuda_ops.py exited with ${rc}, no readable JSON (see check.log)` }; }
    if (Number(rc) !== 0 && Number(rc) !== 2 && !o.error) o.error = `cuda_ops.py exited with ${rc}` + (o.complete === false ? " (partial results kept)" : "");
    o = { round: Number(r), ...o };
    fs.appendFileSync(out, JSON.stringify(o) + "\n");
    const res = o.results || [];
    const n = (k) => res.filter((x) => x[k]).length;
    console.log(o.skipped ? `skipped: ${o.skipped}` : `${res.length} results, ${n("error")} errors, ${n("skipped")} skipped${o.error ? `; ${o.error}` : ""}`);
  ' "$r" "$tmp/torch-conv.json" "$rc" "$OUT/torch-conv.jsonl" 2>&1)
  if grep -q '^skipped: ' <<<"$note"; then
    record "conv-tc round $r cudnn" skipped $((SECONDS - t0)) "$note"
  else
    record "conv-tc round $r cudnn" "$(status_of "$rc")" $((SECONDS - t0)) "$note"
  fi
}
if want conv-tc; then
  IFS=, read -r -a tc_layers <<<"$conv_tc_layers"
  IFS=, read -r -a tc_precisions <<<"$conv_tc_precisions"
  say "--- conv-tc: $conv_rounds rounds of ${#tc_layers[@]} layers × ${#tc_precisions[@]} precisions × 2 passes (ours, then cuDNN), batch $conv_batch, $conv_iters timed runs per case, at most ${IFA_CHECK_CONV_BUDGET_S:-200}s"
  if [ "$cuda_ok" -ne 1 ]; then
    node -e 'console.log(JSON.stringify({bench:"conv",skipped:process.argv[1]}))' "CUDA unavailable (${cuda_reason:-unknown reason})" >>"$OUT/ours-conv.jsonl"
    skip_cuda conv-tc
  else
    for ((round = 1; round <= conv_rounds; round++)); do
      t0=$SECONDS
      conv_fail_list=()
      conv_skips=0
      n_ok=0
      n_all=0
      for prec in "${tc_precisions[@]}"; do
        for layer in "${tc_layers[@]}"; do
          for pass in forward both; do
            conv_one "$round" "$layer" "$prec" "$pass"
            n_ok=$((n_ok + conv_ok))
            n_all=$((n_all + 1))
          done
        done
      done
      failed=""
      [ "${#conv_fail_list[@]}" -gt 0 ] && failed="; failed: $(IFS=,; echo "${conv_fail_list[*]}" | sed 's/,/, /g')"
      if [ "$n_ok" -eq "$n_all" ]; then
        record "conv-tc round $round ifa-ssl" pass $((SECONDS - t0)) "$n_ok/$n_all measured"
      elif [ "$conv_skips" -eq "$n_all" ]; then
        record "conv-tc round $round ifa-ssl" skipped $((SECONDS - t0)) "skipped: out of time budget"
      else
        record "conv-tc round $round ifa-ssl" fail $((SECONDS - t0)) "$n_ok/$n_all measured, $conv_skips out of time budget$failed"
      fi
      if [ "$conv_skips" -eq "$n_all" ]; then
        echo "{\"round\":$round,\"skipped\":\"out of time budget\"}" >>"$OUT/torch-conv.jsonl"
        record "conv-tc round $round cudnn" skipped 0 "skipped: out of time budget (no ifa-ssl run in this round to pair with)"
      else
        conv_torch_round "$round"
      fi
    done
  fi
  say "--- conv-tc done in $((SECONDS - conv_t0))s"
  report # in case the fp32 convolutions below run out the clock
fi

# --- our fp32 convolutions, last: informational (the SIMT kernels, the exact path), and one slow
# layer (conv1_rgb's fp32 backward, ~300 ms an iteration on an H200) must not eat the time of the steps
# with targets; IFA_CHECK_CONV32_ITERS timed runs after one warm-up.
if want conv-fp32; then
  for layer in "${conv_fp32_layers[@]}"; do
    BENCH_ITERS=$conv32_iters bench_one "conv $layer fwd" 60 conv --layer "$layer" --batch "$conv_batch" --pass forward --warmup 1
    BENCH_ITERS=$conv32_iters bench_one "conv $layer fwd+bwd" 90 conv --layer "$layer" --batch "$conv_batch" --pass both --warmup 1
  done
fi

# --- the whole training step against PyTorch in the same call (issue 15) ---------------------------
if want step; then
  for row in ${IFA_CHECK_STEP_ROWS:-moco:224:128:bf16 moco:224:128:tf32 simclr:224:128:bf16 moco:512:32:bf16}; do
    IFS=: read -r s_method s_size s_batch s_prec <<<"$row"
    t0=$SECONDS
    : >"$tmp/step.log"
    sargs=(--method "$s_method" --precision "$s_prec" --steps "${IFA_CHECK_STEP_STEPS:-10}" --warmup 3 --rounds "${IFA_CHECK_STEP_ROUNDS:-1}" --backend "$backend")
    if [ -n "$dryrun" ]; then
      # Plumbing only: a tiny net on the CPU (CPU autocast has bf16, not fp16; tf32 is fp32 there).
      [ "$s_prec" = fp16 ] && sargs[3]=bf16
      sargs+=(--image-size 32 --batch 4 --layers 1,1,1,1 --width 8)
      [ "$s_method" = moco ] && sargs+=(--queue 16)
    else
      sargs+=(--image-size "$s_size" --batch "$s_batch")
      [ "$s_method" = moco ] && sargs+=(--queue 65536)
    fi
    run "$tmp/step.log" "$(limit "${IFA_CHECK_STEP_S:-240}")" env IFA_TORCH_PYTHON="$python" node dist/bench/step-vs-torch.js "${sargs[@]}"
    record "step $row" "$(status_of "$rc")" $((SECONDS - t0)) "$(grep -E '^\| (ms per step|peak memory)' "$tmp/step.log" | tr -s ' ' | tr '\n' ';' | cut -c1-160)"
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
