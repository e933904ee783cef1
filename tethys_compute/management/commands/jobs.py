"""``manage.py jobs``: list, show, refresh, stop and print the logs of jobs.

A thin layer over the same services the API and the admin use; listing and
showing never contact a scheduler (statuses are stored; ``refresh`` asks).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tethys_compute.exceptions import TethysComputeError
from tethys_compute.jobs.refresh import process_ready_results, refresh_jobs
from tethys_compute.jobs.status import WAITING_STATUSES, JobStatus, parse_status
from tethys_compute.models.job import Job


class Command(BaseCommand):
    help = "Jobs: list, show, refresh, stop, logs. Run `jobs ACTION --help` for options."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = actions.add_parser("list", help="List jobs (stored statuses, no remote call).")
        listing.add_argument("--label", help="Only this app's jobs.")
        listing.add_argument("--status", help="Only this status (code or name).")
        listing.add_argument("--user", help="Only this user's jobs (username).")
        listing.add_argument(
            "--active",
            action="store_true",
            help="Only active jobs, and Results-Ready ones waiting for their results callback.",
        )
        listing.add_argument("--limit", type=int, default=200, help="At most this many rows.")
        show = actions.add_parser("show", help="Show one job.")
        show.add_argument("job_id", type=int)
        show.add_argument("--json", action="store_true", help="Print JSON.")
        refresh = actions.add_parser(
            "refresh",
            help="Refresh statuses now, then run the results callbacks that are due (of the "
            "given jobs: now, whatever their back-off).",
        )
        refresh.add_argument("job_ids", type=int, nargs="*", help="Default: every active job.")
        refresh.add_argument("--timeout", type=float, default=None)
        stop = actions.add_parser(
            "stop",
            help="Stop jobs. A job whose scheduler does not answer is marked Aborted here "
            "('not confirmed stopped'); finished jobs are skipped (exit status 1).",
        )
        stop.add_argument("job_ids", type=int, nargs="+")
        stop.add_argument(
            "--force",
            action="store_true",
            help="Do not contact the schedulers: mark the jobs Aborted here at once "
            "(for a scheduler known to be gone).",
        )
        logs = actions.add_parser("logs", help="Print a job's stdout and stderr.")
        logs.add_argument("job_id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"do_{options['action']}")(options)
        except TethysComputeError as exc:
            raise CommandError(str(exc))

    def _get(self, job_id: int) -> Job:
        job = (
            Job.objects.filter(pk=job_id).select_subclasses().prefetch_related("user", "scheduler")
        )
        found = job.first()
        if found is None:
            raise CommandError(f"No job {job_id}.")
        return found  # type: ignore[no-any-return]

    def do_list(self, options: dict[str, Any]) -> None:
        query = Job.objects.select_subclasses().prefetch_related("user")
        if options["label"]:
            query = query.filter(label=options["label"])
        if options["status"]:
            query = query.filter(status_code=parse_status(options["status"]).value)
        if options["user"]:
            query = query.filter(user__username=options["user"])
        if options["active"]:
            query = query.filter(status_code__in=WAITING_STATUSES)
        rows = list(query.order_by("id")[: options["limit"]])
        self.stdout.write(f"{'ID':>6}  {'STATUS':<24} {'KIND':<16} {'LABEL':<16} NAME")
        for job in rows:
            status = job.status
            if job.status_code == JobStatus.RESULTS_READY:
                status += ", waiting"  # for its results callback
            self.stdout.write(
                f"{job.pk:>6}  {status:<24} {job.KIND or 'job':<16} {job.label[:16]:<16} {job.name}"
            )
        self.stdout.write(f"{len(rows)} job(s).")

    def _describe(self, job: Job) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": job.pk,
            "name": job.name,
            "kind": job.KIND,
            "label": job.label,
            "user": job.user.get_username() if job.user else None,
            "status": job.status,
            "status_code": job.status_code,
            "status_message": job.status_message,
            "status_changed_at": job.status_changed_at,
            "last_refresh_ok_at": job.last_refresh_ok_at,
            "refresh_error": job.refresh_error,
            "scheduler": job.scheduler.name if job.scheduler else job.scheduler_name or None,
            "created": job.creation_time,
            "submitted": job.execute_time,
            "started": job.start_time,
            "completed": job.completion_time,
        }
        for name in ("cluster_id", "remote_dir", "num_jobs", "key", "function"):
            if hasattr(job, name):
                data[name] = getattr(job, name)
        return data

    def do_show(self, options: dict[str, Any]) -> None:
        data = self._describe(self._get(options["job_id"]))
        if options["json"]:
            self.stdout.write(json.dumps(data, default=str, indent=2))
            return
        for key, value in data.items():
            self.stdout.write(f"{key:>20}: {'' if value is None else value}")

    def do_refresh(self, options: dict[str, Any]) -> None:
        jobs = Job.objects.filter(pk__in=options["job_ids"]) if options["job_ids"] else None
        report = refresh_jobs(jobs, timeout=options["timeout"])
        self.stdout.write(report.summary())
        processed = process_ready_results(jobs=options["job_ids"] or None)
        if processed:
            self.stdout.write(f"Ran the results callbacks of {processed} job(s).")
        waiting = Job.objects.filter(status_code=JobStatus.RESULTS_READY, results_attempts__gt=0)
        if options["job_ids"]:
            waiting = waiting.filter(pk__in=options["job_ids"])
        still = list(waiting.order_by("id").values_list("id", "status_message")[:20])
        for job_id, message in still:
            self.stdout.write(f"Job {job_id}: Results-Ready, waiting. {message}".rstrip())
        if report.failed:
            # The summary above says why; the error only names them (exit status 1).
            raise CommandError(
                f"{len(report.failed)} scheduler(s) unreachable: "
                + ", ".join(s.name for s in report.failed)
                + " (see above)."
            )
        if options["job_ids"] and still:
            raise CommandError(
                f"{len(still)} of the named job(s) still wait for their results callback "
                "(see above)."
            )

    def do_stop(self, options: dict[str, Any]) -> None:
        skipped, unconfirmed = [], []
        for job_id in options["job_ids"]:
            job = self._get(job_id)
            if job.is_finished:
                skipped.append(job_id)
                self.stdout.write(
                    f"Job {job.pk} ({job.name}): skipped, it had already finished ({job.status})."
                )
                continue
            if job.stop_confirmed(force=options["force"]):
                self.stdout.write(f"Job {job.pk} ({job.name}): {job.status}.")
            else:
                unconfirmed.append(job_id)
                self.stdout.write(f"Job {job.pk} ({job.name}): {job.status}, {job.status_message}")
        if skipped:
            raise CommandError(
                f"{len(skipped)} job(s) skipped (already finished): " + ", ".join(map(str, skipped))
            )
        if unconfirmed:
            raise CommandError(
                f"{len(unconfirmed)} job(s) marked Aborted here only, their scheduler did not "
                "confirm the stop: " + ", ".join(map(str, unconfirmed)) + ". Check the "
                "scheduler's host for the work once it is back.",
                returncode=3,
            )

    def do_logs(self, options: dict[str, Any]) -> None:
        logs = self._get(options["job_id"]).get_logs()
        for name in ("stdout", "stderr"):
            self.stdout.write(f"==> {name} <==")
            self.stdout.write(str(logs.get(name) or ""))
