#!/usr/bin/env bash
# Checks the Kubernetes manifests offline, with no cluster: each overlay of deploy/kubernetes must
# render with `kubectl kustomize`, and every object it renders (and the Secret example) must validate
# strictly (no unknown field) against the Kubernetes API schema, with kubernetes-validate. Both
# tools are wheels that requirements/dev.txt installs into .venv (`make install-dev`).
# tests/test_kubernetes.py ties the rendered manifests to the code.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/quiet-checks.sh
require_tools kubectl kubernetes-validate

rendered="$(mktemp)"
trap 'rm -f "$rendered" "$out"' EXIT

for overlay in deploy/kubernetes/overlays/*/; do
    overlay="${overlay%/}"
    if "$BIN/kubectl" kustomize "$overlay" >"$rendered" 2>"$out"; then
        echo "ok: kubectl kustomize $overlay ($(grep -c '^kind:' "$rendered") objects)"
        check "kubernetes-validate --strict ($overlay)" "$BIN/kubernetes-validate" --strict --quiet "$rendered"
    else
        echo "FAILED: kubectl kustomize $overlay" >&2
        cat "$out" >&2
        status=1
    fi
done
check "kubernetes-validate --strict (deploy/kubernetes/base/secret.example.yaml)" \
    "$BIN/kubernetes-validate" --strict --quiet deploy/kubernetes/base/secret.example.yaml

exit "$status"
