"""The remote session loops and their framing (see :mod:`tethys_compute.ssh`).

A :class:`Session` is one SSH channel running a small loop on the far side:
the python3 loop (:data:`PY_DRIVER`) when the host has python3, else the
POSIX sh loop (:data:`DRIVER`).  Each request is one line; each answer is
``MARKER STATUS``, the byte sizes of stdout and stderr, the bytes, and
``MARKER`` again, with a fresh random marker per command.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import paramiko

from tethys_compute.counters import remote_calls

logger = logging.getLogger(__name__)

#: Standard input up to this many bytes travels inside the sh loop's request
#: line; larger input is uploaded over SFTP into the session's directory first.
INLINE_STDIN_LIMIT = 2048
#: Seconds the client waits beyond a command's timeout for the python loop to
#: kill the command and answer, before it kills the whole session.
PY_TIMEOUT_GRACE = 5.0
_SAFE_STDIN_BYTES = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ,._+:@/=-"
)


# The POSIX sh session loop.  One line, without single quotes, so that it can
# be passed as one quoted argument through any login shell.  For each request
# line ``_t MARKER MODE SCRIPT [STDIN]`` it runs SCRIPT in a subshell, stdin
# from /dev/null (n), from the printf format STDIN (p) or from the uploaded
# file $d/i (f), and answers ``MARKER STATUS`` / ``wc -c`` of both outputs /
# the outputs / ``MARKER``.
DRIVER = " ".join(
    [
        'd=$(mktemp -d "${TMPDIR:-/tmp}/tethys-ssh.XXXXXXXX") || exit 111;',
        'trap "rm -rf \\"$d\\"" 0;',
        'trap "exit 129" 1 2 13 15;',
        'NL=$(printf "\\nx"); NL=${NL%x};',
        "g=$(ps -o pgid= -p $$ 2>/dev/null); set -- $g; g=${1:-$$};",
        'printf "TETHYS-READY %s sh %s %s %s\\n" "$n" "$$" "$g" "$d";',
        "_t() {",
        'case $2 in p) printf "$4" >"$d/i"; i=$d/i;; f) i=$d/i;; *) i=/dev/null;; esac;',
        '( eval "$3" ) <"$i" >"$d/o" 2>"$d/e"; s=$?;',
        'printf "%s %s\\n" "$1" "$s";',
        '(cd "$d" && exec wc -c o e);',
        'cat "$d/o" "$d/e";',
        'printf "%s\\n" "$1";',
        "};",
        'while IFS= read -r r; do eval "$r"; done',
    ]
)

# The Python session loop, used when the host has python3 (3.6 or newer): one
# fork+exec per command and nothing else, so a command costs about a
# millisecond.  Requests are JSON lines; answers have the same framing as the
# sh loop's.  A command runs in its own session (process group) and is killed
# with it when it outlives its timeout.
PY_DRIVER = r"""
import base64, json, os, shutil, signal, subprocess, sys, tempfile, threading, time


class Watchdog(threading.Thread):
    # Kills the running command's process group at its deadline.  A thread, so
    # the main loop can block in wait() and answer as soon as the command ends.
    # Between close commands it polls every half second instead of being woken
    # for each one, which keeps it off the main loop's way.
    def __init__(self):
        threading.Thread.__init__(self, daemon=True)
        self.cond = threading.Condition()
        self.pid = self.deadline = None
        self.fired = self.idle = False

    def run(self):
        with self.cond:
            while True:
                if self.pid is None:
                    self.idle = True
                    self.cond.wait()
                    self.idle = False
                    continue
                left = self.deadline - time.monotonic()
                if left > 0:
                    self.cond.wait(min(left, 0.5))
                    continue
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.fired, self.pid = True, None

    def arm(self, pid, timeout):
        with self.cond:
            self.pid, self.deadline, self.fired = pid, time.monotonic() + timeout, False
            if self.idle:
                self.cond.notify()

    def disarm(self):
        with self.cond:
            self.pid = None
            return self.fired


def run(req, d, watchdog):
    argv, cwd, timeout = req["a"], req.get("c"), req.get("t")
    env = None
    if req.get("e"):
        env = dict(os.environ)
        env.update(req["e"])
    opath, epath, ipath = os.path.join(d, "o"), os.path.join(d, "e"), os.path.join(d, "i")
    if req.get("i") is not None:
        with open(ipath, "wb") as f:
            f.write(base64.b64decode(req["i"]))
    else:
        ipath = os.devnull
    status = None
    with open(opath, "w+b") as fo, open(epath, "w+b") as fe, open(ipath, "rb") as fi:
        try:
            proc = subprocess.Popen(argv, stdin=fi, stdout=fo, stderr=fe, cwd=cwd, env=env,
                                    close_fds=True, start_new_session=True)
        except OSError as exc:
            if cwd and exc.filename == cwd:
                status, msg = 2, "cd: can't cd to %s: %s" % (cwd, exc.strerror)
            elif isinstance(exc, FileNotFoundError):
                status, msg = 127, "%s: not found" % argv[0]
            else:
                status, msg = 126, "%s: %s" % (argv[0], exc.strerror)
            fe.write(("tethys-ssh: %s\n" % msg).encode("utf-8", "surrogateescape"))
        else:
            watchdog.arm(proc.pid, float(timeout or 86400))
            status = proc.wait()
            if watchdog.disarm():
                status = "timeout"
            elif status < 0:
                status = 128 - status
        fo.seek(0)
        fe.seek(0)
        return status, fo.read(), fe.read()


