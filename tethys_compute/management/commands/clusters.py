"""``manage.py clusters``: list, start, show, resize, stop and terminate clusters.

A thin layer over :mod:`tethys_compute.clusters.service` (the same calls the
admin page makes).  Long operations run in the service's background thread
while the command shows their progress (status and message, with the time
elapsed; each line once, on stdout) until they end.  With ``--no-wait`` the
operation is handed to a detached ``clusters`` process of its own (its output
goes to :func:`log_path`), so it goes on after this command exits; the
command returns once that process has taken the cluster (or failed).

A failed operation exits non-zero with the recorded reason on one line of
stderr (``--traceback`` for Django's traceback).  Warnings about the config
file (unknown settings) are printed on stderr as ``warning: ...``.  A
``terminate --force`` that removed the record but could not clean up at the
provider exits with status 3 and says what may be left there.

Examples
--------
::

    manage.py clusters start smallcluster mycluster --config ~/.tethyscluster/config
    manage.py clusters status mycluster
    manage.py clusters resize mycluster 4
    manage.py clusters terminate mycluster
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from tethys_compute.clusters import service
from tethys_compute.exceptions import TethysComputeError
from tethys_compute.models import Cluster

#: Seconds between two looks at the cluster's row while showing progress.
POLL = 0.25
_SPINNER = "|/-\\"
#: Seconds ``--no-wait`` waits for its detached process to take the cluster.
HANDOFF_TIMEOUT = 60.0
#: Exit status of ``terminate --force`` when the provider may hold leftovers.
LEFTOVERS_EXIT = 3
#: The busy status each operation puts the row in.
_BUSY_OF = {"start": "STR", "resize": "UPD", "stop": "UPD", "terminate": "DEL"}
# Processes handed work with --no-wait, kept until they exit: the handle lets
# a long-lived caller (a test run, a shell) reap them instead of dropping a
# subprocess object whose process still runs.
_handed_off: list[subprocess.Popen[bytes]] = []


def log_path(name: str) -> Path:
    """Where the detached process of ``clusters ... --no-wait`` for ``name`` writes."""
    folder = Path(tempfile.gettempdir()) / "tethys-compute-clusters"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{name}.log"


class _WarningLines(logging.Handler):
    """Writes config warnings as one ``warning: ...`` line each (no traceback)."""

    def __init__(self, write: Any) -> None:
        super().__init__(logging.WARNING)
        self.write = write

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "tethys_compute.clusters.config":
            self.write(f"warning: {record.getMessage()}")


class Command(BaseCommand):
    help = (
        "Manage the portal's clusters (TethysCluster config templates): list, start, status, "
        "resize, stop, terminate. Run `clusters ACTION --help` for each action's options."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        actions.add_parser("list", help="List the clusters with status, provider and size.")

        start = actions.add_parser(
            "start", help="Start a cluster from a template (or a stopped/failed one again)."
        )
        start.add_argument("template", help="Template name ([cluster NAME]); '-' for the default.")
        start.add_argument("name", help="The cluster's name.")
        start.add_argument("--config", help="The TethysCluster config file.")
        start.add_argument("--size", type=int, help="Nodes, the master included.")
        self._wait_options(start)

        status = actions.add_parser("status", help="Show one cluster (or all), refreshed.")
        status.add_argument("name", nargs="?", help="The cluster's name (default: all).")

        resize = actions.add_parser("resize", help="Grow or shrink a running cluster.")
        resize.add_argument("name")
        resize.add_argument("size", type=int, help="Nodes, the master included.")
        self._wait_options(resize)

        stop = actions.add_parser("stop", help="Stop a running cluster (start resumes it).")
        stop.add_argument("name")
        stop.add_argument(
            "--force",
            action="store_true",
            help="Stop the jobs still active on the cluster first (they become Aborted).",
        )
        self._wait_options(stop)

        terminate = actions.add_parser("terminate", help="Terminate a cluster and remove it.")
        terminate.add_argument("name")
        terminate.add_argument(
            "--force",
            action="store_true",
            help="Also when an operation was interrupted, and when plugins or the provider "
            "fail; jobs still active on the cluster are stopped first (they become Aborted).",
        )
        self._wait_options(terminate)

    @staticmethod
    def _wait_options(parser: CommandParser) -> None:
        parser.add_argument(
            "--no-wait",
            action="store_true",
            help="Hand the work to a detached process and return; the work goes on after "
            "this command exits (its output: a log file named in the reply).",
        )
        parser.add_argument(
            "--timeout", type=float, default=900.0, help="Seconds to wait (default 900)."
        )

    # ----------------------------------------------------------------- run
    @contextmanager
    def _quiet_logging(self) -> Iterator[None]:
        """Progress is printed from the row: the clusters loggers only add config warnings."""
        log = logging.getLogger("tethys_compute.clusters")
        handler = _WarningLines(self.stderr.write)
        saved = log.propagate
        log.addHandler(handler)
        log.propagate = False
        try:
            yield
        finally:
            log.removeHandler(handler)
            log.propagate = saved

    def handle(self, *args: Any, **options: Any) -> None:
        if options.get("no_wait") and options["action"] in _BUSY_OF:
            self._hand_off(options)
            return
        with self._quiet_logging():
            self._handle(options)

    def _hand_off(self, options: dict[str, Any]) -> None:
        """Run the operation in a detached ``clusters`` process; return once it took over."""
        action, name = options["action"], options["name"]
        before = Cluster.objects.filter(name=name).values_list("status_changed", flat=True).first()
        process, log = _spawn(_hand_off_argv(options), name)
        deadline = time.monotonic() + HANDOFF_TIMEOUT
        while time.monotonic() < deadline:
            code = process.poll()
            record = Cluster.objects.filter(name=name).first()
            taken = record is not None and (
                record.status == _BUSY_OF[action]
                and record.status_changed is not None
                and record.status_changed != before
            )
            if code is not None and not taken:
                last = _last_line(log)
                if code != 0:
                    raise CommandError(last or f"the clusters process failed ({code}); see {log}")
                self.stdout.write(last or f"{name}: done")
                return
            if taken or (action == "terminate" and record is None):
                _handed_off[:] = [p for p in _handed_off if p.poll() is None]
                _handed_off.append(process)
                state = f"{record.status} {record.status_message}" if record else "terminated"
                self.stdout.write(
                    f"{name}: {state} (not waiting; process {process.pid} goes on, log {log})"
                )
                return
            time.sleep(POLL)
        raise CommandError(
            f"cluster {name!r}: the detached process {process.pid} did not take the cluster "
            f"within {HANDOFF_TIMEOUT:g} s; see {log}."
        )

    def _handle(self, options: dict[str, Any]) -> None:
        action = options["action"]
        try:
            if action == "list":
                self._list(Cluster.objects.select_related("scheduler").order_by("name"))
            elif action == "status":
                self._status(options.get("name"))
            elif action == "start":
                template = None if options["template"] == "-" else options["template"]
                record = service.start_cluster(
                    template,
                    options["name"],
                    config_path=options.get("config"),
                    size=options.get("size"),
                )
                self._follow(record.name, options, "RUN", first=record)
            elif action == "resize":
                record = service.resize_cluster(options["name"], options["size"])
                if not record.is_busy and record.size == options["size"]:
                    self.stdout.write(f"{record.name}: {service.resize_noop_message(record)}")
                    return
                self._follow(record.name, options, "RUN", first=record)
            elif action == "stop":
                record = service.stop_cluster(options["name"], force=options["force"])
                self._follow(record.name, options, "STP", first=record)
            elif action == "terminate":
                record = service.terminate_cluster(options["name"], force=options["force"])
                self._follow(record.name, options, None, first=record)
                leftovers = service.leftovers(record.name)
                if leftovers:
                    raise CommandError(
                        f"cluster {record.name!r} was removed from the portal, but {leftovers}",
                        returncode=LEFTOVERS_EXIT,
                    )
        except TethysComputeError as exc:
            raise CommandError(str(exc)) from None

    def _list(self, records: Any) -> None:
        rows = [
            (
                r.name,
                r.template or "-",
                r.get_provider_display(),
                str(r.size),
                r.status,
                r.master_address or "-",
                r.scheduler.name if r.scheduler else "-",
                r.status_message[:60],
            )
            for r in records
        ]
        if not rows:
            self.stdout.write("No clusters.")
            return
        header = (
            "NAME",
            "TEMPLATE",
            "PROVIDER",
            "SIZE",
            "STATUS",
            "MASTER",
            "SCHEDULER",
            "MESSAGE",
        )
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            self.stdout.write(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )

    def _status(self, name: str | None) -> None:
        names = (
            [name]
            if name
            else list(Cluster.objects.order_by("name").values_list("name", flat=True))
        )
        records = []
        for each in names:
            record = service.refresh_cluster(each)
            if record is None:
                raise CommandError(f"cluster {each!r} does not exist.")
            records.append(record)
        if name is None:
            self._list(records)
            return
        record = records[0]
        for label, value in (
            ("name", record.name),
            ("template", f"{record.template} ({record.config_path or 'default config'})"),
            ("provider", record.get_provider_display()),
            ("size", record.size),
            ("status", f"{record.status} ({record.status_text})"),
            ("message", record.status_message),
            ("master", record.master_address or "-"),
            (
                "scheduler",
                f"{record.scheduler.name} ({record.scheduler.host})" if record.scheduler else "-",
            ),
        ):
            self.stdout.write(f"{label:>10}: {value}")

    def _follow(
        self, name: str, options: dict[str, Any], success: str | None, first: Cluster | None = None
    ) -> None:
        """Show the operation's progress until it ends (or ``--timeout``).

        ``first`` is the record as the service queued the operation: its line
        is printed at once, so the output always starts with it, however fast
        the work moves on.
        """
        started = time.monotonic()
        deadline = started + float(options.get("timeout") or 900.0)
        tty = hasattr(self.stdout, "isatty") and self.stdout.isatty()
        last = None
        if first is not None:
            last = f"{first.status} {first.status_message}"
            self.stdout.write(f"[{0.0:6.1f}s] {name}: {last}")
        turn = 0
        while True:
            record = Cluster.objects.filter(name=name).first()
            elapsed = time.monotonic() - started
            if record is None:
                self.stdout.write(f"[{elapsed:6.1f}s] {name}: terminated and removed")
                return
            line = f"{record.status} {record.status_message}"
            if line != last:
                if tty:
                    self.stdout.write("\r\033[K", ending="")
                self.stdout.write(f"[{elapsed:6.1f}s] {name}: {line}")
                last = line
            elif tty:
                self.stdout.write(f"\r{_SPINNER[turn % 4]}", ending="")
                sys.stdout.flush()
                turn += 1
            if not record.is_busy:
                break
            if time.monotonic() > deadline:
                raise CommandError(
                    f"cluster {name!r} is still {record.get_status_display().lower()} after "
                    f"{options.get('timeout'):g} s; the work goes on "
                    f"(see `clusters status {name}`)."
                )
            time.sleep(POLL)
        service.wait(name, timeout=max(deadline - time.monotonic(), 1.0))
        if record.status == "ERR" or (success and record.status != success):
            raise CommandError(f"cluster {name!r}: {record.status_message}")


def _hand_off_argv(options: dict[str, Any]) -> list[str]:
    """The ``clusters`` arguments that repeat this operation in the detached process."""
    action, name = options["action"], options["name"]
    argv = [action]
    if action == "start":
        argv += [options["template"], name]
        if options.get("config"):
            argv += ["--config", os.path.abspath(os.path.expanduser(options["config"]))]
        if options.get("size") is not None:
            argv += ["--size", str(options["size"])]
    elif action == "resize":
        argv += [name, str(options["size"])]
    else:
        argv.append(name)
        if action in ("stop", "terminate") and options.get("force"):
            argv.append("--force")
    argv += ["--timeout", f"{float(options.get('timeout') or 900.0):g}"]
    return argv


def _spawn(argv: list[str], name: str) -> tuple[subprocess.Popen[bytes], Path]:
    """Start ``manage.py clusters ARGV`` in its own session, its output appended to the log."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = settings.SETTINGS_MODULE
    env["PYTHONPATH"] = os.pathsep.join(p for p in [os.getcwd(), *sys.path] if p)
    env["PYTHONUNBUFFERED"] = "1"
    log = log_path(name)
    asked = timezone.now()
    with open(log, "ab") as stream:
        stream.write(f"--- {asked:%Y-%m-%d %H:%M:%S} clusters {' '.join(argv)}\n".encode())
        stream.flush()
        process = subprocess.Popen(
            [sys.executable, "-m", "django", "clusters", *argv],
            stdin=subprocess.DEVNULL,
            stdout=stream,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    return process, log


def _last_line(path: Path) -> str:
    """The last non-empty line of ``path`` ("" if none), without Django's prefix."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line and not line.startswith("--- ")]
    last = lines[-1] if lines else ""
    return last.removeprefix("CommandError: ")
