"""Running HTCondor tools on a remote host: timeouts and "not installed" errors."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tethys_compute.condor.batch import run_batch
from tethys_compute.conf import compute_settings
from tethys_compute.exceptions import (
    CondorNotInstalledError,
    RemoteCommandNotFoundError,
)
from tethys_compute.remote import CommandResult, RemoteHost

logger = logging.getLogger(__name__)


def _timeout(timeout: float | None) -> float:
    if timeout is not None:
        return float(timeout)
    return float(compute_settings.SSH_COMMAND_TIMEOUT)


def _check_found(host: RemoteHost, result: CommandResult) -> None:
    if result.exit_status == 127:
        tool = result.argv[0] if result.argv else "the command"
        raise CondorNotInstalledError(
            f"{tool} was not found on {host.label}: HTCondor is not installed there or its "
            "bin directory is not on the PATH of the SSH account's non-interactive shell. "
            "Install HTCondor, or set the scheduler's condor_bin_dir (its bin directory) or "
            "remote_profile (a file that sets it up, e.g. /etc/profile.d/condor.sh)."
        )


def _run(
    host: RemoteHost, argv: Sequence[str], *, timeout: float | None = None, cwd: str | None = None
) -> CommandResult:
    try:
        result = host.run(list(argv), timeout=_timeout(timeout), cwd=cwd)
    except RemoteCommandNotFoundError as exc:
        raise CondorNotInstalledError(
            f"{argv[0]} was not found on {host.label}: HTCondor is not installed there or "
            "its bin directory is not on the PATH of the SSH account; set the scheduler's "
            f"condor_bin_dir or remote_profile. ({exc})"
        ) from exc
    _check_found(host, result)
    return result


def _batch(
    host: RemoteHost,
    commands: Sequence[Sequence[str]],
    *,
    timeout: float | None = None,
    cwd: str | None = None,
) -> list[CommandResult]:
    results = run_batch(host, commands, timeout=_timeout(timeout), cwd=cwd)
    for result in results:
        _check_found(host, result)
    return results


#: The submit description's file name in a job's remote directory.
SUBMIT_FILE = "job.sub"

#: Make a job's directory, write its description (standard input) and submit:
#: one remote command.  Prints the directory first; exit 70 when it cannot be made.
_ONE_COMMAND_SUBMIT = (
    'd=$(mktemp -d "${TMPDIR:-/tmp}/tethys-condor-XXXXXXXX") || exit 70\n'
    'cd "$d" || exit 70\n'
    "printf '%s\\n' \"$d\"\n"
    f'cat > {SUBMIT_FILE} || {{ cd /; rm -rf "$d"; exit 70; }}\n'
    f"condor_submit -terse {SUBMIT_FILE}\n"
    "rc=$?\n"
    'if [ "$rc" -ne 0 ]; then cd / && rm -rf "$d"; fi\n'
    'exit "$rc"\n'
)
