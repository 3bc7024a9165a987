#!/usr/bin/env bash
# Stop every cluster process and remove .cluster/ (state, logs, volumes).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "${PYTHON:-python3}" "$here/clusterctl.py" down
