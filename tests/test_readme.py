"""README.md against the project: every path, `make` target, `vsl` command and option,
environment variable (with its default) and endpoint it names exists as named, and the figures
it gives that no feature test states (TTLs, limits, the CI workflow, the voice table) are the
running code's.

The behaviour the README describes is held by the tests of each feature (grep tests/ for the
claim); this module holds the names a newcomer types or opens, which no feature test reads.
"""

from __future__ import annotations

import importlib
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import click
import httpx
import pytest
import redis
import yaml
from fastapi.testclient import TestClient

from tests.fixtures.api import LOCAL_BASE_URL, BuildApiApp, StartApi
from tests.fixtures.scripts import record_job
from vsl_pipelines.cache.key_cache import KeyCache
from vsl_pipelines.cache.rate_limit import REPLICATE_LIMITS
from vsl_pipelines.cli import main
from vsl_pipelines.db import audit
from vsl_pipelines.db.database import Database
from vsl_pipelines.db.workspaces import default_workspace_id
from vsl_pipelines.domain.billing import HARDWARE_USD_PER_SECOND
from vsl_pipelines.domain.registry import load_registry
from vsl_pipelines.domain.script import Script
from vsl_pipelines.job_status.layers import JobStatusLayers
from vsl_pipelines.job_status.redis_documents import RedisStatusDocuments
from vsl_pipelines.settings import PROJECT_ROOT, Settings
from vsl_pipelines.storage.signing import MediaUrlSigner
from vsl_pipelines.web.api.compilations import wait_seconds
from vsl_pipelines.web.limits import DECISION_BODY_LIMIT, GENERATE_BODY_LIMIT, SCRIPT_BODY_LIMIT

README = (PROJECT_ROOT / "README.md").read_text()
TOP_LEVEL = {p.name for p in PROJECT_ROOT.iterdir()} - {"data", "build", ".venv"}