def main():
    out, inp = sys.stdout.buffer, sys.stdin.buffer
    d = tempfile.mkdtemp(prefix="tethys-ssh.", dir=os.environ.get("TMPDIR") or "/tmp")
    watchdog = Watchdog()
    watchdog.start()
    try:
        head = "TETHYS-READY %s py %d %d %s\n" % (sys.argv[1], os.getpid(), os.getpgid(0), d)
        out.write(head.encode())
        out.flush()
        while True:
            line = inp.readline()
            if not line:
                break
            req = json.loads(line.decode("utf-8"))
            status, o, e = run(req, d, watchdog)
            m = req["m"].encode()
            sizes = "%s %s\n%d o\n%d e\n%d total\n" % (req["m"], status, len(o), len(e),
                                                       len(o) + len(e))
            out.write(sizes.encode() + o + e + m + b"\n")
            out.flush()
    finally:
        shutil.rmtree(d, ignore_errors=True)


main()
"""

# What the channel runs: python3 when there is one (and the driver is "auto"),
# reading PY_DRIVER as the first line of input; otherwise the sh loop, which
# skips that line.  $1 is a nonce echoed in the READY line, $2 the driver.
BOOT = " ".join(
    [
        "n=$1;",
        'if [ "$2" = auto ] && command -v python3 >/dev/null 2>&1; then',
        "exec python3 -I -c",
        '"import sys,base64;exec(base64.b64decode(sys.stdin.buffer.readline()))"',
        '"$n";',
        "fi;",
        "IFS= read -r _;",
        DRIVER,
    ]
)
assert "'" not in BOOT  # noqa: S101 - a module invariant, see above
PY_DRIVER_LINE = base64.b64encode(PY_DRIVER.encode()) + b"\n"


# ----------------------------------------------------------------------------
# The remote session: one channel running DRIVER
# ----------------------------------------------------------------------------
class SessionLost(Exception):
    """The session's channel died; ``delivered`` says whether the request was sent."""

    def __init__(self, reason: str, delivered: bool) -> None:
        super().__init__(reason)
        self.delivered = delivered


class SessionTimeout(Exception):
    pass


def new_marker() -> str:
    """A fresh, unguessable marker that frames one answer."""
    return "TETHYS-" + secrets.token_hex(16)


def _encode_printf(data: bytes) -> str:
    """A printf format that prints exactly ``data`` (safe bytes as is, others octal)."""
    return "".join(chr(b) if b in _SAFE_STDIN_BYTES else f"\\{b:03o}" for b in data)


def shell_word(text: str) -> str:
    """``shlex.quote`` with newlines spelled ``$NL`` so the request stays on one line."""
    if "\0" in text:
        raise ValueError("remote arguments cannot contain NUL characters")
    return shlex.quote(text).replace("\n", "'\"$NL\"'")


def quote_argv(argv: Sequence[str]) -> str:
    """Quote each item of ``argv`` for a POSIX shell and join them with spaces.

    Examples
    --------
    >>> quote_argv(["echo", "a b", "$(x)"])
    "echo 'a b' '$(x)'"
    """
    return " ".join(shlex.quote(str(arg)) for arg in argv)


@dataclass(frozen=True)
class Request:
    """One command: ``argv`` for the python loop, ``script`` for the sh loop."""

    argv: tuple[str, ...]
    script: str
    cwd: str | None = None
    env: Mapping[str, str] | None = None
    stdin: bytes | None = None


