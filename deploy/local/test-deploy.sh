#!/usr/bin/env bash
# `make test-deploy`: the production topology (deploy/local/topology.py) with podman set up as
# `make image` sets it up (tools, containers.conf, storage.conf: deploy/image/lib.sh).
#
#   deploy/local/test-deploy.sh PYTHON [topology.py options]
set -euo pipefail

# shellcheck source=deploy/image/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../image/lib.sh"

PYTHON=${1:?usage: test-deploy.sh PYTHON [options]}
shift
setup_containers
exec "$PYTHON" "$REPO_ROOT/deploy/local/topology.py" "$@"
