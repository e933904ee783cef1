"""Results callbacks used by the jobs tests (given to jobs as import paths)."""

from __future__ import annotations

from pathlib import Path

from tethys_compute.models import Job


def mark_processed(job: Job) -> None:
    """Record that the results were processed, and which files the workspace holds."""
    files = sorted(p.name for p in Path(job.workspace).glob("*")) if job.workspace else []
    job.extended_properties = {**job.extended_properties, "processed": True, "files": files}
    job.save(update_fields=["extended_properties"])


def as_dollars(value: object) -> str:
    """A Dask job's results callback (Tethys Platform's: it takes the task's value)."""
    return f"${value}"


def fail(job: Job) -> None:
    """A results callback that fails."""
    raise RuntimeError("results could not be read")


def write_into_workspace(job: Job) -> None:
    """A results callback that writes a file into the job's workspace (which must exist)."""
    (Path(job.workspace) / "written.txt").write_text("ok")