class Session:
    """One channel running the session loop; used by one thread at a time."""

    def __init__(
        self,
        transport: paramiko.Transport,
        generation: int,
        timeout: float,
        driver: str,
        target: str = "",
    ) -> None:
        self.generation = generation
        #: ``user@host:port``: where the commands of this session are counted.
        self.target = target
        self.transport = transport
        self._buffer = bytearray()
        deadline = time.monotonic() + timeout
        nonce = secrets.token_hex(8)
        self.channel = transport.open_session(timeout=timeout)
        self.channel.exec_command(
            f"exec /bin/sh -c {shlex.quote(BOOT)} tethys-ssh {nonce} {driver}"
        )
        self.channel.sendall(PY_DRIVER_LINE)
        # A noisy login script may print first; wait for our READY line.
        while True:
            line = self._read_line(deadline, delivered=False)
            words = line.decode(errors="replace").split(" ", 5)
            if len(words) == 6 and words[0] == "TETHYS-READY" and words[1] == nonce:
                self.kind = words[2]
                self.pid, self.pgid, self.directory = int(words[3]), int(words[4]), words[5]
                break

    @property
    def usable(self) -> bool:
        return (
            self.transport.is_active()
            and not self.channel.closed
            and not self.channel.eof_received
            and not self.channel.exit_status_ready()
        )

    def _fill(self, deadline: float, delivered: bool) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SessionTimeout()
        self.channel.settimeout(remaining)
        try:
            chunk = self.channel.recv(1 << 16)
        except TimeoutError:
            raise SessionTimeout() from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise SessionLost(f"reading failed: {exc}", delivered) from None
        if not chunk:
            status = self.channel.exit_status if self.channel.exit_status_ready() else None
            raise SessionLost(f"the remote shell ended (exit status {status})", delivered)
        self._buffer += chunk

    def _read_line(self, deadline: float, delivered: bool = True) -> bytes:
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                return line
            start = len(self._buffer)
            if start > 1 << 20:
                raise SessionLost("the remote shell sent an over-long line", delivered)
            self._fill(deadline, delivered)

    def _read_exact(self, size: int, deadline: float) -> bytes:
        while len(self._buffer) < size:
            self._fill(deadline, True)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def request_line(self, marker: str, request: Request, timeout: float) -> bytes:
        """The request as the session loop reads it (one line)."""
        if self.kind == "py":
            message: dict[str, Any] = {"m": marker, "a": list(request.argv), "t": timeout}
            if request.cwd:
                message["c"] = request.cwd
            if request.env:
                message["e"] = dict(request.env)
            if request.stdin:
                message["i"] = base64.b64encode(request.stdin).decode()
            return json.dumps(message).encode() + b"\n"
        words = ["_t", marker, "n", shell_word(request.script)]
        if request.stdin and len(request.stdin) <= INLINE_STDIN_LIMIT:
            words[2] = "p"
            words.append(shlex.quote(_encode_printf(request.stdin)))
        elif request.stdin:
            words[2] = "f"  # uploaded by the caller before (needs_upload)
        return (" ".join(words) + "\n").encode()

    def needs_upload(self, request: Request) -> bool:
        """True when the sh loop needs ``request.stdin`` uploaded to ``directory/i``."""
        return self.kind == "sh" and len(request.stdin or b"") > INLINE_STDIN_LIMIT

    def execute(self, request: Request, deadline: float) -> tuple[int | None, bytes, bytes]:
        """Run one request; the status is None when the loop itself timed the command out."""
        marker = new_marker()
        remaining = max(deadline - time.monotonic(), 0.001)
        line = self.request_line(marker, request, remaining)
        if self.kind == "py":
            deadline += PY_TIMEOUT_GRACE  # the loop kills the command itself first
        if not self.usable:
            raise SessionLost("the session was closed", delivered=False)
        try:
            self.channel.settimeout(remaining)
            self.channel.sendall(line)
        except TimeoutError:
            raise SessionTimeout() from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise SessionLost(f"sending failed: {exc}", delivered=False) from None
        remote_calls.add("ssh", self.target, "commands")
        head = self._read_line(deadline).decode(errors="replace").split(" ")
        if len(head) != 2 or head[0] != marker or not (head[1].isdigit() or head[1] == "timeout"):
            raise SessionLost(f"unexpected answer {head[:2]!r}", delivered=True)
        sizes: dict[str, int] = {}
        for _ in range(3):
            parts = self._read_line(deadline).decode(errors="replace").split()
            if len(parts) != 2 or not parts[0].isdigit():
                raise SessionLost(f"unexpected size line {parts!r}", delivered=True)
            sizes[parts[1]] = int(parts[0])
        if "o" not in sizes or "e" not in sizes:
            raise SessionLost(f"unexpected sizes {sizes!r}", delivered=True)
        stdout = self._read_exact(sizes["o"], deadline)
        stderr = self._read_exact(sizes["e"], deadline)
        trailer = self._read_line(deadline).decode(errors="replace")
        if trailer != marker:
            raise SessionLost("the answer's end marker is missing", delivered=True)
        return (int(head[1]) if head[1].isdigit() else None), stdout, stderr

    def close(self) -> None:
        try:
            self.channel.close()
        except Exception:  # noqa: BLE001 - closing a dead channel may fail; it is gone anyway
            pass
