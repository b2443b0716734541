#!/usr/bin/env bash
# System packages ifa-ssl needs to build and test: a C++ toolchain and cmake for the addon, and
# Mesa's lavapipe (Vulkan on the CPU) from bookworm-backports so the `webgpu` package finds an adapter.
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
apt-get update -qq
apt-get install -y -qq --no-install-recommends build-essential cmake python3 git ca-certificates >/dev/null
apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
