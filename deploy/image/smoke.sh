#!/usr/bin/env bash
# Smoke test of the image with podman (host network), every role of it: one-off commands, the
# code server pinged from the host, and each server's HEALTHCHECK through `podman healthcheck
# run`. Needs the image (`make image`) and PostgreSQL (trust auth) for the service role.
#
#   deploy/image/smoke.sh
#
# VSL_IMAGE: the image (localhost/vsl-pipelines:latest); VSL_SMOKE_PG: the PostgreSQL server
# (postgresql://postgres@127.0.0.1:5432), where a scratch database is made and dropped;
# VSL_HOST_VSL: the host's `vsl` that pings the code server (.venv/bin/vsl; else a container).
set -euo pipefail

# shellcheck source=deploy/image/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG=${VSL_SMOKE_PG:-postgresql://postgres@127.0.0.1:5432}
HOST_VSL=${VSL_HOST_VSL:-$REPO_ROOT/.venv/bin/vsl}
RUN_ID="vsl-smoke-$$"
SCRATCH_DB="vsl_smoke_$$_$RANDOM"
WORK=$(mktemp -d /tmp/vsl-smoke.XXXXXX)
CONTAINERS=()
DB_CREATED=0
PASSED=()

# One-off containers: no health timers (podman would ask systemd, absent here, to run them).
once() { podman run --rm --network host --no-healthcheck "$@"; }

