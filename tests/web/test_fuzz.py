"""Property-based fuzzing: `schemathesis` against the service's OpenAPI document (every `/api`
and `/review` operation, request bodies included, over real HTTP), `hypothesis` on the parsers
behind them (script documents, YAML, request bodies). No input may give a 5xx or an exception
other than the refusal each parser documents.

Bounded: a fixed number of examples per operation and property, derandomized, no deadline.
"""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from fastapi import HTTPException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode

from tests.fixtures.api import StartApi, add_clip, review_form_auth
from tests.fixtures.sandbox import SANDBOX_TOKEN
from tests.fixtures.scripts import SAMPLE_SCRIPT
from vsl_pipelines.db.database import Database
from vsl_pipelines.domain.registry import Registry, load_registry
from vsl_pipelines.domain.script import (
    DocumentError,
    Script,
    ScriptError,
    check_document,
    load_yaml,
    parse_script,
)
from vsl_pipelines.generation.predictions import PredictionClient
from vsl_pipelines.generation.stages import BudgetExceeded, check_budget
from vsl_pipelines.sandbox import RunningSandbox
from vsl_pipelines.settings import PROJECT_ROOT
from vsl_pipelines.web.api.bodies import parse_body
from vsl_pipelines.web.decisions import ApproveBody, RejectBody
from vsl_pipelines.web.server import RunningService

EXAMPLES_PER_OPERATION = 30
CONFORMANCE = [
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]
EXAMPLES_PER_PROPERTY = 150
SAMPLE: dict[str, Any] = yaml.safe_load(SAMPLE_SCRIPT.read_text())
REGISTRY: Registry = load_registry(PROJECT_ROOT / "config" / "models.json")
BOUNDED = settings(
    max_examples=EXAMPLES_PER_PROPERTY,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
FUZZ_CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"deterministic": True, "allow-x00": True},
        "warnings": False,
        # An invalid request may be refused for its size (413) or host (421) before its fields.
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 409, 413, 415, 421, 422, 429]
            }
        },
    }
)
SCRIPT = "spring-launch"
# Every operation of /api and /review (a new one must be added here, so it gets fuzzed too).
OPERATIONS = [
    ("GET", "/api/scripts"),
    ("POST", "/api/scripts"),
    ("GET", "/api/scripts/{script_id}"),
    ("GET", "/api/review"),
    ("POST", "/api/scripts/{script_id}/sections/{section_id}/approve"),
    ("POST", "/api/scripts/{script_id}/sections/{section_id}/reject"),
    ("GET", "/api/scripts/{script_id}/video"),
    ("GET", "/api/scripts/{script_id}/variants"),
    ("POST", "/api/scripts/{script_id}/compile"),
    ("GET", "/api/compilations/{compilation_id}"),
    ("POST", "/api/section-videos/{video_id}/approve"),
    ("POST", "/api/section-videos/{video_id}/reject"),
    ("GET", "/api/costs"),
    ("GET", "/api/costs/dashboard"),
    ("GET", "/api/audit"),
    ("POST", "/api/generate-media"),
    ("GET", "/api/status/{job_id}"),
    ("GET", "/review"),
    ("POST", "/review/{script_id}/{section_id}/approve"),
    ("POST", "/review/{script_id}/{section_id}/reject"),
]


@pytest.fixture
def fuzzed_service(
    start_api: StartApi, db: Database, stored_script: Script, sandbox: RunningSandbox
) -> Any:
    """The service (generating on the sandbox), a stored script and two takes waiting for
    review."""
    client = PredictionClient(sandbox.base_url.removesuffix("/v1"), SANDBOX_TOKEN, None)
    service = start_api(predictions=client)
    add_clip(db, SCRIPT, "hook")
    add_clip(db, SCRIPT, "close")
    return service


def load_schema(service: RunningService) -> Any:
    return schemathesis.openapi.from_url(
        f"{service.url}/api/openapi.json", config=FUZZ_CONFIG, timeout=10
    )


def cases(operation: Any) -> st.SearchStrategy[Any]:
    """Valid and invalid requests; some on the stored script's sections, so decisions land."""
    known_ids: dict[str, Any] = {}
    names = {p.name for p in operation.path_parameters}
    if "script_id" in names:
        known_ids["script_id"] = SCRIPT
    if "section_id" in names:
        known_ids["section_id"] = "hook"
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    if known_ids:
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known_ids))
    return st.one_of(strategies)


def test_every_operation_is_fuzzed(fuzzed_service: RunningService) -> None:
    schema = load_schema(fuzzed_service)
    found = {
        (op.method.upper(), op.path)
        for op in (result.ok() for result in schema.get_all_operations())
        if op.path.startswith(("/api", "/review"))
    }
    assert found == set(OPERATIONS)
    for method, path in OPERATIONS:
        if method == "POST":
            assert schema[path][method].body, f"{method} {path}: request body described"


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_request_gets_a_server_error(
    fuzzed_service: RunningService, method: str, path: str
) -> None:
    operation = load_schema(fuzzed_service)[path][method]
    page = f"{fuzzed_service.url}/review"

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases(operation))
    def request_is_answered_below_500(case: Any) -> None:
        headers: dict[str, str] = {}
        if method == "POST" and path.startswith("/review/") and isinstance(case.body, dict):
            auth = review_form_auth(httpx, page)  # as a browser showing the page posts
            case.body = {**case.body, "csrf": auth.token}
            headers = auth.headers
        response = case.call(headers=headers, timeout=10)
        assert response.status_code < 500, (case.as_curl_command(), response.text[:500])
        # Every answer is one the document describes: its status, content type and body.
        case.validate_response(response, checks=CONFORMANCE)

    request_is_answered_below_500()


