"""The :class:`JobManager`: an app's way to create, list and find its jobs.

Keeps Tethys Platform's names and meanings (``JobManager(app)``,
``create_job``, ``list_jobs``, ``get_job`` returning None,
``get_job_status_callback_url``); what it adds:

* a job manager can also be made from a ``label`` and a ``workspace`` (no app
  object), so any Django app can use it;
* :meth:`JobManager.require_job` raises
  :class:`~tethys_compute.exceptions.JobNotFoundError` (a ``LookupError``)
  where ``get_job`` returns None;
* ``list_jobs`` also takes ``user`` and ``groups`` together, and status names.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import Q
from django.urls import NoReverseMatch, reverse

from tethys_compute import dask_code
from tethys_compute.conf import compute_settings
from tethys_compute.exceptions import InvalidArgumentError, JobNotFoundError
from tethys_compute.jobs import batch
from tethys_compute.jobs.new_job import (  # the helpers that lived here, kept importable
    _IMPORT_PATH as _IMPORT_PATH,
)
from tethys_compute.jobs.new_job import _as_groups, build_job, job_kind
from tethys_compute.jobs.new_job import (
    _check_import_path as _check_import_path,
)
from tethys_compute.jobs.new_job import (
    _check_scheduler as _check_scheduler,
)
from tethys_compute.jobs.new_job import (
    _is_job_type as _is_job_type,
)
from tethys_compute.jobs.new_job import (
    _non_json as _non_json,
)
from tethys_compute.jobs.new_job import (
    check_json as check_json,
)
from tethys_compute.jobs.status import parse_status
from tethys_compute.models.dask import DaskScheduler
from tethys_compute.models.job import Job, JobQuerySet

__all__ = ["JobManager", "user_folder_name"]

#: Characters a user's folder name keeps as they are; every other is written ``%XX``.
_PLAIN = re.compile(r"[\w@+-]")
#: Longest folder name (bytes); longer ones end in a digest of the user name.
_MAX_FOLDER = 200


def user_folder_name(username: str) -> str:
    """The one path part of a user's folder under a job manager's workspace.

    Names of letters, digits and ``_ @ + -`` (with dots anywhere but at the
    start) stay as they are, so folders keep the user names Tethys Platform
    uses; any other character (``/``, a leading ``.``, ``%``...) is written
    as ``%XX`` per UTF-8 byte, and a name longer than 200 bytes so written is
    cut and ends in ``%~`` and a SHA-256 digest of the name.  Different names
    give different folders, and no name gives ``.``, ``..``, a path with
    ``/`` or the ``_shared`` folder of jobs without a user.

    Examples
    --------
    >>> user_folder_name("alice")
    'alice'
    >>> user_folder_name("..")
    '%2E.'
    >>> user_folder_name("")
    '_shared'
    """
    if not username:
        return "_shared"
    parts = []
    for position, char in enumerate(username):
        if _PLAIN.fullmatch(char) or (char == "." and position > 0):
            parts.append(char)
        else:
            parts.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8")))
    folder = "".join(parts)
    if folder == "_shared":
        folder = "%5Fshared"
    if len(folder.encode("utf-8")) > _MAX_FOLDER:
        # "%~" never appears in an encoded name: a long name cannot meet a short one.
        digest = hashlib.sha256(username.encode("utf-8")).hexdigest()[:32]
        start = folder.encode("utf-8")[: _MAX_FOLDER - 40].decode("utf-8", "ignore")
        folder = f"{start}%~{digest}"
    return folder


class JobManager:
    """Create, list and find the jobs of one app (its ``label``).

    Parameters
    ----------
    label : str or app
        Namespace of the app's jobs, or (Tethys Platform's form) the app
        itself: any object with a ``package`` attribute (its label) and a
        workspace (see :func:`app_workspace`).
    workspace : str or path
        Directory for job files; each job's ``workspace`` defaults to its own
        folder ``<workspace>/<user folder>/<job id>/``, the user folder
        being the user name made a safe single path part by
        :func:`user_folder_name` (a Condor job's
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
        label: Any,
        workspace: str | os.PathLike[str] = "",
        *,
        callback_base_url: str | None = None,
    ) -> None:
        #: The app object of ``JobManager(app)`` (Tethys Platform), else None.
        self.app: Any = None
        #: Tethys Platform's attribute (job templates are not used here).
        self.job_templates: dict[str, Any] = {}
        if not isinstance(label, str) and getattr(label, "package", None):
            self.app = label
            label = str(label.package)
            workspace = workspace or app_workspace(self.app)
        if not isinstance(label, str) or not label.strip():
            raise InvalidArgumentError(
                "A JobManager needs a non-empty label (the app's name), or an app object with "
                f"a 'package' attribute; got {label!r}."
            )
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
        return os.path.join(self.workspace, user_folder_name(str(name or "")))

    def create_job(
        self,
        name: str,
        user: Any,
        groups: Any = None,
        job_type: str | type[Job] | None = None,
        **kwargs: Any,
    ) -> Job:
        """Create a job of ``job_type`` (saved, status Pending; call ``execute()``).

        Parameters
        ----------
        name : str
            ``{id}`` in it becomes the job's id (``"run_{id}"`` -> ``"run_7"``).
        user : User or None
            Who owns the job; an anonymous user (``request.user`` of a visitor
            who is not logged in) is stored as no user.
        groups : Group or iterable of Group, optional
            Groups the job is shared with (Tethys Platform's third argument).
            A job type given here (``create_job(name, user, "DASK")``) is
            taken as ``job_type``.
        job_type : str or Job subclass
            ``'BASIC'`` (the default), ``'CONDOR'`` (or ``'CONDORJOB'``),
            ``'CONDORWORKFLOW'`` or ``'DASK'``.
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
        job, user_workspace, inline_inputs, groups = self._new_job(
            name, user, groups, job_type, kwargs
        )
        job.save()
        if user_workspace:
            job.workspace = os.path.join(user_workspace, str(job.pk))
            if inline_inputs is not None:
                job.input_files = inline_inputs  # type: ignore[attr-defined]
                job.save()
            else:
                # The job's own folder, known once it has an id: one column, one UPDATE.
                Job.objects.filter(pk=job.pk).update(workspace=job.workspace)
                job.remember_saved_fields(["workspace"])
        if groups:
            job.groups.add(*_as_groups(groups))
        return job

    def create_jobs(
        self,
        name: str,
        user: Any,
        job_type: str | type[Job],
        parameters: Iterable[Mapping[str, Any]],
        groups: Any = None,
        **common: Any,
    ) -> list[Job]:
        """Create one job per entry of ``parameters`` (a sweep), in a few bulk queries.

        Each job is what ``create_job(name, user, groups, job_type, **common,
        **entry)`` would make (saved, Pending; its own row, id and folder), but
        the rows are written together: the number of queries does not grow
        with the number of jobs.  Run them with :meth:`execute_all`.

        Parameters
        ----------
        name : str
            Every job's name; ``{id}`` becomes each job's id.
        parameters : iterable of mapping
            Per job, the keywords that differ (``{"args": [3]}``...).
        **common
            Keywords every job shares (``scheduler``, ``function``...).

        Raises
        ------
        InvalidArgumentError
            As :meth:`create_job`; also for input files given as bytes
            (use :meth:`create_job` for those).

        Examples
        --------
        >>> jobs = manager.create_jobs("tile_{id}", user, "DASK", scheduler=scheduler,
        ...     function="my_app.tasks.tile", parameters=[{"args": [n]} for n in range(1000)]
        ... )  # doctest: +SKIP
        >>> manager.execute_all(jobs)  # doctest: +SKIP
        """
        return batch.create_all(self, name, user, job_type, parameters, groups, common)

    def execute_all(self, jobs: Iterable[Job]) -> None:
        """Submit Pending jobs together: per scheduler, one submission for all of them.

        Dask jobs on one scheduler are sent in one submission (and their
        results published in one more call); the Condor jobs of one scheduler
        go in one remote command, a cluster each
        (:mod:`tethys_compute.jobs.batch_condor`); each job is then tracked on
        its own as if it had been executed alone.  Other kinds (workflows
        too) are executed one by one.  See
        :func:`tethys_compute.jobs.batch.execute_all`.

        Raises
        ------
        InvalidStatusTransition
            When one of the jobs is not Pending; nothing has been submitted.
        CondorSubmitError
            When HTCondor refused some Condor jobs: those are Error with the
            reason, the others were submitted.
        """
        batch.execute_all(jobs)

    def _new_job(
        self, name: str, user: Any, groups: Any, job_type: Any, kwargs: dict[str, Any]
    ) -> tuple[Job, str, Any, Any]:
        """An unsaved job as ``create_job`` makes it (see :func:`~.new_job.build_job`)."""
        return build_job(self, name, user, groups, job_type, kwargs)

    _kind = staticmethod(job_kind)

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
        if not isinstance(scheduler, DaskScheduler):
            raise InvalidArgumentError(
                f"upload_code() needs a DaskScheduler record, not {scheduler!r}: pass "
                "scheduler=get_scheduler('<name>')."
            )
        return dask_code.upload_code(scheduler.get_client(), path)

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
            More ``filter()`` keywords; ``status`` takes codes or names;
            ``label`` replaces the app's label (as in Tethys Platform).
        """
        extra = dict(filters or {})
        # Tethys Platform: a "label" in filters replaces the app's label.
        query = Job.objects.filter(label=extra.pop("label", self.label))
        who = Q()
        if user is not None:
            who |= Q(user=None if getattr(user, "is_anonymous", False) else user)
        if groups is not None:
            who |= Q(groups__in=_as_groups(groups))
        if who:
            query = query.filter(who)
            if groups is not None:
                query = query.distinct()
        if "status" in extra:
            value = extra.pop("status")
            if isinstance(value, (list, tuple, set)):
                extra["status_code__in"] = [parse_status(v).value for v in value]
            else:
                extra["status_code"] = parse_status(value).value
        if extra:
            query = query.filter(**extra)
        return query.order_by(order_by).select_subclasses().prefetch_related("user")  # type: ignore[return-value]

    def get_job(
        self, job_id: int | str, user: Any = None, filters: Mapping[str, Any] | None = None
    ) -> Job | None:
        """The job ``job_id`` of this app (and ``user``), as its own kind; None if there is none.

        Tethys Platform's meaning; :meth:`require_job` raises instead.

        Parameters
        ----------
        job_id : int or str
        user : User, optional
            Only a job of this user.
        filters : mapping, optional
            More ``filter()`` keywords (``label`` replaces the app's label).
        """
        try:
            return self.require_job(job_id, user=user, filters=filters)
        except JobNotFoundError:
            return None

    def require_job(
        self, job_id: int | str, user: Any = None, filters: Mapping[str, Any] | None = None
    ) -> Job:
        """Like :meth:`get_job`, but a missing job raises.

        Raises
        ------
        JobNotFoundError
            When there is no such job (for this label and user); a
            ``LookupError``.
        """
        query: dict[str, Any] = {"label": self.label, **dict(filters or {})}
        query["pk"] = job_id
        if user:
            query["user"] = None if getattr(user, "is_anonymous", False) else user
        try:
            return Job.objects.get_subclass(**query)  # type: ignore[no-any-return]
        except (Job.DoesNotExist, ValueError):
            who = f" of user {user}" if user else ""
            raise JobNotFoundError(f"No job {job_id!r} in {query['label']!r}{who}.") from None

    def get_job_status_callback_url(self, request: Any, job_id: int | str) -> str:
        """Tethys Platform's status URL of a job, absolute (``.../update-job-status/<id>/``).

        A request to it makes the portal ask the job's scheduler for its
        status now (``?delay=<seconds>``: that many seconds later); it takes
        no status from the caller.  The portal's URLconf must include
        ``tethys_compute.urls``.
        """
        try:
            relative = reverse("update_job_status", kwargs={"job_id": job_id})
        except NoReverseMatch:
            relative = reverse("tethys_compute:update_job_status", kwargs={"job_id": job_id})
        return str(request.build_absolute_uri(relative))


def app_workspace(app: Any) -> str:
    """The directory of an app object's jobs: its ``workspace``, or Tethys' app workspace.

    Tried in order: ``app.workspace`` (a path or an object with ``.path``),
    ``app.get_app_workspace()`` (Tethys Platform's method), else no
    workspace.  Each job's own folder is made under it (see
    :class:`JobManager`).
    """
    value = getattr(app, "workspace", None)
    if value is None and callable(getattr(app, "get_app_workspace", None)):
        value = app.get_app_workspace()
    if value is None:
        return ""
    return os.fspath(getattr(value, "path", value))
