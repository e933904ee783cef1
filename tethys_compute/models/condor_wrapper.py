"""The Condor wrapper: the ``sh`` script that reports a Condor job's start and exit.

It is uploaded with the job (``executable = /bin/sh``, the script and the real
executable in the arguments) together with the callback URL in the file
:data:`URL_FILE` (readable by the submitting account only, handed to ``curl``
on its standard input, never on a command line).  Only mapping descriptions
with list (or plain) arguments are wrapped; see
:mod:`tethys_compute.jobs.callbacks`.
"""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tethys_compute.models.callback_tokens import callback_url

if TYPE_CHECKING:
    from tethys_compute.models.job import Job


# The logger of the module these came from, so logging configurations keep working.
logger = logging.getLogger("tethys_compute.jobs.callbacks")

#: File name of the wrapper uploaded with Condor jobs.
WRAPPER_NAME = "tethys_job_wrapper.sh"
#: File name of the callback URL uploaded next to the wrapper (mode 0600).
URL_FILE = "tethys_job_callback"

WRAPPER_SCRIPT = """#!/bin/sh
# tethys-compute job wrapper: report "running", run the job, report its exit code.
# Usage: sh tethys_job_wrapper.sh SOURCE EXECUTABLE [ARGUMENT...]
# The callback URL is read from the file tethys_job_callback next to this script, so
# it never appears in the job's arguments, environment or a process listing.
source=$1
shift
url_file=tethys_job_callback
report() {
    [ -r "$url_file" ] || return 0
    seq=$(( $(date +%s) * 10 + $1 ))
    data="source=$source&seq=$seq&status=$2&exit_code=$3"
    if command -v curl >/dev/null 2>&1; then
        # The URL goes to curl on its standard input (a config line), not as an argument.
        printf 'url = "%s"\\n' "$(cat "$url_file")" |
            curl -fsS -m 10 --retry 2 -o /dev/null --data "$data" -K - >/dev/null 2>&1
    elif command -v wget >/dev/null 2>&1; then
        wget -q -T 10 -t 2 -O /dev/null --post-data "$data" -i "$url_file" >/dev/null 2>&1
    fi
    return 0
}
exe=$1
shift
case $exe in
    */*) ;;
    *) if [ -f "$exe" ]; then chmod u+x "$exe" 2>/dev/null; exe="./$exe"; fi ;;
esac
report 1 running ""
"$exe" "$@"
rc=$?
report 2 exited "$rc"
exit "$rc"
"""


# --------------------------------------------------------------------------
# Tokens and URLs
# --------------------------------------------------------------------------


def transfers_output(description: Any) -> bool:
    """True when HTCondor copies the job's output back after it exits (file transfer on)."""
    if not isinstance(description, Mapping):
        return False
    for key, value in description.items():
        if str(key).lower() == "should_transfer_files":
            return str(value).upper() in ("YES", "IF_NEEDED")
    return False


def wrapper_files(url: str) -> dict[str, bytes]:
    """The files to upload with a wrapped job: the wrapper and the callback URL.

    ``{WRAPPER_NAME: script, URL_FILE: url}``; upload :data:`URL_FILE`
    readable by its owner only (``private_files`` of
    :func:`~tethys_compute.condor.submit`).
    """
    return {WRAPPER_NAME: WRAPPER_SCRIPT.encode("ascii"), URL_FILE: url.encode("ascii")}


def _split_arguments(value: Any) -> list[str] | None:
    """Arguments as a list when they can be read safely (a list, or plain words)."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if isinstance(value, str) and not re.search(r"[\"'\\$]", value):
        return shlex.split(value)
    return None


def wrap_condor_description(
    job: Job, description: Any, source: str
) -> tuple[Any, dict[str, bytes]]:
    """Run a submit description's executable under the reporting wrapper.

    Parameters
    ----------
    job : Job
        The job (or workflow) whose callback URL the wrapper reports to.
    description : mapping or str
        The submit description.
    source : str
        ``"proc"`` for a Condor job (each proc reports as ``proc-N``), or a
        workflow node's name.

    Returns
    -------
    (description, files)
        The (possibly) rewritten description and the files to upload with it
        (the wrapper); unchanged and ``{}`` when the job has no callback URL,
        or the description is text or has arguments that cannot be read
        safely (those jobs are polled only).
    """
    url = callback_url(job)
    if not url or not isinstance(description, Mapping):
        return description, {}
    lower = {str(k).lower(): k for k in description}
    if "executable" not in lower:
        return description, {}
    args = _split_arguments(description.get(lower["arguments"]) if "arguments" in lower else None)
    if args is None:
        logger.info("Job %s: arguments are not a list; not wrapping (polled only)", job.pk)
        return description, {}
    executable = str(description[lower["executable"]])
    wrapped = {
        k: v
        for k, v in description.items()
        if str(k).lower() not in ("executable", "arguments", "transfer_executable")
    }
    reporter = "proc-$(Process)" if source == "proc" else source
    # /bin/sh runs the wrapper: no execute bit needed on it, nothing to transfer but a script.
    wrapped["executable"] = "/bin/sh"
    wrapped["transfer_executable"] = False
    # The URL is not an argument: arguments are in the job's ClassAd, which every
    # user of the pool may query (condor_q -af Arguments); it travels in URL_FILE.
    wrapped["arguments"] = [WRAPPER_NAME, reporter, executable, *args]
    transfer = str(description.get(lower.get("should_transfer_files", ""), "")).upper()
    if transfer in ("YES", "IF_NEEDED"):
        key = lower.get("transfer_input_files", "transfer_input_files")
        existing = description.get(key)
        if isinstance(existing, (list, tuple)):
            items = [str(x) for x in existing]
        else:
            items = [x.strip() for x in str(existing or "").split(",") if x.strip()]
        for name in (WRAPPER_NAME, URL_FILE, executable):
            if "/" not in name and name not in items:
                items.append(name)
        wrapped[key] = ", ".join(items)
    return wrapped, wrapper_files(url)
