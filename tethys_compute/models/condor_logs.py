"""HTCondor jobs' log files and inputs: output names, remote log reading, inline inputs."""

from __future__ import annotations

import posixpath
import re
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tethys_compute.condor.describe import _is_condorpy_job, check_relative_name
from tethys_compute.exceptions import (
    InvalidArgumentError,
    SchedulerConnectionError,
    TethysComputeError,
)
from tethys_compute.models.condor import CondorScheduler
from tethys_compute.models.job import Job

if TYPE_CHECKING:
    from tethys_compute.remote import RemoteHost

_OUTPUT_LINE = re.compile(r"^\s*(output|error|log)\s*=\s*(.*?)\s*$", re.IGNORECASE | re.MULTILINE)


def _condor_scheduler(job: Job) -> CondorScheduler:
    scheduler = job.get_scheduler()
    if not isinstance(scheduler, CondorScheduler):
        raise InvalidArgumentError(
            f"Job {job.pk} ({job.name!r}) needs a CondorScheduler; it has "
            + (f"the {scheduler.KIND} scheduler {scheduler.name!r}." if scheduler else "none.")
            + " Pass scheduler=get_scheduler('<name>') to create_job()."
        )
    return scheduler


def _expand_macros(value: str, cluster_id: int | None, proc: int) -> str:
    cluster = "" if cluster_id is None else str(cluster_id)
    for macro, replacement in (
        ("$(ClusterId)", cluster),
        ("$(Cluster)", cluster),
        ("$(ProcId)", str(proc)),
        ("$(Process)", str(proc)),
        ("$(Step)", "0"),
    ):
        value = value.replace(macro, replacement)
    return value


def _output_names(description: Any) -> dict[str, str]:
    """``output``/``error``/``log`` file names of a submit description (mapping or text)."""
    names: dict[str, str] = {}
    if isinstance(description, Mapping):
        for key, value in description.items():
            if str(key).lower() in ("output", "error", "log") and value:
                names[str(key).lower()] = str(value)
    elif isinstance(description, str):
        for match in _OUTPUT_LINE.finditer(description):
            names[match.group(1).lower()] = match.group(2)
    return names


def _read_remote_text(host: RemoteHost, path: str, limit: int = 1_000_000) -> str:
    with tempfile.TemporaryDirectory(prefix="tethys-logs-") as tmp:
        local = Path(tmp) / "file"
        try:
            host.get_file(path, str(local))
        except SchedulerConnectionError:
            raise  # unreachable: say so (never store empty logs for a finished job)
        except (OSError, TethysComputeError):
            return ""  # not written (yet)
        data = local.read_bytes()[-limit:]
    return data.decode("utf-8", "replace")


def _log_name(name: str, field: str) -> str:
    """``name`` if it is a file inside the job's directory (the rule for output files).

    Raises
    ------
    InvalidArgumentError
        For an absolute path or one with ``..`` (never read: it could be any
        file the submit account may read).
    """
    try:
        return check_relative_name(name, f"The submit description's {field!r} file")
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(
            f"{exc} Logs are only read from the job's own directory; write {field} = a file "
            "name such as out.txt."
        ) from None


def _condor_logs(
    host: RemoteHost,
    remote_dir: str,
    description: Any,
    cluster_id: int | None,
    procs: int,
) -> dict[str, Any]:
    names = _output_names(description)
    logs: dict[str, Any] = {"stdout": "", "stderr": ""}
    if not remote_dir:
        return logs
    per_proc: dict[str, dict[str, str]] = {}
    for proc in range(max(procs, 1)):
        entry = {}
        for key, field in (("stdout", "output"), ("stderr", "error")):
            name = names.get(field)
            if not name:
                entry[key] = ""
                continue
            relative = _log_name(_expand_macros(name, cluster_id, proc), field)
            entry[key] = _read_remote_text(host, posixpath.join(remote_dir, relative))
        per_proc[str(proc)] = entry
    logs.update(per_proc["0"])
    if procs > 1:
        logs["procs"] = per_proc
    return logs


def _description_from(value: Any) -> tuple[Any, list[str], int]:
    """Normalise a submit description for storage: (JSON value, input files, procs)."""
    if _is_condorpy_job(value):
        attributes = {k: v for k, v in value.attributes.items() if k != "job_name" and v != ""}
        procs = int(value.num_jobs or 1)
        attributes["queue"] = procs
        inputs = [str(p) for p in (value.remote_input_files or ())]
        return attributes, inputs, procs
    if isinstance(value, Mapping):
        data = dict(value)
        queue = next((v for k, v in data.items() if str(k).lower() == "queue"), None)
        return data, [], int(queue) if isinstance(queue, int) and queue > 0 else 1
    if isinstance(value, str):
        return value, [], 1
    raise InvalidArgumentError(
        "A Condor job's description must be a mapping of submit commands, submit text or a "
        f"condorpy.Job, not {type(value).__name__}."
    )


def _store_inline_inputs(job: Job) -> None:
    """Write input files given as bytes into the job's workspace; keep their paths."""
    inputs = getattr(job, "input_files", None)
    if not isinstance(inputs, Mapping) or not any(isinstance(v, bytes) for v in inputs.values()):
        return

    if not job.workspace:
        raise InvalidArgumentError(
            f"Job {job.name!r} has input files given as bytes but no workspace to keep them in."
        )
    folder = Path(job.workspace) / "inputs" / secrets.token_hex(6)
    stored: dict[str, str] = {}
    for name, value in inputs.items():
        name = check_relative_name(str(name), "input file")
        if isinstance(value, bytes):
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(value)
            stored[name] = str(target)
        else:
            stored[name] = str(value)
    job.input_files = stored  # type: ignore[attr-defined]


def _merge_inputs(inputs: Any, extra: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    if isinstance(inputs, Mapping):
        merged.update(inputs)
    else:
        for path in inputs or ():
            merged[Path(str(path)).name] = str(path)
    merged.update(extra)
    return merged
