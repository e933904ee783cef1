"""Which package versions the client, the scheduler and its workers run, and where they differ."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from distributed.versions import get_versions

from tethys_compute.health import HealthResult

logger = logging.getLogger(__name__)


#: Packages whose versions :func:`check_scheduler` compares between sides.
VERSION_PACKAGES: tuple[str, ...] = ("python", "dask", "distributed", "msgpack")


def _package_versions(versions: Any) -> dict[str, str | None]:
    """Pick :data:`VERSION_PACKAGES` out of one side of ``get_versions()``."""
    if not isinstance(versions, dict):
        return {}
    packages = versions.get("packages") or {}
    if not isinstance(packages, dict):
        return {}
    found = {name: packages.get(name) for name in VERSION_PACKAGES}
    return {name: None if value is None else str(value)[:60] for name, value in found.items()}


def version_warnings(sides: Mapping[str, Mapping[str, str | None]]) -> list[str]:
    """One warning per package whose version differs between sides.

    Parameters
    ----------
    sides : mapping
        Side name (``"client"``, ``"scheduler"``, ``"worker tcp://..."``) to
        ``{package: version}``.

    Returns
    -------
    list of str

    Examples
    --------
    >>> version_warnings({"client": {"dask": "2026.8.0"}, "scheduler": {"dask": "2026.7.0"}})
    ['dask versions differ: client 2026.8.0, scheduler 2026.7.0']
    """
    warnings: list[str] = []
    for package in VERSION_PACKAGES:
        seen = {side: versions.get(package) for side, versions in sides.items()}
        if len(set(seen.values())) > 1:
            listing = ", ".join(f"{side} {version}" for side, version in seen.items())
            warnings.append(f"{package} versions differ: {listing}")
    return warnings


def _report_versions(result: HealthResult, scheduler: Any, workers: dict[Any, Any]) -> None:
    versions: dict[str, Any] = {
        "client": _package_versions(get_versions()),
        "scheduler": _package_versions(scheduler),
        "workers": {
            str(addr): _package_versions(v) for addr, v in workers.items() if isinstance(v, dict)
        },
    }
    result.versions = versions
    sides: dict[str, Mapping[str, str | None]] = {
        "client": versions["client"],
        "scheduler": versions["scheduler"],
    }
    sides.update({f"worker {addr}": v for addr, v in versions["workers"].items()})
    mismatches = version_warnings(sides)
    result.warnings.extend(mismatches)
    if mismatches:
        result.passed("versions", f"{len(mismatches)} packages differ (see warnings)")
    else:
        result.passed("versions", "python, dask, distributed and msgpack match")
