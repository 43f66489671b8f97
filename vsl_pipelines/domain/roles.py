"""Workspaces' roles, a ladder: each role may do what the ones below it may.

viewer (read) < writer (scripts, ad-hoc generation, retries) < reviewer (approve, reject,
compile) < admin (members, keys, budgets, audit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
DEFAULT_WORKSPACE = "default"
OPERATOR = "vsl"  # the actor of the operator's own commands (`vsl ...`, the launcher)


class Role(StrEnum):
    VIEWER = "viewer"
    WRITER = "writer"
    REVIEWER = "reviewer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _LADDER.index(self)

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what `needed` may."""
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role named `text` (any case), else ValueError naming the roles."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            names = ", ".join(r.value for r in _LADDER)
            raise ValueError(f"role {text!r}: one of {names}") from None


_LADDER = (Role.VIEWER, Role.WRITER, Role.REVIEWER, Role.ADMIN)


def slug_problem(slug: str) -> str | None:
    """Why `slug` cannot name a workspace, or None."""
    if SLUG.fullmatch(slug) is None:
        return "1-63 lower-case letters, digits or '-', starting with a letter or digit"
    return None


@dataclass(frozen=True)
class Actor:
    """Who acts, where, as what: a key (`name` is the key's name), a signed-in person (their
    email) or the operator's `vsl` command. Every write records `name` in the audit log."""

    workspace_id: int
    name: str
    role: Role
    user_id: str | None = None  # the user an API key acts for (the original API's `userId`)
    operator: bool = False  # the deployment's operator: the bootstrap key, loopback, `vsl`

    def may(self, needed: Role) -> bool:
        return self.role.allows(needed)
