# Shared by build.sh and smoke.sh: tools installed when missing, and the containers.conf /
# storage.conf that podman and buildah need on this kind of machine. Source it, don't run it.
# shellcheck shell=bash

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck disable=SC2034  # used by the scripts that source this file
IMAGE=${VSL_IMAGE:-localhost/vsl-pipelines:latest}
# shellcheck disable=SC2034
BASE_IMAGE=${VSL_BASE_IMAGE:-localhost/vsl-base:bookworm}
CONF_DIR=${VSL_CONTAINERS_DIR:-$REPO_ROOT/build/containers}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# `phase NAME CMD...`: run CMD and record how long it took (printed by `print_timings`).
TIMINGS=()
phase() {
  local name=$1 start end
  shift
  log "== $name"
  start=$(date +%s.%N)
  "$@"
  end=$(date +%s.%N)
  TIMINGS+=("$(awk -v n="$name" -v a="$start" -v b="$end" 'BEGIN { printf "%-30s %7.1f s", n, b - a }')")
}
print_timings() {
  local line
  log "timings:"
  for line in "${TIMINGS[@]}"; do printf '  %s\n' "$line" >&2; done
}

# buildah, podman, debootstrap and runc from Debian's packages, installed only when missing.
ensure_tools() {
  local missing=() tool
  for tool in buildah podman debootstrap runc; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}; install them as root (apt-get install ${missing[*]})"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # containernetworking-plugins: podman's default bridge network (the smoke test uses the host's).
  apt-get install -y -qq --no-install-recommends \
    buildah podman debootstrap runc containernetworking-plugins >/dev/null
}

# containers.conf and storage.conf under $CONF_DIR, exported for every podman/buildah call:
# - runtime runc: crun refuses this host's hybrid cgroup v1/v2 layout;
# - default_ulimits no higher than what podman and buildah themselves run with: root here lacks
#   CAP_SYS_RESOURCE, so a container asking for a higher limit fails to start ("error setting
#   rlimit type 6/7: operation not permitted"). That is the host's nofile, and nproc at most
#   32768: podman 4.3 and buildah 1.28 lower their own RLIMIT_NPROC to 32768 when they start
#   (measured in /proc/PID/limits), whatever the host allows. buildah's RUN steps ask for nproc
#   4194304 unless told: build.sh passes the same limits with `--ulimit`;
# - storage driver overlay on the default graphroot (/var/lib/containers/storage): the root
#   filesystem is ext4 and the kernel has overlayfs, so native overlay works as root (vfs would
#   copy every layer in full: slower builds, several times the disk). `VSL_STORAGE_DRIVER=vfs`
#   switches when overlay is not available.
limit() { # limit VALUE [CAP]: a ulimit value for containers.conf (-1 for unlimited), capped
  local value=$1 cap=${2:-}
  [ "$value" = unlimited ] && value=-1
  if [ -n "$cap" ] && { [ "$value" = -1 ] || [ "$value" -gt "$cap" ]; }; then value=$cap; fi
  echo "$value"
}
ULIMIT_NOFILE="$(limit "$(ulimit -Sn)"):$(limit "$(ulimit -Hn)")"
ULIMIT_NPROC="$(limit "$(ulimit -Su)" 32768):$(limit "$(ulimit -Hu)" 32768)"

write_containers_conf() {
  local driver=${VSL_STORAGE_DRIVER:-overlay}
  mkdir -p "$CONF_DIR"
  cat >"$CONF_DIR/containers.conf" <<CONF
# Written by deploy/image/lib.sh; see deploy/image/README.md.
[containers]
default_ulimits = [
  "nofile=${ULIMIT_NOFILE}",
  "nproc=${ULIMIT_NPROC}",
]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  cat >"$CONF_DIR/storage.conf" <<CONF
# Written by deploy/image/lib.sh; see deploy/image/README.md.
[storage]
driver = "${driver}"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
CONF
  export CONTAINERS_CONF="$CONF_DIR/containers.conf"
  export CONTAINERS_STORAGE_CONF="$CONF_DIR/storage.conf"
}

check_podman() {
  podman info --format '{{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}} cgroup {{.Host.CgroupsVersion}}' >/dev/null ||
    die "podman info failed with $CONTAINERS_CONF"
  log "podman: $(podman info --format 'runtime {{.Host.OCIRuntime.Name}}, storage {{.Store.GraphDriverName}}, cgroups {{.Host.CgroupsVersion}}')"
}

setup_containers() {
  ensure_tools
  write_containers_conf
  check_podman
}
