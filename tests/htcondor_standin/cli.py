"""Command dispatch of the HTCondor test stand-in (not HTCondor).

Like HTCondor's own tools (``condor_hold`` and ``condor_release`` are links to ``condor_rm``),
every program in ``bin/`` is the same launcher; the tool is chosen from the name it was
called by (``argv[0]``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TextIO

from htcondor_standin import actions, dagman, misc, query, submit, wait

Handler = Callable[[list[str], TextIO, TextIO], int]


def _submit(argv: list[str], out: TextIO, err: TextIO) -> int:
    return submit.main(argv, sys.stdin, out, err)


TOOLS: dict[str, Handler] = {
    "condor_submit": _submit,
    "condor_submit_dag": dagman.submit_dag_main,
    "condor_dagman": dagman.dagman_main,
    "condor_q": query.q_main,
    "condor_history": query.history_main,
    "condor_rm": lambda a, o, e: actions.main("rm", a, o, e),
    "condor_hold": lambda a, o, e: actions.main("hold", a, o, e),
    "condor_release": lambda a, o, e: actions.main("release", a, o, e),
    "condor_wait": wait.main,
    "condor_status": misc.status_main,
    "condor_version": misc.version_main,
    "condor_config_val": misc.config_val_main,
}


def main(argv: list[str]) -> int:
    """Run the tool named by ``argv[0]`` with ``argv[1:]``."""
    name = os.path.basename(argv[0])
    handler = TOOLS.get(name)
    if handler is None:
        sys.stderr.write(f"{name}: not a tool of the HTCondor test stand-in\n")
        return 2
    try:
        code = handler(argv[1:], sys.stdout, sys.stderr)
    except BrokenPipeError:
        code = 1
    sys.stdout.flush()
    return code
