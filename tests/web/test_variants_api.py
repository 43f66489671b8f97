"""Hook variants over the API: a script with variants stored as written, each variant reviewed
by its own section id (`hook~a`), refusals at their field or path parameter (422)."""

from __future__ import annotations

import httpx
import yaml

from tests.fixtures.api import add_clip
from tests.fixtures.scripts import PROJECT_ROOT
from vsl_pipelines.db.database import Database
from vsl_pipelines.web.server import RunningService

VARIANTS = PROJECT_ROOT / "config" / "scripts" / "spring-launch-variants.yaml"
SCRIPT = "spring-launch-variants"


def test_each_variant_is_reviewed_by_its_own_section_id(
    api_service: RunningService, db: Database
) -> None:
    api = f"{api_service.url}/api"
    stored = httpx.post(
        f"{api}/scripts", content=VARIANTS.read_bytes(),
        headers={"content-type": "application/yaml"}, timeout=10,
    )  # fmt: skip
    assert stored.status_code == 201, stored.text
    with db.connect() as conn:
        document = conn.execute("SELECT document FROM scripts").fetchone()["document"]
        sections = [r["id"] for r in conn.execute("SELECT id FROM sections ORDER BY position")]
    assert [v["id"] for v in document["sections"][0]["variants"]] == ["question", "promise"]
    assert sections == ["hook~question", "hook~promise", "offer", "close"]

    add_clip(db, SCRIPT, "hook~promise")
    queue = httpx.get(f"{api}/review?script={SCRIPT}", timeout=10).json()
    assert [(q["section"], q["subject"]) for q in queue] == [("hook~promise", "clip")]
    approved = httpx.post(
        f"{api}/scripts/{SCRIPT}/sections/hook~promise/approve", json={}, timeout=10
    )
    assert approved.status_code == 201, approved.text
    shown = httpx.get(f"{api}/scripts/{SCRIPT}", timeout=10).json()
    promise = next(s for s in shown["sections"] if s["section"] == "hook~promise")
    assert (promise["variant_of"], promise["variant"], promise["decision"]) == (
        "hook", "promise", "approved",
    )  # fmt: skip
    for bad in ("hook~", "hook~a~b", "Hook~a"):
        refused = httpx.post(f"{api}/scripts/{SCRIPT}/sections/{bad}/approve", json={}, timeout=10)
        assert refused.status_code == 422 and "path section_id" in refused.text, bad
    unknown = httpx.post(f"{api}/scripts/{SCRIPT}/sections/hook~c/approve", json={}, timeout=10)
    assert unknown.status_code == 404


def test_variants_over_the_cap_are_422_at_their_field(api_service: RunningService) -> None:
    document = yaml.safe_load(VARIANTS.read_text())
    document["sections"][0]["variants"] = [{"id": f"h{n}", "narration": "Words."} for n in range(5)]
    document["sections"][2]["variants"] = [{"id": f"c{n}"} for n in range(4)]
    refused = httpx.post(f"{api_service.url}/api/scripts", json=document, timeout=10)
    assert refused.status_code == 422
    assert "sections.0.variants: 5 variants x 4 variants = 20 cuts, over the cap of 16" in (
        refused.text
    )