# -- documents: what a YAML or JSON body, or a YAML file, can hold ----------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**53 + 1, -(2**63), 10**30, 1e308, -1e308, 5e-324])
    | st.floats()  # NaN and infinities included
    | st.text()  # control characters, lone surrogates included
    | st.sampled_from(["", "spring-launch\n", "a\x00b", "\ud800", "x" * 5000])
    | st.binary(max_size=8)
    | st.dates()
)
KEYS = st.text(max_size=12) | st.integers(-3, 3) | st.sampled_from(["id", "title", "model"])
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)
DEEP = st.integers(min_value=60, max_value=150).map(lambda n: _nested(n))


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in `document` a value sits (the root excluded)."""
    found: list[tuple[Any, ...]] = []
    items = (
        document.items()
        if isinstance(document, dict)
        else enumerate(document)
        if isinstance(document, list)
        else []
    )
    for key, value in items:
        found.append((*prefix, key))
        found.extend(_paths(value, (*prefix, key)))
    return found


SAMPLE_PATHS = _paths(SAMPLE)


@st.composite
def mutated_scripts(draw: st.DrawFn) -> dict[str, Any]:
    """The sample script with one to three of its values replaced (or a key added)."""
    document = copy.deepcopy(SAMPLE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(SAMPLE_PATHS))
        *parents, last = path
        target: Any = document
        try:
            for key in parents:
                target = target[key]
            if draw(st.booleans()) and isinstance(target, dict):
                last = draw(st.text(max_size=8))
            target[last] = draw(VALUES | DEEP)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced a parent
    return document


def _as_json(document: Any) -> bytes:
    return json.dumps(document, default=str).encode("utf-8", "surrogatepass")


def _as_yaml(document: Any) -> bytes:
    try:
        return yaml.safe_dump(document, allow_unicode=True).encode("utf-8", "surrogatepass")
    except (yaml.YAMLError, RecursionError):
        return _as_json(document)  # YAML reads JSON too


def _storable(script: Script) -> None:
    """What the database and the generation need of an accepted script."""
    text = json.dumps(script.model_dump(mode="json"), allow_nan=False)
    assert "\\u0000" not in text
    text.encode("utf-8")  # no lone surrogates
    with contextlib.suppress(BudgetExceeded):
        check_budget(script, REGISTRY)


@BOUNDED
@given(document=mutated_scripts())
def test_parse_script_accepts_or_names_the_field(document: dict[str, Any]) -> None:
    try:
        script = parse_script(document, "fuzz", REGISTRY)
    except ScriptError as exc:
        assert str(exc).startswith("fuzz: ")
        return
    _storable(script)


@BOUNDED
@given(document=VALUES | DEEP)
def test_check_document_refuses_without_recursion(document: Any) -> None:
    try:
        check_document(document, "body")
    except DocumentError as exc:
        assert str(exc)


@BOUNDED
@given(text=st.text() | mutated_scripts().map(_as_yaml).map(lambda b: b.decode("utf-8", "replace")))
def test_load_yaml_reads_or_names_the_line(text: str) -> None:
    try:
        load_yaml(text, "fuzz")
    except ScriptError as exc:
        assert str(exc).startswith("fuzz: ")


BODY_TYPES = st.sampled_from(
    ["application/json", "application/yaml", "text/yaml; charset=utf-8", "", "text/plain"]
)
RAW_BODIES = (
    st.binary(max_size=64)
    | mutated_scripts().map(_as_json)
    | mutated_scripts().map(_as_yaml)
    | VALUES.map(_as_json)
    | st.sampled_from([b"NaN", b"1e999", b"[" * 5000, b"- " * 5000, b"\xef\xbb\xbf{}", b""])
)


@BOUNDED
@given(
    raw=RAW_BODIES,
    content_type=BODY_TYPES,
    model=st.sampled_from([None, ApproveBody, RejectBody]),
)
def test_parse_body_answers_4xx_or_a_document(raw: bytes, content_type: str, model: Any) -> None:
    try:
        parse_body(raw, content_type, model)
    except HTTPException as exc:
        assert 400 <= exc.status_code < 500 and exc.detail


# -- mutated scripts over HTTP -----------------------------------------------------------------


def test_mutated_scripts_get_no_server_error(fuzzed_service: RunningService) -> None:
    url = f"{fuzzed_service.url}/api/scripts"
    statuses: set[int] = set()

    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        document=mutated_scripts(),
        script_id=st.from_regex(r"[a-z][a-z0-9]{0,11}", fullmatch=True),
        as_yaml=st.booleans(),
    )
    def submit(document: dict[str, Any], script_id: str, as_yaml: bool) -> None:
        if document.get("id") == SAMPLE["id"]:
            document["id"] = script_id  # mostly new ids, so valid mutations are stored
        body, media_type = (
            (_as_yaml(document), "application/yaml")
            if as_yaml
            else (_as_json(document), "application/json")
        )
        response = httpx.post(url, content=body, headers={"content-type": media_type}, timeout=10)
        statuses.add(response.status_code)
        assert response.status_code in (201, 409, 422), (body[:300], response.text[:300])

    submit()
    assert {201, 422} <= statuses, "both stored and refused scripts were tried"
