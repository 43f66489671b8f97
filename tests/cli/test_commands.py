"""The `vsl` command on a real database: models, scripts and review, with their refusals."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from tests.fixtures.scripts import record_job
from vsl_pipelines.cli import main
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.scripts import fail_script, set_status
from vsl_pipelines.settings import PROJECT_ROOT, get_settings

SAMPLE = PROJECT_ROOT / "config" / "scripts" / "spring-launch.yaml"


@pytest.fixture(autouse=True)
def environment(
    db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Database]:
    """DATABASE_URL set, no Dagster home, fresh settings; the root logger restored afterwards."""
    monkeypatch.setenv("DATABASE_URL", db.url)
    monkeypatch.setenv("VSL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("MODELS_CONFIG", raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    get_settings.cache_clear()
    yield db
    get_settings.cache_clear()
    root.handlers[:] = handlers
    root.setLevel(level)


def vsl(*args: str) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def script_file(tmp_path: Path, name: str = "variant.yaml", **changes: Any) -> Path:
    document = yaml.safe_load(SAMPLE.read_text())
    document.update(changes)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document))
    return path


def counts(db: Database) -> dict[str, int]:
    with db.connect() as conn:
        return {
            table: int(conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"])
            for table in ("scripts", "sections", "approvals")
        }


def test_models_list_prints_every_model_with_price_and_time() -> None:
    result = vsl("models", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["MODEL", "KIND", "TASK", "PRICE", "EST.", "TIME", "EST.", "COST"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows == {
        "flux-schnell": ["image", "text-to-image", "$0.003", "per", "output", "2", "s", "0.003000"],
        "sdxl": ["image", "text-to-image", "$0.000975/s", "on", "gpu-l40s", "5", "s", "0.004875"],
        "stability-video": [
            *["video", "image-to-video", "$0.001400/s", "on", "gpu-a100-large", "75", "s"],
            "0.105000",
        ],
        "musicgen": [
            *["audio", "text-to-audio", "$0.001400/s", "on", "gpu-a100-large", "30", "s"],
            "0.042000",
        ],
        "kokoro-82m": [
            "audio",
            "text-to-speech",
            "$0.000225/s",
            "on",
            "gpu-t4",
            "10",
            "s",
            "0.002250",
        ],
    }


def test_models_config_adds_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {
        "video": {
            "my-text-to-video": {
                "version": "acme/text-to-video",
                "task": "text-to-video",
                "pricing": {"usd": 0.25, "per": "run"},
                "estimatedTime": 40,
                "supportedParams": ["prompt", "seed"],
            }
        }
    }
    monkeypatch.setenv("MODELS_CONFIG", json.dumps(extra))
    get_settings.cache_clear()
    result = vsl("models", "list", "--json")
    assert result.exit_code == 0, result.output
    models = {m["id"]: m for m in json.loads(result.stdout)}
    assert len(models) == 6
    assert models["my-text-to-video"]["usd"] == 0.25
    assert models["my-text-to-video"]["basis"] == "run"  # the original format's `per`
    assert models["my-text-to-video"]["estimated_s"] == 40
    assert models["my-text-to-video"]["task"] == "text-to-video"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("{not json", "MODELS_CONFIG: invalid JSON"),
        ('{"image": {"sdxl": {"pricing": {"usd": -1}}}}', "model image.sdxl: pricing.usd"),
        ('{"pictures": {}}', "unknown kind 'pictures'"),
    ],
)
def test_a_bad_models_config_exits_2(
    monkeypatch: pytest.MonkeyPatch, config: str, message: str
) -> None:
    monkeypatch.setenv("MODELS_CONFIG", config)
    get_settings.cache_clear()
    result = vsl("models", "list")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert result.stdout == ""


def test_scripts_add_stores_the_script_once(environment: Database) -> None:
    result = vsl("scripts", "add", SAMPLE)
    assert result.exit_code == 0, result.output
    added = json.loads(result.stdout)
    assert added["script_id"] == "spring-launch" and added["sections"] == 3
    assert added["partition_registered"] is False
    assert 0 < added["estimated_cost_usd"] <= 1.5
    with environment.connect() as conn:
        script = conn.execute("SELECT * FROM scripts").fetchone()
        sections = conn.execute(
            "SELECT id, current_take FROM sections ORDER BY position"
        ).fetchall()
    assert (script["id"], script["status"], float(script["budget_usd"])) == (
        "spring-launch",
        "queued",
        1.5,
    )
    assert script["source_path"] == str(SAMPLE)
    assert [(s["id"], s["current_take"]) for s in sections] == [
        ("hook", 1),
        ("offer", 1),
        ("close", 1),
    ]
    before = counts(environment)

    again = vsl("scripts", "add", SAMPLE)
    assert again.exit_code == 2
    assert "already stored" in again.stderr
    assert counts(environment) == before


def _unknown_model(document: dict[str, Any]) -> None:
    document["sections"][0]["keyframe"]["model"] = "dall-e"


def _bad_field(document: dict[str, Any]) -> None:
    document["sections"][1]["colour"] = "blue"


def _out_of_range(document: dict[str, Any]) -> None:
    document["sections"][2]["keyframe"]["params"]["aspect_ratio"] = "7:3"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_unknown_model, ["sections[0] (hook).keyframe", "unknown model 'dall-e'"]),
        (_bad_field, ["sections.1.colour", "Extra inputs are not permitted"]),
        (_out_of_range, ["sections[2] (close).keyframe", "aspect_ratio"]),
    ],
)
def test_an_invalid_script_file_is_refused(
    environment: Database, tmp_path: Path, edit: Any, expected: list[str]
) -> None:
    document = yaml.safe_load(SAMPLE.read_text())
    edit(document)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(document))
    result = vsl("scripts", "add", path)
    assert result.exit_code == 2
    assert str(path) in result.stderr
    for part in expected:
        assert part in result.stderr
    assert counts(environment)["scripts"] == 0


def test_a_script_over_its_budget_is_refused(environment: Database, tmp_path: Path) -> None:
    path = script_file(tmp_path, "cheap.yaml", budget_usd=0.1)
    result = vsl("scripts", "add", path)
    assert result.exit_code == 2
    assert "exceeds its budget $0.10" in result.stderr
    assert counts(environment)["scripts"] == 0


def test_the_budget_refusal_names_the_file_and_field(environment: Database, tmp_path: Path) -> None:
    path = script_file(tmp_path, "cheap.yaml", budget_usd=0.1)
    result = vsl("scripts", "add", path)
    assert result.exit_code == 2
    assert str(path) in result.stderr and "budget_usd" in result.stderr


def test_scripts_list_and_show(environment: Database, tmp_path: Path) -> None:
    empty = vsl("scripts", "list")
    assert empty.exit_code == 0 and "no scripts stored" in empty.stdout
    assert vsl("scripts", "add", SAMPLE).exit_code == 0
    assert vsl("scripts", "add", script_file(tmp_path, id="autumn-sale")).exit_code == 0

    listed = vsl("scripts", "list")
    assert listed.exit_code == 0
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("spring-launch", "queued", "$1.50"),
        ("autumn-sale", "queued", "$1.50"),
    ]

    shown = vsl("scripts", "show", "spring-launch")
    assert shown.exit_code == 0, shown.output
    status = json.loads(shown.stdout)
    assert status["script_id"] == "spring-launch" and status["status"] == "queued"
    assert [s["section"] for s in status["sections"]] == ["hook", "offer", "close"]
    assert all(s["current_take"] == 1 and s["takes"] == [] for s in status["sections"])
    assert status["compilation"] is None

    unknown = vsl("scripts", "show", "unknown")
    assert unknown.exit_code == 2
    assert "no script 'unknown'" in unknown.stderr


def test_a_failed_script_shows_its_reason_and_is_retried_once(environment: Database) -> None:
    assert vsl("scripts", "add", SAMPLE).exit_code == 0
    refused = vsl("scripts", "retry", "spring-launch")
    assert refused.exit_code == 2 and "is queued, not failed" in refused.stderr
    with environment.connect() as conn:
        set_status(conn, "spring-launch", "generating")
        assert fail_script(conn, "spring-launch", "hook/keyframe (sdxl) failed after 3 attempts")

    listed = vsl("scripts", "list")
    assert listed.stdout.split()[:2] == ["spring-launch", "failed"]
    shown = json.loads(vsl("scripts", "show", "spring-launch").stdout)
    assert (shown["status"], shown["error"]) == (
        "failed",
        "hook/keyframe (sdxl) failed after 3 attempts",
    )

    retried = vsl("scripts", "retry", "spring-launch")
    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.stdout)["attempt_round"] == 2
    shown = json.loads(vsl("scripts", "show", "spring-launch").stdout)
    assert (shown["status"], shown["error"]) == ("generating", None)
    assert vsl("scripts", "retry", "unknown").exit_code == 2


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_review_of_a_section_without_a_clip_exits_2(environment: Database, decision: str) -> None:
    assert vsl("scripts", "add", SAMPLE).exit_code == 0
    result = vsl("review", decision, "spring-launch", "hook")
    assert result.exit_code == 2
    assert "spring-launch/hook has no clip for take 1 yet; nothing to review" in result.stderr
    missing = vsl("review", decision, "spring-launch", "outro")
    assert missing.exit_code == 2
    assert "sections: hook, offer, close" in missing.stderr
    assert counts(environment)["approvals"] == 0


def test_review_list_and_decisions(environment: Database) -> None:
    assert vsl("scripts", "add", SAMPLE).exit_code == 0
    empty = vsl("review", "list")
    assert empty.exit_code == 0 and json.loads(empty.stdout) == []
    unknown = vsl("review", "list", "--script", "nope")
    assert unknown.exit_code == 2 and "no script 'nope'" in unknown.stderr
    with environment.connect() as conn:
        conn.execute(
            "INSERT INTO takes (script_id, section_id, stage, take, media_key, probe, duration_s)"
            " VALUES ('spring-launch', 'offer', 'clip', 1, 'scripts/spring-launch/offer/clip-v1.mp4',"
            " '{}', 3.0)"
        )
    listed = vsl("review", "list", "--script", "spring-launch")
    assert listed.exit_code == 0
    [item] = json.loads(listed.stdout)
    assert (item["section"], item["take"], item["duration_s"]) == ("offer", 1, 3.0)

    refused = vsl("review", "approve", "spring-launch", "offer", "--seed", "3")
    assert refused.exit_code == 2  # --seed is not an option of approve
    rejected = vsl(
        "review", "reject", "spring-launch", "offer", "--prompt", "closer", "--seed", "7"
    )
    assert rejected.exit_code == 0, rejected.output
    assert json.loads(rejected.stdout)["decision"] == "rejected"
    with environment.connect() as conn:
        row = conn.execute("SELECT * FROM approvals").fetchone()
    assert (row["section_id"], row["take"], row["prompt"], row["seed"]) == ("offer", 1, "closer", 7)
    assert json.loads(vsl("review", "list").stdout) == []


def test_review_of_a_narration(environment: Database) -> None:
    """`--narration` decides a voiced section's narration take; a rejection takes the corrected
    words and repeatable voice parameters (JSON values, else text); bad ones are refused."""
    narrated = PROJECT_ROOT / "config" / "scripts" / "spring-launch-narrated.yaml"
    assert vsl("scripts", "add", narrated).exit_code == 0
    with environment.connect() as conn:
        for section in ("hook", "offer"):
            conn.execute(
                "INSERT INTO takes (script_id, section_id, stage, take, media_key, probe,"
                " duration_s) VALUES ('spring-launch-narrated', %s, 'narration', 1, %s, '{}', 2.0)",
                (section, f"scripts/spring-launch-narrated/{section}/narration-v1.wav"),
            )
    listed = json.loads(vsl("review", "list").stdout)
    assert [(i["section"], i["subject"], i["take"]) for i in listed] == [
        ("hook", "narration", 1),
        ("offer", "narration", 1),
    ]
    assert listed[0]["spoken_text"].startswith("Tired of deciding")

    for args, message in (
        (("--param", "speed=9"), "params.speed: model 'kokoro-82m': parameter 'speed'=9"),
        (("--param", "speed"), "give NAME=VALUE"),
        (("--prompt", "brighter"), "prompt and seed shape a clip's next take"),
    ):
        refused = vsl("review", "reject", "spring-launch-narrated", "hook", "--narration", *args)
        assert refused.exit_code == 2 and message in refused.stderr, refused.output
    clip_refused = vsl("review", "reject", "spring-launch-narrated", "hook", "--text", "Hi.")
    assert clip_refused.exit_code == 2
    assert "text and params belong to a narration rejection" in clip_refused.stderr
    assert counts(environment)["approvals"] == 0

    rejected = vsl(
        "review", "reject", "spring-launch-narrated", "hook", "--narration",
        "--text", "Tired of cooking?", "--param", "speed=1.2", "--param", "voice=af_sky",
    )  # fmt: skip
    assert rejected.exit_code == 0, rejected.output
    assert json.loads(rejected.stdout) == {
        **json.loads(rejected.stdout),
        "subject": "narration",
        "take": 1,
        "decision": "rejected",
    }
    approved = vsl("review", "approve", "spring-launch-narrated", "offer", "--narration")
    assert approved.exit_code == 0, approved.output
    with environment.connect() as conn:
        rows = conn.execute("SELECT * FROM approvals ORDER BY id").fetchall()
    assert [(r["section_id"], r["subject"], r["decision"]) for r in rows] == [
        ("hook", "narration", "rejected"),
        ("offer", "narration", "approved"),
    ]
    assert rows[0]["params"] == {"speed": 1.2, "voice": "af_sky"}
    assert rows[0]["text"] == "Tired of cooking?"
    assert json.loads(vsl("review", "list").stdout) == []


def test_scripts_add_registers_the_partition_in_the_dagster_home(
    environment: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    result = vsl("scripts", "add", SAMPLE)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["partition_registered"] is True
    with dg.DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions("scripts") == ["spring-launch"]


def test_jobs_show_reads_a_job_by_its_id(environment: Database) -> None:
    assert vsl("scripts", "add", SAMPLE).exit_code == 0
    with environment.connect() as conn:
        job_id = record_job(conn, "pred-cli", "processing")
    shown_script = json.loads(vsl("scripts", "show", "spring-launch").stdout)
    [public_id] = [
        j["job_id"] for s in shown_script["sections"] for j in s["jobs"] if j["prediction_id"]
    ]
    shown = vsl("jobs", "show", public_id)
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert (document["status"], document["predictionId"], document["source"]) == (
        "processing",
        "pred-cli",
        "database",
    )
    assert job_id > 0
    unknown = vsl("jobs", "show", "00000000-0000-0000-0000-000000000000")
    assert unknown.exit_code == 2 and "no job" in unknown.stderr
    not_an_id = vsl("jobs", "show", "nope")
    assert not_an_id.exit_code == 2 and "not a job id" in not_an_id.stderr


def test_keys_create_list_revoke(environment: Database) -> None:
    created = vsl("keys", "create", "--name", "acme", "--user", "u1", "--rate", "30/minute")
    assert created.exit_code == 0, created.output
    *details, key = created.stdout.strip().splitlines()
    assert key.startswith("vsl_") and json.loads("\n".join(details))["rate_per_minute"] == 30
    listed = vsl("keys", "list")
    assert key not in listed.stdout and json.loads(listed.stdout)[0]["user_id"] == "u1"
    again = vsl("keys", "create", "--name", "acme")
    assert again.exit_code == 2 and "exists" in again.stderr
    assert vsl("keys", "create", "--name", "x", "--rate", "lots").exit_code == 2
    assert vsl("keys", "revoke", "acme").exit_code == 0
    assert vsl("keys", "revoke", "acme").exit_code == 2
