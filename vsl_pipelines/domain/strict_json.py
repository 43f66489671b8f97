"""JSON as the database and the sensors can hold it: finite numbers only (no `NaN`,
`Infinity` or a float that overflows), and nesting within what the decoder can follow.

One parser for webhook bodies and API bodies; each caller turns `StrictJsonError` into its own
refusal (a 400 for Replicate, a 422 naming the body for integrators).
"""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn


class StrictJsonError(ValueError):
    """The text is not strict JSON; the message says why (safe to return)."""


class NestedTooDeeply(StrictJsonError):
    """Deeper than the decoder's recursion can follow (each caller states its own limit)."""


def _refuse_constant(name: str) -> NoReturn:
    raise StrictJsonError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise StrictJsonError(f"{text[:40]} is out of range (too large a number)")
    return value


def loads_strict(text: str | bytes) -> Any:
    """The parsed document, or StrictJsonError (invalid JSON, a non-finite number, or nesting
    too deep for the decoder's recursion)."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise NestedTooDeeply("nested too deeply") from None
    except StrictJsonError:
        raise
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an over-long integer
        raise StrictJsonError(str(exc)) from None
