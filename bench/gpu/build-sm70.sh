#!/usr/bin/env bash
# Builds the addon with Debian's CUDA 11.8 (.ci/apt.sh installs it: nvidia-cuda-toolkit, g++-11), the
# last toolkit that generates sm_70 (V100) code, and checks with cuobjdump that the code is there.
#   bash bench/gpu/build-sm70.sh [OUT_DIR] [ARCHITECTURES]
# OUT_DIR defaults to build-sm70, ARCHITECTURES to "70;80;90" (CI: keeps the V100 build from rotting).
# With "70-virtual" the addon carries only compute_70 PTX, which the driver compiles for the card it
# finds: bench/gpu/check.sh's sm70 step runs the CUDA suites on that build on an H100/H200, so the
# V100 path (the fp16 WMMA kernels) runs on real tensor cores.
# CUDA 13's nvcc and ptxas live in /usr/local/bin; CUDA 11.8's directory and /usr/bin go first so
# neither is picked.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build-sm70}
archs=${2:-70;80;90}
tk=/usr/lib/nvidia-cuda-toolkit/bin
if [ ! -x "$tk/nvcc" ]; then
  echo "build-sm70: $tk/nvcc not found: install Debian's nvidia-cuda-toolkit (bookworm non-free; see .ci/apt.sh)" >&2
  exit 2
fi
if ! command -v g++-11 >/dev/null; then
  echo "build-sm70: g++-11 not found (CUDA 11.8 does not accept g++ 12): apt-get install g++-11" >&2
  exit 2
fi
export PATH="$tk:/usr/bin:$PATH"
echo "build-sm70: $(nvcc --version | tail -1), architectures $archs, into $out/"
# Debian keeps the headers in /usr/include and the libraries in /usr/lib/x86_64-linux-gnu, where
# FindCUDAToolkit does not look from nvcc's directory.
npx cmake-js compile --out "$out" --CDIFA_CUDA=ON "--CDIFA_CUDA_ARCHITECTURES=$archs" --CDCMAKE_CUDA_HOST_COMPILER=g++-11 \
  --CDCUDAToolkit_INCLUDE_DIR=/usr/include --CDCUDAToolkit_LIBRARY_DIR=/usr/lib/x86_64-linux-gnu
addon="$out/Release/ifa_native.node"
# cuobjdump lists the fat binary's cubins (--list-elf: "ELF file 1: ifa_native.1.sm_70.cubin") and
# PTX (--list-ptx: "PTX file 1: ifa_native.1.sm_70.ptx"); a PTX-only build has no ELF at all.
if [ "${archs%-virtual}" != "$archs" ]; then
  what="compute_70 PTX" listing=$(cuobjdump --list-ptx "$addon" 2>&1 || true) pattern='sm_70\.ptx'
else
  what="sm_70 code" listing=$(cuobjdump --list-elf "$addon" 2>&1 || true) pattern='sm_70\.cubin'
fi
if grep -qE "$pattern" <<<"$listing"; then
  echo "build-sm70: $addon carries $what:"
  grep -Eo 'sm_[0-9]+\.(cubin|ptx)' <<<"$listing" | sort | uniq -c
else
  echo "build-sm70: $addon has no $what; cuobjdump says:" >&2
  echo "$listing" | head -20 >&2
  exit 1
fi
