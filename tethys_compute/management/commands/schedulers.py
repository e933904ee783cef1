"""``manage.py schedulers``: list, create, remove, test, export and import schedulers.

Every subcommand goes through the same services as the Python API
(:mod:`tethys_compute.scheduler_manager` for finding and creating,
:mod:`tethys_compute.health_runner` for connection tests), so it validates the
same way and prints the same messages.  Secrets are never taken from the
command line: they come from an environment variable named on the command
line, a key file, or an interactive prompt.  Failures raise
:class:`~django.core.management.CommandError` and exit non-zero.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import ProtectedError

from tethys_compute.document_limits import (
    DocumentLimitError,
    cap,
    read_document,
)
from tethys_compute.exceptions import TethysComputeError
from tethys_compute.health_runner import check_schedulers, overall_bound
from tethys_compute.management.scheduler_arguments import add_scheduler_arguments
from tethys_compute.management.scheduler_files import (
    definition,
    describe,
    format_from_name,
    import_entry,
    name_suffix,
    parse_document,
)
from tethys_compute.models import Scheduler
from tethys_compute.private_file import write_private_file
from tethys_compute.scheduler_manager import (
    create_condor_scheduler,
    create_dask_scheduler,
    get_scheduler,
    list_schedulers,
)

#: Exit status of ``schedulers test`` when a scheduler failed.
EXIT_FAILED = 1
#: Exit status of ``schedulers test`` when none failed but some could not be checked.
EXIT_NOT_CHECKED = 2

#: Invalid entries listed by ``import`` (the count says how many more there are).
MAX_ERRORS_SHOWN = 20


class Command(BaseCommand):
    help = (
        "Manage the portal's schedulers: list, show, create-condor, create-dask, remove, "
        "test, export, import. Run `schedulers ACTION --help` for each action's options."
    )

    # ------------------------------------------------------------------
    # Arguments
    # ------------------------------------------------------------------
    def add_arguments(self, parser: CommandParser) -> None:
        add_scheduler_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "list": self.list_,
            "show": self.show,
            "create-condor": self.create_condor,
            "create-dask": self.create_dask,
            "remove": self.remove,
            "test": self.test,
            "export": self.export,
            "import": self.import_,
        }
        try:
            with _own_report(options["action"]):
                handlers[options["action"]](options)
        except TethysComputeError as exc:
            # The API's messages already say what was wrong and what to do.
            raise CommandError(str(exc)) from None

    # ------------------------------------------------------------------
    # list / show
    # ------------------------------------------------------------------
    def list_(self, options: dict[str, Any]) -> None:
        """``list [--json]``: every scheduler, its kind, host and last check."""
        schedulers = list(list_schedulers())
        if options["json"]:
            self.stdout.write(json.dumps([describe(s) for s in schedulers], indent=2))
            return
        if not schedulers:
            self.stdout.write("No schedulers. Create one with create-condor or create-dask.")
            return
        rows = [("NAME", "KIND", "HOST", "CHECKED AT", "LAST CHECK")]
        for s in schedulers:
            checked = s.last_check_at.strftime("%Y-%m-%d %H:%M:%S") if s.last_check_at else "-"
            rows.append((s.name, s.KIND, s.host, checked, s.last_check_summary or "never tested"))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            self.stdout.write("  ".join([*cells, row[4]]))

    def show(self, options: dict[str, Any]) -> None:
        """``show NAME``: the settings of one scheduler; secrets only as stored/not set."""
        scheduler = self._get(options["name"])
        info = describe(scheduler)
        last = info.pop("last_check")
        width = max(len(key) for key in info)
        for key, value in info.items():
            if isinstance(value, bool):
                value = "stored" if value else "not set"
            self.stdout.write(f"{key.ljust(width)}  {'' if value is None else value}")
        self.stdout.write(f"{'last check'.ljust(width)}  {last['summary'] or 'never tested'}")
        if last["at"]:
            self.stdout.write(f"{'checked at'.ljust(width)}  {last['at']}")
        for check in (scheduler.last_check_details or {}).get("checks", []):
            mark = "ok" if check.get("ok") else "FAILED"
            self.stdout.write(f"  - {check.get('name')}: {mark} {check.get('detail', '')}")

    # ------------------------------------------------------------------
    # create / remove
    # ------------------------------------------------------------------
    def create_condor(self, options: dict[str, Any]) -> None:
        """``create-condor NAME HOST [...]``: through ``create_condor_scheduler``."""
        interactive = self._interactive(options)
        password = self._env_secret(options["password_env"], "--password-env")
        passphrase = self._env_secret(options["private_key_pass_env"], "--private-key-pass-env")
        key_text = None
        if options["private_key_file"]:
            key_text = self._read_key(options["private_key_file"])
        has_key = bool(key_text or options["private_key_path"])
        if interactive and password is None and not has_key:
            who = f"{options['username']}@" if options["username"] else ""
            password = getpass.getpass(f"SSH password for {who}{options['host']}: ") or None
        if interactive and has_key and passphrase is None:
            passphrase = getpass.getpass("Passphrase of the private key (empty: none): ") or None
        if password is None and not has_key:
            raise CommandError(
                "Give a way to log in: --password-env VAR (the password in variable VAR), "
                "--private-key-path PATH (a key file on the portal host) or "
                "--private-key-file FILE (a key to store, encrypted); run in a terminal, "
                "the command asks for a password."
            )
        existed = self._existed(options["name"])
        scheduler = create_condor_scheduler(
            options["name"],
            options["host"],
            options["username"],
            password,
            options["private_key_path"],
            passphrase,
            port=options["port"],
            private_key=key_text,
            host_key=options["host_key"],
            description=options["description"],
            remote_profile=options["remote_profile"],
            condor_bin_dir=options["condor_bin_dir"],
            condor_config=options["condor_config"],
        )
        self._say_saved(f"Condor scheduler {scheduler.name!r} on {scheduler.host}", existed)

    def create_dask(self, options: dict[str, Any]) -> None:
        """``create-dask NAME HOST [...]``: through ``create_dask_scheduler``."""
        existed = self._existed(options["name"])
        scheduler = create_dask_scheduler(
            options["name"],
            options["host"],
            options["timeout"],
            options["heartbeat_interval"],
            options["dashboard"],
            description=options["description"],
        )
        self._say_saved(f"Dask scheduler {scheduler.name!r} at {scheduler.host}", existed)

    def _existed(self, name: Any) -> bool:
        return isinstance(name, str) and Scheduler.objects.filter(name=name.strip()).exists()

    def _say_saved(self, what: str, existed: bool) -> None:
        if existed:
            self.stdout.write(f"{what} already exists with these settings; nothing changed.")
        else:
            self.stdout.write(f"{what} is created.")

    def remove(self, options: dict[str, Any]) -> None:
        """``remove NAME [--yes]``: delete a scheduler after confirmation."""
        scheduler = self._get(options["name"])
        label = f"{scheduler._meta.verbose_name} {scheduler.name!r}"
        if not options["yes"]:
            if not self._interactive(options):
                raise CommandError(f"Not removing {label} without confirmation: add --yes.")
            answer = input(f"Remove {label} ({scheduler.host})? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise CommandError(f"Not removed: {label}.")
        if options.get("stop_jobs"):
            for job in scheduler.jobs.active().select_subclasses():
                job.stop(reason=f"Aborted: scheduler {scheduler.name!r} was removed")
                self.stdout.write(f"Job {job.pk} ({job.name}): {job.status}, {job.status_message}")
        waiting = list(
            scheduler.jobs.filter(status_code__in=("PEN", "RES")).values_list("pk", "name")
        )
        try:
            scheduler.delete()
        except ProtectedError as exc:
            # Active jobs keep their scheduler (SchedulerInUseError says which and what to do).
            raise CommandError(f"Not removed: {exc.args[0]}") from None
        self.stdout.write(f"Removed {label}.")
        if waiting:
            listing = ", ".join(f"{pk} ({name!r})" for pk, name in waiting[:20])
            self.stdout.write(
                f"Note: {len(waiting)} job(s) of it had not run or not processed their results "
                f"yet ({listing}); they cannot run on it any more: give them another scheduler "
                "(job.scheduler = get_scheduler(name); job.save()) or delete them."
            )

    # ------------------------------------------------------------------
    # test
    # ------------------------------------------------------------------
    def test(self, options: dict[str, Any]) -> None:
        """``test [NAME...]``: test connections, print each result, exit non-zero on failure."""
        names: list[str] = options["names"]
        if names:
            found = {s.name: s for s in list_schedulers().filter(name__in=names)}
            missing = [n for n in names if n not in found]
            if missing:
                raise CommandError(
                    f"No scheduler named {', '.join(repr(n) for n in missing)}; nothing was "
                    "tested. `manage.py schedulers list` shows the names."
                )
            schedulers = [found[n] for n in dict.fromkeys(names)]
        else:
            schedulers = list(list_schedulers())
        if not schedulers:
            self.stdout.write("No schedulers to test.")
            return
        self.stdout.write(
            f"Testing {len(schedulers)} scheduler(s), at most {overall_bound():g} s ..."
        )
        checks = check_schedulers(schedulers)
        width = max(len(c.scheduler.name) for c in checks)
        for check in checks:
            line = f"{check.scheduler.name.ljust(width)}  {check.status:<11}  "
            self.stdout.write(line + check.result.summary)
            for warning in check.result.warnings:
                self.stdout.write(f"{' ' * width}  warning: {warning}")
        failed = [c.scheduler.name for c in checks if c.status == "FAILED"]
        unchecked = [c.scheduler.name for c in checks if c.status == "NOT CHECKED"]
        if failed:
            raise CommandError(
                f"{len(failed)} of {len(checks)} scheduler(s) failed: {', '.join(failed)}.",
                returncode=EXIT_FAILED,
            )
        if unchecked:
            raise CommandError(
                f"{len(unchecked)} of {len(checks)} scheduler(s) could not be checked (no "
                f"connection test for their kind): {', '.join(unchecked)}.",
                returncode=EXIT_NOT_CHECKED,
            )

    # ------------------------------------------------------------------
    # export / import
    # ------------------------------------------------------------------
    def export(self, options: dict[str, Any]) -> None:
        """``export [FILE] [--format] [--include-secrets]``."""
        target: str = options["file"]
        fmt = options["format"] or format_from_name(target)
        entries = [definition(s, options["include_secrets"]) for s in list_schedulers()]
        document = {"schedulers": entries}
        if fmt == "yaml":
            text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        else:
            text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        if target == "-":
            self.stdout.write(text, ending="")
            notes = self.stderr
        else:
            # A new file only its owner may read, never through a symbolic link.
            try:
                write_private_file(target, text, force=options["force"])
            except OSError as exc:
                raise CommandError(f"Cannot write {target}: {exc.strerror}.") from None
            notes = self.stdout
            notes.write(f"Exported {len(entries)} scheduler(s) to {target} ({fmt}).")
        if options["include_secrets"]:
            notes.write("The export contains secrets in plain text: keep it safe.")
        else:
            notes.write("Secrets were left out; add --include-secrets to write them.")

    def import_(self, options: dict[str, Any]) -> None:
        """``import FILE``: create every entry in one transaction, or none of them."""
        source: str = options["file"]
        fmt = options["format"] or format_from_name(source)
        label = "<stdin>" if source == "-" else source
        try:
            if source == "-":
                text = read_document(sys.stdin.buffer)
            else:
                with open(source, "rb") as stream:
                    text = read_document(stream)
        except OSError as exc:
            raise CommandError(f"Cannot read {source}: {exc.strerror}.") from None
        except DocumentLimitError as exc:
            raise CommandError(f"{label}: {exc}.") from None
        entries = parse_document(text, fmt, label)
        errors: list[str] = []
        created: list[str] = []
        unchanged: list[str] = []
        with transaction.atomic():
            for number, (line, entry) in enumerate(entries, start=1):
                where = f"{label}:{line}: entry {number}"
                try:
                    name = import_entry(entry)
                except (TethysComputeError, ValueError, TypeError) as exc:
                    errors.append(cap(f"{where}{name_suffix(entry)}: {exc}"))
                    continue
                (created if name[1] else unchanged).append(name[0])
            if errors:
                transaction.set_rollback(True)
                shown = errors[:MAX_ERRORS_SHOWN]
                if len(errors) > len(shown):
                    shown.append(f"... and {len(errors) - len(shown)} more.")
                raise CommandError(
                    f"{label}: {len(errors)} of {len(entries)} entries are not valid; nothing "
                    "was imported.\n" + "\n".join(shown)
                )
            if options["dry_run"]:
                transaction.set_rollback(True)
        verb = "Would create" if options["dry_run"] else "Created"
        self.stdout.write(
            f"{verb} {len(created)} scheduler(s), {len(unchanged)} already up to date "
            f"(from {label})."
        )

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------
    def _get(self, name: str) -> Scheduler:
        scheduler = get_scheduler(name)
        if scheduler is None:
            raise CommandError(
                f"No scheduler named {name!r}. `manage.py schedulers list` shows the names."
            )
        return scheduler

    @staticmethod
    def _interactive(options: dict[str, Any]) -> bool:
        return bool(options.get("interactive", True)) and sys.stdin.isatty()

    @staticmethod
    def _env_secret(variable: str | None, flag: str) -> str | None:
        if not variable:
            return None
        value = os.environ.get(variable)
        if value is None:
            raise CommandError(
                f"{flag} names the environment variable {variable}, which is not set."
            )
        if not value:
            raise CommandError(f"{flag} names the environment variable {variable}, which is empty.")
        return value

    @staticmethod
    def _read_key(path: str) -> str:
        try:
            return Path(path).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not a text file"
            raise CommandError(f"Cannot read the private key file {path}: {reason}.") from None


# ----------------------------------------------------------------------
# Definitions (export / import / list --json)
# ----------------------------------------------------------------------


@contextmanager
def _own_report(action: str) -> Iterator[None]:
    """The command says what it created, in one line: the API's INFO log would repeat it."""
    if action not in ("create-condor", "create-dask", "import"):
        yield
        return
    log = logging.getLogger("tethys_compute.scheduler_manager")
    level = log.level
    log.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        log.setLevel(level)
