"""What is happening to scripts now, read in one statement for the studio's list and a
script's page (and the notifications): predictions running by stage, decisions waiting for a
person, retakes on their way, the latest compilation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from vsl_pipelines.db.connection import Conn, JsonObject, fetch_all


@dataclass(frozen=True)
class ScriptActivity:
    """A script's state and activity. `running`: stage -> predictions in flight (creating,
    starting, processing); `pending_decisions`: current clip takes and, for voiced sections,
    current narration takes stored with no decision; `retakes`: sections whose clip or
    narration retake is on its way (the current take rejected, or a later take not stored
    yet); `approved`: sections whose current takes are all approved."""

    id: str
    title: str
    workspace_id: int
    status: str
    error: str | None
    created_at: datetime
    updated_at: datetime
    sections: int
    approved: int
    pending_decisions: int
    running: JsonObject
    retakes: list[str] = field(default_factory=list)
    compilation_id: int | None = None
    compilation_status: str | None = None
    compilation_since: datetime | None = None
    compilation_error: str | None = None
    compilation_format: str | None = None

    @property
    def running_total(self) -> int:
        return sum(int(n) for n in self.running.values())


_ACTIVITY = """
WITH listed AS (
    SELECT id, title, workspace_id, status, error, created_at, updated_at, document
    FROM scripts
    WHERE (%(workspace)s::bigint IS NULL OR workspace_id = %(workspace)s)
      AND (%(script)s::text IS NULL OR id = %(script)s)
), current AS (
    SELECT s.script_id, s.id, s.position, s.current_take, s.narration_take,
           COALESCE(jsonb_typeof(s.spec->'voice') = 'object'
                    OR jsonb_typeof(l.document->'voice') = 'object', false) AS voiced,
           clip.id IS NOT NULL AS clip_stored, cd.decision AS clip_decision,
           voice.id IS NOT NULL AS voice_stored, vd.decision AS voice_decision
    FROM sections s JOIN listed l ON l.id = s.script_id
    LEFT JOIN takes clip ON clip.script_id = s.script_id AND clip.section_id = s.id
        AND clip.stage = 'clip' AND clip.take = s.current_take
    LEFT JOIN approvals cd ON cd.script_id = s.script_id AND cd.section_id = s.id
        AND cd.subject = 'clip' AND cd.take = s.current_take AND NOT cd.void
    LEFT JOIN takes voice ON voice.script_id = s.script_id AND voice.section_id = s.id
        AND voice.stage = 'narration' AND voice.take = s.narration_take
    LEFT JOIN approvals vd ON vd.script_id = s.script_id AND vd.section_id = s.id
        AND vd.subject = 'narration' AND vd.take = s.narration_take AND NOT vd.void
), sections AS (
    SELECT script_id, count(*) AS sections,
           count(*) FILTER (WHERE clip_decision = 'approved'
                            AND (NOT voiced OR voice_decision = 'approved')) AS approved,
           count(*) FILTER (WHERE clip_stored AND clip_decision IS NULL)
             + count(*) FILTER (WHERE voiced AND voice_stored AND voice_decision IS NULL)
             AS pending_decisions,
           COALESCE(array_agg(id ORDER BY position) FILTER (
               WHERE clip_decision = 'rejected' OR (current_take > 1 AND NOT clip_stored)
                  OR (voiced AND (voice_decision = 'rejected'
                                  OR (narration_take > 1 AND NOT voice_stored)))
           ), '{}') AS retakes
    FROM current GROUP BY script_id
), running AS (
    SELECT script_id, jsonb_object_agg(stage, n) AS running FROM (
        SELECT j.script_id, j.stage, count(*) AS n FROM jobs j JOIN listed l ON l.id = j.script_id
        WHERE j.status IN ('creating', 'starting', 'processing') GROUP BY 1, 2
    ) per_stage GROUP BY script_id
), latest AS (
    SELECT DISTINCT ON (c.script_id) c.script_id, c.id, c.status,
           COALESCE(c.completed_at, c.started_at, c.created_at) AS since, c.error, c.output_format
    FROM compilations c JOIN listed l ON l.id = c.script_id
    ORDER BY c.script_id, c.id DESC
)
SELECT l.id, l.title, l.workspace_id, l.status, l.error, l.created_at, l.updated_at,
       COALESCE(s.sections, 0) AS sections, COALESCE(s.approved, 0) AS approved,
       COALESCE(s.pending_decisions, 0) AS pending_decisions,
       COALESCE(r.running, '{}'::jsonb) AS running, COALESCE(s.retakes, '{}') AS retakes,
       c.id AS compilation_id, c.status AS compilation_status, c.since AS compilation_since,
       c.error AS compilation_error, c.output_format AS compilation_format
FROM listed l
LEFT JOIN sections s ON s.script_id = l.id
LEFT JOIN running r ON r.script_id = l.id
LEFT JOIN latest c ON c.script_id = l.id
ORDER BY l.created_at DESC, l.id
"""


def scripts_activity(conn: Conn, workspace_id: int | None = None) -> list[ScriptActivity]:
    """Every script's activity (or a workspace's), newest first."""
    return fetch_all(conn, ScriptActivity, _ACTIVITY, {"workspace": workspace_id, "script": None})


def script_activity(conn: Conn, script_id: str) -> ScriptActivity | None:
    """One script's activity; None for an unknown id."""
    rows = fetch_all(conn, ScriptActivity, _ACTIVITY, {"workspace": None, "script": script_id})
    return rows[0] if rows else None
