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

import bisect
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from json import scanner
from json.decoder import JSONObject  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import ProtectedError

from tethys_compute.document_limits import (
    MAX_NESTING,
    DocumentLimitError,
    cap,
    check_json_nesting,
    compose_yaml,
    read_document,
)
from tethys_compute.exceptions import TethysComputeError
from tethys_compute.health_runner import check_schedulers, overall_bound
from tethys_compute.models import CondorScheduler, DaskScheduler, Scheduler
from tethys_compute.models.condor import ENVIRONMENT_FIELDS
from tethys_compute.private_file import write_private_file
from tethys_compute.scheduler_manager import (
    SCHEDULER_TYPES,
    create_condor_scheduler,
    create_dask_scheduler,
    create_scheduler,
    get_scheduler,
    list_schedulers,
)

#: Exit status of ``schedulers test`` when a scheduler failed.
EXIT_FAILED = 1
#: Exit status of ``schedulers test`` when none failed but some could not be checked.
EXIT_NOT_CHECKED = 2

#: Fields written by ``export`` per kind, in order (secrets only with --include-secrets).
EXPORT_FIELDS: dict[type[Scheduler], tuple[str, ...]] = {
    CondorScheduler: ("port", "username", "private_key_path", "host_key", *ENVIRONMENT_FIELDS),
    DaskScheduler: ("timeout", "heartbeat_interval", "dashboard"),
}

FORMATS = ("json", "yaml")
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
        actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

        listing = actions.add_parser("list", help="List every scheduler with its last check.")
        listing.add_argument("--json", action="store_true", help="Print JSON instead of a table.")

        show = actions.add_parser("show", help="Show one scheduler's settings (never secrets).")
        show.add_argument("name", metavar="NAME")

        condor = actions.add_parser(
            "create-condor",
            help="Create an HTCondor scheduler (an SSH submit host).",
            description="Secrets are read from environment variables (--password-env, "
            "--private-key-pass-env), a key file (--private-key-file) or, when run in a "
            "terminal, a prompt; never from the command line.",
        )
        condor.add_argument("name", metavar="NAME")
        condor.add_argument("host", metavar="HOST", help="Host name or IP address, no port.")
        condor.add_argument("--port", type=int, help="SSH port (default 22).")
        condor.add_argument("--username", help="Account on the submit host.")
        condor.add_argument(
            "--private-key-path", help="Absolute path of a private key file on the portal host."
        )
        condor.add_argument(
            "--private-key-file",
            metavar="PATH",
            help="Read the private key's text from PATH and store it encrypted.",
        )
        condor.add_argument(
            "--password-env", metavar="VAR", help="Read the SSH password from variable VAR."
        )
        condor.add_argument(
            "--private-key-pass-env",
            metavar="VAR",
            help="Read the private key's passphrase from variable VAR.",
        )
        condor.add_argument("--host-key", help="Public host key to pin ('ssh-ed25519 AAAA...').")
        condor.add_argument(
            "--remote-profile",
            metavar="PATH",
            help="File on the submit host sourced before every HTCondor command.",
        )
        condor.add_argument(
            "--condor-bin-dir",
            metavar="PATH",
            help="HTCondor's bin directory on the submit host, put first on PATH.",
        )
        condor.add_argument(
            "--condor-config",
            metavar="PATH",
            help="CONDOR_CONFIG to export on the submit host.",
        )
        condor.add_argument("--description")
        self._add_no_input(condor)

        dask = actions.add_parser("create-dask", help="Create a Dask scheduler record.")
        dask.add_argument("name", metavar="NAME")
        dask.add_argument("host", metavar="HOST", help="host:port, tcp://host:port or tls://...")
        dask.add_argument("--timeout", type=float, help="Connect timeout in seconds.")
        dask.add_argument(
            "--heartbeat-interval", type=int, help="Client heartbeat interval in milliseconds."
        )
        dask.add_argument("--dashboard", help="Dashboard host:port or URL.")
        dask.add_argument("--description")

        remove = actions.add_parser("remove", help="Delete a scheduler.")
        remove.add_argument("name", metavar="NAME")
        remove.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
        remove.add_argument(
            "--stop-jobs",
            action="store_true",
            help="Stop the scheduler's active jobs first; where the scheduler does not answer "
            "they are marked Aborted here ('not confirmed stopped').",
        )
        self._add_no_input(remove)

        test = actions.add_parser(
            "test",
            help="Test the connection of the named schedulers (default: all). Exit status 1 "
            "when any failed, 2 when none failed but some could not be checked.",
        )
        test.add_argument(
            "names", metavar="NAME", nargs="*", help="Schedulers to test (default: all)."
        )

        export = actions.add_parser("export", help="Write scheduler definitions to a file.")
        export.add_argument("file", metavar="FILE", nargs="?", default="-", help="Default: stdout.")
        export.add_argument("--format", choices=FORMATS, help="Default: from FILE's suffix, json.")
        export.add_argument(
            "--include-secrets",
            action="store_true",
            help="Also write passwords, keys and passphrases, decrypted (keep the file safe).",
        )
        export.add_argument(
            "--force",
            action="store_true",
            help="Replace FILE if it exists (by a new file readable by you only).",
        )

        load = actions.add_parser(
            "import",
            help="Create the schedulers defined in a file: all or nothing, idempotent.",
        )
        load.add_argument("file", metavar="FILE", help="A file written by export ('-': stdin).")
        load.add_argument("--format", choices=FORMATS, help="Default: from FILE's suffix, json.")
        load.add_argument(
            "--dry-run", action="store_true", help="Validate everything, save nothing."
        )

    @staticmethod
    def _add_no_input(parser: CommandParser) -> None:
        parser.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help="Never prompt (also the case when stdin is not a terminal).",
        )

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
        try:
            scheduler.delete()
        except ProtectedError as exc:
            # Active jobs keep their scheduler (SchedulerInUseError says which and what to do).
            raise CommandError(f"Not removed: {exc.args[0]}") from None
        self.stdout.write(f"Removed {label}.")

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
                    errors.append(cap(f"{where}{_name_suffix(entry)}: {exc}"))
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
def definition(scheduler: Scheduler, include_secrets: bool = False) -> dict[str, Any]:
    """The scheduler as a plain mapping that ``import`` (and ``create_scheduler``) accepts."""
    entry: dict[str, Any] = {
        "name": scheduler.name,
        "type": scheduler.KIND,
        "host": scheduler.host,
    }
    for field in EXPORT_FIELDS.get(type(scheduler), ()):
        value = getattr(scheduler, field)
        if value is not None:
            entry[field] = value
    if scheduler.description:
        entry["description"] = scheduler.description
    if include_secrets:
        for field in scheduler.SECRET_FIELDS:
            if has_stored(scheduler, field):
                entry[field] = getattr(scheduler, field)
    return entry


