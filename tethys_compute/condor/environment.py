"""The environment HTCondor's tools need on a submit host, set before every command.

A non-interactive SSH session reads no login profile, so a source install of
HTCondor, or one behind a module system, is not on its ``PATH``.
:class:`CondorEnvironment` says what to set up -- a file to source, a ``bin``
directory to put first on ``PATH``, a ``CONDOR_CONFIG`` -- and
:class:`EnvironmentHost` wraps any :class:`~tethys_compute.remote.RemoteHost`
so that every command it runs (HTCondor tools, batches, ``mkdir``) starts
with that set-up, in the same remote command (no extra round trip).  File
transfers are passed through unchanged.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tethys_compute.remote import CommandResult, RemoteHost

__all__ = ["PROFILE_MISSING_STATUS", "CondorEnvironment", "EnvironmentHost"]

#: Exit status of a command whose environment file could not be read.
PROFILE_MISSING_STATUS = 125


@dataclass(frozen=True)
class CondorEnvironment:
    """What to set up on the submit host before each command.

    Attributes
    ----------
    profile : str
        Absolute path of a POSIX shell file to source first (``. FILE``), e.g.
        ``/etc/profile.d/condor.sh`` or a script that loads an environment module.
    bin_dir : str
        Absolute path of HTCondor's ``bin`` directory, put first on ``PATH``.
    condor_config : str
        Absolute path exported as ``CONDOR_CONFIG``.

    Examples
    --------
    >>> env = CondorEnvironment(bin_dir="/opt/condor/bin", condor_config="/opt/condor/etc/cfg")
    >>> print(env.setup_script().replace("; ", ";\\n"))
    PATH=/opt/condor/bin:"$PATH";
    export PATH;
    CONDOR_CONFIG=/opt/condor/etc/cfg;
    export CONDOR_CONFIG
    >>> bool(CondorEnvironment())
    False
    """

    profile: str = ""
    bin_dir: str = ""
    condor_config: str = ""

    def __bool__(self) -> bool:
        return bool(self.profile or self.bin_dir or self.condor_config)

    def setup_script(self) -> str:
        """The ``sh`` lines that set the environment up (values quoted with :func:`shlex.quote`).

        The profile comes first, so ``bin_dir`` and ``condor_config`` win over it.
        An unreadable profile stops the command with exit status
        :data:`PROFILE_MISSING_STATUS` and a message naming the setting.
        """
        lines: list[str] = []
        if self.profile:
            path = shlex.quote(self.profile)
            message = shlex.quote(
                f"tethys-compute: cannot read {self.profile} on this host; fix the scheduler's "
                "'remote_profile' setting (a file sourced before every HTCondor command)"
            )
            lines.append(
                f"if [ -r {path} ]; then . {path}; "
                f"else printf '%s\\n' {message} >&2; exit {PROFILE_MISSING_STATUS}; fi"
            )
        if self.bin_dir:
            lines.append(f'PATH={shlex.quote(self.bin_dir)}:"$PATH"; export PATH')
        if self.condor_config:
            lines.append(f"CONDOR_CONFIG={shlex.quote(self.condor_config)}; export CONDOR_CONFIG")
        return "; ".join(lines)

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run by ``sh -c`` after :meth:`setup_script` (each item stays one argument).

        Examples
        --------
        >>> wrapped = CondorEnvironment(bin_dir="/opt/c/bin").wrap(["condor_q", "-af", "a b"])
        >>> wrapped[:2], wrapped[3:]
        (['sh', '-c'], ['sh', 'condor_q', '-af', 'a b'])
        >>> print(wrapped[2])
        PATH=/opt/c/bin:"$PATH"; export PATH
        exec "$@"
        """
        if not self:
            return list(argv)
        return ["sh", "-c", self.setup_script() + '\nexec "$@"', "sh", *argv]


class EnvironmentHost:
    """A :class:`~tethys_compute.remote.RemoteHost` running each command in an environment.

    The environment is a :class:`CondorEnvironment`.

    Results keep the command as the caller gave it (``argv``), so messages
    name ``condor_q``, not ``sh``.
    """

    def __init__(self, inner: RemoteHost, environment: CondorEnvironment) -> None:
        self.inner = inner
        self.environment = environment
        self.label = inner.label

    def run(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:
        """Run ``argv`` on the inner host after the environment's set-up."""
        result = self.inner.run(self.environment.wrap(argv), **kwargs)
        return dataclasses.replace(result, argv=tuple(str(a) for a in argv))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"<EnvironmentHost {self.label} {self.environment}>"
