#!/usr/bin/env bash
# Start (or reuse / repair) the local control plane; see clusterctl.py.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
if ! "$py" -c 'import kubernetes, cryptography' 2>/dev/null; then
    echo "up.sh: $py needs the 'kubernetes' and 'cryptography' packages (pip install -e '.[dev]')" >&2
    exit 1
fi
bin=$("$here/build.sh" | tail -n1)
exec "$py" "$here/clusterctl.py" up "$bin"
