"""A :class:`~tethys_compute.remote.RemoteHost` that runs commands here, with subprocess.

For tests of the HTCondor client that do not need SSH: commands run as local
processes with the HTCondor stand-in's ``bin`` directory first on ``PATH`` (or
a PATH without it, to play "HTCondor not installed"), and its state in a
directory of the caller's choosing.  Files "move" with :mod:`shutil`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tethys_compute.exceptions import SchedulerTimeoutError
from tethys_compute.remote import CommandResult

STANDIN_DIR = Path(__file__).resolve().parent / "htcondor_standin"
STANDIN_BIN = STANDIN_DIR / "bin"
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


class LocalRunner:
    """Run commands and move files on this machine, like a remote host would.

    Parameters
    ----------
    state_dir : path
        Where the stand-in keeps its queue (``CONDOR_STANDIN_DIR``) and where
        :meth:`make_temp_dir` creates working directories.
    with_condor : bool
        Put the stand-in's ``bin`` first on PATH (False: HTCondor "not installed").
    """

    def __init__(self, state_dir: str | os.PathLike[str], *, with_condor: bool = True) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.with_condor = with_condor
        self.label = f"local runner ({'with' if with_condor else 'without'} HTCondor)"
        self.calls = 0

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        path = SYSTEM_PATH
        if self.with_condor:
            path = f"{STANDIN_BIN}{os.pathsep}{path}"
        env = {
            "PATH": path,
            "HOME": str(self.state_dir),
            "LANG": "C",
            "CONDOR_STANDIN_DIR": str(self.state_dir / "condor"),
        }
        env.update(extra or {})
        return env

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        stdin: str | bytes | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        self.calls += 1
        data = stdin.encode() if isinstance(stdin, str) else stdin
        start = time.monotonic()
        try:
            proc = subprocess.run(
                list(argv),
                input=data if data is not None else b"",
                capture_output=True,
                cwd=cwd,
                env=self.environment(env),
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            return CommandResult(tuple(argv), 127, "", f"{exc}\n", time.monotonic() - start)
        except subprocess.TimeoutExpired as exc:
            raise SchedulerTimeoutError(f"{argv[0]} took more than {timeout} s here") from exc
        return CommandResult(
            tuple(argv),
            proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
            time.monotonic() - start,
        )

    def put_file(self, local_path: str, remote_path: str) -> None:
        shutil.copyfile(local_path, remote_path)

    def put_bytes(self, data: bytes, remote_path: str) -> None:
        Path(remote_path).write_bytes(data)

    def get_file(self, remote_path: str, local_path: str) -> None:
        shutil.copyfile(remote_path, local_path)

    def make_temp_dir(self, prefix: str = "tethys-") -> str:
        return tempfile.mkdtemp(prefix=prefix, dir=self.state_dir)

    def remove_tree(self, remote_path: str) -> None:
        shutil.rmtree(remote_path)

    def list_dir(self, remote_path: str) -> list[str]:
        return sorted(os.listdir(remote_path))
