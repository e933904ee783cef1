"""``manage.py compute_refresh``: refresh job statuses once, or as a bounded loop service.

Each pass asks every scheduler with active jobs once
(:func:`tethys_compute.jobs.refresh.refresh_jobs`), then runs the results
callbacks of jobs that became Results-Ready.  ``--loop`` repeats every
``TETHYS_COMPUTE['JOB_REFRESH_INTERVAL']`` seconds (or ``--interval``) until
SIGTERM/SIGINT, ``--max-passes`` or ``--max-seconds``; a pass that fails
is logged and the loop goes on.
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections, connection

from tethys_compute.conf import compute_settings
from tethys_compute.exceptions import TethysComputeError
from tethys_compute.jobs.refresh import RefreshReport, process_ready_results, refresh_jobs


class Command(BaseCommand):
    help = (
        "Refresh the status of active jobs (one round trip per scheduler) and process "
        "results that are ready. Once, or with --loop as a service."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep refreshing until stopped.")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Seconds between passes (default: TETHYS_COMPUTE['JOB_REFRESH_INTERVAL']).",
        )
        parser.add_argument(
            "--timeout", type=float, default=None, help="Seconds each scheduler may take."
        )
        parser.add_argument(
            "--max-passes", type=int, default=None, help="Stop after this many passes."
        )
        parser.add_argument(
            "--max-seconds", type=float, default=None, help="Stop after about this long."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        interval = options["interval"]
        if interval is None:
            interval = float(compute_settings.JOB_REFRESH_INTERVAL)
        if interval <= 0:
            raise CommandError("--interval must be more than 0 seconds.")
        stop = threading.Event()
        if options["loop"]:
            self._install_handlers(stop)
        started = time.monotonic()
        passes = 0
        while True:
            passes += 1
            self._one_pass(options["timeout"], options["verbosity"])
            if not options["loop"] or stop.is_set():
                break
            if options["max_passes"] is not None and passes >= options["max_passes"]:
                break
            if options["max_seconds"] is not None:
                left = options["max_seconds"] - (time.monotonic() - started)
                if left <= 0:
                    break
                if stop.wait(min(interval, left)):
                    break
            elif stop.wait(interval):
                break
            if not connection.in_atomic_block:
                close_old_connections()  # a long-lived service: drop stale connections

    def _one_pass(self, timeout: float | None, verbosity: int) -> RefreshReport | None:
        try:
            report = refresh_jobs(timeout=timeout)
            processed = process_ready_results()
        except TethysComputeError as exc:
            self.stderr.write(f"Refresh failed: {exc}")
            return None
        if verbosity >= 1:
            self.stdout.write(report.summary())
            if processed:
                self.stdout.write(f"Processed the results of {processed} job(s).")
        for failed in report.failed:
            self.stderr.write(
                f"{failed.name}: unreachable ({failed.error}); its jobs keep their statuses."
            )
        return report

    @staticmethod
    def _install_handlers(stop: threading.Event) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
