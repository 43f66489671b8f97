"""How every `vsl` command answers: JSON on stdout, `error: ...` on stderr with exit code 2."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def as_json(value: Any) -> str:
    return json.dumps(value, default=str, indent=2)
