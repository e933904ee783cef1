"""The example app's tests, run by Django's own test runner (python manage.py test)."""

from __future__ import annotations

from django.test import TestCase

from tethys_compute.exceptions import SchedulerConflictError
from tethys_compute.models import CondorScheduler, DaskScheduler
from tethys_sdk.compute import create_scheduler, get_scheduler, list_schedulers
from weather_app.compute import APP_SCHEDULER, ensure_app_scheduler, portal_scheduler


class ComputeApiInAPortalTests(TestCase):
    def test_app_scheduler_is_created_once_and_found_again(self) -> None:
        first = ensure_app_scheduler("localhost:8786")
        second = ensure_app_scheduler("localhost:8786")
        self.assertEqual(first.pk, second.pk)
        self.assertIsInstance(get_scheduler(APP_SCHEDULER), DaskScheduler)

    def test_app_scheduler_moved_elsewhere_is_a_clear_conflict(self) -> None:
        ensure_app_scheduler("localhost:8786")
        with self.assertRaisesMessage(SchedulerConflictError, "host"):
            ensure_app_scheduler("localhost:9999")

    def test_default_scheduler_is_none_until_the_admin_creates_it(self) -> None:
        self.assertIsNone(portal_scheduler())
        create_scheduler(
            name="Default",
            host="example.com",
            type="condor",
            username="root",
            private_key_path="/path/to/private/key",
        )
        self.assertIsInstance(portal_scheduler(), CondorScheduler)
        self.assertEqual(list_schedulers()[0].name, "Default")
