"""Run tags every requested run carries: the script, the step (the instance's per-step
concurrency limit keys on `vsl/step`), and why it was asked for."""

SCRIPT = "vsl/script_id"
STEP = "vsl/step"
STATE_KEY = "vsl/state_key"
COMPILATION = "vsl/compilation_id"  # the compilation row a compile run carries out

# Concurrency pools the steps name; a deployed instance sets each pool's limit
# (`dagster instance concurrency set ffmpeg 2`), the embedded one leaves them open.
REPLICATE_POOL = "replicate"  # steps whose time goes to calls to Replicate
FFMPEG_POOL = "ffmpeg"  # steps whose time goes to downloads, FFmpeg and uploads


def run_tags(script_id: str, step: str, **extra: str) -> dict[str, str]:
    """`vsl/script_id`, `vsl/step` and `vsl/<name>` for each extra tag."""
    return {SCRIPT: script_id, STEP: step, **{f"vsl/{k}": v for k, v in extra.items()}}
