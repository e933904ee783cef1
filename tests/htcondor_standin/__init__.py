"""A test stand-in of HTCondor's command-line tools -- this is NOT HTCondor.

HTCondor daemons cannot be installed where the tethys-compute tests run, so this package
provides programs with the names and (for the argument forms listed in ``README.rst``) the
output of ``condor_submit``, ``condor_submit_dag``, ``condor_q``, ``condor_history``,
``condor_rm``, ``condor_hold``, ``condor_release``, ``condor_wait``, ``condor_status``,
``condor_version`` and ``condor_config_val`` of HTCondor 25.14.0.  Jobs really run, as local
processes started by a transient scheduler process; queue and history are kept in
``$CONDOR_STANDIN_DIR`` (default ``~/.condor_standin``).  The programs in :data:`BIN_DIR` run
under any Python >= 3.11 with the standard library only.

For test fixtures::

    from tests.htcondor_standin import BIN_DIR, standin_env
    env = standin_env("/tmp/some-state-dir")   # PATH, CONDOR_STANDIN_DIR, ...
"""

from __future__ import annotations

import os

BIN_DIR: str = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin")
"""Absolute path of the directory holding the stand-in's ``condor_*`` programs."""


def standin_env(
    state_dir: str | os.PathLike[str],
    *,
    start_delay: float | None = None,
    slots: int | None = None,
    base_path: str | None = None,
) -> dict[str, str]:
    """Environment variables that put the stand-in on ``PATH`` with its state in ``state_dir``.

    The result holds ``PATH`` (``BIN_DIR`` first, then ``base_path`` or the current
    ``PATH``) and ``CONDOR_STANDIN_DIR``; ``start_delay``/``slots`` add
    ``CONDOR_STANDIN_START_DELAY``/``CONDOR_STANDIN_SLOTS``.  Merge it into the environment
    of the process (or SSH account) that runs the condor commands.
    """
    path = base_path if base_path is not None else os.environ.get("PATH", "/usr/bin:/bin")
    env = {
        "PATH": f"{BIN_DIR}:{path}" if path else BIN_DIR,
        "CONDOR_STANDIN_DIR": os.fspath(state_dir),
    }
    if start_delay is not None:
        env["CONDOR_STANDIN_START_DELAY"] = str(start_delay)
    if slots is not None:
        env["CONDOR_STANDIN_SLOTS"] = str(slots)
    return env