cleanup() {
  local status=$? name
  for name in "${CONTAINERS[@]}"; do
    if [ "$status" -ne 0 ]; then
      log "--- last lines of $name"
      podman logs --tail 30 "$name" 2>&1 | sed 's/^/    /' >&2 || true
    fi
    podman rm -f -t 5 "$name" >/dev/null 2>&1 || true
  done
  if [ "$DB_CREATED" = 1 ]; then
    once "$IMAGE" python -c "import psycopg, sys
with psycopg.connect(sys.argv[1] + '/postgres', autocommit=True) as c:
    c.execute('DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)' % sys.argv[2])" "$PG" "$SCRATCH_DB" ||
      log "could not drop the scratch database $SCRATCH_DB"
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT

pass() { PASSED+=("$1"); log "ok: $1"; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start NAME ROLE [podman run options...] -- COMMAND...: a detached container of that role.
start() {
  local name="$RUN_ID-$1" role=$2 options=()
  shift 2
  while [ "$1" != -- ]; do options+=("$1"); shift; done
  shift
  podman run -d --name "$name" --network host -e "VSL_ROLE=$role" "${options[@]}" "$IMAGE" "$@" \
    >/dev/null 2> >(grep -v 'systemd connection' >&2)
  CONTAINERS+=("$name")
}

# healthy NAME: `podman healthcheck run` until it passes (the image's HEALTHCHECK, in there).
healthy() {
  local name="$RUN_ID-$1" deadline=$((SECONDS + 120)) state
  until podman healthcheck run "$name" >/dev/null 2>&1; do
    state=$(podman inspect --format '{{.State.Status}}' "$name" 2>/dev/null || echo gone)
    [ "$state" = running ] || die "$name is $state"
    [ $SECONDS -lt $deadline ] || die "$name: its healthcheck never passed: $(podman exec "$name" vsl health 2>&1 | tail -1)"
    sleep 2
  done
}

setup_containers
podman image exists "$IMAGE" || die "no image $IMAGE: run \`make image\` first"
log "image $IMAGE: $(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }')"

# --- one-off commands
[ "$(podman image inspect --format '{{.Config.User}}' "$IMAGE")" = vsl ] || die "image user is not vsl"
[ "$(once "$IMAGE" id -u)" = 10001 ] || die "container user is not uid 10001"
pass "runs as vsl (uid 10001), not root"

# shellcheck disable=SC2016  # expanded in the container
once "$IMAGE" sh -c 'for t in gcc cc make; do if command -v $t; then exit 1; fi; done' >/dev/null ||
  die "a build tool is in the image"
pass "no compiler or make in the image"

once "$IMAGE" vsl models list | grep -q '^flux-schnell ' || die "vsl models list"
pass "vsl models list (config/models.json found by MODELS_FILE)"

once "$IMAGE" python -c "import vsl_pipelines.definitions" || die "import vsl_pipelines.definitions"
pass "import vsl_pipelines.definitions"

# shellcheck disable=SC2016
once "$IMAGE" sh -c 'ffmpeg=$(python -c "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())") &&
  "$ffmpeg" -hide_banner -loglevel error -f lavfi -i testsrc=duration=1:size=320x240:rate=25 \
    -c:v libx264 -pix_fmt yuv420p /tmp/probe.mp4 && test -s /tmp/probe.mp4' ||
  die "imageio-ffmpeg's FFmpeg"
pass "imageio-ffmpeg's FFmpeg encodes a clip"

[ "$(once "$IMAGE" vsl health)" = "no role: nothing to check" ] || die "vsl health with no role"
pass "HEALTHCHECK with no role (a run container) passes"

# --- the code server, pinged from the host
GRPC_PORT=$(free_port)
start code code-server -e "DAGSTER_GRPC_PORT=$GRPC_PORT" -- \
  dagster api grpc -m vsl_pipelines.definitions -h 127.0.0.1 -p "$GRPC_PORT"
healthy code
pass "code server: podman healthcheck run"
if [ -x "$HOST_VSL" ]; then
  VSL_ROLE=code-server DAGSTER_GRPC_PORT=$GRPC_PORT "$HOST_VSL" health >/dev/null
  pass "code server answers a gRPC ping from the host ($HOST_VSL health)"
else
  once "$IMAGE" vsl health --grpc "127.0.0.1:$GRPC_PORT" >/dev/null
  pass "code server answers a gRPC ping from another container (no $HOST_VSL)"
fi

# --- webserver and daemon, loading the code server's location over gRPC
cat >"$WORK/workspace.yaml" <<EOF
load_from:
  - grpc_server:
      host: 127.0.0.1
      port: $GRPC_PORT
      location_name: vsl_pipelines
EOF
chmod 644 "$WORK/workspace.yaml"
chmod 755 "$WORK"
WEB_PORT=$(free_port)
start web webserver -e "DAGSTER_WEBSERVER_PORT=$WEB_PORT" -v "$WORK/workspace.yaml:/tmp/workspace.yaml:ro" -- \
  dagster-webserver -h 127.0.0.1 -w /tmp/workspace.yaml
healthy web
pass "webserver: podman healthcheck run (GET /server_info)"

start daemon daemon -v "$WORK/workspace.yaml:/tmp/workspace.yaml:ro" -- \
  dagster-daemon run -w /tmp/workspace.yaml
healthy daemon
pass "daemon: podman healthcheck run (dagster-daemon liveness-check)"

# --- the service, on a scratch database migrated by `vsl migrate` from a container
once "$IMAGE" python -c "import psycopg, sys
with psycopg.connect(sys.argv[1] + '/postgres', autocommit=True) as c:
    c.execute('CREATE DATABASE \"%s\"' % sys.argv[2])" "$PG" "$SCRATCH_DB"
DB_CREATED=1
DATABASE_URL="$PG/$SCRATCH_DB"
once -e "DATABASE_URL=$DATABASE_URL" "$IMAGE" vsl migrate >"$WORK/migrate.log" 2>&1 ||
  { cat "$WORK/migrate.log" >&2; die "vsl migrate"; }
TABLES=$(once "$IMAGE" python -c "import psycopg, sys
with psycopg.connect(sys.argv[1]) as c:
    print(c.execute('SELECT count(*) FROM schema_migrations').fetchone()[0])" "$DATABASE_URL")
[ "$TABLES" -ge 1 ] || die "vsl migrate applied nothing"
pass "vsl migrate applied $TABLES migrations (database/ found by VSL_PROJECT_ROOT)"

SERVICE_PORT=$(free_port)
SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
start service service -e "DATABASE_URL=$DATABASE_URL" -e "VSL_SERVICE_PORT=$SERVICE_PORT" \
  -e "REPLICATE_WEBHOOK_SECRET=$SECRET" -- vsl serve --host 127.0.0.1
healthy service
pass "service: podman healthcheck run (GET /healthz)"
python3 -c "import sys, urllib.request; sys.exit(urllib.request.urlopen(sys.argv[1], timeout=5).status != 200)" \
  "http://127.0.0.1:$SERVICE_PORT/healthz"
pass "service answers the host on /healthz"

log "smoke test passed: ${#PASSED[@]} checks"
