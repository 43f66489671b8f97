import json

from click.testing import CliRunner

from vsl_pipelines.cli.compile import compile_command


def test_compile_command_prints_plan_and_result(make_clip, make_image, tmp_path):
    captions = tmp_path / "captions.txt"
    captions.write_text("first\nsecond\n")
    out = tmp_path / "cli.mp4"
    args = [
        "--out", str(out), "--fps", "30", "--preset", "ultrafast", "--still-seconds", "0.5",
        "--captions", str(captions), str(make_clip(seconds=1.0)), str(make_image(120, 80)),
    ]  # fmt: skip
    result = CliRunner().invoke(compile_command, args)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["ok"] and body["output"] == str(out)
    assert [c["video"] for c in body["plan"]["clips"]] == ["copy", "render"]
    assert body["plan"]["clips"][0]["caption"] == "first"
    assert body["verification"]["ok"]


def test_compile_command_reports_errors_as_json(tmp_path):
    result = CliRunner().invoke(compile_command, ["--out", str(tmp_path / "o.mp4"), "nope.mp4"])
    assert result.exit_code == 1
    assert "nope.mp4: file not found" in json.loads(result.stderr)["error"]
