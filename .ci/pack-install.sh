#!/usr/bin/env bash
# Install as users do: pack the package (`npm pack`), install the tarball into an empty folder with
# npm offline (every dependency must come from the cache `npm ci` filled, so nothing fetched at install
# time is missing from package.json), then run `ifa-ssl info` and a two-step pretrain from there. A file
# missing from package.json "files", or a build step that only works inside the repo, fails here.
# The install builds the CPU backend only (IFA_CUDA=OFF): the CUDA sources are the ones npm ci already
# compiled, and a second CUDA build would add minutes for nothing new.
# Prints "Total: 1 / Passed: 0|1" for .ci/run's count.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d /tmp/ifa-pack.XXXXXX)
trap 'rm -rf "$work"' EXIT
result() { printf 'Total: 1\nPassed: %s\n' "$1"; exit 0; }
die() { echo "pack-install: $*"; result 0; }

tgz=$(npm pack --silent --pack-destination "$work" 2>"$work/pack.err" | tail -1)
[ -n "$tgz" ] && [ -f "$work/$tgz" ] || { cat "$work/pack.err"; die "npm pack made no tarball"; }
echo "packed $tgz ($(du -k "$work/$tgz" | cut -f1) KiB, $(tar tzf "$work/$tgz" | wc -l) files)"

# npm resolves a tarball's dependency ranges from registry metadata, which `npm ci` (working from the
# lockfile) never fetches: fill the cache first with an online install that runs no scripts, in a
# scratch folder. The real install below is then offline, so an install step that downloads anything
# (a postinstall fetching binaries, say) fails here.
mkdir -p "$work/prime" "$work/app" || die "cannot make $work/prime and $work/app"
(cd "$work/prime" && npm init -y >/dev/null && npm install --ignore-scripts --no-audit --no-fund "$work/$tgz" >"$work/prime.log" 2>&1) \
  || { tail -20 "$work/prime.log"; die "npm could not fetch the tarball's dependencies (online, no scripts)"; }
cd "$work/app" && npm init -y >/dev/null
t0=$(date +%s)
IFA_CUDA=OFF npm install --offline --foreground-scripts --no-audit --no-fund "$work/$tgz" >"$work/install.log" 2>&1
install_rc=$?
grep '^ifa-ssl: ' "$work/install.log"
[ "$install_rc" -eq 0 ] || { tail -40 "$work/install.log"; die "npm install --offline of the tarball failed (exit $install_rc)"; }
echo "installed in $(( $(date +%s) - t0 )) s"
# The install script must say what it builds, how long it takes, and that it finished.
grep -q '^ifa-ssl: building the native addon with cmake-js: .*parallel jobs, ' "$work/install.log" || die "the install script did not say what it builds and how long it takes"
grep -q '^ifa-ssl: built build-cmake/Release/ifa_native.node in ' "$work/install.log" || die "the install script did not report the finished build"
node -e 'const d = require("./node_modules/ifa-ssl/package.json").dependencies; if ("@webgpu/types" in d) process.exit(1)' \
  || die "@webgpu/types (types only) is listed in dependencies; it belongs in devDependencies"
echo "build log: $(wc -l <node_modules/ifa-ssl/build-cmake/install.log) lines, $(grep -c 'Building CXX' node_modules/ifa-ssl/build-cmake/install.log) C++ files compiled"

unset IFA_NATIVE_PATH
npx --no-install ifa-ssl info || die "npx ifa-ssl info failed in the installed package"
npx --no-install ifa-ssl pretrain --backend cpu --synthetic-images 16 --image-size 32 --batch 4 --queue-size 16 \
  --steps 2 --checkpoint-every 2 --workers 1 --out "$work/app/run" || die "a two-step pretrain from the installed package failed"
[ -f "$work/app/run/last.safetensors" ] || die "the two-step pretrain wrote no run/last.safetensors"
echo "pack-install: the installed package ran info and a two-step pretrain"
cd "$repo" && result 1
