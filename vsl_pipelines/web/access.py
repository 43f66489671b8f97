"""Who is asking, and what they may touch: the one authorization rule of the API, the review
page and the studio.

The access rule (`deps.KeyRequired`, or the studio's session) names the request's `Actor`: a
key acts in its workspace with its role, the bootstrap key (`VSL_API_KEY`) and a loopback
client of a service without keys are admins of `default`. Then:
- an action above the actor's role is 403, naming the role it needs (`needs(Role.REVIEWER)`);
- an object of another workspace is 404 with the words of an unknown one (`OwnScript`,
  `OwnTake`, `OwnCompilation`): its existence is never revealed;
- lists are filtered to the actor's workspace by the queries themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from starlette.concurrency import run_in_threadpool

from vsl_pipelines.db import compilations as compilation_rows
from vsl_pipelines.db import scripts as script_rows
from vsl_pipelines.db import takes as take_rows
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import ScriptNotFound
from vsl_pipelines.domain.roles import Actor, Role
from vsl_pipelines.web.deps import ConfigDep, ScriptId


async def current_actor(request: Request) -> Actor:
    """The actor the access rule named for this request (it runs first, as a dependency of
    every protected router)."""
    actor: Actor | None = getattr(request.state, "actor", None)
    if actor is None:  # a route outside the access rule: a wiring mistake, never a client's
        raise RuntimeError(f"{request.url.path}: no access rule ran before the actor was read")
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]


def needs(role: Role) -> Callable[[Actor], Coroutine[Any, Any, Actor]]:
    """A dependency: the actor, when its role allows `role`'s actions; else 403."""

    async def allowed(actor: ActorDep) -> Actor:
        require_role(actor, role)
        return actor

    return allowed


def require_role(actor: Actor, role: Role) -> None:
    """403 naming the role needed, unless the actor's role allows it."""
    if not actor.may(role):
        raise HTTPException(
            403,
            f"this needs the {role.value} role; {actor.name!r} is a {actor.role.value}"
            " in its workspace",
        )


def require_script(db: Database, actor: Actor, script_id: str) -> None:
    """404 (as for an unknown script) unless the script is the actor's workspace's."""
    try:
        check_script(db, actor, script_id)
    except ScriptNotFound as exc:
        raise HTTPException(404, str(exc)) from None


Viewer = Annotated[Actor, Depends(needs(Role.VIEWER))]
Writer = Annotated[Actor, Depends(needs(Role.WRITER))]
Reviewer = Annotated[Actor, Depends(needs(Role.REVIEWER))]
Admin = Annotated[Actor, Depends(needs(Role.ADMIN))]


def check_script(db: Database, actor: Actor, script_id: str) -> None:
    """ScriptNotFound unless the script is the actor's workspace's."""
    with db.connect() as conn:
        owner = script_rows.script_workspace(conn, script_id)
    if owner != actor.workspace_id:
        raise ScriptNotFound(script_id)


async def own_script(script_id: ScriptId, actor: ActorDep, config: ConfigDep) -> str:
    """`{script_id}`, when it is the actor's workspace's; else 404 as for an unknown one."""
    try:
        await run_in_threadpool(check_script, config.db, actor, script_id)
    except ScriptNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return script_id


OwnScript = Annotated[str, Depends(own_script)]


def _take_owner(db: Database, take_id: int) -> int | None:
    with db.connect() as conn:
        take = take_rows.take_by_id(conn, take_id)
        if take is None or take.script_id is None:
            return None
        return script_rows.script_workspace(conn, take.script_id)


async def own_take(
    video_id: Annotated[
        int,
        Path(ge=1, le=2**63 - 1, description="the section video's (clip or narration take's) id"),
    ],
    actor: ActorDep,
    config: ConfigDep,
) -> int:
    """`{video_id}`, a take of a script of the actor's workspace; else 404."""
    owner = await run_in_threadpool(_take_owner, config.db, video_id)
    if owner != actor.workspace_id:
        raise HTTPException(404, f"section video {video_id} does not exist")
    return video_id


OwnTake = Annotated[int, Depends(own_take)]


def _compilation_owner(db: Database, compilation_id: int) -> int | None:
    with db.connect() as conn:
        row = compilation_rows.compilation(conn, compilation_id)
        return script_rows.script_workspace(conn, row.script_id) if row else None


async def own_compilation(
    compilation_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    actor: ActorDep,
    config: ConfigDep,
) -> int:
    """`{compilation_id}`, a compilation of the actor's workspace; else 404."""
    owner = await run_in_threadpool(_compilation_owner, config.db, compilation_id)
    if owner != actor.workspace_id:
        raise HTTPException(404, f"compilation {compilation_id} does not exist")
    return compilation_id


OwnCompilation = Annotated[int, Depends(own_compilation)]