def has_stored(scheduler: Scheduler, field: str) -> bool:
    """True when the scheduler holds the secret ``field`` (nothing is decrypted)."""
    checker = getattr(scheduler, "has_secret", None)
    return bool(checker(field)) if checker is not None else False


def describe(scheduler: Scheduler) -> dict[str, Any]:
    """Settings for ``show``/``list --json``: no secrets, only whether each is stored."""
    info = definition(scheduler)
    info.setdefault("description", "")
    for field in scheduler.SECRET_FIELDS:
        info[f"{field}_stored"] = has_stored(scheduler, field)
    info["last_check"] = {
        "ok": scheduler.last_check_ok,
        "at": scheduler.last_check_at.isoformat() if scheduler.last_check_at else None,
        "summary": scheduler.last_check_summary,
    }
    return info


def format_from_name(name: str) -> str:
    """``yaml`` for ``.yaml``/``.yml`` files, else ``json``."""
    return "yaml" if name.lower().endswith((".yaml", ".yml")) else "json"


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


def import_entry(entry: Any) -> tuple[str, bool]:
    """Create one entry (in a savepoint); return its name and whether it was created."""
    if not isinstance(entry, dict):
        raise ValueError(
            "each entry must be a mapping with at least 'name', 'type' and 'host', "
            f"not {type(entry).__name__}"
        )
    values = dict(entry)
    missing = [key for key in ("name", "type", "host") if key not in values]
    if missing:
        raise ValueError(
            f"missing {', '.join(repr(k) for k in missing)} (type is one of "
            f"{', '.join(SCHEDULER_TYPES)})"
        )
    name, host, kind = values.pop("name"), values.pop("host"), values.pop("type")
    existing = get_scheduler(name) if isinstance(name, str) else None
    if existing is not None and existing.KIND == kind:
        # A secret left out of the file keeps the stored one (exports leave them
        # out by default), so re-importing such a file is a no-op.
        for field in existing.SECRET_FIELDS:
            if field not in values and has_stored(existing, field):
                values[field] = getattr(existing, field)
    existed = existing is not None
    with transaction.atomic():
        scheduler = create_scheduler(name, host, scheduler_type=kind, **values)
    return scheduler.name, not existed


