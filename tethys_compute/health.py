"""One shape for "test connection" of any scheduler kind (and clusters).

A :class:`HealthResult` says whether the target works, lists what was checked
(each :class:`HealthCheck` passed or failed with the reason), and carries the
latency and versions it learnt.  The admin action, the ``schedulers test``
command and the Python API all produce and show this one shape.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class HealthCheck:
    """One step of a connection test."""

    name: str
    ok: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass
class HealthResult:
    """The outcome of a connection test.

    Attributes
    ----------
    target : str
        Human-readable name of what was tested (``"Dask scheduler 'Default'"``).
    checks : list of HealthCheck
        Every step tried, in order.
    latency_ms : float or None
        Round-trip time of one request once connected, in milliseconds.
    versions : dict
        Versions learnt (software name to version, or a nested dict per side).
    warnings : list of str
        Things that work but deserve attention (version skew, for example).
    details : dict
        Kind-specific figures (workers, threads, memory, ...).
    checked : bool
        False when the kind has no connection test (the result then says so).
    """

    target: str
    checks: list[HealthCheck] = field(default_factory=list)
    latency_ms: float | None = None
    versions: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    checked: bool = True
    started: float = field(default_factory=time.monotonic, repr=False)
    duration_s: float | None = None

    @property
    def ok(self) -> bool:
        """True when every check passed (and at least one ran)."""
        return self.checked and bool(self.checks) and all(c.ok for c in self.checks)

    def passed(self, name: str, detail: str = "") -> None:
        self.checks.append(HealthCheck(name, True, detail))

    def failed(self, name: str, detail: str) -> None:
        self.checks.append(HealthCheck(name, False, detail))

    def finish(self) -> HealthResult:
        self.duration_s = round(time.monotonic() - self.started, 3)
        return self

    @property
    def summary(self) -> str:
        """One line: OK with latency, or the first failure's reason."""
        if not self.checked:
            return "not checked: " + (self.checks[0].detail if self.checks else "no test")
        failures = [c for c in self.checks if not c.ok]
        if failures:
            return f"FAILED: {failures[0].name}: {failures[0].detail}"
        latency = f" ({self.latency_ms:.1f} ms)" if self.latency_ms is not None else ""
        return "OK" + latency

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "ok": self.ok,
            "checked": self.checked,
            "summary": self.summary,
            "checks": [c.as_dict() for c in self.checks],
            "latency_ms": self.latency_ms,
            "versions": self.versions,
            "warnings": self.warnings,
            "details": self.details,
            "duration_s": self.duration_s,
        }

    @classmethod
    def not_checked(cls, target: str, reason: str) -> HealthResult:
        result = cls(target=target, checked=False)
        result.checks.append(HealthCheck("test", False, reason))
        return result.finish()
