"""``manage.py compute_generate_key``: print a new encryption key for secrets."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from tethys_compute import crypto


class Command(BaseCommand):
    help = (
        "Print a new Fernet key for TETHYS_COMPUTE['ENCRYPTION_KEYS']. To rotate, put it first "
        "in the list, keep the old keys after it, and run compute_rotate_keys."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(crypto.generate_key())
