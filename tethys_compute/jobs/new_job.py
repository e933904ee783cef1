"""A new job as :meth:`JobManager.create_job` makes it, before it is saved.

:func:`build_job` turns ``create_job``'s arguments into an unsaved job of the
right kind and refuses the ones that cannot work, before anything is
written: an unknown job type or keyword, a function that is not an import
path, a Dask job without a Dask scheduler record, ``args``/``kwargs``/
``extended_properties`` that JSON cannot hold.  :meth:`JobManager.create_job`
saves what it builds; :meth:`JobManager.create_jobs`
(:func:`tethys_compute.jobs.batch.create_all`) builds each job of a sweep
the same way and writes them together.  Every name here is also importable
from :mod:`tethys_compute.jobs.manager`, where it lived first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tethys_compute.exceptions import InvalidArgumentError
from tethys_compute.models.dask import DaskScheduler
from tethys_compute.models.job import Job, job_types
from tethys_compute.value_fields import import_path_of

if TYPE_CHECKING:
    from tethys_compute.jobs.manager import JobManager

__all__ = ["build_job", "check_json", "job_kind"]

_IMPORT_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


def build_job(
    manager: JobManager, name: str, user: Any, groups: Any, job_type: Any, kwargs: dict[str, Any]
) -> tuple[Job, str, Any, Any]:
    """An unsaved job as ``create_job`` makes it; its user folder, bytes inputs, groups.

    ``kwargs`` are ``create_job``'s keywords (the ones it uses are taken out
    of it).  Returns the job, the user's folder under the manager's
    workspace (empty when the job was given its own ``workspace``), input
    files given as bytes (None without them; written once the job has its
    folder) and the groups (None when ``groups`` was the job type).

    Raises
    ------
    InvalidArgumentError
        See :meth:`JobManager.create_job`.
    """
    if job_type is None and _is_job_type(groups):
        job_type, groups = groups, None
    kind = job_kind(job_type or "BASIC")
    if getattr(user, "is_anonymous", False):
        user = None
    own_workspace = kwargs.pop("workspace", None)
    user_workspace = "" if own_workspace else manager._user_workspace(user)
    fields: dict[str, Any] = {
        "name": name,
        "user": user,
        "label": manager.label,
        "workspace": own_workspace or user_workspace,
        "callback_base_url": kwargs.pop("callback_base_url", manager.callback_base_url),
    }
    results = kwargs.pop("process_results_function", None)
    if results is not None:
        fields["process_results_function"] = _check_import_path(
            import_path_of(results), "process_results_function"
        )
    submit = None
    if kind.KIND == "condor":
        for name in ("submit_description", "condorpy_job"):
            if name in kwargs:
                submit = kwargs.pop(name)
    if kind.KIND == "dask" and kwargs.get("function"):
        kwargs["function"] = _check_import_path(import_path_of(kwargs["function"]), "function")
    known = {f.name for f in kind._meta.get_fields() if getattr(f, "concrete", False)}
    if kind.KIND == "condor":
        # Tethys Platform's condorpy keywords (see tethys_compute.models.condor_compat).
        known |= {"attributes", "condorpy_template_name", "remote_input_files"}
    unknown = set(kwargs) - known
    if unknown:
        raise InvalidArgumentError(
            f"create_job() got unknown keyword(s) {sorted(unknown)} for a {kind.__name__}."
        )
    _check_scheduler(kind, kwargs.get("scheduler"))
    for field in ("args", "kwargs", "extended_properties"):
        if field in kwargs:
            check_json(kwargs[field], field)
    # Inputs given as bytes are written into the job's own folder, known once it is saved.
    inline_inputs = None
    if user_workspace and isinstance(kwargs.get("input_files"), Mapping):
        inline_inputs = kwargs.pop("input_files")
    fields.update(kwargs)
    job = kind(**fields)
    if submit is not None:
        job.set_description(submit)  # type: ignore[attr-defined]
    return job, user_workspace, inline_inputs, groups


def job_kind(job_type: str | type[Job]) -> type[Job]:
    """The job class of ``job_type``: a name of ``create_job`` or a Job subclass.

    Raises
    ------
    InvalidArgumentError
        For a name that is no job type (the message lists them).
    """
    if isinstance(job_type, type) and issubclass(job_type, Job):
        return job_type
    kinds = job_types()
    kind = kinds.get(str(job_type).upper())
    if kind is None:
        raise InvalidArgumentError(
            f"Unknown job_type {job_type!r}; use one of {', '.join(sorted(kinds))}."
        )
    return kind


def _check_scheduler(kind: type[Job], scheduler: Any) -> None:
    """A Dask job needs a Dask scheduler record, known at creation (not at execute())."""
    if kind.KIND != "dask":
        return
    if isinstance(scheduler, DaskScheduler):
        return
    has = (
        f"scheduler={scheduler!r} is a {type(scheduler).__name__}"
        if scheduler is not None
        else "no scheduler was given"
    )
    raise InvalidArgumentError(
        f"create_job(..., 'DASK') needs a Dask scheduler record: {has}. Pass "
        "scheduler=get_scheduler('<name>') (a DaskScheduler; `manage.py schedulers list` shows "
        "them). A Dask job never starts a local cluster of its own."
    )


def check_json(value: Any, name: str) -> None:
    """Refuse a value that cannot be stored as JSON, naming the argument and the bad part.

    Raises
    ------
    InvalidArgumentError
        E.g. ``args[1] is a numpy.ndarray, which cannot be stored as JSON``.
    """
    bad = _non_json(value, name)
    if bad is not None:
        where, item = bad
        kind = f"{type(item).__module__}.{type(item).__qualname__}".removeprefix("builtins.")
        raise InvalidArgumentError(
            f"{where} is a {kind}, which cannot be stored as JSON (the job's {name} are "
            "stored in the database). Give numbers, strings, booleans, None, lists and dicts "
            "with string keys; pass larger data as a file in the job's workspace (its path as "
            "the argument), or run dask.delayed work with job.execute(work)."
        )


def _non_json(value: Any, where: str, depth: int = 0) -> tuple[str, Any] | None:
    """``(path, item)`` of the first part of ``value`` JSON cannot hold; None if all can."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return None
    if depth > 50:
        return where, value
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _non_json(item, f"{where}[{index}]", depth + 1)
            if found:
                return found
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} key {key!r}", key
            found = _non_json(item, f"{where}[{key!r}]", depth + 1)
            if found:
                return found
        return None
    return where, value


def _check_import_path(path: str, what: str) -> str:
    """``path`` if it has the form ``module.attr`` (checked here, imported when run)."""
    if not _IMPORT_PATH.fullmatch(path.strip()):
        raise InvalidArgumentError(
            f"{what}={path!r} is not an import path: give 'package.module.name' (a module and "
            "a function in it, e.g. 'my_app.tasks.total'), or the function itself. It is "
            "imported where the job runs (Dask: on the workers)."
        )
    return path.strip()


def _is_job_type(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, type) and issubclass(value, Job))


def _as_groups(groups: Any) -> list[Any]:
    """One Group (Tethys Platform's form) or an iterable of groups, as a list."""
    if hasattr(groups, "_meta"):
        return [groups]
    return list(groups)
