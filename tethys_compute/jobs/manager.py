"""The :class:`JobManager`: an app's way to create, list and find its jobs.

Keeps Tethys Platform's names (``create_job``, ``list_jobs``, ``get_job``);
the differences are on purpose:

* a job manager is made from a ``label`` and a ``workspace`` (not from an app
  object), so any Django app can use it;
* ``get_job`` raises :class:`~tethys_compute.exceptions.JobNotFoundError`
  (a ``LookupError``) instead of returning None;
* ``list_jobs`` also filters by ``groups`` and accepts status names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import Q

from tethys_compute.conf import compute_settings
from tethys_compute.exceptions import InvalidArgumentError, JobNotFoundError
from tethys_compute.jobs.status import parse_status
from tethys_compute.models.job import Job, JobQuerySet, job_types

__all__ = ["JobManager"]


class JobManager:
    """Create, list and find the jobs of one app (its ``label``).

    Parameters
    ----------
    label : str
        Namespace of the app's jobs (Tethys Platform uses the app's package name).
    workspace : str or path
        Directory for job files; each job's ``workspace`` defaults to its own
        folder ``<workspace>/<user name>/<job id>/`` (a Condor job's
        ``output_files`` are fetched there, so two jobs never overwrite each
        other's outputs).
    callback_base_url : str, optional
        The portal's address as jobs reach it (``https://portal.example.com``).
        Jobs then push their status changes to a signed URL under it (the
        portal's URLconf must include ``tethys_compute.urls``); without it the
        refresher polls.  Default: ``TETHYS_COMPUTE['JOB_CALLBACK_BASE_URL']``.

    Examples
    --------
    >>> from tethys_sdk.jobs import JobManager
    >>> manager = JobManager("my_app", "/var/lib/portal/my_app")
    >>> job = manager.create_job("hello", user, "BASIC")  # doctest: +SKIP
    >>> manager.get_job(job.id, user=user) == job  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        label: str,
        workspace: str | os.PathLike[str] = "",
        *,
        callback_base_url: str | None = None,
    ) -> None:
        if not isinstance(label, str) or not label.strip():
            raise InvalidArgumentError("A JobManager needs a non-empty label (the app's name).")
        self.label = label.strip()
        self.workspace = os.fspath(workspace)
        if callback_base_url is None:
            callback_base_url = compute_settings.JOB_CALLBACK_BASE_URL or ""
        self.callback_base_url = callback_base_url

    def __repr__(self) -> str:
        return f"<JobManager {self.label!r}>"

    def _user_workspace(self, user: Any) -> str:
        if not self.workspace:
            return ""
        name = getattr(user, "get_username", lambda: "")() if user is not None else ""
        return os.path.join(self.workspace, name or "_shared")

    def create_job(
        self, name: str, user: Any, job_type: str | type[Job] = "BASIC", **kwargs: Any
    ) -> Job:
        """Create a job of ``job_type`` (saved, status Pending; call ``execute()``).

        Parameters
        ----------
        name : str
        user : User or None
            Who owns the job.
        job_type : str or Job subclass
            ``'BASIC'``, ``'CONDOR'`` (or ``'CONDORJOB'``), ``'CONDORWORKFLOW'``
            or ``'DASK'``.
        **kwargs
            Fields of the kind: ``scheduler`` (a record), ``description``
            (free text), ``groups``, ``extended_properties``,
            ``process_results_function`` (an import path or a function);
            Condor: ``submit_description`` (mapping, text or condorpy.Job;
            Tethys' ``attributes`` and ``condorpy_job`` work too),
            ``input_files``, ``output_files``; workflows: ``max_jobs``; Dask:
            ``function`` (import path or function), ``args``, ``kwargs``.

        Raises
        ------
        InvalidArgumentError
            For an unknown job type or keyword, a function that is not an
            import path (``"package.module.name"``), a Dask job without a
            Dask scheduler record, or ``args``/``kwargs``/
            ``extended_properties`` that JSON cannot hold (the message names
            the argument and the part).  Nothing is saved.
        """
        kind = self._kind(job_type)
        groups = kwargs.pop("groups", None)
        own_workspace = kwargs.pop("workspace", None)
        user_workspace = "" if own_workspace else self._user_workspace(user)
        fields: dict[str, Any] = {
            "name": name,
            "user": user,
            "label": self.label,
            "workspace": own_workspace or user_workspace,
            "callback_base_url": kwargs.pop("callback_base_url", self.callback_base_url),
        }
        results = kwargs.pop("process_results_function", None)
        if results is not None:
            fields["process_results_function"] = _check_import_path(
                _import_path(results), "process_results_function"
            )
        submit = None
        if kind.KIND == "condor":
            for name in ("submit_description", "attributes", "condorpy_job"):
                if name in kwargs:
                    submit = kwargs.pop(name)
        if kind.KIND == "dask" and kwargs.get("function"):
            kwargs["function"] = _check_import_path(_import_path(kwargs["function"]), "function")
        known = {f.name for f in kind._meta.get_fields() if getattr(f, "concrete", False)}
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
        job.save()
        if user_workspace:
            job.workspace = os.path.join(user_workspace, str(job.pk))
            if inline_inputs is not None:
                job.input_files = inline_inputs  # type: ignore[attr-defined]
            job.save()
        if groups:
            job.groups.set(list(groups))
        return job

    @staticmethod
    def _kind(job_type: str | type[Job]) -> type[Job]:
        if isinstance(job_type, type) and issubclass(job_type, Job):
            return job_type
        kinds = job_types()
        kind = kinds.get(str(job_type).upper())
        if kind is None:
            raise InvalidArgumentError(
                f"Unknown job_type {job_type!r}; use one of {', '.join(sorted(kinds))}."
            )
        return kind

    def upload_code(self, path: str | os.PathLike[str], scheduler: Any) -> str:
        """Ship the app's code to a running Dask cluster, for development.

        Dask's standard ``client.upload_file`` (see
        :func:`tethys_compute.dask_code.upload_code`): a ``.py`` file, a
        package folder or a folder of modules goes to the scheduler and every
        worker of ``scheduler`` (a DaskScheduler record), which can then
        import it.  In production, install the app's package where the
        scheduler and workers run instead.

        Examples
        --------
        >>> manager.upload_code("/home/me/hydro/hydro", get_scheduler("Default"))  # doctest: +SKIP
        'hydro.zip'
        """
        from tethys_compute.dask_code import upload_code
        from tethys_compute.models.dask import DaskScheduler

        if not isinstance(scheduler, DaskScheduler):
            raise InvalidArgumentError(
                f"upload_code() needs a DaskScheduler record, not {scheduler!r}: pass "
                "scheduler=get_scheduler('<name>')."
            )
        return upload_code(scheduler.get_client(), path)

    def list_jobs(
        self,
        user: Any = None,
        groups: Iterable[Any] | None = None,
        order_by: str = "id",
        filters: Mapping[str, Any] | None = None,
    ) -> JobQuerySet:
        """The app's jobs, each as its own kind, in one query (no remote call).

        Parameters
        ----------
        user : User, optional
            Only this user's jobs.
        groups : iterable of Group, optional
            Only jobs shared with one of these groups (with ``user``: the
            user's jobs *or* those).
        order_by : str
        filters : mapping, optional
            More ``filter()`` keywords; ``status`` takes codes or names.
        """
        query = Job.objects.filter(label=self.label)
        who = Q()
        if user is not None:
            who |= Q(user=user)
        if groups is not None:
            who |= Q(groups__in=list(groups))
        if who:
            query = query.filter(who)
            if groups is not None:
                query = query.distinct()
        extra = dict(filters or {})
        if "status" in extra:
            value = extra.pop("status")
            if isinstance(value, (list, tuple, set)):
                extra["status_code__in"] = [parse_status(v).value for v in value]
            else:
                extra["status_code"] = parse_status(value).value
        if extra:
            query = query.filter(**extra)
        return query.order_by(order_by).select_subclasses().prefetch_related("user")  # type: ignore[return-value]

    def get_job(self, job_id: int | str, user: Any = None) -> Job:
        """The job ``job_id`` of this app (and ``user``), as its own kind.

        Raises
        ------
        JobNotFoundError
            When there is no such job (for this label and user).
        """
        filters: dict[str, Any] = {"pk": job_id, "label": self.label}
        if user is not None:
            filters["user"] = user
        try:
            return Job.objects.get_subclass(**filters)  # type: ignore[no-any-return]
        except (Job.DoesNotExist, ValueError):
            who = f" of user {user}" if user is not None else ""
            raise JobNotFoundError(f"No job {job_id!r} in {self.label!r}{who}.")


def _check_scheduler(kind: type[Job], scheduler: Any) -> None:
    """A Dask job needs a Dask scheduler record, known at creation (not at execute())."""
    if kind.KIND != "dask":
        return
    from tethys_compute.models.dask import DaskScheduler

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


_IMPORT_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


def _check_import_path(path: str, what: str) -> str:
    """``path`` if it has the form ``module.attr`` (checked here, imported when run)."""
    if not _IMPORT_PATH.fullmatch(path.strip()):
        raise InvalidArgumentError(
            f"{what}={path!r} is not an import path: give 'package.module.name' (a module and "
            "a function in it, e.g. 'my_app.tasks.total'), or the function itself. It is "
            "imported where the job runs (Dask: on the workers)."
        )
    return path.strip()


def _import_path(value: Any) -> str:
    if isinstance(value, str):
        return value
    module = getattr(value, "__module__", None)
    name = getattr(value, "__qualname__", None)
    if not module or not name or "<" in name:
        raise InvalidArgumentError(
            f"{value!r} cannot be named by an import path; give a module-level function."
        )
    return f"{module}.{name}"
