#!/usr/bin/env bash
# The whole test suite: set-up, static checks, then unit, integration (real kube-apiserver)
# and e2e (lab datapath in network namespaces) in one `node --test` run, whose summary line
# is the verdict. Idempotent and self-sufficient on a fresh Debian machine (as root).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"

bash scripts/setup.sh

log "typecheck (tsc --noEmit)"
NODE24 node_modules/typescript/bin/tsc -p tsconfig.json --noEmit
log "lint and format check (biome ci)"
NODE24 node_modules/@biomejs/biome/bin/biome ci --reporter=summary .

# A tier without tests, or one that cannot run here, fails the run instead of vanishing.
tiers=(unit integration e2e)
for t in "${tiers[@]}"; do
  [ -n "$(find "test/$t" -name '*.test.ts' -print -quit 2>/dev/null)" ] || die "test tier '$t' has no tests (test/$t/**/*.test.ts)"
done
[ "$(id -u)" -eq 0 ] || die "the e2e tier needs root (network namespaces); run as root"
ip netns list >/dev/null || die "the e2e tier needs 'ip netns' (iproute2) to work"

cluster_dir=$(mktemp -d /tmp/egw-test-cp.XXXXXX)
cleanup() { NODE24 scripts/test-cluster.ts down "$cluster_dir" || true; }
trap cleanup EXIT
EGW_TEST_KUBECONFIG=$(NODE24 scripts/test-cluster.ts up "$cluster_dir")
export EGW_TEST_KUBECONFIG

log "running tests: ${tiers[*]}"
# Globs are expanded by node, not bash. Arguments, if any, replace them (e.g. one file).
patterns=("$@")
[ ${#patterns[@]} -gt 0 ] || patterns=('test/unit/**/*.test.ts' 'test/integration/**/*.test.ts' 'test/e2e/**/*.test.ts')
# One process per file, two at a time; e2e files that share the lab's fixed names serialise
# through test/support/lock.ts.
NODE24 --test --test-reporter=spec --test-concurrency="${EGW_TEST_CONCURRENCY:-2}" "${patterns[@]}"
