#!/usr/bin/env bash
# Set up edgevision on a fresh machine: system packages (GStreamer + PyGObject build deps),
# a virtual environment at .venv, torch==2.13.0 and the package in editable mode with extras.
# Idempotent: a second run with nothing changed returns in about a second.
#
# Environment:
#   PYTHON=python3.11     interpreter for the venv (default: python3)
#   EDGEVISION_EXTRAS=... extras to install (default: train,onnx,openvino,stream,eval,dev;
#                         add gpu on an NVIDIA machine: the TensorRT Python package)
#   EDGEVISION_TORCH=...  torch requirement (default: torch==2.13.0; set to "skip" on Jetson/GPU
#                         machines where you installed your own torch into the venv)
#   EDGEVISION_NO_APT=1   never touch system packages
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PYTHON="${PYTHON:-python3}"
EXTRAS="${EDGEVISION_EXTRAS:-train,onnx,openvino,stream,eval,dev}"
TORCH_REQ="${EDGEVISION_TORCH:-torch==2.13.0}"
VENV="$root/.venv"
log() { printf '[setup] %s\n' "$*" >&2; }

# ---- 1. system packages -------------------------------------------------------------------
APT_PKGS=(
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-libav gir1.2-gstreamer-1.0
  gstreamer1.0-plugins-ugly  # x264enc: the software H.264 encoder (OpenH264 only without it)
  gir1.2-gst-plugins-base-1.0 gir1.2-gst-rtsp-server-1.0
  libgirepository1.0-dev libcairo2-dev pkg-config
  mosquitto  # MQTT broker: the --mqtt tests start their own on 127.0.0.1, a free port
)
if [ -z "${EDGEVISION_NO_APT:-}" ] && command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
      if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
    fi
    if [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; then
      log "installing system packages: ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      $SUDO apt-get update -qq
      $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      log "WARNING: missing system packages (${missing[*]}) and no root/sudo: streaming will be unavailable"
      EXTRAS="$(echo "$EXTRAS" | sed -e 's/stream,\?//; s/,$//')"
    fi
  fi
fi

# ---- 2. virtual environment ----------------------------------------------------------------
stamp="$VENV/.edgevision-setup"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1) $EXTRAS $TORCH_REQ"
if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  log "up to date ($VENV)"
  exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $($PYTHON --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip setuptools setuptools-scm wheel
if [ "$TORCH_REQ" != "skip" ]; then
  log "installing $TORCH_REQ"
  "${PIP[@]}" install "$TORCH_REQ"
fi
log "installing edgevision[$EXTRAS] (editable)"
"${PIP[@]}" install -e ".[$EXTRAS]"
echo "$want" > "$stamp"
log "done: activate with 'source .venv/bin/activate' or call .venv/bin/edgevision"
