# syntax=docker/dockerfile:1
# One image for every role: Dagster webserver, daemon, code server, run containers, `vsl serve`.
# The container's command picks the role (deploy/image/README.md); VSL_ROLE tells the
# HEALTHCHECK what to check.
#
# Production builds it as it is (`docker build .`, `buildah build .`). Where no registry is
# reachable, deploy/image/build.sh builds it on a local Debian base with `buildah build --from`,
# which replaces this first FROM and so the base of every stage below. Every command here works
# on both bases: `python3` is /usr/local/bin/python3 in python:slim, /usr/bin/python3 in Debian.
FROM python:3.11-slim-bookworm AS base
ENV LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1

# ---- builder: the dependencies in /opt/venv (wheels only, no compiler)
# pip may be given an optional pip.conf (a private index, a proxy's CA) as build secrets, never
# stored in a layer: `--secret id=pip_conf,src=pip.conf [--secret id=pip_ca,src=ca.crt]`,
# the CA then named in that pip.conf as `cert = /etc/ssl/certs/pip-ca.crt`. Without them pip
# uses PyPI and its own CA bundle.
FROM base AS builder
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# From the lock alone (requirements/runtime.txt, no dev tools; every file checked against its
# hash): the versions the tests ran on, and a source change reuses this layer and the runtime's
# copy of the venv with it.
COPY requirements/runtime.txt requirements/build.txt /tmp/requirements/
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=secret,id=pip_conf,target=/etc/pip.conf \
    --mount=type=secret,id=pip_ca,target=/etc/ssl/certs/pip-ca.crt \
    pip install --require-hashes --no-deps -r /tmp/requirements/runtime.txt

# ---- wheel: the project itself, built as a wheel (installed non-editable in the runtime)
# (the locked setuptools in a venv of its own, so the runtime's venv stays without it)
FROM builder AS wheel
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=secret,id=pip_conf,target=/etc/pip.conf \
    --mount=type=secret,id=pip_ca,target=/etc/ssl/certs/pip-ca.crt \
    python3 -m venv /opt/build \
    && /opt/build/bin/pip install --require-hashes --no-deps -r /tmp/requirements/build.txt
COPY pyproject.toml ./
COPY vsl_pipelines ./vsl_pipelines
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation -w /wheels .

# ---- certs: the Amazon RDS CA bundle, which `sslmode=verify-full` checks the database by on AWS
# (deploy/aws). Fetched over HTTPS from AWS's trust store when the build can reach it, and checked
# to be PEM certificates; `--build-arg RDS_CA_BUNDLE_URL=` (empty) builds without it, as
# deploy/image/build.sh does where only Debian and PyPI are reachable: such an image connects to
# any PostgreSQL but RDS with verify-full (the stack's setting), which then refuses to start.
# RDS_CA_BUNDLE_SHA256 pins the file when given.
FROM base AS certs
ARG RDS_CA_BUNDLE_URL=https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
ARG RDS_CA_BUNDLE_SHA256=
RUN mkdir -p /certs && if [ -n "$RDS_CA_BUNDLE_URL" ]; then python3 -c "\
import hashlib, os, urllib.request; \
data = urllib.request.urlopen(os.environ['RDS_CA_BUNDLE_URL'], timeout=60).read(); \
assert b'-----BEGIN CERTIFICATE-----' in data, 'not a PEM certificate bundle'; \
pin = os.environ.get('RDS_CA_BUNDLE_SHA256'); \
assert not pin or hashlib.sha256(data).hexdigest() == pin, 'RDS CA bundle checksum differs'; \
open('/certs/rds-global-bundle.pem', 'wb').write(data)"; fi

# ---- runtime: the venv, config and Dagster instance files; no build tools, not root
FROM base AS runtime
ARG VSL_UID=10001
RUN groupadd --gid "$VSL_UID" vsl \
    && useradd --uid "$VSL_UID" --gid vsl --create-home --home-dir /home/vsl --shell /bin/sh vsl
COPY --from=builder /opt/venv /opt/venv
# The project into that venv: layers of a few hundred kB, all a source change rebuilds.
# (COPY, not a RUN bind mount from the stage: buildah 1.28 reuses a cached RUN whatever the
# mounted stage holds.) `pip check` fails the build on a dependency conflict.
COPY --from=wheel /wheels /tmp/wheels
RUN /opt/venv/bin/pip install --no-deps --no-index --no-cache-dir /tmp/wheels/*.whl \
    && /opt/venv/bin/pip check \
    && rm -rf /tmp/wheels
COPY config/ /opt/dagster/app/config/
COPY database/ /opt/dagster/app/database/
COPY deploy/dagster/ /opt/dagster/app/deploy/dagster/
COPY --from=certs /certs/ /opt/dagster/app/certs/
# DAGSTER_HOME for each deployment (`docker`: DockerRunLauncher, `ecs`: EcsRunLauncher,
# `ecs-small`: runs in the code server's task), its
# instance files copied from deploy/dagster/<name>/ when they exist; Dagster writes there too,
# so they belong to vsl, as does the data folder (local media, when no S3 bucket is set).
RUN set -eu; \
    for home in docker ecs ecs-small; do \
        mkdir -p "/opt/dagster/$home"; \
        if [ -d "/opt/dagster/app/deploy/dagster/$home" ]; then \
            cp -R "/opt/dagster/app/deploy/dagster/$home/." "/opt/dagster/$home/"; \
        fi; \
    done; \
    mkdir -p /opt/dagster/data; \
    chown -R vsl:vsl /opt/dagster/docker /opt/dagster/ecs /opt/dagster/ecs-small /opt/dagster/data
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/docker \
    VSL_PROJECT_ROOT=/opt/dagster/app \
    MODELS_FILE=/opt/dagster/app/config/models.json \
    VSL_DATA_DIR=/opt/dagster/data
USER vsl
WORKDIR /opt/dagster/app
EXPOSE 3000 4000 8080
# `vsl health` checks what VSL_ROLE names (webserver, code-server, service, daemon); with no
# role (a run container) it passes.
HEALTHCHECK --interval=30s --timeout=30s --start-period=60s --retries=3 CMD ["vsl", "health"]
# No ENTRYPOINT: the command is the role (`vsl role ...`, which checks the role's settings
# first; docs/DEPLOYMENT.md), or what a run launcher gives. The default is the code server.
CMD ["vsl", "role", "code-server"]
