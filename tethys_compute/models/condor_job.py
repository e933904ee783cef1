"""HTCondor jobs: :class:`CondorControl` (remove, hold, release, logs) and :class:`CondorJob`."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.db import models

from tethys_compute import condor
from tethys_compute.condor import ActionOutcome
from tethys_compute.condor.cleanup import clean_when_gone
from tethys_compute.condor.client import SubmitResult
from tethys_compute.condor.submit_many import Submission
from tethys_compute.conf import compute_settings
from tethys_compute.exceptions import (
    InvalidStatusTransition,
)
from tethys_compute.models import condor_compat
from tethys_compute.models.condor_compat import (
    CondorAttributesMixin,
    RemoteIdMixin,
)
from tethys_compute.models.condor_logs import (
    _condor_logs,
    _condor_scheduler,
    _description_from,
    _merge_inputs,
    _store_inline_inputs,
)
from tethys_compute.models.condor_wrapper import URL_FILE, wrap_condor_description
from tethys_compute.models.job import Job

if TYPE_CHECKING:
    from tethys_compute.remote import RemoteHost


class CondorControl:
    """What Condor jobs and workflows share: the submit host, control by cluster id, files.

    A plain mixin of :class:`CondorJob` and :class:`CondorWorkflow` (no table).
    """

    if TYPE_CHECKING:
        pk: Any
        name: str
        cluster_id: int | None
        remote_dir: str
        output_files: Any
        workspace: str
        scheduler_id: Any
        objects: Any

    @property
    def condor_host(self) -> RemoteHost:
        """The submit host of the job's scheduler (the SSH layer's cached connection)."""
        return _condor_scheduler(cast(Job, self)).get_remote_host()

    def _stop(self) -> None:
        if self.cluster_id is not None:
            # NOT_FOUND (already left the queue) is fine: it is not running either way.
            condor.remove(self.condor_host, self.cluster_id, reason="stopped by the portal")

    def _control(self, action: str) -> None:
        if self.cluster_id is None:
            raise InvalidStatusTransition(f"Job {self.pk} has no HTCondor cluster to {action}.")
        tool = condor.hold if action == "hold" else condor.release
        tool(self.condor_host, self.cluster_id).raise_for_failure(allow=[ActionOutcome.ALREADY])

    def _pause(self) -> None:
        self._control("hold")

    def _resume(self) -> None:
        self._control("release")

    def _before_results(self) -> None:
        if self.output_files and self.remote_dir:
            condor.fetch_outputs(
                self.condor_host, self.remote_dir, self.output_files, self.workspace or "."
            )

    def _clean(self) -> None:
        if self.remote_dir and self.scheduler_id is not None:
            # Only once the (removed) cluster left the queue: HTCondor writes its abort
            # event into the directory and would re-create it.
            clean_when_gone(
                self.condor_host,
                self.remote_dir,
                self.cluster_id,
                wait=float(compute_settings.CONDOR_REMOVE_WAIT),
            )
            type(self).objects.filter(pk=self.pk).update(remote_dir="")
            self.remote_dir = ""


class CondorJob(CondorAttributesMixin, RemoteIdMixin, CondorControl, Job):
    """A job run by HTCondor on a :class:`~tethys_compute.models.CondorScheduler`.

    ``submit_description`` is a mapping of submit commands (``executable``,
    ``arguments`` as a list, ``output``, ``error``, ``queue``...), submit text,
    or was given as a :class:`condorpy.Job`.  ``input_files`` (paths, or a
    mapping of remote name to path or bytes; bytes are kept in the workspace)
    are uploaded to a fresh remote directory; ``output_files`` are fetched into the workspace
    before the results callback runs.

    With a ``callback_base_url`` and a mapping description, the executable
    runs under a small wrapper that reports "running" and the exit code to
    the job's signed callback URL.

    Examples
    --------
    >>> job = manager.create_job(
    ...     "echo", user, "CONDOR", scheduler=condor_scheduler,
    ...     submit_description={"executable": "/bin/echo", "arguments": ["hi"],
    ...                  "output": "out.txt", "error": "err.txt"})  # doctest: +SKIP
    >>> job.execute()  # doctest: +SKIP
    """

    KIND: ClassVar[str] = "condor"
    JOB_TYPE: ClassVar[str] = "CONDOR"

    submit_description = models.JSONField(
        "submit description", default=dict, blank=True, help_text="Submit commands, or text."
    )
    input_files = models.JSONField("input files", default=list, blank=True)
    output_files = models.JSONField("output files", default=list, blank=True)
    remote_dir = models.CharField("remote directory", max_length=1024, blank=True, default="")
    cluster_id = models.PositiveIntegerField("cluster id", null=True, blank=True)
    num_jobs = models.PositiveIntegerField("procs", default=1)

    class Meta:
        verbose_name = "Condor job"
        verbose_name_plural = "Condor jobs"

    def save(self, *args: Any, **kwargs: Any) -> None:
        _store_inline_inputs(self)
        super().save(*args, **kwargs)

    def set_description(self, value: Any) -> None:
        """Store a mapping, text or :class:`condorpy.Job` as the submit description."""
        data, inputs, procs = _description_from(value)
        self.submit_description = data
        self.num_jobs = procs
        if inputs and not self.input_files:
            self.input_files = inputs

    def _execute(self, *args: Any, **kwargs: Any) -> list[str]:
        host = self.condor_host
        run = self._submission()
        result = condor.submit(
            host, run.description, run.input_files, private_files=run.private_files
        )
        return self._took_submission(result)

    def _submission(self) -> Submission:
        """What this run submits: the (wrapped) description, the inputs, the private files.

        Needs the run's ``callback_key`` (given when the job is claimed for a
        run): the wrapper's callback URL is signed with it.
        """
        submit = condor_compat.expand_template(self.submit_description, self.name)
        description, wrapper = wrap_condor_description(self, submit, "proc")
        extra: dict[str, Any] = {
            **condor_compat.directory_markers([submit]),
            **condor_compat.executable_copy(submit, self.input_files),
            **condor_compat.into_initialdir(submit, wrapper),
            **wrapper,
        }
        inputs: Any = self.input_files
        if extra:
            inputs = _merge_inputs(self.input_files, extra)
        # The callback URL (and its copy in initialdir) readable by its owner only.
        private = tuple(name for name in extra if posixpath.basename(name) == URL_FILE)
        return Submission(description, inputs, private)

    def _took_submission(self, result: SubmitResult) -> list[str]:
        """Keep what HTCondor made of :meth:`_submission`; the names of the fields set."""
        self.remote_dir = result.remote_dir
        self.cluster_id = result.cluster_id
        self.num_jobs = result.num_jobs
        return ["remote_dir", "cluster_id", "num_jobs"]

    def _fetch_logs(self) -> dict[str, Any]:
        return _condor_logs(
            self.condor_host,
            self.remote_dir,
            condor_compat.log_paths_description(self.submit_description, self.name),
            self.cluster_id,
            self.num_jobs,
        )

    def _forget_run(self) -> None:
        self.cluster_id = None
        type(self).objects.filter(pk=self.pk).update(cluster_id=None)
