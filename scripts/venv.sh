#!/usr/bin/env bash
# The project's virtualenv, for `make setup`: Debian 12's python3 refuses `pip install` outside one
# (PEP 668, "externally-managed-environment").
#
#   scripts/venv.sh DIR    make DIR a virtualenv unless it is one already (an active $VIRTUAL_ENV is)
#
# Stock Debian 12 lacks ensurepip (package python3-venv): as root it is installed with apt-get.
set -euo pipefail
dir=${1:?usage: scripts/venv.sh DIR}
py=${BASE_PYTHON:-python3}
log() { echo "venv.sh: $*" >&2; }

if [[ -x "$dir/bin/python" ]]; then exit 0; fi
if ! "$py" -c 'import ensurepip, venv' 2>/dev/null; then
  if [[ "$(id -u)" != 0 ]]; then
    log "$py cannot make a virtualenv: install the Debian package python3-venv (sudo apt-get install python3-venv)"
    exit 1
  fi
  log "installing python3-venv (apt-get install python3-venv)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq python3-venv >&2
fi
log "creating the virtualenv $dir"
"$py" -m venv "$dir"
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
