#!/usr/bin/env bash
# The lock: uv.lock (one resolution for every Python the project supports, a hash for every
# file) and the requirements/*.txt exported from it, which `make`, .ci/run and the Dockerfile
# install with `pip --require-hashes`. See requirements/README.md.
#
#   requirements/lock.sh lock          re-resolve after a change to pyproject.toml (versions kept where allowed)
#   requirements/lock.sh upgrade       move to the newest versions pyproject.toml allows
#   requirements/lock.sh check         uv.lock agrees with pyproject.toml, the exports with uv.lock
#   requirements/lock.sh test-upgrade  `make test` on the newest allowed versions in a scratch venv
#                                      (build/upgrade/); the lock is left as it is
#
# UV: the uv to use (default: the venv's, itself locked); PYTHON: the interpreter of the scratch venv.
set -euo pipefail
cd "$(dirname "$0")/.."

UV=${UV:-.venv/bin/uv}
PYTHON=${PYTHON:-python3}
export UV_NO_PROGRESS=1

# name:arguments of `uv export` for each file; the header comment of each says how it was made.
EXPORTS=(
  "runtime:"
  "dev:--extra dev --group build"
  "build:--only-group build"
)

export_all() {  # $1: the project directory holding uv.lock, $2: where the files go
  local entry name args
  for entry in "${EXPORTS[@]}"; do
    name=${entry%%:*} args=${entry#*:}
    # shellcheck disable=SC2086
    "$UV" export --frozen --quiet --no-emit-project --no-header --format requirements-txt \
      --project "$1" $args -o "$2/$name.txt"
  done
}

case ${1:-} in
  lock)
    "$UV" lock
    export_all . requirements
    ;;
  upgrade)
    "$UV" lock --upgrade
    export_all . requirements
    git --no-pager diff --stat -- uv.lock requirements/ || true
    ;;
  check)
    "$UV" lock --check
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    export_all . "$scratch"
    for entry in "${EXPORTS[@]}"; do
      name=${entry%%:*}
      diff -u "requirements/$name.txt" "$scratch/$name.txt" >&2 || {
        echo "requirements/$name.txt is not what uv.lock exports: run requirements/lock.sh lock" >&2
        exit 1
      }
    done
    ;;
  test-upgrade)
    work=build/upgrade
    rm -rf "$work"
    mkdir -p "$work/project"
    cp pyproject.toml uv.lock "$work/project/"
    "$UV" lock --upgrade --project "$work/project" --quiet
    export_all "$work/project" "$work"
    echo "newest allowed versions, against the lock:"
    diff <(grep -E '^[a-z0-9]' requirements/dev.txt) <(grep -E '^[a-z0-9]' "$work/dev.txt") |
      sed -n 's/^> /  /p' || true
    "$PYTHON" -m venv "$work/venv"
    "$work/venv/bin/python" -m pip install --quiet --require-hashes --no-deps -r "$work/dev.txt"
    "$work/venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
    "$work/venv/bin/python" -m pip check
    touch "$work/venv/.installed"  # make's stamp: installed, from the upgraded set
    make test VENV="$work/venv"
    ;;
  *)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
