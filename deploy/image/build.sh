#!/usr/bin/env bash
# Build localhost/vsl-pipelines:latest from the repository's Dockerfile without a Docker daemon
# or a registry: buildah on a local Debian 12 base made with debootstrap (kept in
# containers-storage between runs). Root on Debian 12. See deploy/image/README.md.
#
#   deploy/image/build.sh [--rebuild-base]
#
# VSL_IMAGE / VSL_BASE_IMAGE: the tags; VSL_DEBIAN_MIRROR: the mirror for debootstrap
# (default: the one apt uses); VSL_STORAGE_DRIVER: overlay (default) or vfs.
set -euo pipefail

# shellcheck source=deploy/image/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REBUILD_BASE=0
for arg in "$@"; do
  case $arg in
    --rebuild-base) REBUILD_BASE=1 ;;
    -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $arg (see --help)" ;;
  esac
done

# The Debian mirror apt uses for bookworm (deb822 .sources, then sources.list).
debian_mirror() {
  local uri
  [ -n "${VSL_DEBIAN_MIRROR:-}" ] && { echo "$VSL_DEBIAN_MIRROR"; return; }
  uri=$(awk '
    /^[[:space:]]*$/ { if (uri != "" && bookworm && deb) { print uri; exit } uri = ""; bookworm = 0; deb = 0; next }
    tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
    tolower($1) == "uris:" { uri = $2 }
    tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == "bookworm") bookworm = 1 }
    END { if (uri != "" && bookworm && deb) print uri }
  ' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i + 1) == "bookworm") { print $i; exit } }' /etc/apt/sources.list)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

ROOTFS=""
cleanup_rootfs() {
  [ -n "$ROOTFS" ] && [ -d "$ROOTFS" ] || return 0
  # debootstrap mounts /proc and /sys inside while it works: never delete through a mount.
  local mnt
  awk -v r="$ROOTFS/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r mnt; do umount -l "$mnt" || true; done
  if awk -v r="$ROOTFS/" 'index($2, r) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    log "left $ROOTFS in place: something is still mounted under it"
    return 0
  fi
  rm -rf "${ROOTFS:?}"
}

debootstrap_rootfs() {
  local mirror
  mirror=$(debian_mirror)
  log "debootstrap bookworm from $mirror into $ROOTFS"
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$ROOTFS" "$mirror" >"$ROOTFS.log" 2>&1 || {
    tail -n 20 "$ROOTFS.log" >&2
    die "debootstrap failed (log: $ROOTFS.log)"
  }
  rm -f "$ROOTFS.log"
  # What an image does not need: package caches, apt lists, device nodes (the runtime makes /dev).
  rm -rf "${ROOTFS:?}"/var/cache/apt/archives/*.deb "${ROOTFS:?}"/var/cache/apt/*.bin \
    "${ROOTFS:?}"/var/lib/apt/lists/* "${ROOTFS:?}"/var/log/* "${ROOTFS:?}"/dev/* \
    "${ROOTFS:?}"/run/* "${ROOTFS:?}"/tmp/*
  # python:slim has `python` too; commands here should use python3, but be alike.
  ln -sf /usr/bin/python3 "$ROOTFS/usr/local/bin/python"
}

commit_base() {
  local container
  container=$(buildah from scratch)
  buildah copy --quiet "$container" "$ROOTFS/" / >/dev/null
  buildah config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 \
    --cmd python3 \
    --label org.opencontainers.image.description="Debian 12 minbase + python3 (local stand-in for python:3.11-slim-bookworm)" \
    "$container"
  buildah commit --quiet --rm --format docker "$container" "$BASE_IMAGE" >/dev/null
}

build_base() {
  ROOTFS=$(mktemp -d /var/tmp/vsl-base-rootfs.XXXXXX)
  trap cleanup_rootfs EXIT
  phase "base: debootstrap" debootstrap_rootfs
  phase "base: buildah commit" commit_base
  phase "base: remove rootfs" cleanup_rootfs
  trap - EXIT
}

# pip inside the build trusts the host's CA bundle: where a proxy re-signs TLS (as here), pip's
# own bundle fails with CERTIFICATE_VERIFY_FAILED. Passed as build secrets (see the Dockerfile),
# so nothing of it lands in a layer. VSL_PIP_CONF: a pip.conf of your own instead.
pip_secrets() {
  local ca=${PIP_CERT:-${REQUESTS_CA_BUNDLE:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}}
  if [ -n "${VSL_PIP_CONF:-}" ]; then
    PIP_SECRETS=(--secret "id=pip_conf,src=$VSL_PIP_CONF")
  elif [ -f "$ca" ]; then
    printf '[global]\ncert = /etc/ssl/certs/pip-ca.crt\n' >"$CONF_DIR/pip.conf"
    PIP_SECRETS=(--secret "id=pip_conf,src=$CONF_DIR/pip.conf" --secret "id=pip_ca,src=$ca")
  else
    PIP_SECRETS=()
  fi
}

build_image() {
  pip_secrets
  # --format docker: the OCI format has no HEALTHCHECK (buildah drops it with a warning).
  # --layers: reuse unchanged layers between builds; --force-rm: no working container left
  # behind by a failed step; --network host: RUN steps reach PyPI as the host does (no bridge
  # network needed); --ulimit: see lib.sh. RDS_CA_BUNDLE_URL empty: the RDS CA bundle's host is
  # not reachable from here (only Debian and PyPI are), so this image has none (Dockerfile).
  buildah build --format docker --layers --force-rm --network host \
    --ulimit "nofile=$ULIMIT_NOFILE" --ulimit "nproc=$ULIMIT_NPROC" "${PIP_SECRETS[@]}" \
    --build-arg "RDS_CA_BUNDLE_URL=${RDS_CA_BUNDLE_URL-}" \
    --from "$BASE_IMAGE" -t "$IMAGE" -f "$REPO_ROOT/Dockerfile" "$REPO_ROOT"
}

cd "$REPO_ROOT"
phase "tools + containers.conf" setup_containers
if [ "$REBUILD_BASE" = 1 ] || ! buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
  build_base
else
  log "base $BASE_IMAGE is in the store (--rebuild-base to make it again)"
fi
phase "image: buildah build" build_image
log "$IMAGE: $(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
print_timings
