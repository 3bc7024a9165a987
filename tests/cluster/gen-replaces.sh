#!/usr/bin/env bash
# Generate the staging-module replace block for a wrapper module that requires
# k8s.io/kubernetes. k8s.io/kubernetes requires every staging module at v0.0.0
# and replaces it with ./staging/src/...; replaces of a dependency are ignored,
# so the consumer must map each one to the published v0.<minor>.<patch> tag.
# The list is read from the module's own go.mod (never typed by hand), because
# it changes between minor releases.
#
# usage: gen-replaces.sh v1.35.4 [wrapper-module-dir]
#   prints the replace lines; with a dir, also applies them via `go mod edit`.
set -euo pipefail
version=${1:?kubernetes version, e.g. v1.35.4}
dir=${2:-}
gomod=$(go mod download -json "k8s.io/kubernetes@${version}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
staging_version="v0.${version#v1.}"
mapfile -t mods < <(sed -nE 's#^[[:space:]]*(replace[[:space:]]+)?(k8s\.io/[^[:space:]]+)[[:space:]]+=>[[:space:]]+\./staging/src/.*#\2#p' "$gomod" | sort -u)
if [ "${#mods[@]}" -eq 0 ]; then
    echo "gen-replaces: no staging replaces found in $gomod" >&2
    exit 1
fi
args=()
for m in "${mods[@]}"; do
    echo "replace $m => $m $staging_version"
    args+=("-replace=$m=$m@$staging_version")
done
if [ -n "$dir" ]; then
    (cd "$dir" && go mod edit "${args[@]}")
fi
