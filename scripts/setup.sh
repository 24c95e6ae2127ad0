#!/usr/bin/env bash
# Idempotent setup of the project's virtual environment (.venv by default).
#   scripts/setup.sh          core: torch (CPU wheel), dnerf and its light dependencies
#   scripts/setup.sh --dev    also everything the tests need: bpy, open3d, pyvista, pytest,
#                             the system libraries they need offscreen, and the npm glTF validator
# Skips every step whose result is already there, so re-running it costs seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${DNERF_VENV:-$root/.venv}
dev=0
[ "${1:-}" = "--dev" ] && dev=1

# torch is pinned in its own pip call: an unpinned torch pulls a multi-GB CUDA build here.
TORCH_PIN=${DNERF_TORCH:-torch==2.13.0}
NUMPY_PIN="numpy>=1.26,<2"  # bpy 5.0.1 needs numpy 1.x; pinned in every call so nothing flips it

log() { printf '[setup] %s\n' "$*" >&2; }

if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv"
  python3 -m venv "$venv"
fi
py="$venv/bin/python"
"$py" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { log "Python 3.11 is required"; exit 1; }

if ! "$py" -c 'import torch' 2>/dev/null; then
  log "installing $TORCH_PIN"
  "$py" -m pip install -q --disable-pip-version-check "$TORCH_PIN"
fi

if [ "$dev" = 1 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    need=()
    # libegl1 + libegl-mesa0 + libgl1-mesa-dri: offscreen EGL rendering (llvmpipe) for the viewers.
    for pkg in libusb-1.0-0 xvfb xauth libegl1 libegl-mesa0 libgl1-mesa-dri; do
      dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
    done
    if [ ${#need[@]} -gt 0 ]; then
      log "apt: ${need[*]}"
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
  fi
  if [ ! -f "$root/.tools/node_modules/gltf-validator/package.json" ]; then
    log "npm: gltf-validator"
    npm install --silent --no-audit --no-fund --prefix "$root/.tools" gltf-validator@2.0.0-dev.3.10 >/dev/null
  fi
fi

target="."
[ "$dev" = 1 ] && target=".[dev]"
stamp="$venv/.dnerf-setup-$dev-$(cat pyproject.toml setup.py dnerf_core/render/_plane_mlp_native.c | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  log "installing dnerf ($target)"
  "$py" -m pip install -q --disable-pip-version-check -e "$target" "$NUMPY_PIN"
  touch "$stamp"
fi
log "ready: $venv"
