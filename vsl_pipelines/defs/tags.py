"""Run tags every requested run carries: the script, the step (the instance's per-step
concurrency limit keys on `vsl/step`), and why it was asked for."""

SCRIPT = "vsl/script_id"
STEP = "vsl/step"
STATE_KEY = "vsl/state_key"
COMPILATION = "vsl/compilation_id"  # the compilation row a compile run carries out


def run_tags(script_id: str, step: str, **extra: str) -> dict[str, str]:
    """`vsl/script_id`, `vsl/step` and `vsl/<name>` for each extra tag."""
    return {SCRIPT: script_id, STEP: step, **{f"vsl/{k}": v for k, v in extra.items()}}
