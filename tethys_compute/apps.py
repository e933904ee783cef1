"""Django app configuration of tethys-compute."""

from __future__ import annotations

from importlib import import_module

from django.apps import AppConfig


class TethysComputeConfig(AppConfig):
    """The ``tethys_compute`` app: schedulers, clusters and jobs ("Tethys Compute" in the admin)."""

    name = "tethys_compute"
    verbose_name = "Tethys Compute"
    default_auto_field = "django.db.models.BigAutoField"

    #: Modules imported once the app registry is ready: system checks, signal
    #: receivers, and connection caches that close when their records change.
    #: Add a module here (one name a line) rather than another import statement.
    #: Admin pages are not listed: the ``admin`` package loads them, and Django imports it
    #: only where ``django.contrib.admin`` is installed.
    ready_modules: tuple[str, ...] = (
        "checks",
        "checks_deploy",
        # The check on the stored Dask schedulers (it imports their model).
        "models.dask_checks",
        "signals",
        "dask_client",
        # Fills the job records' hooks with the services they start (models/hooks.py).
        "jobs.record_hooks",
    )

    def ready(self) -> None:
        for module in self.ready_modules:
            import_module(f"{self.name}.{module}")
