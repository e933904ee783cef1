"""The arguments of ``manage.py schedulers``: one sub-command (ACTION) per function."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from tethys_compute.management.scheduler_files import FORMATS


def add_scheduler_arguments(parser: CommandParser) -> None:
    """Add the ACTION sub-commands and their options to ``parser``."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    _list(actions)
    _show(actions)
    _create_condor(actions)
    _create_dask(actions)
    _remove(actions)
    _test(actions)
    _export(actions)
    _import(actions)


def add_no_input(parser: CommandParser) -> None:
    """``--no-input``: never prompt."""
    parser.add_argument(
        "--no-input",
        "--noinput",
        action="store_false",
        dest="interactive",
        help="Never prompt (also the case when stdin is not a terminal).",
    )


def _list(actions: Any) -> None:
    listing = actions.add_parser("list", help="List every scheduler with its last check.")
    listing.add_argument("--json", action="store_true", help="Print JSON instead of a table.")


def _show(actions: Any) -> None:
    show = actions.add_parser("show", help="Show one scheduler's settings (never secrets).")
    show.add_argument("name", metavar="NAME")


def _create_condor(actions: Any) -> None:
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
    add_no_input(condor)


def _create_dask(actions: Any) -> None:
    dask = actions.add_parser("create-dask", help="Create a Dask scheduler record.")
    dask.add_argument("name", metavar="NAME")
    dask.add_argument("host", metavar="HOST", help="host:port, tcp://host:port or tls://...")
    dask.add_argument("--timeout", type=float, help="Connect timeout in seconds.")
    dask.add_argument(
        "--heartbeat-interval", type=int, help="Client heartbeat interval in milliseconds."
    )
    dask.add_argument("--dashboard", help="Dashboard host:port or URL.")
    dask.add_argument("--description")


def _remove(actions: Any) -> None:
    remove = actions.add_parser("remove", help="Delete a scheduler.")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
    remove.add_argument(
        "--stop-jobs",
        action="store_true",
        help="Stop the scheduler's active jobs first; where the scheduler does not answer "
        "they are marked Aborted here ('not confirmed stopped').",
    )
    add_no_input(remove)


def _test(actions: Any) -> None:
    test = actions.add_parser(
        "test",
        help="Test the connection of the named schedulers (default: all). Exit status 1 "
        "when any failed, 2 when none failed but some could not be checked.",
    )
    test.add_argument("names", metavar="NAME", nargs="*", help="Schedulers to test (default: all).")


def _export(actions: Any) -> None:
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


def _import(actions: Any) -> None:
    load = actions.add_parser(
        "import",
        help="Create the schedulers defined in a file: all or nothing, idempotent.",
    )
    load.add_argument("file", metavar="FILE", help="A file written by export ('-': stdin).")
    load.add_argument("--format", choices=FORMATS, help="Default: from FILE's suffix, json.")
    load.add_argument("--dry-run", action="store_true", help="Validate everything, save nothing.")
