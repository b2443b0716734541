#!/usr/bin/env bash
# Packs the CUDA addons a GPU check uses into .device/addons.tar.xz (with-node.sh unpacks it on the
# device): build-cmake's (sm_90), build-plant's (memcheck's planted control) and build-ptx70's
# (compute_70 PTX only, the sm70 step), whichever exist. Run after ../shared/device/pack.sh, then
# carry only ".device" (docs/gpu-checks.md has the recipe).
set -euo pipefail
cd "$(dirname "$0")/../.."
files=()
for d in build-cmake build-plant build-ptx70; do
  [ -f "$d/Release/ifa_native.node" ] && files+=("$d/Release/ifa_native.node")
done
[ ${#files[@]} -gt 0 ] || { echo "pack-addons: no addon built (build-cmake, build-plant, build-ptx70)" >&2; exit 2; }
mkdir -p .device
rm -f .device/addons.unpacked
tar -cJf .device/addons.tar.xz "${files[@]}"
echo "pack-addons: .device/addons.tar.xz ($(du -h .device/addons.tar.xz | cut -f1)): ${files[*]}"