def section(title: str) -> str:
    """The README's text under `## title` (or `### title`), up to the next heading as deep."""
    match = re.search(rf"^(#+) {re.escape(title)}\n", README, re.M)
    assert match, title
    rest = README[match.end() :]
    end = re.search(rf"^#{{1,{len(match[1])}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


def table_rows(text: str) -> list[list[str]]:
    """The cells of each row of the markdown tables in `text` (header and rule left out)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip("|"))])
    return [r for r in rows if r[0] not in ("command", "variable", "method and path", "model")]


def repo_paths() -> set[str]:
    """Paths in the repository the README names: any token that starts with a top-level entry."""
    found = set()
    for match in re.finditer(
        r"(?<![\w$./{:-])((?:\.ci|\.github|[A-Za-z_]+)(?:/[\w.*-]+)+/?)", README
    ):
        if match[1].split("/")[0] in TOP_LEVEL:
            found.add(match[1].rstrip("."))
    return found


def test_every_repository_path_the_readme_names_exists() -> None:
    paths = repo_paths()
    assert {"config/models.json", "docs/ARCHITECTURE.md", ".ci/run"} <= paths, sorted(paths)
    missing = [p for p in sorted(paths) if not list(PROJECT_ROOT.glob(p.rstrip("/")))]
    assert not missing, missing


def test_every_file_and_folder_of_the_layout_exists() -> None:
    """`## Layout`: each package of `vsl_pipelines/` and the modules and folders its line names."""
    [block] = re.findall(r"```\n(vsl_pipelines/.*?)```", section("Layout"), re.S)
    package = PROJECT_ROOT / "vsl_pipelines"
    current = package
    checked = []
    for line in block.splitlines()[1:]:
        if line.startswith("  ") and not line.startswith("   "):
            first = line.split()[0]
            if first.endswith("/"):
                current = package / first
                checked.append(current)
                line = line[len(first) + 2 :]
            else:
                current = package
        elif not line.startswith(" "):
            current = PROJECT_ROOT
        # Names in a line's description are of its package; at the left margin, of the root.
        for name in re.findall(r"(?<![\w./`-])([\w-]+(?:\.py|/)|Dockerfile)(?=[\s,)]|$)", line):
            checked.append(current / name)
    missing = [str(p.relative_to(PROJECT_ROOT)) for p in checked if not p.exists()]
    assert len(checked) > 40 and not missing, missing


def test_every_module_the_readme_runs_or_imports_exists() -> None:
    """`python -m MODULE` and `module.function` names (create a table with ..., a screenshot)."""
    modules = set(re.findall(r"python -m ((?:vsl_pipelines|devtools)[\w.]*)", README))
    assert "vsl_pipelines.defs.daemon" in modules
    for module in modules:
        assert importlib.util.find_spec(module), module
    functions = set(re.findall(r"`(vsl_pipelines\.[\w.]+\.(?:create_\w+))`", README))
    assert len(functions) >= 2, functions
    for dotted in functions:
        module, name = dotted.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), name, None)), dotted


def make_targets() -> set[str]:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))


def test_every_make_target_the_readme_names_exists() -> None:
    named = set(re.findall(r"`make ([a-z][\w-]*)", README)) | set(
        re.findall(r"^make ([a-z][\w-]*)", README, re.M)
    )
    assert {"demo", "test", "dev", "synth", "test-deploy"} <= named
    assert named <= make_targets(), named - make_targets()


def _command(words: list[str]) -> tuple[click.Command, list[str]]:
    """The `vsl` (sub)command `words` start with, and the words after it."""
    command: click.Command = main
    ctx = click.Context(main)
    while words and isinstance(command, click.Group):
        sub = command.get_command(ctx, words[0])
        assert sub is not None, f"vsl has no command {words[0]!r}"
        command, words = sub, words[1:]
    return command, words


def _option(command: click.Command, flag: str) -> click.Option:
    for param in command.params:
        if isinstance(param, click.Option) and flag in param.opts + param.secondary_opts:
            return param
    raise AssertionError(f"{command.name} has no option {flag}")


def vsl_usages() -> list[str]:
    """Each `vsl ...` the README shows: the command table's, those in text and examples."""
    usages = []
    for row in table_rows(section("The `vsl` command")):
        usages += [u.strip("` ") for u in re.findall(r"`vsl [^`]+`", row[0])]
    usages += re.findall(r"`(?:\.venv/bin/)?(vsl [^`]+)`", README.replace("\n", " "))
    usages += re.findall(r"^(vsl [^#\n]+)", README, re.M)
    return [re.sub(r"^\.venv/bin/", "", u).strip() for u in usages]


def test_every_vsl_command_and_option_the_readme_names_exists() -> None:
    usages = vsl_usages()
    assert len(usages) > 30, usages
    for usage in usages:
        words = [w for w in re.split(r"[\s\[\]]+", usage.replace("\\|", "|")) if w][1:]
        commands = [w for w in words if not w.startswith("-") and re.fullmatch(r"[a-z]+", w)]
        # The leading words name the command; a word the command does not take is an argument.
        command, _ = _command(commands[: _depth(commands)])
        for word in words:
            if word.startswith("--"):
                _option(command, word.split("=")[0])


def _depth(words: list[str]) -> int:
    command: click.Command = main
    depth = 0
    for word in words:
        if not isinstance(command, click.Group):
            break
        sub = command.get_command(click.Context(main), word)
        if sub is None:
            break
        command, depth = sub, depth + 1
    return depth


@pytest.mark.parametrize(
    ("usage", "flag", "default", "choices"),
    [
        ("vsl sandbox", "--port", 8787, None),
        ("vsl dev", "--port", 3000, None),
        ("vsl compile", "--verify", "quick", ["quick", "full", "off"]),
        ("vsl compile", "--format", None, ["mp4", "webm", "avi"]),  # from OUT's suffix
        ("vsl compile", "--quality", "standard", ["draft", "standard", "high"]),
    ],
)
def test_the_defaults_and_choices_the_command_table_gives(
    usage: str, flag: str, default: object, choices: list[str] | None
) -> None:
    assert f"`{usage} [{flag} {default}]" in README or f"{flag} {'|'.join(choices or [])}" in (
        README.replace("\\|", "|")
    )
    option = _option(_command(usage.split()[1:])[0], flag)
    assert (option.default if option.default is not click.core.UNSET else None) == default
    if choices is not None:
        assert isinstance(option.type, click.Choice) and list(option.type.choices) == choices


def env_rows() -> list[tuple[list[str], str]]:
    """(variables, default) of each row of the environment table."""
    rows = []
    for row in table_rows(section("Environment variables")):
        rows.append((re.findall(r"`([A-Z][A-Z0-9_]+)`", row[0]), row[1]))
    return rows


def test_every_setting_is_in_the_environment_table_and_every_variable_is_read() -> None:
    documented = {v for names, _ in env_rows() for v in names}
    aliases = {f.alias for f in Settings.model_fields.values() if f.alias}
    assert aliases <= documented, aliases - documented
    sources = "".join(
        p.read_text()
        for root in ("vsl_pipelines", "deploy")
        for p in (PROJECT_ROOT / root).rglob("*")
        if p.suffix in (".py", ".yaml", ".sh") and p.is_file()
    )
    unread = [v for v in documented - aliases if v not in sources]
    assert not unread, unread


def test_the_environment_table_gives_the_settings_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each default written as one value (`5`, `127.0.0.1` / `8080`) is the setting's own."""
    for name in [f.alias for f in Settings.model_fields.values() if f.alias]:
        monkeypatch.delenv(name, raising=False)
    for original in ("S3_BUCKET", "DYNAMODB_TABLE"):
        monkeypatch.delenv(original, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    fields = {f.alias: name for name, f in Settings.model_fields.items() if f.alias}
    # Unset, these two are derived from the data folder: the properties the code reads.
    fields.update(VSL_MEDIA_ROOT="media_dir", DAGSTER_HOME="dagster_home")
    compared = 0
    for names, default in env_rows():
        values = [v.strip() for v in default.split(" / ")]
        if len(values) != len(names):
            continue
        for name, value in zip(names, values, strict=True):
            plain = re.fullmatch(r"`([^`]*)`", value)
            if name not in fields or not plain:
                continue
            actual = getattr(settings, fields[name])
            if isinstance(actual, Path):
                actual = actual.relative_to(PROJECT_ROOT)
            if isinstance(actual, bool):
                actual = str(actual).lower()
            written = (
                plain[1]
                .replace("$VSL_SERVICE_PORT", str(settings.service_port))
                .replace("$VSL_DATA_DIR", "./data")
                .removeprefix("./")
            )
            assert str(actual) in (written, f"{written}.0"), (name, actual, value)
            compared += 1
    assert compared >= 15, compared


def test_every_endpoint_the_readme_names_is_served(build_api_app: BuildApiApp) -> None:
    app = build_api_app()
    served = {
        (method.upper(), re.sub(r"\{\w+\}", "{}", path))
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    named = set()
    for method, path in re.findall(r"`(GET|POST|PUT|DELETE) (/[^`\s?\[]*)", README):
        named.add((method, re.sub(r"\{\w+\}", "{}", path).rstrip("/")))
    for first, second in re.findall(r"`POST (/[^`]*)/approve`, `\.\.\./(\w+)`", README):
        named.add(("POST", re.sub(r"\{\w+\}", "{}", f"{first}/{second}")))
    assert len(named) >= 20, named
    # Outside the OpenAPI document (the hot webhook path, media files, the sandbox's
    # Replicate API): each held by its own module, which requests it.
    outside = {
        ("POST", "/webhooks/replicate"): "tests/web/test_webhooks.py",
        ("GET", "/media/..."): "tests/web/test_media.py",
        ("GET", "/v1/webhooks/default/secret"): "tests/sandbox/test_app.py",
        ("POST", "/api/events"): "tests/web/test_watch.py",  # the watch page's, no key
    }
    for (_, path), module in outside.items():
        assert path.rstrip(".") in (PROJECT_ROOT / module).read_text(), (path, module)
    missing = sorted(f"{m} {p}" for m, p in named - served - outside.keys())
    assert not missing, missing


# The figures the README gives that no feature test states: each read from the running code.


def test_redis_keeps_a_final_status_a_day_and_any_other_five_minutes(
    db: Database, stored_script: Script, redis_url: str, redis_prefix: str
) -> None:
    """ "Redis (final documents kept a day, others five minutes)"."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    cache = RedisStatusDocuments(client, redis_prefix)
    with db.connect() as conn:
        record_job(conn, "pred-readme", "starting")
        public_id = conn.execute("SELECT public_id FROM jobs").fetchone()["public_id"]
    document = JobStatusLayers(db).read(str(public_id))[0]
    assert document is not None
    assert cache.put({**document, "status": "processing"})
    assert 290 < client.ttl(cache.key(str(public_id))) <= 300
    assert cache.put({**document, "status": "completed"})
    assert 86_390 < client.ttl(cache.key(str(public_id))) <= 86_400


def test_a_verified_key_is_cached_30_seconds(redis_url: str, redis_prefix: str) -> None:
    """ "verified keys are cached in Redis for 30 s"."""
    client = redis.Redis.from_url(redis_url)
    cache = KeyCache(client, redis_prefix)
    cache.put(b"digest", {"name": "readme"})
    assert cache.get(b"digest") == {"name": "readme"}
    assert 25 < client.ttl(cache.entry_key(b"digest")) <= 30


def test_replicate_rates_shared_through_redis_are_replicates_own() -> None:
    """ "Replicate's rate limits (600 creates/min, 3000 reads/min)"."""
    assert REPLICATE_LIMITS == {"create": (600, 60.0), "read": (3000, 60.0)}


def test_a_compile_waits_at_most_300_seconds() -> None:
    """ "With `Prefer: wait=N` (at most 300 s)"."""
    assert wait_seconds("wait=20") == 20
    assert wait_seconds("respond-async, wait=1000") == 300
    assert wait_seconds(None) == 0


def test_costs_default_to_the_last_7_days_and_take_at_most_366(start_api: StartApi) -> None:
    """ "`from`, `to`: YYYY-MM-DD, default the last 7 days, at most 366"."""
    service = start_api()
    default = httpx.get(f"{service.url}/api/costs", timeout=10).json()
    first, last = date.fromisoformat(default["from"]), date.fromisoformat(default["to"])
    assert (last - first).days == 6
    year = {"to": "2026-12-31", "from": "2025-12-31"}  # 366 days, both ends included
    assert httpx.get(f"{service.url}/api/costs", params=year, timeout=10).status_code == 200
    longer = {"to": "2026-12-31", "from": "2025-12-30"}
    refused = httpx.get(f"{service.url}/api/costs", params=longer, timeout=10)
    assert refused.status_code == 422 and "366" in refused.json()["detail"]


def test_a_studio_session_lasts_12_hours(build_api_app: BuildApiApp) -> None:
    """ "a signed session cookie (HttpOnly, SameSite=Lax, Secure over https, 12 hours)"."""
    browser = TestClient(build_api_app(api_key="readme-key"), base_url=LOCAL_BASE_URL)
    signed = browser.post("/studio/sign-in", data={"key": "readme-key"}, follow_redirects=False)
    cookie = signed.headers["set-cookie"]
    assert "Max-Age=43200" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    secure = TestClient(build_api_app(api_key="readme-key"), base_url="https://localhost")
    signed = secure.post("/studio/sign-in", data={"key": "readme-key"}, follow_redirects=False)
    assert "Secure" in signed.headers["set-cookie"]


def test_a_local_media_url_is_signed_for_an_hour() -> None:
    """ "`/media/KEY?sig=...`, an hour"."""
    signer = MediaUrlSigner("readme-secret")
    assert signer.max_age_s == 3600
    assert signer.problem("scripts/a/b.mp4", signer.token("scripts/a/b.mp4")) is None
    assert signer.problem("scripts/a/c.mp4", signer.token("scripts/a/b.mp4")) is not None


def test_the_audit_log_is_newest_first_and_pages_back_with_before(
    db: Database, start_api: StartApi
) -> None:
    """ "`GET /api/audit?limit=&before=` ... newest first ... (`before` an entry's id pages back)"."""
    with db.connect() as conn:
        workspace = default_workspace_id(conn)
        for n in range(5):
            audit.record(conn, workspace, "readme", "script.add", f"script-{n}")
        conn.commit()
    service = start_api()  # a loopback client without a key: an admin of `default`
    first = httpx.get(f"{service.url}/api/audit", params={"limit": 2}, timeout=10).json()
    assert [e["object"] for e in first] == ["script-4", "script-3"]
    assert set(first[0]) == {"id", "actor", "action", "object", "detail", "createdAt"}
    page = {"limit": 2, "before": first[-1]["id"]}
    second = httpx.get(f"{service.url}/api/audit", params=page, timeout=10).json()
    assert [e["object"] for e in second] == ["script-2", "script-1"]


def test_runs_carry_only_the_four_tags_the_readme_names() -> None:
    """The README: "runs carry only the tags Dagster keys on (`vsl/script_id`, `vsl/step`, `vsl/state_key`,
    `vsl/compilation_id`)": no other `vsl/` tag is named anywhere in the package."""
    named = set(re.findall(r"`(vsl/\w+)`", section("VSL Pipelines")))
    assert named == {"vsl/script_id", "vsl/step", "vsl/state_key", "vsl/compilation_id"}
    used = {
        tag
        for path in (PROJECT_ROOT / "vsl_pipelines").rglob("*.py")
        for tag in re.findall(r"""["'](vsl/\w+)["']""", path.read_text())
    }
    assert used == named, used


def test_the_github_workflow_does_what_the_readme_says() -> None:
    """`make test` in a Debian bookworm container with PostgreSQL and Redis as service
    containers, `make synth` for dev, staging and prod; on a `v*` tag the image to ECR and the
    CDK app to `staging` through GitHub's OIDC role, with no AWS key anywhere; `make lint` runs
    actionlint, `.ci/run` adds `make test-deploy`."""
    text = (PROJECT_ROOT / ".github" / "workflows" / "ci.yml").read_text()
    workflow = yaml.safe_load(text)
    test, deploy = workflow["jobs"]["test"], workflow["jobs"]["deploy"]
    assert test["container"] == "debian:bookworm"
    assert {"postgres", "redis"} <= set(test["services"])
    runs = "\n".join(step.get("run", "") for step in test["steps"])
    assert "make test " in runs and "make synth " in runs
    assert "for stage in dev staging prod;" in runs
    assert workflow[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as true
    assert deploy["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert deploy["environment"] == "staging" and deploy["permissions"]["id-token"] == "write"
    uses = [step.get("uses", "") for step in deploy["steps"]]
    assert any(u.startswith("aws-actions/amazon-ecr-login@") for u in uses)
    assert any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses)
    assert "docker push" in "\n".join(step.get("run", "") for step in deploy["steps"])
    assert "AWS_ACCESS_KEY_ID" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    lint = re.search(r"^lint:.*\n((?:\t.*\n)+)", (PROJECT_ROOT / "Makefile").read_text(), re.M)
    assert lint and "devtools/actionlint" in lint[1]
    assert "\nmake test-deploy\n" in (PROJECT_ROOT / ".ci" / "run").read_text()


def test_the_voice_table_is_the_registrys_kokoro() -> None:
    """The `kokoro-82m` row of `### Voices`: version, voices and default, speed range and
    default, and "about $0.00225 a run (10 s on a T4 at $0.000225/s)"."""
    [row] = table_rows(section("Voices (narration)"))
    spec = load_registry(PROJECT_ROOT / "config" / "models.json").get("kokoro-82m")
    version = re.search(r"`([\w/-]+:\w+)…`", row[1])
    assert version and spec.version.startswith(version[1])
    voices = re.search(r"`voice`: (.*?); `speed`", row[2])
    assert voices
    named = [v.replace(" (default)", "") for v in voices[1].split(", ")]
    assert named == spec.constraints["voice"].choices
    assert f"{spec.defaults['voice']} (default)" in row[2]
    speed = spec.constraints["speed"]
    assert f"`speed`: {speed.min:g} to {speed.max:g} (default {spec.defaults['speed']:g})" in row[2]
    assert spec.pricing.hardware == "gpu-t4" and spec.estimated_time == 10
    assert HARDWARE_USD_PER_SECOND["gpu-t4"] == Decimal("0.000225")
    assert spec.estimate_cost({}) == pytest.approx(0.00225)
    assert "$0.00225 a run (10 s on a T4 at $0.000225/s" in row[3]


def test_the_set_up_and_the_test_servers_are_as_the_readme_says() -> None:
    """`make` installs from the lock with hashes, the sign-in provider with `npm ci`, Debian's
    chromium with apt-get only when missing; the tests' PostgreSQL and Redis default to
    127.0.0.1:5432 and :6379, moved with `VSL_TEST_PG` and `VSL_TEST_REDIS`; the image is
    built on python:3.11-slim-bookworm."""
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "--require-hashes --no-deps -r requirements/dev.txt" in makefile
    assert "npm ci --prefix devtools/oidc" in makefile
    assert (
        "test -x /usr/bin/chromium ||" in makefile and "apt-get install -y -qq chromium" in makefile
    )
    database = (PROJECT_ROOT / "tests" / "fixtures" / "database.py").read_text()
    assert 'os.environ.get("VSL_TEST_PG", "postgresql://postgres@127.0.0.1:5432")' in database
    cache = (PROJECT_ROOT / "tests" / "fixtures" / "redis.py").read_text()
    assert 'os.environ.get("VSL_TEST_REDIS", "redis://127.0.0.1:6379/15")' in cache
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim-bookworm ", dockerfile, re.M)


def test_the_body_bounds_are_the_readmes() -> None:
    """The README: "bodies are bounded (scripts 1 MB, decisions 16 KiB, else 413)", generate-media "413 past
    64 KiB": the limits tests/web/test_limits.py sends one byte past."""
    assert (SCRIPT_BODY_LIMIT, DECISION_BODY_LIMIT, GENERATE_BODY_LIMIT) == (
        1_000_000,
        16 * 1024,
        64 * 1024,
    )
