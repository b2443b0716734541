# Sourced from the project root by the bench/gpu scripts, with the script's path and arguments:
#   source bench/gpu/with-node.sh bench/gpu/check.sh "$@"
# On a GPU host without Node.js it re-runs that script through .device/remote.sh, which unpacks the
# runtime bundled by ../shared/device/pack.sh; IFA_VIA_REMOTE stops a second re-run.
if ! command -v node >/dev/null 2>&1; then
  if [ -f .device/remote.sh ] && [ -z "${IFA_VIA_REMOTE:-}" ]; then
    export IFA_VIA_REMOTE=1
    exec bash .device/remote.sh bash "$@"
  fi
  echo "$(basename "$1"): node is not on PATH and there is no .device/remote.sh (run ../shared/device/pack.sh and carry .device)" >&2
  exit 3
fi
# The CUDA addons, compressed (xz shrinks their cubins about 4×, which keeps the sm_90, planted and
# compute_70 builds together under a device call's 64 MiB): bench/gpu/pack-addons.sh writes
# .device/addons.tar.xz here; it unpacks over the working tree once on the device.
if [ -f .device/addons.tar.xz ] && [ ! -f .device/addons.unpacked ]; then
  tar -xJf .device/addons.tar.xz && touch .device/addons.unpacked
fi
