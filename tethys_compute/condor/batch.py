"""Several commands in one remote round trip, each with its own exit status and streams.

One ``exec`` over SSH costs a round trip (about 100 ms on a loopback
``sshd``); HTCondor questions that need two or more tools (``condor_q`` and
``condor_history``, or one ``condor_rm`` per job) therefore go out as one
``sh -c`` script.  Every command of the script is quoted item by item with
:func:`shlex.quote`; after each one the script prints a frame marker holding a
random token, the command's index and its exit status, on stdout *and* on
stderr.  The token is fresh for every batch, so nothing a command prints can
forge a marker; text before the start marker (a login shell's chatter) is
dropped.  Each command reads ``/dev/null`` so none can swallow the script.
"""

from __future__ import annotations

import re
import secrets
import shlex
from collections.abc import Mapping, Sequence

from tethys_compute.exceptions import CondorError
from tethys_compute.remote import CommandResult, RemoteHost

__all__ = ["build_batch_script", "run_batch", "split_batch_output"]


def build_batch_script(commands: Sequence[Sequence[str]], token: str) -> str:
    """Return the ``sh`` script that runs ``commands`` one after the other with frames.

    Parameters
    ----------
    commands : sequence of sequence of str
        The argv of each command; every item is quoted for ``sh``.
    token : str
        The frame token (letters and digits only).

    Returns
    -------
    str
        A script for ``sh -c``.
    """
    if not re.fullmatch(r"[A-Za-z0-9]+", token):
        raise ValueError("the frame token must be alphanumeric")
    lines = [f"printf '%s:start\\n' {token}", f"printf '%s:start\\n' {token} >&2"]
    for index, argv in enumerate(commands):
        if not argv:
            raise ValueError(f"command {index} of the batch is empty")
        command = " ".join(shlex.quote(str(item)) for item in argv)
        lines.append(f"{command} </dev/null")
        lines.append(
            f"rc=$?; printf '\\n%s:%d:%d\\n' {token} {index} \"$rc\"; "
            f"printf '\\n%s:%d:%d\\n' {token} {index} \"$rc\" >&2"
        )
    return "\n".join(lines) + "\n"


def split_batch_output(text: str, token: str, count: int) -> list[tuple[str, int | None]]:
    """Cut one stream of a batch into the output of each command.

    Parameters
    ----------
    text : str
        Everything the batch printed on one stream.
    token : str
        The batch's frame token.
    count : int
        How many commands the batch ran.

    Returns
    -------
    list of (str, int or None)
        Per command: what it printed, and its exit status from the frame, or
        ``None`` when its frame is missing (the batch stopped early).
    """
    start = f"{token}:start\n"
    begin = text.find(start)
    body = text[begin + len(start) :] if begin >= 0 else ""
    parts: list[tuple[str, int | None]] = [("", None)] * count
    marker = re.compile(rf"\n{token}:(\d+):(-?\d+)\n")
    position = 0
    for match in marker.finditer(body):
        index = int(match.group(1))
        if 0 <= index < count:
            parts[index] = (body[position : match.start()], int(match.group(2)))
        position = match.end()
    return parts


def run_batch(
    host: RemoteHost,
    commands: Sequence[Sequence[str]],
    *,
    timeout: float | None = None,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
) -> list[CommandResult]:
    """Run ``commands`` on ``host`` in one remote command; return one result each.

    Parameters
    ----------
    host : RemoteHost
        Where to run them.
    commands : sequence of sequence of str
        The argv of each command, run in order whatever the exit statuses.
    timeout : float, optional
        Seconds for the whole batch (the transport's default when ``None``).
    cwd : str, optional
        Working directory of the batch on the host.
    env : mapping, optional
        Extra environment variables.

    Returns
    -------
    list of CommandResult
        In the order of ``commands``, each with its own exit status, stdout and
        stderr.

    Raises
    ------
    CondorError
        When the batch stopped before every command reported its exit status.

    Examples
    --------
    >>> results = run_batch(host, [["condor_version"], ["condor_q", "-total"]])  # doctest: +SKIP
    >>> [r.exit_status for r in results]  # doctest: +SKIP
    [0, 0]
    """
    if not commands:
        return []
    token = "tc" + secrets.token_hex(12)
    script = build_batch_script(commands, token)
    result = host.run(["sh", "-c", script], timeout=timeout, cwd=cwd, env=env)
    outs = split_batch_output(result.stdout, token, len(commands))
    errs = split_batch_output(result.stderr, token, len(commands))
    results: list[CommandResult] = []
    for argv, (out, status), (err, _) in zip(commands, outs, errs, strict=True):
        if status is None:
            raise CondorError(
                f"The batch of {len(commands)} HTCondor command(s) on {host.label} stopped "
                f"early (exit status {result.exit_status}) before {argv[0]!r} reported; "
                f"stderr: {_tail(result.stderr)}"
            )
        results.append(CommandResult(tuple(argv), status, out, err, result.duration))
    return results


def _tail(text: str, lines: int = 5) -> str:
    kept = [line for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) or "(empty)"
