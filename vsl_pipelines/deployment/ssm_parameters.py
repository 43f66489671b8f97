"""The original system's SSM parameters, read at a container's start when `VSL_SSM_PREFIX` is set.

The original system keeps its secrets in SSM Parameter Store as SecureString parameters
`/vsl/database-url`, `/vsl/redis-url` and `/vsl/replicate-token`. With `VSL_SSM_PREFIX=/vsl/` the
entry point (`database_urls.py`) reads `<prefix>database-url`, `<prefix>redis-url` and
`<prefix>replicate-token` in one `GetParameters` call (decrypted) and sets `DATABASE_URL`,
`REDIS_URL` and `REPLICATE_API_TOKEN` from them, each only where the environment does not already
set it: a variable given to the container, or a URL the entry point built from secret fields
(Secrets Manager, the default), comes first. A parameter that does not exist is skipped. Only the
names of what was set or not found are printed, never a value.

The prefix is put before each name as it is (`/vsl/` gives `/vsl/database-url`). The region is
`AWS_REGION` (as the rest of the code reads it; else boto3's default); credentials and endpoint
come from boto3's usual chain (the task role, `AWS_ENDPOINT_URL`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

PREFIX_VARIABLE = "VSL_SSM_PREFIX"
# Parameter name (after the prefix) -> the variable it sets.
PARAMETERS = {
    "database-url": "DATABASE_URL",
    "redis-url": "REDIS_URL",
    "replicate-token": "REPLICATE_API_TOKEN",
}


class SsmError(RuntimeError):
    """SSM could not be read; the message names the prefix and the AWS error code, in one line."""


def ssm_client(region: str | None = None) -> Any:
    """A boto3 SSM client in `region` (else boto3's default), credentials and endpoint from the
    usual chain, with short timeouts and few retries: a container that cannot read its
    parameters should say so within seconds."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "ssm",
        region_name=region or None,
        config=Config(
            connect_timeout=5,
            read_timeout=10,
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )


def read_parameters(
    prefix: str, names: list[str], client: Any | None = None, region: str | None = None
) -> tuple[dict[str, str], list[str]]:
    """The values of `<prefix><name>` for each name (by name, without the prefix) that exists,
    and the full names of those that do not; one GetParameters call, decrypted (with `client`,
    else a client of `region`)."""
    from botocore.exceptions import BotoCoreError, ClientError

    full = {f"{prefix}{name}": name for name in names}
    try:
        client = client or ssm_client(region)
        answer = client.get_parameters(Names=list(full), WithDecryption=True)
    except ClientError as exc:
        code, message = _error_code(exc.response.get("Error", {}))
        raise SsmError(
            _one_line(
                f"{PREFIX_VARIABLE}={prefix}: cannot read its SSM parameters: {code} ({message})"
            )
        ) from None
    except BotoCoreError as exc:
        raise SsmError(
            _one_line(
                f"{PREFIX_VARIABLE}={prefix}: cannot read its SSM parameters: "
                f"{type(exc).__name__} ({exc})"
            )
        ) from None
    values = {
        full[parameter["Name"]]: parameter["Value"]
        for parameter in answer.get("Parameters", [])
        if parameter.get("Name") in full
    }
    missing = [name for name in full if full[name] not in values]
    return values, missing


def fill_from_ssm(
    env: MutableMapping[str, str], client: Any | None = None
) -> tuple[list[str], list[str]]:
    """Set the variables the parameters under `VSL_SSM_PREFIX` give, where `env` has none
    (unset or blank): (the variables set, the parameter names not found). Without the prefix,
    or with every variable already set, SSM is not called."""
    prefix = env.get(PREFIX_VARIABLE, "").strip()
    if not prefix:
        return [], []
    wanted = [name for name, variable in PARAMETERS.items() if not _is_set(env, variable)]
    if not wanted:
        return [], []
    values, missing = read_parameters(prefix, wanted, client, env.get("AWS_REGION", "").strip())
    filled = []
    for name in wanted:
        if name in values:
            env[PARAMETERS[name]] = values[name]
            filled.append(PARAMETERS[name])
    return filled, missing


def describe(prefix: str, filled: list[str], missing: list[str]) -> str:
    """The one line the entry point prints: names only."""
    line = f"{PREFIX_VARIABLE}={prefix}: set {', '.join(filled) or 'nothing'} from SSM"
    return line + (f"; not found: {', '.join(missing)}" if missing else "")


def _is_set(env: Mapping[str, str], variable: str) -> bool:
    return bool(env.get(variable, "").strip())


def _error_code(error: Mapping[str, Any]) -> tuple[str, str]:
    """The AWS error code and message. Where botocore could not read the body (an XML error
    where SSM answers JSON, as from a proxy or an emulator) it gives the HTTP status as the code
    and the body as the message: the code and message are then taken from the XML, if any."""
    code, message = str(error.get("Code") or "ClientError"), str(error.get("Message") or "")
    if code.isdigit():
        found = re.search(r"<Code>([^<]+)</Code>", message)
        text = re.search(r"<Message>([^<]*)</Message>", message)
        if found:
            return found[1], text[1] if text else ""
        return f"HTTP {code}", message[:200]
    return code, message


def _one_line(text: str) -> str:
    return " ".join(text.split())
