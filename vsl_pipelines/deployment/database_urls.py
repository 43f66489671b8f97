"""Connection URLs built when a container starts, from credentials given as separate fields.

On AWS each database user's name and password come as two ECS secret fields of the user's
rotating secret (the alternating-users rotation changes both), and Redis's AUTH token as one: a
URL frozen at deploy would go stale at the first rotation. ECS runs this module as every
container's entry point (`python -m vsl_pipelines.deployment.database_urls CMD...`): it sets
`DATABASE_URL`, `DAGSTER_PG_URL` and `REDIS_URL` from the fields, then becomes CMD, so the code
and Dagster read their usual variables. A variable already set is kept as it is, so every
single-host setup (a whole URL in the environment) works unchanged. With `VSL_SSM_PREFIX` set, the
SSM parameters under it fill `DATABASE_URL`, `REDIS_URL` and `REPLICATE_API_TOKEN` where neither
the environment nor the fields gave them (`ssm_parameters.py`); a failure to read them stops the
container with one line naming the prefix and the AWS error code.

For a database `PREFIX` (`DATABASE` for the app, `DAGSTER_PG` for Dagster's storage):

| variable | meaning |
|---|---|
| `PREFIX_HOST`, `PREFIX_PORT` (5432), `PREFIX_NAME` | where |
| `PREFIX_USER`, `PREFIX_PASSWORD` | who (secret fields) |
| `PREFIX_SSLMODE`, `PREFIX_SSLROOTCERT` | TLS: `verify-full` with the RDS CA bundle on AWS |
| `PREFIX_ROLE` | the role every session acts as (`SET ROLE` at connect): what a rotated clone user creates is owned by the base role, so the next rotation's user can use it |
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from vsl_pipelines.deployment.ssm_parameters import (
    PREFIX_VARIABLE,
    SsmError,
    describe,
    fill_from_ssm,
)

DATABASES = {"DATABASE": "DATABASE_URL", "DAGSTER_PG": "DAGSTER_PG_URL"}


def postgres_url(env: Mapping[str, str], prefix: str) -> str | None:
    """`postgresql://USER:PASSWORD@HOST:PORT/NAME?sslmode=...` from `PREFIX_*`; None without a
    host, user or name."""
    host, user, name = (env.get(f"{prefix}_{k}", "").strip() for k in ("HOST", "USER", "NAME"))
    if not (host and user and name):
        return None
    password = env.get(f"{prefix}_PASSWORD", "")
    port = env.get(f"{prefix}_PORT", "").strip() or "5432"
    userinfo = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    params = {
        key: value
        for key, value in (
            ("sslmode", env.get(f"{prefix}_SSLMODE", "").strip()),
            ("sslrootcert", env.get(f"{prefix}_SSLROOTCERT", "").strip()),
        )
        if value
    }
    role = env.get(f"{prefix}_ROLE", "").strip()
    if role:
        params["options"] = f"-c role={role}"
    query = urlencode(params, quote_via=quote)
    return f"postgresql://{userinfo}@{host}:{port}/{quote(name, safe='')}" + (
        f"?{query}" if query else ""
    )


def redis_url(env: Mapping[str, str]) -> str | None:
    """`REDIS_URL` with `REDIS_PASSWORD` (the AUTH token) put in, unless it carries one."""
    url = env.get("REDIS_URL", "").strip()
    password = env.get("REDIS_PASSWORD", "")
    if not url or not password:
        return url or None
    parts = urlsplit(url)
    if parts.password:
        return url
    netloc = f":{quote(password, safe='')}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


def fill_urls(env: MutableMapping[str, str]) -> list[str]:
    """Set each URL that is unset but whose fields are there; the names of those set."""
    built = {name: postgres_url(env, prefix) for prefix, name in DATABASES.items()}
    if env.get("REDIS_PASSWORD"):
        built["REDIS_URL"] = redis_url(env)
    filled = []
    for name, url in built.items():
        unset_or_redis = name == "REDIS_URL" or not env.get(name, "").strip()
        if url and unset_or_redis and env.get(name) != url:
            env[name] = url
            filled.append(name)
    return filled


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.exit("usage: python -m vsl_pipelines.deployment.database_urls COMMAND [ARG...]")
    fill_urls(os.environ)
    try:
        filled, missing = fill_from_ssm(os.environ)
    except SsmError as exc:
        sys.exit(f"database_urls: {exc}")
    if filled or missing:
        print(
            f"database_urls: {describe(os.environ[PREFIX_VARIABLE].strip(), filled, missing)}",
            file=sys.stderr,
            flush=True,
        )
    os.execvp(args[0], args)


if __name__ == "__main__":
    main()
