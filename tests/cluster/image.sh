#!/usr/bin/env bash
# `make image`: build kflow:dev (and the test images) with BuildKit when their inputs changed and
# load them into the running node; starts the cluster first when it is not up.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
if ! "$py" "$here/clusterctl.py" status >/dev/null 2>&1; then
    exec "$here/up.sh"   # cluster-up builds and loads every stale image
fi
exec "$py" "$here/clusterctl.py" images "$@"
