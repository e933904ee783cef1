"""What every job kind does: execute, stop, pause, resume, resubmit, results, clean, delete.

A mixin of :class:`~tethys_compute.models.job.Job` (no table): the public
actions, and the ``_execute``/``_stop``/... steps each job kind overrides.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.apps import apps
from django.utils import timezone
from django.utils.module_loading import import_string

from tethys_compute.exceptions import (
    InvalidStatusTransition,
    SchedulerConnectionError,
    TethysComputeError,
)
from tethys_compute.models.results_retry import failure_message, next_try
from tethys_compute.models.status_update import apply_status, reset
from tethys_compute.status import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    JobStatus,
)

if TYPE_CHECKING:
    from tethys_compute.models.job import Job

# The logger of the module these came from, so logging configurations keep working.
logger = logging.getLogger("tethys_compute.models.job")


def _job_model() -> type[Job]:
    """The base Job model (it subclasses this mixin, so it is looked up, not imported)."""
    return cast("type[Job]", apps.get_model("tethys_compute", "Job"))


class JobLifecycleMixin:
    """The life cycle of a job (see :class:`~tethys_compute.models.job.Job`)."""

    if TYPE_CHECKING:
        # Job's fields and methods that the life cycle uses.
        KIND: ClassVar[str]
        _app_field_names: Any
        callback_key: Any
        callback_seqs: Any
        changed_app_fields: Any
        execute_time: Any
        is_active: Any
        is_finished: Any
        logs: Any
        name: Any
        pk: Any
        process_results_function: Any
        refresh_status: Any
        remember_saved_fields: Any
        results_attempts: Any
        results_retry_at: Any
        save: Any
        scheduler: Any
        scheduler_id: Any
        scheduler_name: Any
        status: Any
        status_code: Any
        status_message: Any
        status_version: Any
        workspace: Any

    # ------------------------------------------------------------------
    # Life cycle
    # ------------------------------------------------------------------
    def execute(self, *args: Any, **kwargs: Any) -> None:
        """Submit the job to its scheduler; the status becomes Submitted.

        A failed submission leaves the job in Error with the reason in
        ``status_message`` and raises.

        Raises
        ------
        InvalidStatusTransition
            When the job is not Pending (call :meth:`resubmit`).
        TethysComputeError
            When the scheduler refused the job or could not be reached.
        """
        # Tethys Platform: executing saves the job (what the app set since create_job).
        self._save_app_fields()
        version = self._claim_for_run()
        try:
            changed = self._execute(*args, **kwargs) or []
        except Exception as exc:
            apply_status(
                cast("Job", self), JobStatus.ERROR, message=f"Submission failed: {exc}"[:2000]
            )
            logger.warning("Job %s: submission failed: %s", self.pk, exc)
            raise
        self._record_submission(version, changed)

    def _claim_for_run(self) -> int:
        """Give the Pending job this run's callback key; its status version.

        One conditional UPDATE when this object's status is the stored one;
        the row is read only when it is not (the object is older than the row).

        Raises
        ------
        InvalidStatusTransition
            When the stored status is not Pending.
        """
        self.callback_key = secrets.token_urlsafe(18)
        self.callback_seqs = {}
        table = _job_model().objects.filter(pk=self.pk)
        version = self.status_version
        for _ in range(3):
            if table.filter(status_code=JobStatus.PENDING, status_version=version).update(
                callback_key=self.callback_key, callback_seqs={}
            ):
                self.status_code, self.status_version = JobStatus.PENDING, version
                return int(version)
            # The stored status decides (this object may be older than the row).
            current, version = table.values_list("status_code", "status_version").get()
            self.status_code, self.status_version = current, version
            if current != JobStatus.PENDING:
                raise InvalidStatusTransition(
                    f"Job {self.pk} ({self.name!r}) is {self.status}, not Pending; call "
                    "resubmit() to run it again."
                )
        raise InvalidStatusTransition(f"Job {self.pk} kept changing; call execute() again.")

    def _record_submission(self, version: int, changed: Iterable[str]) -> None:
        """Store the run's ids and make the job Submitted: one UPDATE per table touched."""
        own = {f.name for f in cast("type[Job]", type(self))._meta.local_concrete_fields}
        kind_fields = {name: getattr(self, name) for name in changed if name in own}
        base_fields = {name: getattr(self, name) for name in changed if name not in own}
        if kind_fields and type(self) is not _job_model():
            cast("type[Job]", type(self))._base_manager.filter(pk=self.pk).update(**kind_fields)
        else:
            base_fields.update(kind_fields)
        now = timezone.now()
        self.execute_time = now
        values = {
            "status_code": JobStatus.SUBMITTED,
            "status_version": version + 1,
            "status_changed_at": now,
            "status_message": "",
            "execute_time": now,
            **base_fields,
        }
        if _job_model().objects.filter(pk=self.pk, status_version=version).update(**values):
            for name, value in values.items():
                setattr(self, name, value)
            logger.info("Job %s: PEN -> SUB", self.pk)
        else:
            # A push already moved the job on: it is newer than "submitted".
            _job_model().objects.filter(pk=self.pk).update(execute_time=now, **base_fields)
            apply_status(
                cast("Job", self), JobStatus.SUBMITTED, message="", expected_version=version
            )
        self.remember_saved_fields(changed)

    def stop(self, *, reason: str = "", force: bool = False) -> None:
        """Stop the job (``condor_rm``, cancel the Dask task); the status becomes Aborted.

        Tethys Platform's meaning (returns None); :meth:`stop_confirmed` does
        the same and tells whether the scheduler confirmed the stop.  A
        finished job is left as it is; a job whose scheduler does not answer
        is still marked Aborted, here only (see :meth:`stop_confirmed`).
        """
        self.stop_confirmed(reason=reason, force=force)

    def stop_confirmed(self, *, reason: str = "", force: bool = False) -> bool:
        """Stop the job like :meth:`stop`; return whether the scheduler confirmed it.

        A finished job is left as it is.  When the scheduler does not answer
        within its timeout (it is gone, or the network is), the job is still
        marked Aborted, here only, with the message ``scheduler unreachable:
        not confirmed stopped on <scheduler>`` (and a warning is logged): a
        job never stays active because its scheduler disappeared.

        Parameters
        ----------
        reason : str, optional
            Why it is stopped, kept in ``status_message`` (default "Stopped.").
        force : bool
            Do not contact the scheduler at all: mark the job Aborted here at
            once ("not confirmed stopped on <scheduler>").

        Returns
        -------
        bool
            True when the scheduler confirmed the stop (or there was nothing to
            stop); False when the job was only marked Aborted here.
        """
        self.refresh_status()
        if self.status_code in FINISHED_STATUSES:
            return True
        if self.status_code in ACTIVE_STATUSES:
            unconfirmed = ""
            if force:
                unconfirmed = f"stopped with force: {self._not_confirmed()}"
            else:
                try:
                    self._stop()
                except SchedulerConnectionError as exc:
                    unconfirmed = f"scheduler unreachable: {self._not_confirmed()}"
                    logger.warning("Job %s: %s (%s)", self.pk, unconfirmed, exc)
            if unconfirmed:
                text = f"{reason.rstrip('.')}; {unconfirmed}" if reason else unconfirmed
                apply_status(cast("Job", self), JobStatus.ABORTED, message=f"{text}."[:2000])
                self._stopped_here()
                return False
        apply_status(cast("Job", self), JobStatus.ABORTED, message=reason or "Stopped.")
        return True

    def _not_confirmed(self) -> str:
        """``not confirmed stopped on '<scheduler>'`` (what a local-only stop records)."""
        name = self.scheduler_name or (self.scheduler.name if self.scheduler else "")
        return f"not confirmed stopped on {name or 'its scheduler'!r}"

    def pause(self) -> None:
        """Hold the job (``condor_hold``); the status becomes Paused.

        Idempotent: pausing a job that is already held (by the portal or on the
        submit host) only sets the status.

        Raises
        ------
        InvalidStatusTransition
            When the job is not active, or its kind cannot pause.
        """
        self.refresh_status()
        self._require_active("pause")
        self._pause()
        apply_status(cast("Job", self), JobStatus.PAUSED, message="Paused.", strict=True)

    def resume(self) -> None:
        """Release a paused job (``condor_release``); a Paused status becomes Submitted.

        Idempotent: resuming an active job that is not held (released on the
        submit host, or resumed twice) changes nothing and does not raise.

        Raises
        ------
        InvalidStatusTransition
            When the job is not active, or its kind cannot resume.
        """
        self.refresh_status()
        self._require_active("resume")
        self._resume()
        if self.status_code == JobStatus.PAUSED:
            apply_status(cast("Job", self), JobStatus.SUBMITTED, message="Resumed.", strict=True)

    def resubmit(self, *args: Any, **kwargs: Any) -> None:
        """Start over: stop the job if active, clean its remote files, reset to Pending, execute.

        In that order: the running job is stopped on its scheduler (with the
        ids of this run) before its files are removed, and only then are the
        run's ids forgotten.

        Raises
        ------
        InvalidStatusTransition
            Before anything is stopped or removed, when the job cannot be run
            again as stored (:meth:`resubmit_refusal` says why).
        """
        refusal = self.resubmit_refusal() if not args and not kwargs else self._scheduler_gone()
        if refusal:
            raise InvalidStatusTransition(refusal)
        self.stop()
        try:
            self.clean()
        except TethysComputeError as exc:
            logger.warning("Job %s: cleaning before resubmit failed: %s", self.pk, exc)
        reset(cast("Job", self))
        self._forget_run()
        self.execute(*args, **kwargs)

    def resubmit_refusal(self) -> str:
        """Why :meth:`resubmit` (without arguments) cannot work for this job; "" when it can."""
        return self._scheduler_gone()

    def _scheduler_gone(self) -> str:
        """Why a job of a kind that needs a scheduler cannot run again: its scheduler is gone."""
        if self.KIND == "basic" or self.scheduler_id is not None:
            return ""
        gone = f" {self.scheduler_name!r}" if self.scheduler_name else ""
        return (
            f"Job {self.pk} ({self.name!r}) cannot run again: its scheduler{gone} was removed "
            "(its results and history are kept). Create a new job on another scheduler, or "
            "give this one a scheduler first (job.scheduler = get_scheduler(name); job.save())."
        )

    def get_logs(self) -> dict[str, Any]:
        """The job's stdout and stderr: ``{"stdout": ..., "stderr": ...}``.

        Fetched from the scheduler while the job runs; once it has finished,
        fetched once and then served from the database.
        """
        self.refresh_status()
        if self.logs is not None and self.is_finished:
            return dict(self.logs)
        logs = self._fetch_logs()
        if self.is_finished:
            self.logs = logs
            cast("type[Job]", type(self)).objects.filter(pk=self.pk).update(logs=logs)
        return logs

    def process_results(self, *args: Any, **kwargs: Any) -> None:
        """Run the results callback of a Results-Ready job; Complete once it returns.

        (Arguments are accepted as Tethys Platform does, and not used.)

        The callback (``process_results_function``, an import path) is called
        with the job (after a Condor job's ``output_files`` are fetched into
        its workspace).  Without one the job simply becomes Complete.  When
        the callback cannot be imported or raises, the job's work is not
        lost: it stays Results-Ready with the error in ``status_message``
        (which says how to fix a missing module), and the refresher tries
        again later with a growing delay, a bounded number of times (see
        :mod:`tethys_compute.jobs.results`).

        Raises
        ------
        SchedulerConnectionError
            When the outputs cannot be fetched; the job stays Results-Ready.
        """
        self.refresh_status()
        if self.status_code != JobStatus.RESULTS_READY:
            raise InvalidStatusTransition(
                f"Job {self.pk} is {self.status}; results are processed once it is Results-Ready."
            )
        if self.process_results_function:
            try:
                if self.workspace:
                    # The callback may write there, whatever the kind.
                    Path(self.workspace).mkdir(parents=True, exist_ok=True)
                func = import_string(self.process_results_function)
                self._before_results()
                func(self)
            except SchedulerConnectionError:
                # The outputs could not be fetched: stay Results-Ready, try again later.
                logger.warning("Job %s: scheduler unreachable; results later", self.pk)
                raise
            except Exception as exc:
                logger.exception("Job %s: results callback failed", self.pk)
                self._results_failed(exc)
                return
        apply_status(cast("Job", self), JobStatus.COMPLETE, message="")

    def _results_failed(self, exc: BaseException) -> None:
        """Keep the job Results-Ready; record the error, the attempt and the next try."""

        table = _job_model().objects.filter(pk=self.pk, status_code=JobStatus.RESULTS_READY)
        attempts = (table.values_list("results_attempts", flat=True).first() or 0) + 1
        retry = next_try(attempts, timezone.now())
        message = failure_message(self.process_results_function, exc, attempts, retry)[:2000]
        table.update(results_attempts=attempts, results_retry_at=retry, status_message=message)
        self.results_attempts, self.results_retry_at = attempts, retry
        self.status_message = message

    def clean(self) -> None:  # type: ignore[override]
        """Delete the job's files on the scheduler (nothing for a basic job).

        (Django's model validation hook has this name too; jobs are not
        validated with ``full_clean``.)

        Raises
        ------
        InvalidStatusTransition
            While the job is active (its files are in use): ``stop()`` it
            first, or ``delete()`` it (which stops, then cleans).
        """
        self.refresh_status()
        if self.status_code in ACTIVE_STATUSES:
            raise InvalidStatusTransition(
                f"Job {self.pk} ({self.name!r}) is {self.status}: its files on the scheduler are "
                "in use. stop() it first (or wait until it finishes), then clean(); delete() "
                "stops and cleans in one go."
            )
        self._clean()

    def delete(self, *args: Any, clean: bool = True, **kwargs: Any) -> tuple[int, dict[str, int]]:
        """Delete the job: stop it if active, clean its remote files (best effort), drop the row."""
        reachable = True
        if self.is_active:
            try:
                # Unreachable: marked Aborted here, and no second wait to clean.
                reachable = self.stop_confirmed()
            except TethysComputeError as exc:
                logger.warning("Job %s: stopping before delete failed: %s", self.pk, exc)
        if clean and reachable:
            try:
                self._clean()
            except TethysComputeError as exc:
                logger.warning("Job %s: remote clean-up failed: %s", self.pk, exc)
        return super().delete(*args, **kwargs)  # type: ignore[misc]  # models.Model.delete

    def _save_app_fields(self) -> None:
        """Save what an app changed on a job; never the status fields the state model owns."""
        if self.pk is None:
            self.save()
            return
        changed = self.changed_app_fields()
        if changed is None:
            changed = self._app_field_names()
        if changed:
            self.save(update_fields=changed)

    def needs_results_processing(self) -> bool:
        """True when finishing well means Results-Ready (there are results to process)."""
        return bool(self.process_results_function)

    # ------------------------------------------------------------------
    # What each kind implements
    # ------------------------------------------------------------------
    def _require_active(self, action: str) -> None:
        if self.status_code not in ACTIVE_STATUSES:
            raise InvalidStatusTransition(
                f"Job {self.pk} is {self.status}; only an active job can {action}."
            )

    def _execute(self, *args: Any, **kwargs: Any) -> list[str] | None:
        """Submit; return names of kind fields to save.  Basic jobs have nothing to submit."""
        return None

    def _stop(self) -> None:
        return None

    def _stopped_here(self) -> None:
        """After a stop the scheduler did not confirm: the kind's own records follow."""
        return None

    def _pause(self) -> None:
        return None

    def _resume(self) -> None:
        return None

    def _fetch_logs(self) -> dict[str, Any]:
        return {"stdout": "", "stderr": ""}

    def _before_results(self) -> None:
        return None

    def _clean(self) -> None:
        return None

    def _forget_run(self) -> None:
        """Forget the ids of the previous run (after stop and clean, before execute)."""
        return None
