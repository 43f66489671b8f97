"""Launching one job's run into the instance's run queue from a process that already has
Dagster loaded (what `vsl demo` does to start generation), as `dagster job launch` does."""

import json
from pathlib import Path

import dagster as dg
from dagster._cli.job import execute_launch_command
from dagster_shared.cli import WorkspaceOpts


def launch_job(dagster_home: Path, workspace: Path, job_name: str, tags: dict[str, str]) -> str:
    """Queue a run of `job_name` with `tags` through the code location named in `workspace`
    (the run coordinator then dequeues it like any other); its run id. The same calls as
    `dagster job launch -w WORKSPACE -j JOB --tags JSON`, without a process of its own (a
    Python start and Dagster's import, 2 s and more on this machine)."""
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run = execute_launch_command(
            instance=instance,
            workspace_opts=WorkspaceOpts(workspace=[str(workspace)]),
            job_name=job_name,
            tags=json.dumps(tags),
        )
        return run.run_id
