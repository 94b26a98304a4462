#!/usr/bin/env bash
# Installs what tapedeck needs on Debian 12 when it is missing: system packages (ffmpeg, chromium,
# GStreamer for the live compositor, and for the tests postgresql) and the npm dependencies from the lockfile.
#   scripts/ensure-deps.sh serve   ffmpeg, chromium, GStreamer, fonts + npm packages
#   scripts/ensure-deps.sh test    the same + postgresql (the test suite runs a real PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-serve}"

say() { printf 'tapedeck setup: %s\n' "$*" >&2; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none)). Install Node 20 and run again."
  exit 1
fi

missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || { [[ " ${missing[*]} " == *" ffmpeg "* ]] || missing+=(ffmpeg); }
{ [ -x /usr/bin/chromium ] || [ -n "${CHROMIUM_PATH:-}" ]; } || missing+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
# The live compositor (src/recorders/compositor/gst-compositor.py): Debian's Python, GStreamer's bindings and
# elements; its own --check names what is missing.
if ! /usr/bin/python3 src/recorders/compositor/gst-compositor.py --check >/dev/null 2>&1; then
  missing+=(python3-gst-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-libav)
fi
if [ "$purpose" = "test" ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing system packages: ${missing[*]}"
    say "install them as root:  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    say "missing system packages: ${missing[*]}; this is not a Debian/Ubuntu system, install them with your package manager"
    exit 1
  fi
  say "installing system packages: ${missing[*]} (a few minutes the first time)"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    say "apt-get could not install ${missing[*]}; check network access to the Debian mirrors and run: apt-get install -y ${missing[*]}"
    exit 1
  fi
fi

# npm packages, from the lockfile, when node_modules is missing or older than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
