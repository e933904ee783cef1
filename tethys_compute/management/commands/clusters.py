"""``manage.py clusters``: list, start, show, resize, stop and terminate clusters.

A thin layer over :mod:`tethys_compute.clusters.service` (the same calls the
admin page makes).  Long operations run in the service's background thread
while the command shows their progress (status and message, with the time
elapsed) until they end, or returns at once with ``--no-wait``.  A failed
operation exits non-zero with the recorded reason.

Examples
--------
::

    manage.py clusters start smallcluster mycluster --config ~/.tethyscluster/config
    manage.py clusters status mycluster
    manage.py clusters resize mycluster 4
    manage.py clusters terminate mycluster
"""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tethys_compute.clusters import service
from tethys_compute.exceptions import TethysComputeError
from tethys_compute.models import Cluster

#: Seconds between two looks at the cluster's row while showing progress.
POLL = 0.25
_SPINNER = "|/-\\"


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
        self._wait_options(stop)

        terminate = actions.add_parser("terminate", help="Terminate a cluster and remove it.")
        terminate.add_argument("name")
        terminate.add_argument(
            "--force",
            action="store_true",
            help="Also when an operation was interrupted, and when plugins or the provider fail.",
        )
        self._wait_options(terminate)

    @staticmethod
    def _wait_options(parser: CommandParser) -> None:
        parser.add_argument(
            "--no-wait", action="store_true", help="Return at once; the work goes on."
        )
        parser.add_argument(
            "--timeout", type=float, default=900.0, help="Seconds to wait (default 900)."
        )

    # ----------------------------------------------------------------- run
    def handle(self, *args: Any, **options: Any) -> None:
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
                self._follow(record.name, options, "RUN")
            elif action == "resize":
                record = service.resize_cluster(options["name"], options["size"])
                self._follow(record.name, options, "RUN")
            elif action == "stop":
                record = service.stop_cluster(options["name"])
                self._follow(record.name, options, "STP")
            elif action == "terminate":
                record = service.terminate_cluster(options["name"], force=options["force"])
                self._follow(record.name, options, None)
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
            ("status", f"{record.status} ({record.get_status_display()})"),
            ("message", record.status_message),
            ("master", record.master_address or "-"),
            (
                "scheduler",
                f"{record.scheduler.name} ({record.scheduler.host})" if record.scheduler else "-",
            ),
        ):
            self.stdout.write(f"{label:>10}: {value}")

    def _follow(self, name: str, options: dict[str, Any], success: str | None) -> None:
        """Show the operation's progress until it ends (or ``--timeout``)."""
        if options.get("no_wait"):
            record = Cluster.objects.filter(name=name).first()
            state = f"{record.status} {record.status_message}" if record else "gone"
            self.stdout.write(f"{name}: {state} (not waiting)")
            return
        started = time.monotonic()
        deadline = started + float(options.get("timeout") or 900.0)
        tty = hasattr(self.stdout, "isatty") and self.stdout.isatty()
        last = None
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
