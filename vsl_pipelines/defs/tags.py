"""Run tags: only what Dagster itself keys on, since every tag is a column of every run row the
UI lists. `vsl/step` (the instance's per-step concurrency limit), `vsl/script_id` (finding a
script's runs in the UI and the sensors' "a run of this step in flight" lookups),
`vsl/state_key` (the state a run was asked for, for the sensor's re-requests) and
`vsl/compilation_id` (the request a compile run carries out). Why a run was asked for is its
run key (`retake:{approval}`, `compilation:{id}`, a state key); who asked and what a run did is
in its materializations' metadata."""

SCRIPT = "vsl/script_id"
STEP = "vsl/step"
STATE_KEY = "vsl/state_key"
COMPILATION = "vsl/compilation_id"  # the compilation row a compile run carries out

# Concurrency pools the steps name; a deployed instance sets each pool's limit
# (`dagster instance concurrency set ffmpeg 2`), the embedded one leaves them open.
REPLICATE_POOL = "replicate"  # steps whose time goes to calls to Replicate
FFMPEG_POOL = "ffmpeg"  # steps whose time goes to downloads, FFmpeg and uploads


def run_tags(script_id: str, step: str) -> dict[str, str]:
    """`vsl/script_id` and `vsl/step`: the tags every script's run carries."""
    return {SCRIPT: script_id, STEP: step}
