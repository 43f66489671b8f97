"""Starting and stopping the sandbox: the `vsl sandbox` command, restarts, the thread runner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import replicate
from click.testing import CliRunner

from tests.fixtures.sandbox import AUTH, SANDBOX_TOKEN
from vsl_pipelines.cli.sandbox import sandbox_command

FLUX = "black-forest-labs/flux-schnell"
SMALL = {"prompt": "tiny", "aspect_ratio": "1:1", "megapixels": "0.25"}


def test_finished_predictions_and_outputs_survive_a_restart(sandbox_factory, tmp_path) -> None:
    first = sandbox_factory(data_dir=tmp_path)
    client = replicate.Client(api_token=SANDBOX_TOKEN, base_url=first.base_url)
    done = client.models.predictions.create(model=FLUX, input=SMALL)
    done.wait()
    first.knobs.latency_s = 30
    running = client.models.predictions.create(model=FLUX, input=SMALL)
    first.stop()

    second = sandbox_factory(data_dir=tmp_path)
    client = replicate.Client(api_token=SANDBOX_TOKEN, base_url=second.base_url)
    assert client.predictions.get(done.id).status == "succeeded"
    interrupted = client.predictions.get(running.id)
    assert interrupted.status == "failed" and "restarted" in interrupted.error
    old_url = done.output[0]
    new_url = old_url.replace(first.public_url, second.public_url)
    assert httpx.get(new_url).status_code == 200


def test_public_url_sets_the_links(sandbox_factory) -> None:
    running = sandbox_factory(public_url="http://sandbox.internal:9000/")
    direct = f"http://127.0.0.1:{running.port}/v1"
    body = httpx.post(
        f"{direct}/models/{FLUX}/predictions", json={"input": SMALL}, headers=AUTH
    ).json()
    assert body["urls"]["get"].startswith("http://sandbox.internal:9000/v1/predictions/")


def test_the_command_help_and_bad_values() -> None:
    runner = CliRunner()
    help_text = runner.invoke(sandbox_command, ["--help"]).output
    assert "--port" in help_text and "--failure-rate" in help_text
    bad = runner.invoke(sandbox_command, ["--failure-rate", "3"])
    assert bad.exit_code != 0 and "failure-rate" in bad.output


def test_the_command_serves_until_sigterm(tmp_path) -> None:
    code = "from vsl_pipelines.cli.sandbox import sandbox_command; sandbox_command()"
    args = ["--port", "0", "--data-dir", str(tmp_path), "--latency", "0"]
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "VSL_SANDBOX_TOKEN": SANDBOX_TOKEN},  # the token it answers
    )
    try:
        api_url = None
        deadline = time.monotonic() + 20
        assert process.stderr is not None
        while api_url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if line.startswith("{") and "sandbox listening" in line:
                api_url = json.loads(line)["api_url"]
        assert api_url and api_url.startswith("http://127.0.0.1:")
        client = replicate.Client(api_token=SANDBOX_TOKEN, base_url=api_url)
        prediction = client.models.predictions.create(model=FLUX, input=SMALL, wait=True)
        assert prediction.status == "succeeded"
        assert (tmp_path / "webhook_secret").read_text().startswith("whsec_")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
