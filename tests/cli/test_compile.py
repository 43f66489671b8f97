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


def test_compile_command_verifies_quick_by_default_full_on_request(make_clip, tmp_path):
    clips = [str(make_clip(seconds=1.0, tone=tone)) for tone in (300, 400)]
    out = str(tmp_path / "v.mp4")
    levels = {}
    for flags in ([], ["--verify", "full"], ["--no-verify"], ["--verify", "off"]):
        result = CliRunner().invoke(compile_command, [*flags, "--out", out, *clips])
        assert result.exit_code == 0, result.output
        levels[" ".join(flags)] = json.loads(result.stdout)["verification"]
    assert levels[""]["level"] == "quick" and levels[""]["ok"]
    assert levels[""]["decoded_frames"] == 2 and levels[""]["video_frames"] == 60
    assert levels["--verify full"]["level"] == "full" and levels["--verify full"]["ok"]
    assert levels["--verify full"]["decoded_frames"] == 60
    assert levels["--no-verify"] is None and levels["--verify off"] is None


def test_compile_command_writes_avi_from_the_suffix_at_a_quality(make_clip, tmp_path):
    clips = [str(make_clip(seconds=1.0, tone=tone)) for tone in (300, 400)]
    out = tmp_path / "letter.avi"
    result = CliRunner().invoke(compile_command, ["--quality", "draft", "--out", str(out), *clips])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert [s["codec"] for s in body["streams"]] == ["mpeg4", "mp3"]
    assert body["verification"]["ok"] and body["verification"]["video_frames"] == 60


def test_compile_command_narrates_an_input(make_clip, make_voice, tmp_path):
    out = tmp_path / "narrated.mp4"
    voice = make_voice(seconds=1.5)
    args = [
        "--out", str(out), "--preset", "ultrafast", "--narration", f"2:{voice}",
        "--fit", "slow", "--max-slowdown", "2", "--pad", "0.3", "--clip-audio", "drop",
        str(make_clip(seconds=1.0)), str(make_clip(seconds=1.0, tone=500)),
    ]  # fmt: skip
    result = CliRunner().invoke(compile_command, args)
    assert result.exit_code == 0, result.output
    clips = json.loads(result.stdout)["plan"]["clips"]
    assert clips[0]["timing"] is None and clips[0]["video"] == "copy"
    assert clips[1]["narration"] == str(voice)
    assert clips[1]["timing"]["action"] == "slow" and clips[1]["timing"]["slowdown"] == 1.8
    assert clips[1]["duration_s"] == 1.8


def test_compile_command_refuses_bad_narration_options(make_clip, tmp_path):
    clip = str(make_clip(seconds=1.0))
    for flags, message in (
        (["--fit", "stretch"], "'stretch' is not one of"),
        (["--narration", "voice.wav"], "is not N:FILE"),
        (["--narration", "3:voice.wav"], "input 3 does not exist"),
        (["--clip-audio", "mute"], "'mute' is not one of"),
    ):
        result = CliRunner().invoke(compile_command, [*flags, "--out", "o.mp4", clip])
        assert result.exit_code == 2 and message in result.output, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_compile_command_makes_a_rendition_at_an_aspect(make_clip, tmp_path):
    out = tmp_path / "portrait.mp4"
    args = ["--out", str(out), "--aspect", "9:16", "--reframe", "blur", "--preset", "ultrafast"]
    result = CliRunner().invoke(compile_command, [*args, str(make_clip(seconds=0.5))])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["streams"][0]["width"], body["streams"][0]["height"]) == (90, 160)
    assert body["plan"]["clips"][0]["reframe"] == "blur"
    bad = CliRunner().invoke(compile_command, ["--out", str(out), "--aspect", "wide", str(out)])
    assert bad.exit_code == 1 and "aspect 'wide'" in json.loads(bad.stderr)["error"]
