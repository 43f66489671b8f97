"""Compile requests against real Postgres: a recompile made from the studio form's defaults
keeps every output option of the script (captions above all), and changes only what is
changed."""

from __future__ import annotations

import pytest

from tests.fixtures.scripts import record_clip
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import insert_script
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.script import Output, Script
from vsl_pipelines.services.compilation import request_compile, requested_output
from vsl_pipelines.services.review import decide
from vsl_pipelines.web.studio.recompile import compile_asked, recompile_form

SCRIPT = "spring-launch"
SECTIONS = ("hook", "offer", "close")


@pytest.fixture
def captioned(db: Database, sample_script: Script) -> Script:
    """The sample script with captions and a transition of its own, every section approved."""
    script = sample_script.model_copy(
        update={"output": Output(captions=True, transition="fade:1.0", fps="25")}
    )
    with db.connect() as conn:
        insert_script(conn, script, None, default_workspace_id(conn))
        for section in SECTIONS:
            record_clip(conn, section)
            decide(conn, SCRIPT, section, "approved")
    return script


def test_a_recompile_with_the_form_s_defaults_keeps_captions(
    db: Database, captioned: Script
) -> None:
    form = recompile_form(captioned.output, last_quality="high")
    assert (form.captions, form.transition, form.quality) == (True, "fade:1.0", "high")
    asked = compile_asked(form.fields(), captioned.output)
    assert asked.overrides == {}, "nothing changed, nothing overridden"
    with db.connect() as conn:
        row = request_compile(
            conn,
            SCRIPT,
            output_format=asked.output_format,
            quality=asked.quality,
            overrides=asked.overrides,
        )
    output = requested_output(captioned.output, row)
    assert output.captions is True
    assert (output.transition, output.fps, output.format) == ("fade:1.0", "25", "mp4")
    assert row.quality == "high"


def test_a_recompile_changes_only_what_the_form_changes(db: Database, captioned: Script) -> None:
    fields = {**recompile_form(captioned.output).fields(), "format": "webm", "size": "720p"}
    del fields["captions"]  # the box unticked
    asked = compile_asked(fields, captioned.output)
    with db.connect() as conn:
        row = request_compile(
            conn,
            SCRIPT,
            output_format=asked.output_format,
            quality=asked.quality,
            overrides=asked.overrides,
        )
    assert row.options == {"size": "720p", "captions": False}
    output = requested_output(captioned.output, row)
    assert (output.format, output.size, output.captions) == ("webm", "720p", False)
    assert output.transition == "fade:1.0" and output.timing == captioned.output.timing
