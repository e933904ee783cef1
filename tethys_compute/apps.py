"""Django app configuration of tethys-compute."""

from __future__ import annotations

from django.apps import AppConfig


class TethysComputeConfig(AppConfig):
    """The ``tethys_compute`` app: schedulers, clusters and jobs ("Tethys Compute" in the admin)."""

    name = "tethys_compute"
    verbose_name = "Tethys Compute"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tethys_compute import checks, signals  # noqa: F401 - registers checks and receivers
        from tethys_compute import dask_client  # noqa: F401 - closes clients of changed records
