"""How an app uses the Compute API: find or create its scheduler, then run work."""

from __future__ import annotations

from tethys_sdk.compute import create_scheduler, get_scheduler

APP_SCHEDULER = "weather_app_dask"


def ensure_app_scheduler(address: str) -> object:
    """Create the app's own Dask scheduler record (safe to call at every start-up)."""
    return create_scheduler(name=APP_SCHEDULER, host=address, type="dask", timeout=30)


def portal_scheduler() -> object | None:
    """The portal-wide scheduler the admin called 'Default', if there is one."""
    return get_scheduler("Default")


def mean_temperature(readings: list[float]) -> float:
    """The app's 'science': run remotely on a Dask worker."""
    return sum(readings) / len(readings)