def _name_suffix(entry: Any) -> str:
    if isinstance(entry, dict) and isinstance(entry.get("name"), str):
        return f" ({cap(entry['name'], 80)!r})"
    return ""


# ----------------------------------------------------------------------
# Parsing with line numbers
# ----------------------------------------------------------------------
class LineDict(dict):  # type: ignore[type-arg]
    """A JSON object that remembers the line where it starts."""

    line: int = 0


class LineTrackingDecoder(json.JSONDecoder):
    """A JSON decoder whose objects are :class:`LineDict` carrying their line number.

    It uses the pure-Python scanner (the C one cannot report positions), which
    hands each object's start offset to :meth:`parse_located_object`.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self._newlines = [i for i, char in enumerate(text) if char == "\n"]
        self.parse_object = self.parse_located_object
        self.scan_once = scanner.py_make_scanner(self)  # type: ignore[attr-defined]

    def parse_located_object(self, s_and_end: tuple[str, int], *args: Any) -> tuple[Any, int]:
        start = s_and_end[1] - 1  # the offset of "{"
        pairs, end = JSONObject(s_and_end, *args)
        located = LineDict(pairs)
        located.line = bisect.bisect_left(self._newlines, start) + 1
        return located, end


def parse_document(text: str, fmt: str, label: str) -> list[tuple[int, Any]]:
    """Return the entries of an import file as ``(line, entry)`` pairs.

    The file is a list of entries, or a mapping whose ``schedulers`` key holds
    that list (what ``export`` writes).
    """
    if fmt == "yaml":
        return _parse_yaml(text, label)
    try:
        check_json_nesting(text)
        data = LineTrackingDecoder(text).decode(text)
    except DocumentLimitError as exc:
        raise CommandError(f"{label}:{exc.line}: {exc}.") from None
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"{label}:{exc.lineno}: not valid JSON (column {exc.colno}): {cap(exc.msg, 200)}."
        ) from None
    entries = _entries(data, label)
    return [(getattr(entry, "line", 1), entry) for entry in entries]


def _entries(data: Any, label: str) -> list[Any]:
    if isinstance(data, dict) and "schedulers" in data:
        data = data["schedulers"]
    if not isinstance(data, list):
        raise CommandError(
            f"{label}: expected a list of schedulers, or a mapping with a 'schedulers' list "
            "(the shape `schedulers export` writes)."
        )
    return data


def _parse_yaml(text: str, label: str) -> list[tuple[int, Any]]:
    try:
        # Aliases, merge keys, repeated keys, deep nesting: refused before anything is built.
        root = compose_yaml(text)
        data = yaml.safe_load(text)
    except DocumentLimitError as exc:
        raise CommandError(f"{label}:{exc.line}: {exc}.") from None
    except RecursionError:
        raise CommandError(
            f"{label}: lists and mappings nest too deeply (at most {MAX_NESTING} levels)."
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CommandError(f"{label}{line}: not valid YAML: {cap(problem, 200)}.") from None
    entries = _entries(data, label)
    node: Any = root
    if node is None:
        return []
    if isinstance(node, yaml.MappingNode):
        node = next((v for k, v in node.value if k.value == "schedulers"), None)
    if not isinstance(node, yaml.SequenceNode) or len(node.value) != len(entries):
        # check_yaml_tree refuses what could cause this (merge keys, repeated keys).
        return [(1, entry) for entry in entries]
    lines = [item.start_mark.line + 1 for item in node.value]
    return list(zip(lines, entries, strict=True))
