#!/usr/bin/env bash
# Headless Chromium for kflow's browser tests (the HTML Gantt screenshot, the web UI).
#
#   scripts/chromium.sh path    install Debian's `chromium` package if missing, print the browser's path
#
# As root it installs with apt-get; otherwise it asks for the package and exits 1.
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }

find_browser() {
  local name
  for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  done
  return 1
}

install_browser() {
  if find_browser >/dev/null; then return 0; fi
  if [[ "$(id -u)" != 0 ]]; then
    log "Chromium is not installed and this is not root: install the Debian package 'chromium'"
    exit 1
  fi
  log "installing Chromium (apt-get install chromium)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq chromium fonts-dejavu-core >&2
}

case "${1:-path}" in
  path) install_browser; find_browser ;;
  *) echo "usage: $0 path" >&2; exit 2 ;;
esac
