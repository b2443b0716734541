#!/usr/bin/env bash
# System packages ifa-ssl needs to build and test: a C++ toolchain and cmake for the addon,
# Mesa's lavapipe (Vulkan on the CPU) from bookworm-backports so the `webgpu` package finds an adapter,
# and Debian's CUDA 11.8 toolkit (non-free, with g++-11 as its host compiler) for the second CUDA build
# that carries sm_70 (V100) code, which CUDA 13 can no longer generate. It installs NVIDIA's user-space
# driver library too; without a GPU the addon then reports cuda unavailable by cudaGetDeviceCount's
# error instead of the missing libcuda.so.1.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if [ ! -f /etc/apt/sources.list.d/bookworm-backports.sources ]; then
  cat > /etc/apt/sources.list.d/bookworm-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
if [ ! -f /etc/apt/sources.list.d/bookworm-nonfree.sources ]; then
  cat > /etc/apt/sources.list.d/bookworm-nonfree.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends build-essential cmake python3 git ca-certificates >/dev/null
apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit g++-11 >/dev/null
